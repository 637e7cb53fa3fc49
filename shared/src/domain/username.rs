use serde::{Deserialize, Serialize};

use super::string_value::string_value;

/// A username: 3–150 characters of ASCII letters, digits, `_`, `.` and `-`, starting with a letter
/// or digit. Unique case-insensitively; the spelling given at registration is kept for display.
///
/// `@` is not allowed so that login's "username or email" is never ambiguous.
///
/// Deserializing does not check: it reads back what a store holds, which older rules may have
/// let in, and a stored account must keep loading. Input from requests goes through [`parse`].
///
/// [`parse`]: Username::parse
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

string_value!(Username);

impl Username {
    pub const MAX_LEN: usize = 150;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.len() < 3 {
            return Err("Username must be at least 3 characters.".into());
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!(
                "Username must be at most {} characters.",
                Self::MAX_LEN
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("Username must start with a letter or a digit.".into());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("Username may contain only letters, digits, '_', '.' and '-'.".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// A name read back from storage, as it was stored (see the type's note on older data).
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The key under which uniqueness is enforced, and by which logins find the account.
    pub fn normalized(&self) -> String {
        Self::normalize(&self.0)
    }

    /// [`normalized`](Self::normalized) for a name typed at login, which is not parsed.
    pub fn normalize(raw: &str) -> String {
        raw.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_and_keeps_case() {
        let u = Username::parse(" John_Doe.2 ").unwrap();
        assert_eq!(u.as_str(), "John_Doe.2");
        assert_eq!(u.normalized(), "john_doe.2");
        assert_eq!(Username::normalize("JOHN_doe.2"), u.normalized());
    }

    #[test]
    fn stored_names_load_unchecked() {
        // A name older rules allowed still loads, and still folds to its unique key.
        let old: Username = serde_json::from_str("\"Ab\"").unwrap();
        assert_eq!(old.as_str(), "Ab");
        assert_eq!(old.normalized(), "ab");
        assert_eq!(serde_json::to_string(&old).unwrap(), "\"Ab\"");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "", "ab", "_abc", "a b c", "abc/def", "ab@cd", "../etc", "ábc", "abc\0",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Username::parse(&"a".repeat(151)).is_err());
        assert!(Username::parse(&"a".repeat(150)).is_ok());
    }
}
