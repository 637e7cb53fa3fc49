//! The request bodies of the accounts endpoints, and the commands they parse into: once a
//! command exists, every field in it is valid.

use serde::Deserialize;
use utoipa::ToSchema;

use super::NAME_MAX;
use crate::domain::{Email, NewPassword, User, Username};
use crate::error::AppResult;
use crate::services::check::{Check, REQUIRED};
use crate::services::schema::{
    EmailText, NewPasswordText, PasswordText, PersonName, Required, UsernameText,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterInput {
    #[schema(value_type = UsernameText)]
    pub username: Option<String>,
    #[schema(value_type = EmailText)]
    pub email: Option<String>,
    #[schema(value_type = NewPasswordText)]
    pub password: Option<String>,
    /// Must equal `password`.
    #[schema(value_type = String, format = Password)]
    pub password2: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginInput {
    /// Username or email.
    #[schema(value_type = Required)]
    pub username: Option<String>,
    #[schema(value_type = PasswordText)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshInput {
    #[schema(value_type = Required)]
    pub refresh: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LogoutInput {
    /// The session's refresh token (`refresh` is accepted too).
    #[schema(value_type = Required, required = false)]
    pub refresh_token: Option<String>,
    /// The same as `refresh_token`, which wins when both are given.
    #[schema(value_type = Required, required = false)]
    pub refresh: Option<String>,
}

/// Only these fields can be changed here; anything else is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
    #[schema(value_type = Option<EmailText>)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordInput {
    #[schema(value_type = PasswordText)]
    pub old_password: Option<String>,
    #[schema(value_type = NewPasswordText)]
    pub new_password: Option<String>,
    /// Must equal `new_password`.
    #[schema(value_type = String, format = Password)]
    pub new_password2: Option<String>,
    /// Also revoke every API key of the account (after a suspected leak). Default false.
    #[serde(default)]
    pub revoke_api_keys: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountInput {
    #[schema(value_type = PasswordText)]
    pub password: Option<String>,
}

/// A registration, parsed: every field valid.
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    pub password: NewPassword,
    pub first_name: String,
    pub last_name: String,
}

impl RegisterInput {
    /// Checks every field at once, so one 400 names every bad one.
    pub fn parse(self) -> AppResult<NewAccount> {
        let mut check = Check::default();
        let username = check
            .required("username", &self.username)
            .and_then(|u| check.parse("username", Username::parse(u)));
        let email = check
            .required("email", &self.email)
            .and_then(|e| check.parse("email", Email::parse(e)));
        let first_name = check.text("first_name", self.first_name.as_deref(), NAME_MAX);
        let last_name = check.text("last_name", self.last_name.as_deref(), NAME_MAX);
        let password = match (self.password.as_deref(), self.password2.as_deref()) {
            (None | Some(""), _) => {
                check.fail("password", REQUIRED);
                None
            }
            (Some(p), p2) => {
                if p2 != Some(p) {
                    check.fail("password2", "Password fields didn't match.");
                }
                // What was typed, valid or not: the password must not look like it either way.
                let typed: Vec<&str> = [self.username.as_deref(), self.email.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                check.parse("password", NewPassword::parse(p, &typed))
            }
        };
        let account = match (username, email, password) {
            (Some(username), Some(email), Some(password)) => Some(NewAccount {
                username,
                email,
                password,
                first_name: first_name.unwrap_or_default(),
                last_name: last_name.unwrap_or_default(),
            }),
            _ => None,
        };
        check.done(account)
    }
}

/// A login attempt, parsed.
pub struct Login {
    /// Username or email, trimmed.
    pub login: String,
    pub password: String,
}

impl LoginInput {
    pub fn parse(self) -> AppResult<Login> {
        let mut check = Check::default();
        let login = check.required("username", &self.username).map(str::trim);
        let password = check.required("password", &self.password);
        let attempt = login.zip(password).map(|(login, password)| Login {
            login: login.to_owned(),
            password: password.to_owned(),
        });
        check.done(attempt)
    }
}

/// A required field whose value is only compared, never stored (a token, the current
/// password): present and not blank.
fn required_secret(field: &str, value: Option<String>) -> AppResult<String> {
    let mut check = Check::default();
    let present = check.required(field, &value).map(str::to_owned);
    check.done(present)
}

impl RefreshInput {
    /// The refresh token presented.
    pub fn token(self) -> AppResult<String> {
        required_secret("refresh", self.refresh)
    }
}

impl LogoutInput {
    /// The refresh token presented (`refresh_token` wins over `refresh`).
    pub fn token(self) -> AppResult<String> {
        required_secret("refresh_token", self.refresh_token.or(self.refresh))
    }
}

impl DeleteAccountInput {
    /// The current password, to confirm the deletion with.
    pub fn password(self) -> AppResult<String> {
        required_secret("password", self.password)
    }
}

/// Names and email to change, each valid; `None`: unchanged.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
}

impl ProfileChanges {
    /// Parses the given fields; errors go to `check`, with those of the rest of the form.
    pub(crate) fn parse(
        check: &mut Check,
        first_name: Option<&str>,
        last_name: Option<&str>,
        email: Option<&str>,
    ) -> Self {
        Self {
            first_name: check.text("first_name", first_name, NAME_MAX),
            last_name: check.text("last_name", last_name, NAME_MAX),
            email: email.and_then(|e| check.parse("email", Email::parse(e))),
        }
    }

    pub(crate) fn apply(self, user: &mut User) {
        if let Some(first) = self.first_name {
            user.first_name = first;
        }
        if let Some(last) = self.last_name {
            user.last_name = last;
        }
        if let Some(email) = self.email {
            user.email = email;
        }
    }
}

impl ProfileUpdate {
    pub fn parse(self) -> AppResult<ProfileChanges> {
        let mut check = Check::default();
        let changes = ProfileChanges::parse(
            &mut check,
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.email.as_deref(),
        );
        check.done(Some(changes))
    }
}

/// A password change, parsed: the new password passed the policy for this user.
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: NewPassword,
    pub revoke_api_keys: bool,
}

impl ChangePasswordInput {
    /// The change `user` asks for (the new password must not look like their names).
    pub fn parse(self, user: &User) -> AppResult<PasswordChange> {
        let mut check = Check::default();
        let old = check.required("old_password", &self.old_password);
        let new = check.required("new_password", &self.new_password);
        let new = new.and_then(|p| {
            if self.new_password2.as_deref() != Some(p) {
                check.fail("new_password2", "Password fields didn't match.");
            }
            check.parse(
                "new_password",
                NewPassword::parse(p, &[&user.username, &user.email]),
            )
        });
        let change = old.zip(new).map(|(old, new)| PasswordChange {
            old_password: old.to_owned(),
            new_password: new,
            revoke_api_keys: self.revoke_api_keys,
        });
        check.done(change)
    }
}
