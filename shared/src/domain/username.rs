use std::fmt;

/// A username: 3–150 characters of ASCII letters, digits, `_`, `.` and `-`, starting with a letter
/// or digit. Unique case-insensitively; the spelling given at registration is kept for display.
///
/// `@` is not allowed so that login's "username or email" is never ambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which uniqueness is enforced.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
