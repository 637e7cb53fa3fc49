//! Credentials: password hashing, access tokens, refresh tokens and API keys.

mod passwords;
mod tickets;
mod tokens;

pub use passwords::PasswordHasher;
pub use tickets::{TicketError, TicketKeys};
pub use tokens::{
    random_secret, sha256_hex, AccessClaims, ApiKeyToken, RefreshToken, TokenKeys, API_KEY_PREFIX,
};
