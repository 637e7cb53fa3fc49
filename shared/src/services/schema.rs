//! Schema-only types: the rules of the domain's parsers (`UserPath`, `Username`, `Email`,
//! `NewPassword`, names) as the OpenAPI document states them, named once so every field that
//! takes such a value refers to the same rule. Lengths in bytes are stated in characters (the
//! same for ASCII text). Nothing is ever built from these types; scripts/api-fuzz.sh checks the
//! rules against the server.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// A string schema with `description`, and optionally `format: password`, lengths and `pattern`.
fn text(
    description: &str,
    password: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .format(password.then_some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(min_length)
        .max_length(max_length)
        .pattern(Some(pattern))
        .into()
}

macro_rules! text_schema {
    ($name:ident, $description:literal, $password:expr, $min:expr, $max:expr, $pattern:literal) => {
        #[doc = $description]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text($description, $password, $min, $max, $pattern)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_schema!(
    HomePath,
    "A path relative to the home: `/`-separated names (none empty, `.` or `..`; no backslash, control character, or invisible or text-direction character such as U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF; at most 255 bytes each, 980 in all); `\"\"` is the home itself. Names are stored in Unicode NFC: a name given decomposed (NFD) is the same name, and answers give it composed.",
    false,
    None,
    Some(980),
    r"^(?:(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252})(?:/(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252}))*)?$"
);

text_schema!(
    ItemPath,
    "A path naming a file or folder inside the home (not the home itself), with the rules of `HomePath`.",
    false,
    None,
    Some(980),
    r"^(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252})(?:/(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252}))*$"
);

text_schema!(
    ItemName,
    "A file or folder name: one path segment.",
    false,
    None,
    None,
    r"^(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252})$"
);

text_schema!(
    UsernameText,
    "3–150 letters, digits, `_`, `.` and `-`, starting with a letter or digit.",
    false,
    None,
    None,
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,149}$"
);

text_schema!(
    EmailText,
    "An email address (at most 254 bytes; the domain in ASCII).",
    false,
    None,
    Some(254),
    r"^[^\s@\x00-\x1f\x7f-\x9f]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
);

text_schema!(
    NewPasswordText,
    "8–1024 characters, not all digits. Also refused with a field error: a password too common, or too like the username or email.",
    true,
    Some(8),
    Some(1024),
    r"[^0-9]"
);

text_schema!(
    PasswordText,
    "A password; not blank.",
    true,
    None,
    None,
    r"\S"
);

text_schema!(Required, "Not blank.", false, None, None, r"\S");

text_schema!(
    PersonName,
    "At most 150 characters (surrounding blanks are trimmed), no control characters.",
    false,
    None,
    Some(150),
    r"^[^\x00-\x1f\x7f-\x9f]*$"
);

text_schema!(
    Label,
    "1–100 characters (surrounding blanks are trimmed), not blank, no control characters.",
    false,
    None,
    Some(100),
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
);

text_schema!(
    MediaType,
    "A media type such as `text/plain`.",
    false,
    None,
    Some(127),
    r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$"
);

text_schema!(
    ArchiveName,
    "An archive's file name: one path segment (surrounding blanks are trimmed); blank: the default name.",
    false,
    None,
    None,
    r"^\s*(?:(?:[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,254}|\.[^./\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,253}|\.\.[^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^/\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]{0,252}))?\s*$"
);

/// A file's bytes, with the file's own media type.
pub struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for FileBytes {}
