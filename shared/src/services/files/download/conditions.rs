//! Conditional downloads (RFC 9110 §13): `If-None-Match` answers 304 while the client's copy
//! is current, and `If-Range` keeps a `Range` only while the file is still the version the
//! client already holds part of; otherwise the whole file comes back with 200, so that the
//! client never splices bytes of two versions together.

use chrono::{DateTime, Utc};

/// The request headers that make a download conditional or partial, as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
}

impl<'a> Conditions<'a> {
    /// Whether `If-None-Match` names the current version (weak comparison, §13.1.2): 304.
    pub fn not_modified(&self, etag: &str) -> bool {
        let Some(list) = self.if_none_match else {
            return false;
        };
        let current = opaque(etag);
        list.trim() == "*" || entity_tags(list).any(|tag| opaque(tag) == current)
    }

    /// The `Range` to serve: none when `If-Range` names another version (§13.1.5).
    pub fn range(&self, etag: &str, modified: DateTime<Utc>) -> Option<&'a str> {
        match self.if_range.map(str::trim) {
            Some(validator) if !is_current(validator, etag, modified) => None,
            _ => self.range,
        }
    }
}

/// Whether an `If-Range` validator names this version. Strong comparison: a weak tag never
/// matches; a date matches only the exact `Last-Modified` (whole seconds, as sent).
fn is_current(validator: &str, etag: &str, modified: DateTime<Utc>) -> bool {
    if validator.starts_with('"') || validator.starts_with("W/") {
        return validator == etag && !etag.starts_with("W/");
    }
    DateTime::parse_from_rfc2822(validator)
        .is_ok_and(|date| date.timestamp() == modified.timestamp())
}

/// A tag without its weakness marker.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The entity tags of a list (`"a", W/"b"`), each with its quotes; stops at anything malformed.
/// Split on quotes rather than commas: a comma is a valid character inside a tag.
fn entity_tags(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let weak = rest.starts_with("W/");
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let end = tag.strip_prefix('"')?.find('"')? + 2;
        let prefix = if weak { 2 } else { 0 };
        let found = &rest[..prefix + end];
        rest = &rest[prefix + end..];
        Some(found)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc\"";

    fn modified() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T16:33:41.250Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn if_none_match(value: &str) -> bool {
        let c = Conditions {
            if_none_match: Some(value),
            ..Default::default()
        };
        c.not_modified(ETAG)
    }

    fn range_kept(if_range: &str) -> bool {
        let c = Conditions {
            range: Some("bytes=0-1"),
            if_range: Some(if_range),
            ..Default::default()
        };
        c.range(ETAG, modified()).is_some()
    }

    #[test]
    fn if_none_match_compares_weakly() {
        for hit in [
            "\"abc\"",
            "W/\"abc\"",
            "\"x\", \"abc\"",
            "W/\"x\",W/\"abc\"",
            " * ",
        ] {
            assert!(if_none_match(hit), "{hit}");
        }
        for miss in [
            "\"abcd\"",
            "abc",
            "\"x\"",
            "",
            "\"a,bc\"",
            "\"unterminated, \"abc",
        ] {
            assert!(!if_none_match(miss), "{miss}");
        }
    }

    #[test]
    fn if_range_compares_strongly() {
        assert!(range_kept("\"abc\""));
        assert!(range_kept("Tue, 01 Dec 2026 16:33:41 GMT"));
        for miss in [
            "W/\"abc\"",
            "\"abcd\"",
            "Tue, 01 Dec 2026 16:33:40 GMT",
            "Tue, 01 Dec 2026 16:33:42 GMT",
            "yesterday",
            "",
        ] {
            assert!(!range_kept(miss), "{miss}");
        }
        // Without `If-Range`, the range stands; without `Range`, there is none to keep.
        let plain = Conditions {
            range: Some("bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(plain.range(ETAG, modified()), Some("bytes=0-1"));
        let no_range = Conditions {
            if_range: Some(ETAG),
            ..Default::default()
        };
        assert_eq!(no_range.range(ETAG, modified()), None);
    }
}
