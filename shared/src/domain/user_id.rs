use serde::{Deserialize, Serialize};

use super::string_value::string_value;

/// A user's id: a random UUID (v4) in its hyphenated form, fixed for the life of the account.
/// It names the user's home in storage and is the subject of every token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

string_value!(UserId);

impl UserId {
    /// A new, random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

/// Ids come back from storage and tokens as they were issued; they are not re-checked, so an
/// account made under an older id scheme still loads.
impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuids() {
        let id = UserId::generate();
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        assert_ne!(id, UserId::generate());
        assert_eq!(id.len(), 36);
    }
}
