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

    pub fn is_staff(self) -> bool {
        self >= Role::Manager
    }
}
