//! Settings of share links (`VERTEX_SHARE_*`, `VERTEX_MAX_SHARES_PER_USER`, `VERTEX_WEB_URL`).

use super::{parse_var, var, ConfigError};

/// The largest `VERTEX_SHARE_MAX_EXPIRY_DAYS`: ten years, a bound that keeps date arithmetic far
/// from overflow.
const MAX_EXPIRY_DAYS_LIMIT: u32 = 3650;

#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// Expiry of a share created without `expires_in_days`.
    pub default_expiry_days: u32,
    /// No share lives longer than this after its creation, whatever it was created or changed with.
    pub max_expiry_days: u32,
    /// Every new share must have a password.
    pub password_required: bool,
    /// Shares one user may hold.
    pub max_per_user: u64,
    /// Lifetime of a share token issued for a password.
    pub token_ttl_secs: i64,
    /// Wrong share passwords per window per share and client address.
    pub max_failures: u64,
    /// Wrong passwords per window for one share from all addresses; more are refused.
    pub max_failures_per_share: u64,
    /// Unknown share ids per window per client address; more are refused.
    pub max_misses_per_address: u64,
    /// Visitor requests per window per client address, to any links; more are refused.
    pub max_requests_per_address: u64,
    /// Where the web app is: the page a link's `url` opens (`VERTEX_WEB_URL`).
    pub web_app: WebApp,
}

/// Where the web app is, which decides the `url` of a share link: the app's visitor page
/// `/s/{id}` when there is an app, else the API's own `/api/s/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WebApp {
    /// No app (Lambda functions without `VERTEX_WEB_URL`): `{origin}/api/s/{id}`.
    #[default]
    Absent,
    /// The server serves the app at its own origin (the `vertexcloud` binary): `{origin}/s/{id}`.
    SameOrigin,
    /// `VERTEX_WEB_URL`, an origin such as `https://d111111abcdef8.cloudfront.net`:
    /// `{url}/s/{id}`.
    At(String),
}

impl WebApp {
    /// `VERTEX_WEB_URL`: `http(s)://host[:port]`, a trailing slash dropped; the app is served
    /// from the root of its origin (its files are named from `/`), so a path is refused.
    fn parse(value: &str) -> Result<Self, ConfigError> {
        let url = value.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(host)
                if !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
            {
                Ok(Self::At(url.to_owned()))
            }
            _ => Err(ConfigError::Invalid(
                "VERTEX_WEB_URL",
                format!("{value:?} (expected an origin: https://host[:port])"),
            )),
        }
    }

    /// The link a share's owner hands out for share `id`; `origin` is where the API was reached.
    pub fn share_url(&self, origin: &str, id: &str) -> String {
        match self {
            Self::Absent => format!("{origin}/api/s/{id}"),
            Self::SameOrigin => format!("{origin}/s/{id}"),
            Self::At(url) => format!("{url}/s/{id}"),
        }
    }
}

impl Default for ShareConfig {
    fn default() -> Self {
        Self {
            default_expiry_days: 7,
            max_expiry_days: 30,
            password_required: false,
            max_per_user: 100,
            token_ttl_secs: 3600,
            max_failures: 5,
            max_failures_per_share: 100,
            max_misses_per_address: 50,
            max_requests_per_address: 3000,
            web_app: WebApp::Absent,
        }
    }
}

