//! Tickets: short-lived signed statements the service hands out and later takes back as proof
//! (a direct upload's id, the service's own transfer URLs). HS256 with a key derived from the
//! signing secret for this purpose only, and a type in every ticket, so no ticket is ever
//! accepted as an access token or as a ticket of another kind.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    typ: String,
    exp: i64,
    #[serde(flatten)]
    body: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("expired")]
    Expired,
    #[error("invalid")]
    Invalid,
}

pub struct TicketKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TicketKeys {
    pub fn new(secret: &[u8]) -> Self {
        let key = Sha256::new()
            .chain_update(b"vertexcloud tickets\0")
            .chain_update(secret)
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    /// A ticket of kind `typ` saying `body`, valid until `exp` (epoch seconds).
    pub fn issue<T: Serialize>(&self, typ: &str, exp: i64, body: T) -> anyhow::Result<String> {
        let envelope = Envelope {
            typ: typ.to_owned(),
            exp,
            body,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &envelope,
            &self.encoding,
        )?)
    }

    /// The body of a genuine, unexpired ticket of kind `typ`.
    pub fn check<T: DeserializeOwned>(&self, typ: &str, ticket: &str) -> Result<T, TicketError> {
        match jsonwebtoken::decode::<Envelope<T>>(ticket, &self.decoding, &self.validation) {
            Ok(data) if data.claims.typ == typ => Ok(data.claims.body),
            Ok(_) => Err(TicketError::Invalid),
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                Err(TicketError::Expired)
            }
            Err(_) => Err(TicketError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::TokenKeys;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Body {
        key: String,
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn round_trip_and_kinds() {
        let keys = TicketKeys::new(b"0123456789abcdef0123456789abcdef");
        let body = Body { key: "a".into() };
        let ticket = keys.issue("part", now() + 60, &body).unwrap();
        assert_eq!(keys.check::<Body>("part", &ticket), Ok(body));
        assert_eq!(
            keys.check::<Body>("get", &ticket),
            Err(TicketError::Invalid)
        );
        let expired = keys
            .issue("part", now() - 1, Body { key: "a".into() })
            .unwrap();
        assert_eq!(
            keys.check::<Body>("part", &expired),
            Err(TicketError::Expired)
        );
        let other = TicketKeys::new(b"another secret, 32 bytes long!!!");
        assert_eq!(
            other.check::<Body>("part", &ticket),
            Err(TicketError::Invalid)
        );
        let mut tampered = ticket.clone();
        tampered.replace_range(ticket.len() - 3.., "AAA");
        assert_eq!(
            keys.check::<Body>("part", &tampered),
            Err(TicketError::Invalid)
        );
    }

    #[test]
    fn tickets_are_not_access_tokens() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let ticket = TicketKeys::new(secret)
            .issue("access", now() + 60, Body { key: "a".into() })
            .unwrap();
        assert!(TokenKeys::new(secret).verify_access(&ticket).is_none());
    }
}
