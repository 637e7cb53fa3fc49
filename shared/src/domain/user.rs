use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Email, Role, UserId, Username};

/// A stored account. `password_hash` is a PHC string; it never leaves the service (responses
/// show a [`UserView`]).
///
/// The serde form is the stored one, read and written by the stores only: times in epoch
/// seconds, no attribute for "no quota". Reading it back does not re-validate (an account must
/// keep loading whatever older rules let in): missing names, flags, counters and times read as
/// empty, false or zero, a negative counter as zero, an unknown role as `user`.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(deserialize_with = "Role::deserialize_stored")]
    pub role: Role,
    #[serde(default)]
    pub is_active: bool,
    pub password_hash: String,
    /// `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// How many objects (files, direct-upload parts) the user may hold; `None`: unlimited
    /// (accounts made before the limit existed have none until an administrator sets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_limit: Option<u64>,
    /// Bytes held against the quota: stored ones *and* reserved ones (`reserved_bytes`), so
    /// that one conditional addition checks both against the quota.
    #[serde(default, deserialize_with = "non_negative")]
    pub used_bytes: u64,
    /// Objects held against the file limit: stored files and reserved ones, as `used_bytes`.
    #[serde(default, deserialize_with = "non_negative")]
    pub file_count: u64,
    /// The part of `used_bytes` that live [charges](crate::store::Charge) hold (direct uploads
    /// not yet completed); no attribute while zero, as in items written before charges.
    #[serde(
        default,
        deserialize_with = "non_negative",
        skip_serializing_if = "is_zero"
    )]
    pub reserved_bytes: u64,
    /// The part of `file_count` that charges hold.
    #[serde(
        default,
        deserialize_with = "non_negative",
        skip_serializing_if = "is_zero"
    )]
    pub reserved_files: u64,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub updated_at: DateTime<Utc>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A stored counter; one that drifted below zero reads as zero.
fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(i64::deserialize(d)?.max(0) as u64)
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
        super::layout::Home::of_user(self).dir_name().to_owned()
    }

    pub fn view(&self) -> UserView {
        let full_name = format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned();
        UserView {
            id: self.id.to_string(),
            user_id: self.id.to_string(),
            username: self.username.to_string(),
            email: self.email.to_string(),
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
            file_limit: self.file_limit,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }

    pub fn usage(&self) -> StorageUsage {
        // The counters include what is reserved; a drift between them reads as nothing stored.
        StorageUsage {
            used_bytes: self.used_bytes.saturating_sub(self.reserved_bytes),
            reserved_bytes: self.reserved_bytes,
            quota_bytes: self.quota_bytes,
            file_count: self.file_count.saturating_sub(self.reserved_files),
            file_limit: self.file_limit,
        }
    }
}

impl User {
    /// True when `search` (already lowercased) is part of the user's [`search_text`]; no search
    /// matches everyone. Both stores filter listings with this.
    pub fn matches(&self, search: Option<&str>) -> bool {
        search.is_none_or(|q| search_text(self).contains(q))
    }
}

/// What a user search matches against: username, email and names, lowercased, one per line.
pub fn search_text(user: &User) -> String {
    [
        user.username.as_str(),
        user.email.as_str(),
        &user.first_name,
        &user.last_name,
    ]
    .map(str::to_lowercase)
    .join("\n")
}

/// What a login names, and the unique key to look it up by: an email when it contains `@`
/// (usernames cannot), else a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginKey {
    Username(String),
    Email(String),
}

impl LoginKey {
    pub fn of(login: &str) -> Self {
        if login.contains('@') {
            Self::Email(Email::normalize(login))
        } else {
            Self::Username(Username::normalize(login))
        }
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The user object every user endpoint answers with (`UserView` in the OpenAPI document).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    /// Same as `id`, under the name older clients read.
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
    /// How many objects (files, parts of unfinished direct uploads) the user may hold; `null`:
    /// unlimited.
    pub file_limit: Option<u64>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorageUsage {
    /// Bytes of stored files.
    pub used_bytes: u64,
    /// Bytes held for direct uploads not yet completed (their declared sizes) and for ZIP
    /// archives while they exist; they count against the quota beside `used_bytes` until the
    /// upload completes, is aborted or expires, or the archive expires.
    pub reserved_bytes: u64,
    /// `null`: unlimited.
    pub quota_bytes: Option<u64>,
    pub file_count: u64,
    /// How many objects the user may hold (files, parts of unfinished direct uploads); `null`:
    /// unlimited.
    pub file_limit: Option<u64>,
}
