//! The request bodies of users administration, and what they parse into.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::domain::Role;
use crate::error::AppResult;
use crate::services::accounts::{NewAccount, ProfileChanges};
use crate::services::check::Check;
use crate::services::schema::{EmailText, NewPasswordText, PersonName, UsernameText};
use crate::services::RegisterInput;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    #[schema(value_type = UsernameText)]
    pub username: Option<String>,
    #[schema(value_type = EmailText)]
    pub email: Option<String>,
    #[schema(value_type = NewPasswordText)]
    pub password: Option<String>,
    /// `user` (default), `manager` or `superuser`.
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// Bytes; `null` for unlimited. Absent: the service's default quota.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub quota_bytes: Option<Option<u64>>,
    /// Objects (files, parts of unfinished direct uploads) the user may hold; `null` for
    /// unlimited. Absent: the service's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub file_limit: Option<Option<u64>>,
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
}

/// Only these fields can be changed; anything else is refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// `user`, `manager` or `superuser`.
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// Bytes; `null` for unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub quota_bytes: Option<Option<u64>>,
    /// Objects the user may hold; `null` for unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub file_limit: Option<Option<u64>>,
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
    #[schema(value_type = Option<EmailText>)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordInput {
    #[schema(value_type = NewPasswordText)]
    pub new_password: Option<String>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl NewUserInput {
    /// The role asked for (default `user`).
    pub(super) fn role(&self) -> AppResult<Role> {
        let mut check = Check::default();
        let role = parse_role(&mut check, self.role.as_deref());
        check.done(Some(role.unwrap_or(Role::User)))
    }

    /// The account's own fields, parsed as a registration's (the password given once).
    pub(super) fn account(self) -> AppResult<NewAccount> {
        RegisterInput {
            password2: self.password.clone(),
            username: self.username,
            email: self.email,
            password: self.password,
            first_name: self.first_name,
            last_name: self.last_name,
        }
        .parse()
    }
}

/// What an administrator changes about a user, parsed; `None`: unchanged.
pub(super) struct UserChanges {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// `Some(None)`: unlimited.
    pub quota_bytes: Option<Option<u64>>,
    /// `Some(None)`: unlimited.
    pub file_limit: Option<Option<u64>>,
    pub profile: ProfileChanges,
}

impl UserUpdate {
    pub(super) fn parse(self) -> AppResult<UserChanges> {
        let mut check = Check::default();
        let role = parse_role(&mut check, self.role.as_deref());
        let profile = ProfileChanges::parse(
            &mut check,
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.email.as_deref(),
        );
        check.done(Some(UserChanges {
            role,
            is_active: self.is_active,
            quota_bytes: self.quota_bytes,
            file_limit: self.file_limit,
            profile,
        }))
    }
}

impl ResetPasswordInput {
    /// The new password as typed; the policy needs the user it is for, so the service parses it.
    pub fn new_password(self) -> AppResult<String> {
        let mut check = Check::default();
        let typed = check
            .required("new_password", &self.new_password)
            .map(str::to_owned);
        check.done(typed)
    }
}

fn parse_role(check: &mut Check, raw: Option<&str>) -> Option<Role> {
    let role = Role::parse(raw?);
    if role.is_none() {
        check.fail("role", "Must be one of: user, manager, superuser.");
    }
    role
}
