//! Typed configuration, read from the environment once per process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

mod proxies;
mod shares;
pub use proxies::{Cidr, TrustedProxies};
pub use shares::{ShareConfig, WebApp};

/// Where the local server listens unless `VERTEX_ADDR` or `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";
/// Where the embedded backend keeps its data unless `VERTEX_DATA_DIR` or `--data-dir` says.
pub const DEFAULT_DATA_DIR: &str = ".vertexcloud";

/// The largest request body a Lambda function is invoked with (synchronous invocation).
pub const LAMBDA_REQUEST_LIMIT: u64 = 6 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + a directory on disk: `cargo run`, self-hosted.
    Embedded,
    /// DynamoDB + S3.
    Aws,
}

impl FromStr for Backend {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "aws" => Ok(Self::Aws),
            other => Err(ConfigError::Invalid(
                "VERTEX_BACKEND",
                format!("{other:?} (expected embedded or aws)"),
            )),
        }
    }
}

/// How expensive password hashes are. `Minimal` exists for test suites, which log in hundreds of
/// times; it is refused outside debug builds (see [`Config::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCost {
    /// Argon2id at OWASP's minimum (m = 19 MiB, t = 2).
    Standard = 0,
    /// The smallest Argon2id parameters (m = 8 KiB, t = 1).
    Minimal = 1,
}

impl FromStr for PasswordCost {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "minimal" => Ok(Self::Minimal),
            other => Err(ConfigError::Invalid(
                "VERTEX_PASSWORD_COST",
                format!("{other:?} (expected standard or minimal)"),
            )),
        }
    }
}

/// A configuration value that must never be printed.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Password-check throttling (login, change-password, delete-account). Every attempt counts
/// before its hash is checked; a correct password gives it back.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Attempts per (login as typed, client address) per window before 429; for the
    /// password-confirming endpoints, per (account, address).
    pub account_max_failures: u64,
    /// Attempts per client address per window before 429.
    pub address_max_failures: u64,
    pub window_secs: i64,
    /// Attempts per login as typed, from every address, per window before each further one is
    /// delayed (never refused: the owner must still get in).
    pub slowdown_after: u64,
    /// The longest such delay, in milliseconds.
    pub max_delay_ms: u64,
}

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone, through `POST /api/auth/register`.
    Open,
    /// Only managers and superusers, through the users administration.
    Closed,
}

impl FromStr for Registration {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => Err(ConfigError::Invalid(
                "VERTEX_REGISTRATION",
                format!("{other:?} (expected open or closed)"),
            )),
        }
    }
}

/// What one account may hold and start, beyond its byte quota.
#[derive(Debug, Clone)]
pub struct Limits {
    pub registration: Registration,
    /// Stored objects (files, folder markers, upload parts) of a user without a limit of their
    /// own; `None`: unlimited.
    pub default_file_limit: Option<u64>,
    /// File parts one form upload may carry.
    pub max_form_files: u64,
    /// Background jobs (archives and folder operations) one user may have running at once
    /// (`VERTEX_MAX_RUNNING_JOBS`; the older `VERTEX_ZIP_MAX_RUNNING_JOBS` is still read).
    pub max_running_jobs: u64,
    /// Logins that may wait for a password hash while every core hashes; more get 503.
    pub password_queue: usize,
    /// Live sessions one user may hold; a login beyond it ends the oldest.
    pub max_sessions_per_user: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            registration: Registration::Open,
            default_file_limit: Some(1_000_000),
            max_form_files: 1000,
            max_running_jobs: 3,
            password_queue: 32,
            max_sessions_per_user: 100,
        }
    }
}

