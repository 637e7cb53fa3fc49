//! The request bodies of the owner's share routes, and what they parse into.

use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::config::ShareConfig;
use crate::domain::NewPassword;
use crate::error::AppResult;
use crate::services::check::Check;
use crate::services::schema::{ItemPath, NewPasswordText};
use crate::store::ShareKind;

const NOTE_MAX: usize = 500;
const MAX_USES_LIMIT: u64 = 1_000_000;
const PASSWORD_REQUIRED: &str = "A password is required for share links.";

/// `note`'s rule, as the OpenAPI document states it.
pub struct ShareNote;

impl utoipa::PartialSchema for ShareNote {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "At most 500 characters (surrounding blanks are trimmed), no control characters.",
            ))
            .max_length(Some(NOTE_MAX))
            .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
            .into()
    }
}

impl ToSchema for ShareNote {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShareInput {
    /// The file or folder to share, relative to the home (not the home itself).
    #[schema(value_type = ItemPath)]
    pub path: Option<String>,
    /// `download`: visitors read the file or folder. `upload`: visitors add files to the folder.
    #[schema(value_type = ShareKind)]
    pub kind: Option<ShareKind>,
    /// Days until the link expires: 1 to `VERTEX_SHARE_MAX_EXPIRY_DAYS` (default 30, the
    /// maximum stated here); absent: `VERTEX_SHARE_DEFAULT_EXPIRY_DAYS` (default 7).
    #[schema(minimum = 1, maximum = 30)]
    pub expires_in_days: Option<u32>,
    /// Visitors must give it (or a token issued for it). Required when the service says so
    /// (`VERTEX_SHARE_PASSWORD_REQUIRED`).
    #[schema(value_type = Option<NewPasswordText>)]
    pub password: Option<String>,
    /// Downloads, archives and uploads the link allows in all; absent: unlimited.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_uses: Option<u64>,
    /// The owner's own words about the link; visitors never see it.
    #[schema(value_type = Option<ShareNote>)]
    pub note: Option<String>,
}

/// Only these fields can be changed; `null` removes the password, the use limit or the note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareUpdate {
    /// A new password (every token issued before stops working); `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NewPasswordText>)]
    pub password: Option<Option<String>>,
    /// Days from now; never past the link's creation plus `VERTEX_SHARE_MAX_EXPIRY_DAYS`.
    #[schema(minimum = 1, maximum = 30)]
    pub expires_in_days: Option<u32>,
    /// `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000)]
    pub max_uses: Option<Option<u64>>,
    /// `null`: no note.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ShareNote>)]
    pub note: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A share to create, its fields checked (the path is checked against the home later).
pub(crate) struct NewShare {
    pub path: String,
    pub kind: ShareKind,
    pub expires_in_days: u32,
    pub password: Option<NewPassword>,
    pub max_uses: Option<u64>,
    pub note: Option<String>,
}

/// The changes asked for, checked.
pub(crate) struct ShareChanges {
    /// `Some(None)`: remove the password.
    pub password: Option<Option<NewPassword>>,
    pub expires_in_days: Option<u32>,
    pub max_uses: Option<Option<u64>>,
    pub note: Option<Option<String>>,
}

impl NewShareInput {
    /// Every bad field named in one 400.
    pub(crate) fn parse(self, config: &ShareConfig) -> AppResult<NewShare> {
        let mut check = Check::default();
        let path = check.required("path", &self.path).map(str::to_owned);
        if self.kind.is_none() {
            check.fail("kind", crate::services::check::REQUIRED);
        }
        let days = self.expires_in_days.unwrap_or(config.default_expiry_days);
        days_within(&mut check, days, config);
        let password = match &self.password {
            Some(raw) => password(&mut check, raw),
            None if config.password_required => {
                check.fail("password", PASSWORD_REQUIRED);
                None
            }
            None => None,
        };
        max_uses_within(&mut check, self.max_uses);
        let note = note(&mut check, self.note.as_deref());
        let kind = self.kind;
        let share = path.zip(kind).map(|(path, kind)| NewShare {
            path,
            kind,
            expires_in_days: days,
            password,
            max_uses: self.max_uses,
            note,
        });
        check.done(share)
    }
}

impl ShareUpdate {
    pub(crate) fn parse(self, config: &ShareConfig) -> AppResult<ShareChanges> {
        let mut check = Check::default();
        let password = match &self.password {
            None => None,
            Some(None) if config.password_required => {
                check.fail("password", PASSWORD_REQUIRED);
                None
            }
            Some(None) => Some(None),
            Some(Some(raw)) => password(&mut check, raw).map(Some),
        };
        if let Some(days) = self.expires_in_days {
            days_within(&mut check, days, config);
        }
        if let Some(max_uses) = self.max_uses {
            max_uses_within(&mut check, max_uses);
        }
        let note = self.note.map(|n| note(&mut check, n.as_deref()));
        let changes = ShareChanges {
            password,
            expires_in_days: self.expires_in_days,
            max_uses: self.max_uses,
            note,
        };
        check.done(Some(changes))
    }
}

fn days_within(check: &mut Check, days: u32, config: &ShareConfig) {
    if !(1..=config.max_expiry_days).contains(&days) {
        check.fail(
            "expires_in_days",
            format!("Must be between 1 and {}.", config.max_expiry_days),
        );
    }
}

fn max_uses_within(check: &mut Check, max_uses: Option<u64>) {
    if max_uses.is_some_and(|n| !(1..=MAX_USES_LIMIT).contains(&n)) {
        check.fail(
            "max_uses",
            format!("Must be between 1 and {MAX_USES_LIMIT}."),
        );
    }
}

fn password(check: &mut Check, raw: &str) -> Option<NewPassword> {
    check.parse("password", NewPassword::parse(raw, &[]))
}

/// A blank note is no note.
fn note(check: &mut Check, raw: Option<&str>) -> Option<String> {
    check.text("note", raw, NOTE_MAX).filter(|n| !n.is_empty())
}
