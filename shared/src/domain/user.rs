use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::Role;

/// A stored account. `password_hash` is a PHC string; it never leaves the service.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub is_active: bool,
    pub password_hash: String,
    /// `None`: unlimited.
    pub quota_bytes: Option<u64>,
    pub used_bytes: u64,
    pub file_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The user's home prefix in storage; derived from the id only.
    pub fn dir_name(&self) -> String {
        home_prefix(&self.id)
    }

    pub fn view(&self) -> UserView {
        let full_name = format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned();
        UserView {
            id: self.id.clone(),
            user_id: self.id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            full_name,
            user_type: self.role,
            is_superuser: self.role == Role::Superuser,
            is_staff: self.role.is_staff(),
            is_manager: self.role == Role::Manager,
            is_normal_user: self.role == Role::User,
            is_active: self.is_active,
            dir_name: self.dir_name(),
            quota_bytes: self.quota_bytes,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }

    pub fn usage(&self) -> StorageUsage {
        StorageUsage {
            used_bytes: self.used_bytes,
            quota_bytes: self.quota_bytes,
            file_count: self.file_count,
        }
    }
}

/// What a user search matches against: username, email and names, lowercased, one per line.
pub fn search_text(user: &User) -> String {
    [
        &user.username,
        &user.email,
        &user.first_name,
        &user.last_name,
    ]
    .map(|s| s.to_lowercase())
    .join("\n")
}

/// The storage prefix of the home of the user with this id (no trailing `/`).
pub fn home_prefix(user_id: &str) -> String {
    format!("users/{user_id}")
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The user object of API.md.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    /// Same as `id` (the seeds' name for it).
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    /// The role: `user`, `manager` or `superuser`.
    pub user_type: Role,
    pub is_superuser: bool,
    /// Superuser or manager.
    pub is_staff: bool,
    pub is_manager: bool,
    pub is_normal_user: bool,
    pub is_active: bool,
    /// The user's home in storage.
    pub dir_name: String,
    /// `null`: unlimited.
    pub quota_bytes: Option<u64>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorageUsage {
    pub used_bytes: u64,
    /// `null`: unlimited.
    pub quota_bytes: Option<u64>,
    pub file_count: u64,
}
