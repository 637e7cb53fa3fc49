//! Parsed domain values: once one of these exists, it is valid ("parse, don't validate").

mod email;
mod password;
mod role;
mod user;
mod user_path;
mod username;

pub use email::Email;
pub use password::{NewPassword, PasswordError};
pub use role::Role;
pub use user::{home_prefix, rfc3339, search_text, StorageUsage, User, UserView};
pub use user_path::{PathError, UserPath, MAX_KEY_BYTES};
pub use username::Username;
