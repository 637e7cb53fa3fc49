use serde::{Deserialize, Serialize};

use super::string_value::string_value;

/// An email address, checked for shape (not deliverability): one `@`, a non-empty local part of at
/// most 64 bytes, a dotted domain of letters, digits and hyphens, 254 bytes in all. The domain is
/// lower-cased; uniqueness is case-insensitive on the whole address.
///
/// Deserializing does not check: it reads back what a store holds, which older rules may have
/// let in, and a stored account must keep loading. Input from requests goes through [`parse`].
///
/// [`parse`]: Email::parse
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

string_value!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || "Enter a valid email address.".to_string();
        let s = raw.trim();
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// An address read back from storage, as it was stored (see the type's note on older data).
    pub fn from_stored(address: String) -> Self {
        Self(address)
    }

    /// The key under which uniqueness is enforced, and by which logins find the account.
    pub fn normalized(&self) -> String {
        Self::normalize(&self.0)
    }

    /// [`normalized`](Self::normalized) for an address typed at login, which is not parsed.
    pub fn normalize(raw: &str) -> String {
        raw.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalizes() {
        let e = Email::parse("John.Doe+x@Example.COM").unwrap();
        assert_eq!(e.as_str(), "John.Doe+x@example.com");
        assert_eq!(e.normalized(), "john.doe+x@example.com");
        assert_eq!(Email::normalize("JOHN.Doe+x@example.com"), e.normalized());
        // Surrounding white space is trimmed, as form fields usually are.
        assert_eq!(Email::parse(" a@b.com\n").unwrap().as_str(), "a@b.com");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@-b.com",
            "a@b..com",
            "a@b\n.com",
            "a\r\n@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
