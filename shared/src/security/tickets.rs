//! Tickets: short-lived signed statements the service hands out and later takes back as proof
//! (a direct upload's id, the service's own transfer URLs). HS256 with a key derived from the
//! signing secret for this purpose only, and a type in every ticket, so no ticket is ever
//! accepted as an access token or as a ticket of another kind.
//!
//! A ticket is readable by whoever holds it (signed, not encrypted): what its holder must not
//! read goes in it [`TicketKeys::seal`]ed (AES-256-GCM, a key of its own derived from the same
//! secret, the ticket's kind as associated data).

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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
    sealing: RandomizedNonceKey,
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
        let sealing = Sha256::new()
            .chain_update(b"vertexcloud sealed tickets\0")
            .chain_update(secret)
            .finalize();
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            sealing: RandomizedNonceKey::new(&AES_256_GCM, &sealing)
                .expect("a 32-byte AES-256 key"),
        }
    }

    /// `body` encrypted for tickets of kind `typ` only: base64url of a random nonce, the
    /// ciphertext and its tag.
    pub fn seal<T: Serialize>(&self, typ: &str, body: &T) -> anyhow::Result<String> {
        let mut sealed = serde_json::to_vec(body)?;
        let nonce = self
            .sealing
            .seal_in_place_append_tag(Aad::from(typ.as_bytes()), &mut sealed)
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.as_ref().to_vec();
        out.append(&mut sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// What [`TicketKeys::seal`] sealed for kind `typ` with this secret.
    pub fn unseal<T: DeserializeOwned>(&self, typ: &str, sealed: &str) -> Result<T, TicketError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| TicketError::Invalid)?;
        if bytes.len() < NONCE_LEN {
            return Err(TicketError::Invalid);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| TicketError::Invalid)?;
        let mut rest = rest.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(typ.as_bytes()), &mut rest)
            .map_err(|_| TicketError::Invalid)?;
        serde_json::from_slice(plain).map_err(|_| TicketError::Invalid)
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
    fn sealed_bodies_are_opaque_and_bound_to_kind_and_secret() {
        let keys = TicketKeys::new(b"0123456789abcdef0123456789abcdef");
        let body = Body {
            key: "share-id-1234".into(),
        };
        let sealed = keys.seal("get", &body).unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("share-id-1234"));
        // A fresh nonce each time.
        assert_ne!(sealed, keys.seal("get", &body).unwrap());
        assert_eq!(keys.unseal::<Body>("get", &sealed), Ok(body));
        assert_eq!(
            keys.unseal::<Body>("part", &sealed),
            Err(TicketError::Invalid)
        );
        let other = TicketKeys::new(b"another secret, 32 bytes long!!!");
        assert_eq!(
            other.unseal::<Body>("get", &sealed),
            Err(TicketError::Invalid)
        );
        let mut tampered = raw.clone();
        tampered[NONCE_LEN] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        assert_eq!(
            keys.unseal::<Body>("get", &tampered),
            Err(TicketError::Invalid)
        );
        for junk in ["", "AAAA", "not base64!"] {
            assert_eq!(keys.unseal::<Body>("get", junk), Err(TicketError::Invalid));
        }
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