impl ShareConfig {
    pub(super) fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            default_expiry_days: parse_var(
                "VERTEX_SHARE_DEFAULT_EXPIRY_DAYS",
                d.default_expiry_days,
            )?,
            max_expiry_days: parse_var("VERTEX_SHARE_MAX_EXPIRY_DAYS", d.max_expiry_days)?,
            password_required: parse_var("VERTEX_SHARE_PASSWORD_REQUIRED", d.password_required)?,
            max_per_user: parse_var("VERTEX_MAX_SHARES_PER_USER", d.max_per_user)?,
            token_ttl_secs: parse_var("VERTEX_SHARE_TOKEN_TTL_SECS", d.token_ttl_secs)?,
            max_failures: parse_var("VERTEX_SHARE_MAX_FAILURES", d.max_failures)?,
            max_failures_per_share: parse_var(
                "VERTEX_SHARE_MAX_FAILURES_PER_SHARE",
                d.max_failures_per_share,
            )?,
            max_misses_per_address: parse_var(
                "VERTEX_SHARE_MAX_MISSES_PER_ADDRESS",
                d.max_misses_per_address,
            )?,
            max_requests_per_address: parse_var(
                "VERTEX_SHARE_MAX_REQUESTS_PER_ADDRESS",
                d.max_requests_per_address,
            )?,
            web_app: var("VERTEX_WEB_URL")
                .map(|v| WebApp::parse(&v))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.max_expiry_days < 1 || self.max_expiry_days > MAX_EXPIRY_DAYS_LIMIT {
            return Err(ConfigError::Invalid(
                "VERTEX_SHARE_MAX_EXPIRY_DAYS",
                format!("must be between 1 and {MAX_EXPIRY_DAYS_LIMIT}"),
            ));
        }
        if self.default_expiry_days < 1 || self.default_expiry_days > self.max_expiry_days {
            return Err(ConfigError::Invalid(
                "VERTEX_SHARE_DEFAULT_EXPIRY_DAYS",
                "must be between 1 and VERTEX_SHARE_MAX_EXPIRY_DAYS".into(),
            ));
        }
        let at_least_one = [
            ("VERTEX_MAX_SHARES_PER_USER", self.max_per_user),
            ("VERTEX_SHARE_MAX_FAILURES", self.max_failures),
            (
                "VERTEX_SHARE_MAX_FAILURES_PER_SHARE",
                self.max_failures_per_share,
            ),
            (
                "VERTEX_SHARE_MAX_MISSES_PER_ADDRESS",
                self.max_misses_per_address,
            ),
            (
                "VERTEX_SHARE_MAX_REQUESTS_PER_ADDRESS",
                self.max_requests_per_address,
            ),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, value)| *value < 1) {
            return Err(ConfigError::Invalid(name, "must be ≥ 1".into()));
        }
        // Never past what any link may live (which also keeps `now + ttl` in range).
        let longest = i64::from(self.max_expiry_days) * 86_400;
        if !(1..=longest).contains(&self.token_ttl_secs) {
            return Err(ConfigError::Invalid(
                "VERTEX_SHARE_TOKEN_TTL_SECS",
                format!("must be ≥ 1 and ≤ VERTEX_SHARE_MAX_EXPIRY_DAYS in seconds ({longest})"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ShareConfig, WebApp};

    #[test]
    fn the_web_url_is_an_origin_and_decides_the_links() {
        let id = "AbCdEfGhIjKlMnOpQrStUv";
        let at = WebApp::parse("https://d1.cloudfront.net/").unwrap();
        assert_eq!(at, WebApp::At("https://d1.cloudfront.net".into()));
        assert_eq!(
            at.share_url("https://api.example", id),
            format!("https://d1.cloudfront.net/s/{id}")
        );
        assert!(WebApp::parse("http://127.0.0.1:8080").is_ok());
        for bad in [
            "d1.cloudfront.net",
            "https://",
            "https://a.b/app",
            "ftp://a.b",
            "https://a b",
        ] {
            assert!(WebApp::parse(bad).is_err(), "{bad}");
        }
        let origin = "http://127.0.0.1:8000";
        assert_eq!(
            WebApp::SameOrigin.share_url(origin, id),
            format!("{origin}/s/{id}")
        );
        assert_eq!(
            WebApp::Absent.share_url(origin, id),
            format!("{origin}/api/s/{id}")
        );
    }

    #[test]
    fn share_settings_are_checked() {
        assert!(ShareConfig::default().check().is_ok());
        let refused: [fn(&mut ShareConfig); 8] = [
            |c| c.max_expiry_days = 0,
            |c| c.max_expiry_days = 3651,
            |c| c.default_expiry_days = 0,
            |c| c.default_expiry_days = 31,
            |c| c.max_per_user = 0,
            |c| c.max_misses_per_address = 0,
            |c| c.token_ttl_secs = 0,
            |c| c.token_ttl_secs = i64::MAX,
        ];
        for tweak in refused {
            let mut config = ShareConfig::default();
            tweak(&mut config);
            assert!(config.check().is_err(), "{config:?}");
        }
        let mut longest = ShareConfig::default();
        (longest.max_expiry_days, longest.default_expiry_days) = (3650, 3650);
        assert!(longest.check().is_ok());
    }
}
