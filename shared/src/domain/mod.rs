//! Parsed domain values: once one of these exists, it is valid ("parse, don't validate"), or it
//! was read back from storage as it was stored (`from_stored`, serde), which older rules may
//! have let in: stored accounts keep loading.

mod email;
pub mod layout;
mod password;
mod role;
mod string_value;
mod user;
mod user_id;
mod user_path;
mod username;

pub use email::Email;
pub use password::{NewPassword, PasswordError};
pub use role::Role;
pub use user::{rfc3339, search_text, LoginKey, StorageUsage, User, UserView};
pub use user_id::UserId;
pub use user_path::{PathError, UserPath, MAX_KEY_BYTES};
pub use username::Username;
