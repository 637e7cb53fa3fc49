use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const ISSUER: &str = "vertexcloud";
const ACCESS: &str = "access";
const REFRESH_PREFIX: &str = "vcr1";
/// Every API key starts with this, which is how a Bearer token is told apart from a JWT.
pub const API_KEY_PREFIX: &str = "vck_";

/// `n` random bytes from the OS, base64url without padding.
pub fn random_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Claims of an access token: who, which session, until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub sid: String,
    pub typ: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// HS256 keys built once per process from the configured secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue_access(
        &self,
        user_id: &str,
        session_id: &str,
        now: i64,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            typ: ACCESS.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl_secs,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks signature, algorithm, issuer, expiry and type. Revocation is checked by the caller.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.typ == ACCESS).then_some(data.claims)
    }
}

fn canonical_uuid(s: &str) -> Option<String> {
    let id = Uuid::parse_str(s).ok()?.hyphenated().to_string();
    (id == s).then_some(id)
}

fn valid_secret(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `vcr1.<user id>.<session id>.<generation>.<secret>`: an opaque refresh token. The ids let the
/// server find the session directly; the generation tells a rotated (reused) token from the
/// current one. Only the SHA-256 of the whole token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: String,
    pub session_id: String,
    pub generation: u64,
    secret: String,
}

impl RefreshToken {
    pub fn generate(user_id: &str, session_id: &str, generation: u64) -> Self {
        Self {
            user_id: user_id.to_owned(),
            session_id: session_id.to_owned(),
            generation,
            secret: random_secret(32),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().split('.');
        if parts.next()? != REFRESH_PREFIX {
            return None;
        }
        let user_id = canonical_uuid(parts.next()?)?;
        let session_id = canonical_uuid(parts.next()?)?;
        let generation = parts.next()?.parse().ok()?;
        let secret = parts.next()?.to_owned();
        if parts.next().is_some() || !valid_secret(&secret) {
            return None;
        }
        Some(Self {
            user_id,
            session_id,
            generation,
            secret,
        })
    }

    pub fn hash(&self) -> String {
        sha256_hex(&self.expose())
    }

    pub fn expose(&self) -> String {
        format!(
            "{REFRESH_PREFIX}.{}.{}.{}.{}",
            self.user_id, self.session_id, self.generation, self.secret
        )
    }
}

/// `vck_<key id>.<user id>.<secret>`: an API key. Only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyToken {
    pub key_id: String,
    pub user_id: String,
    secret: String,
}

impl ApiKeyToken {
    pub fn generate(user_id: &str) -> Self {
        Self {
            key_id: Uuid::new_v4().simple().to_string(),
            user_id: user_id.to_owned(),
            secret: random_secret(32),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(API_KEY_PREFIX)?;
        let mut parts = rest.split('.');
        let key_id = parts.next()?;
        let user_id = canonical_uuid(parts.next()?)?;
        let secret = parts.next()?.to_owned();
        let key_ok = key_id.len() == 32 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
        if parts.next().is_some() || !key_ok || !valid_secret(&secret) {
            return None;
        }
        Some(Self {
            key_id: key_id.to_ascii_lowercase(),
            user_id,
            secret,
        })
    }

    pub fn expose(&self) -> String {
        format!(
            "{API_KEY_PREFIX}{}.{}.{}",
            self.key_id, self.user_id, self.secret
        )
    }

    pub fn hash(&self) -> String {
        sha256_hex(&self.expose())
    }

    /// What listings show to recognise the key: its first 12 characters.
    pub fn display_prefix(&self) -> String {
        self.expose()[..API_KEY_PREFIX.len() + 8].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let t = keys.issue_access("u1", "s1", now, 900).unwrap();
        let c = keys.verify_access(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("u1", "s1"));

        let other = TokenKeys::new(b"another secret, another signature!!");
        assert!(other.verify_access(&t).is_none(), "wrong key");
        let expired = keys.issue_access("u1", "s1", now - 1000, 900).unwrap();
        assert!(keys.verify_access(&expired).is_none(), "expired");
        let mut tampered = t.clone();
        tampered.insert(t.find('.').unwrap() + 3, 'x');
        assert!(keys.verify_access(&tampered).is_none(), "tampered payload");
        // alg=none with the same claims.
        let payload = t.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert!(keys.verify_access(&none).is_none(), "alg none");
    }

    #[test]
    fn refresh_tokens_parse_only_their_own_shape() {
        let uid = Uuid::new_v4().to_string();
        let sid = Uuid::new_v4().to_string();
        let t = RefreshToken::generate(&uid, &sid, 3);
        let parsed = RefreshToken::parse(&t.expose()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.hash(), t.hash());
        assert_ne!(RefreshToken::generate(&uid, &sid, 3).hash(), t.hash());
        for bad in [
            "",
            "garbage",
            &t.expose().replace("vcr1", "vcr2"),
            &format!("{}.extra", t.expose()),
            &format!("vcr1.{uid}.{sid}.x.secretsecretsecret"),
            &format!("vcr1.../etc.{sid}.1.secretsecretsecret"),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn api_keys_parse_and_show_a_prefix() {
        let uid = Uuid::new_v4().to_string();
        let k = ApiKeyToken::generate(&uid);
        let raw = k.expose();
        assert!(raw.starts_with(API_KEY_PREFIX));
        assert_eq!(ApiKeyToken::parse(&raw).unwrap(), k);
        assert!(raw.starts_with(&k.display_prefix()));
        assert_eq!(k.display_prefix().len(), 12);
        assert!(ApiKeyToken::parse("vck_short.x.y").is_none());
    }
}
