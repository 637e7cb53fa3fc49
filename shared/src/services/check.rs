use std::fmt::Display;

use crate::error::{AppError, AppResult, FieldErrors};

/// Collects field errors so one 400 names every bad field at once.
#[derive(Default)]
pub struct Check {
    errors: FieldErrors,
}

pub const REQUIRED: &str = "This field is required.";

impl Check {
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// The value, if present and not blank.
    pub fn required<'a>(&mut self, field: &str, value: &'a Option<String>) -> Option<&'a str> {
        match value.as_deref() {
            Some(v) if !v.trim().is_empty() => Some(v),
            _ => {
                self.fail(field, REQUIRED);
                None
            }
        }
    }

    pub fn parse<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.fail(field, e.to_string())).ok()
    }

    /// A short free-text field (a name): at most `max` characters, no control characters.
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let v = value?.trim();
        if v.chars().count() > max {
            self.fail(
                field,
                format!("Ensure this field has at most {max} characters."),
            );
            None
        } else if v.chars().any(char::is_control) {
            self.fail(field, "Control characters are not allowed.");
            None
        } else {
            Some(v.to_owned())
        }
    }

    /// `value` when no field failed, else the 400 naming every field that did. Each check leaves
    /// its value `None` when it fails, so a command built from them with `?` is `Some` exactly
    /// when every field passed.
    pub fn done<T>(self, value: Option<T>) -> AppResult<T> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(AppError::Validation(self.errors)),
        }
    }

    pub fn finish(self) -> AppResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.errors))
        }
    }
}