/// The local server's defences against slow or idle clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's headers must arrive within this.
    pub header_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout_secs: u64,
    /// A request body that sends nothing for this long ends with 408.
    pub body_timeout_secs: u64,
    /// An answer the client takes no byte of for this long ends with its connection.
    pub write_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 5,
            idle_timeout_secs: 60,
            body_timeout_secs: 30,
            write_timeout_secs: 30,
            max_connections: 1000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    /// The local server's address (`VERTEX_ADDR`).
    pub addr: SocketAddr,
    /// Embedded backend: where the database, the signing secret and the files live.
    pub data_dir: PathBuf,
    /// AWS backend: the DynamoDB table.
    pub table: Option<String>,
    /// AWS backend: the S3 bucket.
    pub bucket: Option<String>,
    /// Path-style S3 addressing, which emulators need (default: on when `AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL_S3` is set; `VERTEX_S3_PATH_STYLE` overrides).
    pub s3_path_style: bool,
    /// The JWT signing secret, given directly (`VERTEX_JWT_SECRET`)...
    pub jwt_secret: Option<Secret>,
    /// ...or as the name of an SSM SecureString parameter (`VERTEX_JWT_SECRET_PARAM`).
    pub jwt_secret_param: Option<String>,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// Quota of new users; `None`: unlimited.
    pub default_quota_bytes: Option<u64>,
    /// Largest `POST /api/files/upload` request. Lambda refuses requests above 6 MB anyway;
    /// locally the form streams to disk, so larger forms are fine.
    pub max_form_bytes: u64,
    /// Lifetime of presigned and signed transfer URLs.
    pub transfer_url_ttl_secs: i64,
    /// Origin (`https://files.example.com`) the local server puts in the transfer URLs it signs;
    /// default: the request's `Host`.
    pub public_url: Option<String>,
    /// ZIP archives of at most this many files and bytes are written within the request;
    /// larger ones become background jobs.
    pub zip_sync_max_files: u64,
    pub zip_sync_max_bytes: u64,
    /// Folder copies, moves, renames and deletes of at most this many objects run within the
    /// request; larger ones become background jobs (`VERTEX_FOLDER_SYNC_MAX_OBJECTS`; at most
    /// one listing page less one, so one page tells).
    pub folder_sync_max_objects: usize,
    /// A folder job's run hands over to a fresh one after this long (`VERTEX_JOB_SLICE_SECS`;
    /// 0: after every step, as the tests do).
    pub job_slice_secs: u64,
    /// Objects per step of a folder job: the unit recorded before its objects are touched
    /// (`VERTEX_JOB_STEP_OBJECTS`).
    pub job_step_objects: usize,
    /// Bytes per step of a folder copy or move, at least one object whatever its size
    /// (`VERTEX_JOB_STEP_BYTES`): a step's copies take minutes at most, and a run can hand
    /// over soon after its time is up.
    pub job_step_bytes: u64,
    /// While a folder job's step works on its objects, its record and slot are written this
    /// often (a run that writes is never taken for a stalled one). One minute; not read from
    /// the environment (tests shorten it).
    pub job_heartbeat_ms: u64,
    /// First pause after a failed step of a folder job, doubled for each further failure
    /// (`VERTEX_JOB_RETRY_PAUSE_MS`).
    pub job_retry_pause_ms: u64,
    pub throttle: ThrottleConfig,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`VERTEX_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Appends every AWS call the process makes to this file as JSON lines
    /// (`VERTEX_RECORD_AWS_CALLS`), for checking IAM policies against real calls.
    pub record_aws_calls: Option<PathBuf>,
    /// Lambda: read each store once during init (`VERTEX_WARM_CONNECTIONS`, default off), so the
    /// first request finds its connections open. Against the emulators it only added to init
    /// (benches/cold_start.sh); on AWS it moves two TLS handshakes into init, in parallel.
    pub warm_connections: bool,
    /// `VERTEX_PASSWORD_COST`: `standard` (default) or, for test suites, `minimal`.
    pub password_cost: PasswordCost,
    pub limits: Limits,
    pub server: ServerLimits,
    /// Share links: expiry, passwords, limits, throttling.
    pub shares: ShareConfig,
    /// AWS, shares function: the zip function large visitor archives are handed to
    /// (`VERTEX_ZIP_FUNCTION`).
    pub zip_function: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
    #[error("{0} must be set for the {1} backend")]
    Missing(&'static str, &'static str),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::Invalid(name, format!("{v:?}"))),
    }
}

/// Values given on the command line, which win over the environment. Applied before the
/// defaults that depend on them (the form limit depends on the backend).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub backend: Option<Backend>,
    pub data_dir: Option<PathBuf>,
    pub addr: Option<SocketAddr>,
}

/// A number, or `none`/`unlimited` for no limit.
fn optional_var(name: &'static str, default: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match var(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("none") | Some("unlimited") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid(name, format!("{v:?}"))),
    }
}

impl Config {
    /// Reads `VERTEX_*` variables; unset ones take their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Overrides::default())
    }

    /// The process's configuration: `overrides`, then `VERTEX_*` variables, then defaults.
    /// The only reader of `VERTEX_*` variables.
    pub fn load(overrides: Overrides) -> Result<Self, ConfigError> {
        let default_quota_bytes = optional_var("VERTEX_DEFAULT_QUOTA_BYTES", None)?;
        let backend = match overrides.backend {
            Some(backend) => backend,
            None => parse_var("VERTEX_BACKEND", Backend::Embedded)?,
        };
        let addr = match overrides.addr {
            Some(addr) => addr,
            None => parse_var("VERTEX_ADDR", DEFAULT_ADDR.parse().expect("valid address"))?,
        };
        let default_form_bytes = match backend {
            Backend::Aws => LAMBDA_REQUEST_LIMIT,
            Backend::Embedded => 5 * 1024 * 1024 * 1024,
        };
        let config = Self {
            backend,
            addr,
            data_dir: overrides
                .data_dir
                .or_else(|| var("VERTEX_DATA_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            table: var("VERTEX_TABLE"),
            bucket: var("VERTEX_BUCKET"),
            s3_path_style: parse_var(
                "VERTEX_S3_PATH_STYLE",
                var("AWS_ENDPOINT_URL").is_some() || var("AWS_ENDPOINT_URL_S3").is_some(),
            )?,
            jwt_secret: var("VERTEX_JWT_SECRET").map(Secret),
            jwt_secret_param: var("VERTEX_JWT_SECRET_PARAM"),
            access_ttl_secs: parse_var("VERTEX_ACCESS_TTL_SECS", 15 * 60)?,
            refresh_ttl_secs: parse_var("VERTEX_REFRESH_TTL_SECS", 14 * 24 * 3600)?,
            default_quota_bytes,
            max_form_bytes: parse_var("VERTEX_MAX_FORM_BYTES", default_form_bytes)?,
            transfer_url_ttl_secs: parse_var("VERTEX_TRANSFER_URL_TTL_SECS", 15 * 60)?,
            public_url: var("VERTEX_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            zip_sync_max_files: parse_var("VERTEX_ZIP_SYNC_MAX_FILES", 1000)?,
            zip_sync_max_bytes: parse_var("VERTEX_ZIP_SYNC_MAX_BYTES", 64 * 1024 * 1024)?,
            folder_sync_max_objects: parse_var("VERTEX_FOLDER_SYNC_MAX_OBJECTS", 500)?,
            job_slice_secs: parse_var("VERTEX_JOB_SLICE_SECS", 600)?,
            job_step_objects: parse_var("VERTEX_JOB_STEP_OBJECTS", 100)?,
            job_step_bytes: parse_var("VERTEX_JOB_STEP_BYTES", 2 * 1024 * 1024 * 1024)?,
            job_heartbeat_ms: 60_000,
            job_retry_pause_ms: parse_var("VERTEX_JOB_RETRY_PAUSE_MS", 1000)?,
            throttle: ThrottleConfig {
                account_max_failures: parse_var("VERTEX_LOGIN_MAX_FAILURES", 5)?,
                address_max_failures: parse_var("VERTEX_LOGIN_MAX_FAILURES_PER_ADDRESS", 50)?,
                window_secs: parse_var("VERTEX_LOGIN_WINDOW_SECS", 15 * 60)?,
                slowdown_after: parse_var("VERTEX_LOGIN_SLOWDOWN_AFTER", 20)?,
                max_delay_ms: parse_var("VERTEX_LOGIN_MAX_DELAY_MS", 3000)?,
            },
            trusted_proxies: var("VERTEX_TRUSTED_PROXIES")
                .map(|list| list.parse())
                .transpose()?
                .unwrap_or_default(),
            record_aws_calls: var("VERTEX_RECORD_AWS_CALLS").map(PathBuf::from),
            warm_connections: parse_var("VERTEX_WARM_CONNECTIONS", false)?,
            password_cost: parse_var("VERTEX_PASSWORD_COST", PasswordCost::Standard)?,
            limits: Self::limits()?,
            server: Self::server_limits()?,
            shares: ShareConfig::from_env()?,
            zip_function: var("VERTEX_ZIP_FUNCTION"),
        };
        config.check()?;
        Ok(config)
    }

    fn limits() -> Result<Limits, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            registration: parse_var("VERTEX_REGISTRATION", d.registration)?,
            default_file_limit: optional_var("VERTEX_DEFAULT_FILE_LIMIT", d.default_file_limit)?,
            max_form_files: parse_var("VERTEX_MAX_FORM_FILES", d.max_form_files)?,
            max_running_jobs: parse_var(
                "VERTEX_MAX_RUNNING_JOBS",
                parse_var("VERTEX_ZIP_MAX_RUNNING_JOBS", d.max_running_jobs)?,
            )?,
            password_queue: parse_var("VERTEX_PASSWORD_QUEUE", d.password_queue)?,
            max_sessions_per_user: parse_var(
                "VERTEX_MAX_SESSIONS_PER_USER",
                d.max_sessions_per_user,
            )?,
        })
    }

    fn server_limits() -> Result<ServerLimits, ConfigError> {
        let d = ServerLimits::default();
        Ok(ServerLimits {
            header_timeout_secs: parse_var("VERTEX_HEADER_TIMEOUT_SECS", d.header_timeout_secs)?,
            idle_timeout_secs: parse_var("VERTEX_IDLE_TIMEOUT_SECS", d.idle_timeout_secs)?,
            body_timeout_secs: parse_var("VERTEX_BODY_TIMEOUT_SECS", d.body_timeout_secs)?,
            write_timeout_secs: parse_var("VERTEX_WRITE_TIMEOUT_SECS", d.write_timeout_secs)?,
            max_connections: parse_var("VERTEX_MAX_CONNECTIONS", d.max_connections)?,
        })
    }

    /// Rejects values that would make the service unsafe or unusable.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.access_ttl_secs < 1 {
            return Err(ConfigError::Invalid(
                "VERTEX_ACCESS_TTL_SECS",
                "must be ≥ 1".into(),
            ));
        }
        if self.refresh_ttl_secs < 1 {
            return Err(ConfigError::Invalid(
                "VERTEX_REFRESH_TTL_SECS",
                "must be ≥ 1".into(),
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.transfer_url_ttl_secs) {
            return Err(ConfigError::Invalid(
                "VERTEX_TRANSFER_URL_TTL_SECS",
                "must be between 1 and 604800 (S3's limit)".into(),
            ));
        }
        if self.throttle.window_secs < 1 {
            return Err(ConfigError::Invalid(
                "VERTEX_LOGIN_WINDOW_SECS",
                "must be ≥ 1".into(),
            ));
        }
        if self.throttle.max_delay_ms > 60_000 {
            return Err(ConfigError::Invalid(
                "VERTEX_LOGIN_MAX_DELAY_MS",
                "must be at most 60000 (a delay, not a lock)".into(),
            ));
        }
        if self.limits.max_sessions_per_user < 1 {
            return Err(ConfigError::Invalid(
                "VERTEX_MAX_SESSIONS_PER_USER",
                "must be ≥ 1".into(),
            ));
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.0.len() < 32 {
                return Err(ConfigError::Invalid(
                    "VERTEX_JWT_SECRET",
                    "must be at least 32 bytes".into(),
                ));
            }
        }
        if self.password_cost == PasswordCost::Minimal && !cfg!(debug_assertions) {
            return Err(ConfigError::Invalid(
                "VERTEX_PASSWORD_COST",
                "minimal is for test suites and only accepted by debug builds".into(),
            ));
        }
        self.shares.check()?;
        self.check_jobs()?;
        if self.backend == Backend::Aws && self.table.is_none() {
            return Err(ConfigError::Missing("VERTEX_TABLE", "aws"));
        }
        Ok(())
    }

    fn check_jobs(&self) -> Result<(), ConfigError> {
        // One listing page must hold the threshold and one more object to tell "above" apart.
        if self.folder_sync_max_objects >= crate::objects::MAX_LIST_PAGE {
            return Err(ConfigError::Invalid(
                "VERTEX_FOLDER_SYNC_MAX_OBJECTS",
                format!("must be below {}", crate::objects::MAX_LIST_PAGE),
            ));
        }
        if !(1..=crate::objects::MAX_LIST_PAGE).contains(&self.job_step_objects) {
            return Err(ConfigError::Invalid(
                "VERTEX_JOB_STEP_OBJECTS",
                format!("must be between 1 and {}", crate::objects::MAX_LIST_PAGE),
            ));
        }
        // A guarded claim checks every slot in one DynamoDB transaction (at most 100 items).
        if !(1..=100).contains(&self.limits.max_running_jobs) {
            return Err(ConfigError::Invalid(
                "VERTEX_MAX_RUNNING_JOBS",
                "must be between 1 and 100".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_settings_have_their_defaults_and_bounds() {
        let mut config = Config::load(Overrides::default()).expect("defaults load");
        assert_eq!(config.folder_sync_max_objects, 500);
        assert_eq!(config.job_slice_secs, 600);
        assert_eq!(config.job_step_objects, 100);
        assert_eq!(config.job_step_bytes, 2 << 30);
        assert_eq!(config.job_retry_pause_ms, 1000);
        assert_eq!(config.limits.max_running_jobs, 3);
        // The threshold and one more object must fit one listing page.
        config.folder_sync_max_objects = crate::objects::MAX_LIST_PAGE - 1;
        assert!(config.check().is_ok());
        config.folder_sync_max_objects = crate::objects::MAX_LIST_PAGE;
        assert!(config.check().is_err());
        config.folder_sync_max_objects = 500;
        for (steps, slots, ok) in [
            (0, 3, false),
            (1001, 3, false),
            (1, 0, false),
            (1, 101, false),
        ] {
            config.job_step_objects = steps;
            config.limits.max_running_jobs = slots;
            assert_eq!(config.check().is_ok(), ok, "{steps} {slots}");
        }
        config.job_step_objects = 1000;
        config.limits.max_running_jobs = 100;
        assert!(config.check().is_ok());
    }
}
