use std::borrow::Cow;
use std::fmt;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// S3's limit on an object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// `users/<36-char uuid>/` plus the trailing `/` of a folder marker.
const KEY_OVERHEAD: usize = "users/".len() + 36 + 1 + 1;
/// Most filesystems' limit on one name; applied on every backend so both accept the same paths.
const MAX_SEGMENT_BYTES: usize = 255;

/// Characters of a path a message shows (see [`UserPath::shown`]).
const SHOWN_CHARS: usize = 100;

/// A safe path relative to a user's home: `/`-separated segments, none empty, `.` or `..`, no
/// backslash, control or invisible format character, short enough that its storage key fits
/// S3's limit, in Unicode NFC (so `é` typed precomposed or as `e` + U+0301 is one name). The
/// empty path is the home itself. Nothing built from a `UserPath` can name a place outside the
/// home.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UserPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("Path must be relative to your home (no leading '/').")]
    Absolute,
    #[error("Path must not contain empty, '.' or '..' segments.")]
    BadSegment,
    #[error("Path must not contain backslashes or control characters.")]
    BadCharacter,
    /// Text-direction overrides and zero-width characters make a name look like another one
    /// (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
    #[error(
        "Names must not contain invisible or text-direction characters \
         (U+061C, U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF)."
    )]
    InvisibleCharacter,
    #[error("Path is too long.")]
    TooLong,
    /// One segment (a file or folder name) is longer than most filesystems allow.
    #[error("A name may be at most 255 bytes.")]
    NameTooLong,
    /// A name was expected and the text has a `/`.
    #[error("A name is one path segment: no '/'.")]
    NotOneName,
}

/// Unicode noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) never name real files, and storage
/// uses the last of them as a sentinel.
fn is_noncharacter(c: char) -> bool {
    let c = c as u32;
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// Bidirectional controls and invisible format characters: a name holding one shows as
/// another name.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `raw` in Unicode NFC, borrowed when it already is (nearly always).
fn nfc(raw: &str) -> Cow<'_, str> {
    match is_nfc_quick(raw.chars()) {
        IsNormalized::Yes => Cow::Borrowed(raw),
        _ => Cow::Owned(raw.nfc().collect()),
    }
}

