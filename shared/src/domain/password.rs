use std::collections::HashSet;
use std::sync::OnceLock;

/// Django's list of 20,000 common passwords (BSD licence), lower-cased.
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

/// A password that passed the policy and may be hashed. Never logged, never serialized.
pub struct NewPassword(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "This password is too short. It must contain at least {} characters.",
        NewPassword::MIN_LEN
    )]
    TooShort,
    #[error(
        "This password is too long. It must contain at most {} characters.",
        NewPassword::MAX_LEN
    )]
    TooLong,
    #[error("This password is entirely numeric.")]
    AllDigits,
    #[error("This password is too similar to the username or email.")]
    LikeIdentity,
    #[error("This password is too common.")]
    Common,
}

impl NewPassword {
    pub const MIN_LEN: usize = 8;
    /// Bounds the work a hash request can cause.
    pub const MAX_LEN: usize = 1024;

    /// Checks the policy. `identities` are the username and email it must not match.
    pub fn parse(raw: &str, identities: &[&str]) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().all(|c| c.is_ascii_digit()) {
            return Err(PasswordError::AllDigits);
        }
        let lower = raw.to_lowercase();
        for identity in identities.iter().filter(|s| !s.is_empty()) {
            let identity = identity.to_lowercase();
            let local = identity.split('@').next().unwrap_or_default();
            if lower == identity || (local.len() >= 3 && lower.contains(local)) {
                return Err(PasswordError::LikeIdentity);
            }
        }
        if common_passwords().contains(lower.trim()) {
            return Err(PasswordError::Common);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let ids = ["alice", "alice@example.com"];
        assert_eq!(
            NewPassword::parse("short1", &ids).unwrap_err(),
            PasswordError::TooShort
        );
        assert_eq!(
            NewPassword::parse("1234567890", &ids).unwrap_err(),
            PasswordError::AllDigits
        );
        assert_eq!(
            NewPassword::parse("password", &ids).unwrap_err(),
            PasswordError::Common
        );
        assert_eq!(
            NewPassword::parse("Password1", &ids).unwrap_err(),
            PasswordError::Common
        );
        assert_eq!(
            NewPassword::parse("qwertyuiop", &ids).unwrap_err(),
            PasswordError::Common
        );
        assert_eq!(
            NewPassword::parse("ALICE-secret-99", &ids).unwrap_err(),
            PasswordError::LikeIdentity
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(1025), &ids).unwrap_err(),
            PasswordError::TooLong
        );
        assert!(NewPassword::parse("correct horse battery", &ids).is_ok());
        assert!(NewPassword::parse("Tr0ub4dor&3x", &ids).is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = NewPassword::parse("correct horse battery", &[]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
