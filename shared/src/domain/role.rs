use serde::{Deserialize, Serialize};

/// A user's role. Ordered by power: `User < Manager < Superuser`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Manager,
    Superuser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Manager => "manager",
            Role::Superuser => "superuser",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "manager" => Some(Role::Manager),
            "superuser" => Some(Role::Superuser),
            _ => None,
        }
    }

    /// The role a stored record names. An unknown name (data from a newer or broken writer)
    /// loads as the least powerful role rather than failing the whole account.
    pub fn from_stored(s: &str) -> Self {
        Self::parse(s).unwrap_or(Role::User)
    }

    /// [`from_stored`](Self::from_stored) as a serde `deserialize_with`.
    pub fn deserialize_stored<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_stored(&String::deserialize(d)?))
    }

    pub fn is_staff(self) -> bool {
        self >= Role::Manager
    }
}