impl UserPath {
    /// Parses an already percent-decoded path (decoding happens once, in the HTTP layer).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Ok(Self::home());
        }
        if raw.chars().any(is_invisible_format) {
            return Err(PathError::InvisibleCharacter);
        }
        let raw = &*nfc(raw);
        if raw.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if raw
            .chars()
            .any(|c| c == '\\' || c.is_control() || is_noncharacter(c))
        {
            return Err(PathError::BadCharacter);
        }
        if raw.len() + KEY_OVERHEAD > MAX_KEY_BYTES {
            return Err(PathError::TooLong);
        }
        for segment in raw.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(PathError::BadSegment);
            }
            if segment.len() > MAX_SEGMENT_BYTES {
                return Err(PathError::NameTooLong);
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// Checks a file or folder name: one segment, with the reason it is not (`NotOneName` for a
    /// `/`, then the reasons [`parse`](Self::parse) gives).
    pub fn check_name(name: &str) -> Result<(), PathError> {
        // Lengths are the stored (NFC) form's.
        let name = &*nfc(name);
        if name.contains('/') {
            return Err(PathError::NotOneName);
        }
        if name.is_empty() {
            return Err(PathError::BadSegment);
        }
        // Before `parse`, whose first length check is the whole key's.
        if name.len() > MAX_SEGMENT_BYTES {
            return Err(PathError::NameTooLong);
        }
        Self::parse(name).map(drop)
    }

    pub fn home() -> Self {
        Self(String::new())
    }

    pub fn is_home(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment; empty for the home.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// The containing folder; `None` for the home.
    pub fn parent(&self) -> Option<UserPath> {
        if self.is_home() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((parent, _)) => Self(parent.to_owned()),
            None => Self::home(),
        })
    }

    /// Appends one more path below this one; the result is checked like any other path.
    pub fn join(&self, child: &str) -> Result<UserPath, PathError> {
        if self.is_home() {
            Self::parse(child)
        } else {
            Self::parse(&format!("{}/{}", self.0, child))
        }
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &UserPath) -> bool {
        other.is_home()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// The path as a message shows it: at most 100 characters, then "…" (messages never echo
    /// unbounded input).
    pub fn shown(&self) -> String {
        match self.0.char_indices().nth(SHOWN_CHARS) {
            Some((at, _)) => format!("{}…", &self.0[..at]),
            None => self.0.clone(),
        }
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

impl fmt::Display for UserPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_paths() {
        for ok in [
            "",
            "a",
            "docs/report.pdf",
            "a b/c d",
            "ünïcode/名前",
            "...",
            "..a",
            "a..",
            ".hidden",
        ] {
            assert_eq!(UserPath::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn names_are_kept_in_nfc() {
        let nfd = "cafe\u{301}/e\u{301}te\u{301}.txt";
        let nfc = "caf\u{e9}/\u{e9}t\u{e9}.txt";
        assert_eq!(UserPath::parse(nfd).unwrap().as_str(), nfc);
        assert_eq!(UserPath::parse(nfc).unwrap(), UserPath::parse(nfd).unwrap());
        assert_eq!(
            UserPath::parse("a").unwrap().join(nfd).unwrap().as_str(),
            format!("a/{nfc}")
        );
        // 128 × "e\u{301}" is 384 bytes, but 256 in NFC: still one byte too long.
        assert_eq!(
            UserPath::check_name(&"e\u{301}".repeat(128)),
            Err(PathError::NameTooLong)
        );
        assert_eq!(UserPath::check_name(&"e\u{301}".repeat(127)), Ok(()));
    }

    #[test]
    fn refuses_invisible_and_direction_characters() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200F}', '\u{FEFF}',
        ] {
            let name = format!("invoice{c}fdp.exe");
            assert_eq!(
                UserPath::parse(&name),
                Err(PathError::InvisibleCharacter),
                "{c:?}"
            );
            assert_eq!(
                UserPath::parse(&format!("docs/{name}/x")),
                Err(PathError::InvisibleCharacter)
            );
            assert_eq!(
                UserPath::check_name(&name),
                Err(PathError::InvisibleCharacter)
            );
        }
        // Neighbours of the ranges are ordinary text.
        for ok in ["a\u{200A}b", "a\u{2010}b", "a\u{2065}b", "a\u{206A}b"] {
            assert!(UserPath::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rejects_the_attack_catalogue() {
        let cases = [
            ("/etc/passwd", PathError::Absolute),
            ("..", PathError::BadSegment),
            ("../x", PathError::BadSegment),
            ("a/../../x", PathError::BadSegment),
            ("a/./b", PathError::BadSegment),
            (".", PathError::BadSegment),
            ("a//b", PathError::BadSegment),
            ("a/", PathError::BadSegment),
            ("a\\..\\b", PathError::BadCharacter),
            ("a\0b", PathError::BadCharacter),
            ("a\nb", PathError::BadCharacter),
            ("a\u{7f}", PathError::BadCharacter),
            ("a/\u{10FFFF}x", PathError::BadCharacter),
            ("\u{FFFE}", PathError::BadCharacter),
        ];
        for (raw, want) in cases {
            assert_eq!(UserPath::parse(raw).unwrap_err(), want, "{raw:?}");
        }
        // Percent-encoding is not decoded a second time: "%2e%2e" is a literal (odd) name.
        assert!(UserPath::parse("%2e%2e").is_ok());
    }

    #[test]
    fn key_length_is_bounded() {
        let long = vec!["x".repeat(200); 5].join("/");
        assert!(long.len() + KEY_OVERHEAD > MAX_KEY_BYTES);
        assert_eq!(UserPath::parse(&long).unwrap_err(), PathError::TooLong);
        assert_eq!(
            UserPath::parse(&"y".repeat(256)).unwrap_err(),
            PathError::NameTooLong
        );
        let fits = vec!["x".repeat(200); 4].join("/");
        assert!(UserPath::parse(&fits).is_ok());
    }

    #[test]
    fn names_are_refused_for_their_own_reason() {
        let cases = [
            ("y".repeat(256), PathError::NameTooLong),
            ("y".repeat(60_000), PathError::NameTooLong),
            ("a/b".into(), PathError::NotOneName),
            ("..".into(), PathError::BadSegment),
            ("a\\b".into(), PathError::BadCharacter),
        ];
        for (name, want) in cases {
            assert_eq!(UserPath::check_name(&name).unwrap_err(), want, "{name:?}");
        }
        assert!(UserPath::check_name(&"y".repeat(255)).is_ok());
        assert!(UserPath::check_name("").is_err());
    }

    #[test]
    fn shown_paths_are_short() {
        let long = UserPath::parse(&vec!["é".repeat(60); 4].join("/")).unwrap();
        let shown = long.shown();
        assert_eq!(shown.chars().count(), 101);
        assert!(shown.ends_with('…'));
        assert_eq!(UserPath::parse("a/b").unwrap().shown(), "a/b");
    }

    #[test]
    fn navigation() {
        let p = UserPath::parse("a/b/c.txt").unwrap();
        assert_eq!(p.name(), "c.txt");
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(
            UserPath::parse("a").unwrap().parent().unwrap(),
            UserPath::home()
        );
        assert!(UserPath::home().parent().is_none());
        assert!(p.starts_with(&UserPath::parse("a/b").unwrap()));
        assert!(!UserPath::parse("a/bc")
            .unwrap()
            .starts_with(&UserPath::parse("a/b").unwrap()));
        assert_eq!(UserPath::home().join("x/y").unwrap().as_str(), "x/y");
        assert!(p.join("..").is_err());
    }
}
