//! Downloads: a presigned S3 URL (302, or `{url, expires_at}` with `redirect=false`), or, on the
//! local store, the bytes themselves with `Range` support and signed URLs to them.
//!
//! The answer always names the file's type and a `Content-Disposition` (RFC 6266: an ASCII
//! `filename` and the exact UTF-8 `filename*`), built here from the parsed path only, so no
//! name can inject a header.

mod conditions;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::direct::ticket_error;
use super::{not_found, parse_path, ItemPath};
use crate::domain::rfc3339;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{ByteRange, Download, ObjectInfo, Presign};
use crate::security::TicketError;
use crate::services::{now, Core, Principal};

pub use conditions::Conditions;

const GET: &str = "get";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The file, relative to the home.
    #[param(value_type = ItemPath, inline, required = true)]
    pub path: Option<String>,
    /// `true`: `Content-Disposition: inline` (show in the browser) instead of `attachment`, for
    /// images (not SVG), PDF, video, audio and plain text. Every other type (HTML, SVG, XML,
    /// scripts, …) is always an `attachment` of type `application/octet-stream`.
    pub inline: Option<bool>,
    /// `false`: answer `{url, expires_at}` instead of redirecting or sending the bytes.
    pub redirect: Option<bool>,
}

/// A short-lived URL that serves the file to whoever holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: String,
}

pub enum Delivery {
    /// 302 to the URL.
    Redirect(SignedUrl),
    /// 200 with the URL (`redirect=false`).
    Link(SignedUrl),
    /// The bytes (all, or the range asked for).
    Bytes {
        download: Download,
        range: Option<ByteRange>,
        content_disposition: String,
    },
    /// 304: the client's copy, named by `If-None-Match`, is the current version.
    NotModified { etag: String },
}

/// A signed download URL of the local store as it travels: its [`GetTicket`] sealed (`x`,
/// encrypted with a key derived from the server's secret), so the URL names neither the
/// storage key (the owner's id, the path) nor a share link's id, which would open the whole
/// link to whoever is handed one file's URL. URLs signed before sealing read as they were.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum GetWire {
    Sealed {
        x: String,
    },
    /// Signed before sealing: the owner's key in clear, never a share (refused).
    Plain(GetTicket),
}

/// What a signed download URL of the local store says (short names: it travels in the URL).
#[derive(Serialize, Deserialize)]
struct GetTicket {
    /// Empty in a share link visitor's URL, which names `share` instead.
    #[serde(rename = "k", default, skip_serializing_if = "String::is_empty")]
    key: String,
    #[serde(rename = "d")]
    content_disposition: String,
    /// The ETag of the object signed for: the URL serves that version only (404 once the file
    /// is replaced by other bytes). Absent in URLs signed before versions were bound.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    /// A share link visitor's URL names the link and the file relative to it, not the key,
    /// so that it serves only while the link does (sealed: see [`GetWire`]).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    share: Option<SharedFile>,
}

/// A file of a share link, as a visitor's signed URL names it: resolved to its key when the
/// URL is used (refused once the link is gone, expired, or its password changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedFile {
    /// The share id.
    #[serde(rename = "i")]
    pub id: String,
    /// The file, relative to the shared item ("" for a link to one file).
    #[serde(rename = "p")]
    pub path: String,
    /// The link's password version the URL was signed under: a changed password ends it.
    #[serde(rename = "v")]
    pub password_version: u32,
}

/// Types a browser only displays (they run no script): these may be shown `inline`, and keep
/// their type. Everything else (HTML, SVG, XML, JavaScript, any other `text/*`, unknown types)
/// is sent as an `attachment` of type `application/octet-stream`, so that nothing a user
/// uploaded ever runs at the origin that serves it (the bucket's, for presigned URLs).
fn is_passive(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default();
    let essence = essence.trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/').unwrap_or((&essence, ""));
    match kind {
        // SVG (and any `+xml` image) is a document that can run script.
        "image" => !subtype.is_empty() && !subtype.contains("svg") && !subtype.ends_with("+xml"),
        "video" | "audio" => !subtype.is_empty(),
        "text" => subtype == "plain",
        "application" => subtype == "pdf",
        _ => false,
    }
}

/// How a file of `content_type` is served when `inline` is asked: (inline, type).
fn served_as(content_type: &str, inline: bool) -> (bool, &str) {
    match is_passive(content_type) {
        true => (inline, content_type),
        false => (false, "application/octet-stream"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// 416: the range starts past the end.
    Unsatisfiable { size: u64 },
}

/// The byte range a `Range` header asks of an object of `size` bytes. Forms this server does not
/// serve (other units, several ranges, malformed) are ignored, as RFC 9110 allows: the answer
/// is then the whole object.
pub fn parse_range(header: &str, size: u64) -> Result<Option<ByteRange>, RangeError> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = Err(RangeError::Unsatisfiable { size });
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match num(suffix) {
            None => Ok(None),
            Some(0) => unsatisfiable,
            Some(_) if size == 0 => unsatisfiable,
            Some(n) => Ok(Some(ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            })),
        },
        (start, end) => {
            let Some(start) = num(start) else {
                return Ok(None);
            };
            let end = match end {
                "" => None,
                e => match num(e) {
                    Some(e) if e >= start => Some(e),
                    _ => return Ok(None),
                },
            };
            if start >= size {
                return unsatisfiable;
            }
            Ok(Some(ByteRange {
                start,
                end: end.unwrap_or(u64::MAX).min(size - 1),
            }))
        }
    }
}

/// `attachment; filename="report_.pdf"; filename*=UTF-8''report%E2%9C%93.pdf` (RFC 6266).
pub fn content_disposition(inline: bool, name: &str) -> String {
    const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encoding::utf8_percent_encode(name, ATTR_CHAR)
    )
}

/// A short-lived URL serving the object at `key` with this `Content-Disposition`: presigned by
/// the store (`true`), or, when the store has no URLs of its own, signed by this service for its
/// transfer endpoint (`false`).
pub(crate) async fn signed_url(
    core: &Core,
    key: &str,
    disposition: String,
    content_type: &str,
    origin: &str,
) -> AppResult<(SignedUrl, bool)> {
    let what = Signing {
        key,
        etag: None,
        disposition,
        content_type,
        share: None,
    };
    sign(core, what, origin).await
}

/// What a signed download URL serves.
struct Signing<'a> {
    key: &'a str,
    /// The version the URL is for, where the store can hold it to one.
    etag: Option<&'a str>,
    disposition: String,
    content_type: &'a str,
    /// A visitor's URL: named by the link instead of the key (locally signed URLs only).
    share: Option<SharedFile>,
}

/// A signed URL for one version of a file. The local store's URLs name its ETag. S3's
/// presigned GET could name a `versionId` only in a versioned bucket, and the template's bucket
/// is not versioned (a deleted file is gone at once, as users expect): there the URL's short
/// lifetime (`VERTEX_TRANSFER_URL_TTL_SECS`, default 15 minutes) is the bound.
async fn sign(core: &Core, what: Signing<'_>, origin: &str) -> AppResult<(SignedUrl, bool)> {
    let ttl = core.config.transfer_url_ttl_secs;
    let expires_at = rfc3339(now() + chrono::Duration::seconds(ttl));
    // Whoever asks: what is not passive is never served under its own type.
    let (_, content_type) = served_as(what.content_type, false);
    let presign = Presign::Get {
        key: what.key,
        content_disposition: &what.disposition,
        content_type,
    };
    let lifetime = std::time::Duration::from_secs(ttl as u64);
    if let Some(url) = core.objects.presign(presign, lifetime).await? {
        return Ok((SignedUrl { url, expires_at }, true));
    }
    let ticket = GetTicket {
        key: match what.share {
            Some(_) => String::new(),
            None => what.key.to_owned(),
        },
        content_disposition: what.disposition,
        etag: what.etag.map(str::to_owned),
        share: what.share,
    };
    let sealed = GetWire::Sealed {
        x: core.tickets.seal(GET, &ticket)?,
    };
    let ticket = core.tickets.issue(GET, now().timestamp() + ttl, &sealed)?;
    let url = format!("{origin}/api/files/transfer/{ticket}");
    Ok((SignedUrl { url, expires_at }, false))
}

impl Core {
    pub async fn download(
        &self,
        me: &Principal,
        query: DownloadQuery,
        conditions: Conditions<'_>,
        origin: &str,
    ) -> AppResult<Delivery> {
        self.download_as(me, query, conditions, origin, None).await
    }

    /// [`Core::download`]; for a share link's visitor (`share`), a URL this service signs
    /// names the link's file instead of the owner's key.
    pub(crate) async fn download_as(
        &self,
        me: &Principal,
        query: DownloadQuery,
        conditions: Conditions<'_>,
        origin: &str,
        share: Option<SharedFile>,
    ) -> AppResult<Delivery> {
        let path = parse_path("path", query.path.as_deref())?;
        let home = Home::of_user(&me.user);
        let key = home.file(&path);
        let info = match self.objects.head(&key).await? {
            Some(info) if !path.is_home() => info,
            _ if path.is_home() || self.folder_exists(&home, &path).await? => {
                return Err(AppError::bad_request(
                    "is_a_directory",
                    "This is a folder: download it as a ZIP with GET /api/files/download-zip.",
                ))
            }
            _ => return Err(not_found()),
        };
        let (inline, content_type) = served_as(&info.content_type, query.inline.unwrap_or(false));
        let disposition = content_disposition(inline, path.name());
        let link = Signing {
            key: &key,
            etag: Some(&info.etag),
            disposition: disposition.clone(),
            content_type,
            share,
        };
        let (link, external) = sign(self, link, origin).await?;
        match (external, query.redirect.unwrap_or(true)) {
            (true, true) => Ok(Delivery::Redirect(link)),
            (_, false) => Ok(Delivery::Link(link)),
            // The local store: the bytes themselves.
            (false, true) => self.bytes(&key, &info, conditions, disposition).await,
        }
    }

    /// The bytes behind a download URL this service signed (local store), if the file is still
    /// the version it was signed for.
    pub async fn transfer_get(
        &self,
        ticket: &str,
        conditions: Conditions<'_>,
    ) -> AppResult<Delivery> {
        let wire: GetWire = self.tickets.check(GET, ticket).map_err(ticket_error)?;
        let mut get: GetTicket = match wire {
            GetWire::Sealed { x } => self.tickets.unseal(GET, &x).map_err(ticket_error)?,
            GetWire::Plain(get) if get.share.is_none() => get,
            GetWire::Plain(_) => return Err(ticket_error(TicketError::Invalid)),
        };
        if let Some(file) = &get.share {
            get.key = self.shared_file_key(file).await?;
        }
        let info = self.objects.head(&get.key).await?.ok_or_else(not_found)?;
        if get.etag.as_ref().is_some_and(|e| *e != info.etag) {
            return Err(not_found());
        }
        // URLs signed before active types were forced to download: their type decides now.
        let disposition = match is_passive(&info.content_type) {
            true => get.content_disposition,
            false => force_attachment(get.content_disposition),
        };
        self.bytes(&get.key, &info, conditions, disposition).await
    }

    /// The bytes of the object `info` describes (all, or the range `conditions` leave), or 304;
    /// 404 if it changed meanwhile.
    async fn bytes(
        &self,
        key: &str,
        info: &ObjectInfo,
        conditions: Conditions<'_>,
        content_disposition: String,
    ) -> AppResult<Delivery> {
        if conditions.not_modified(&info.etag) {
            return Ok(Delivery::NotModified {
                etag: info.etag.clone(),
            });
        }
        let range = conditions.range(&info.etag, info.modified);
        let range = match range.map(|r| parse_range(r, info.size)).transpose() {
            Ok(r) => r.flatten(),
            Err(RangeError::Unsatisfiable { size }) => {
                return Err(AppError::RangeNotSatisfiable { size })
            }
        };
        let mut download = self.objects.get(key, range).await?.ok_or_else(not_found)?;
        // Replaced between the two reads: the range and the URL were for the other bytes.
        if download.info.etag != info.etag {
            return Err(not_found());
        }
        let (_, content_type) = served_as(&download.info.content_type, false);
        download.info.content_type = content_type.to_owned();
        Ok(Delivery::Bytes {
            download,
            range,
            content_disposition,
        })
    }
}

/// `disposition` with `inline` turned into `attachment`.
fn force_attachment(disposition: String) -> String {
    match disposition.strip_prefix("inline") {
        Some(rest) => format!("attachment{rest}"),
        None => disposition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Result<Option<ByteRange>, RangeError> {
        Ok(Some(ByteRange { start, end }))
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), r(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), r(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), r(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), r(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), r(0, 99));
        let unsatisfiable = Err(RangeError::Unsatisfiable { size: 100 });
        assert_eq!(parse_range("bytes=100-", 100), unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), unsatisfiable);
        assert_eq!(
            parse_range("bytes=0-", 0),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
        // Ignored: the whole file is sent.
        for ignored in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(ignored, 100), Ok(None), "{ignored}");
        }
    }

    /// URLs already handed out must still work after a deploy: the wire names stay short.
    #[test]
    fn get_tickets_keep_their_wire_names() {
        let ticket = GetTicket {
            key: "users/u1/a.txt".into(),
            content_disposition: "inline".into(),
            etag: Some("\"abc\"".into()),
            share: None,
        };
        assert_eq!(
            serde_json::to_value(&ticket).unwrap(),
            serde_json::json!({"k": "users/u1/a.txt", "d": "inline", "e": "\"abc\""})
        );
        // A visitor's: the link and the file below it instead of the key.
        let visitor = GetTicket {
            key: String::new(),
            content_disposition: "attachment".into(),
            etag: None,
            share: Some(SharedFile {
                id: "s1".into(),
                path: "sub/a.txt".into(),
                password_version: 2,
            }),
        };
        assert_eq!(
            serde_json::to_value(&visitor).unwrap(),
            serde_json::json!({"d": "attachment", "s": {"i": "s1", "p": "sub/a.txt", "v": 2}})
        );
        // Signed before versions were bound: still read (they expire within the URL lifetime).
        let old: GetTicket =
            serde_json::from_value(serde_json::json!({"k": "users/u1/a.txt", "d": "inline"}))
                .unwrap();
        assert_eq!(old.etag, None);
    }

    /// The URL carries the ticket sealed: none of the key, the link id or the path shows, and
    /// URLs signed before sealing still read.
    #[test]
    fn get_tickets_travel_sealed() {
        let keys = crate::security::TicketKeys::new(b"0123456789abcdef0123456789abcdef");
        let visitor = GetTicket {
            key: String::new(),
            content_disposition: "attachment".into(),
            etag: Some("\"abc\"".into()),
            share: Some(SharedFile {
                id: "share-id-s1".into(),
                path: "sub/a.txt".into(),
                password_version: 0,
            }),
        };
        let wire = GetWire::Sealed {
            x: keys.seal(GET, &visitor).unwrap(),
        };
        let ticket = keys.issue(GET, now().timestamp() + 60, &wire).unwrap();
        let payload = ticket.split('.').nth(1).unwrap();
        let claims =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        let claims = String::from_utf8(claims).unwrap();
        for hidden in ["share-id-s1", "sub/a.txt", "attachment", "abc"] {
            assert!(!claims.contains(hidden), "{claims}");
        }
        let GetWire::Sealed { x } = keys.check::<GetWire>(GET, &ticket).unwrap() else {
            panic!("sealed");
        };
        let back: GetTicket = keys.unseal(GET, &x).unwrap();
        assert_eq!(back.share, visitor.share);
        assert_eq!(back.etag, visitor.etag);
        // Signed before: the plain form.
        let old = serde_json::json!({"k": "users/u1/a.txt", "d": "inline"});
        let old = keys.issue(GET, now().timestamp() + 60, old).unwrap();
        match keys.check::<GetWire>(GET, &old).unwrap() {
            GetWire::Plain(get) => assert_eq!(get.key, "users/u1/a.txt"),
            GetWire::Sealed { .. } => panic!("plain"),
        }
    }

    #[test]
    fn only_passive_types_are_served_as_they_are() {
        for passive in [
            "image/png",
            "image/jpeg",
            "IMAGE/GIF",
            "application/pdf",
            "video/mp4",
            "audio/mpeg",
            "text/plain",
            "text/plain; charset=utf-8",
        ] {
            assert_eq!(served_as(passive, true), (true, passive), "{passive}");
        }
        for active in [
            "text/html",
            "text/html; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "application/xml",
            "text/xml",
            "text/javascript",
            "application/javascript",
            "text/css",
            "text/markdown",
            "application/octet-stream",
            "application/x-shockwave-flash",
            "image",
            "",
        ] {
            assert_eq!(
                served_as(active, true),
                (false, "application/octet-stream"),
                "{active}"
            );
        }
        assert_eq!(served_as("image/png", false), (false, "image/png"));
        assert_eq!(
            force_attachment("inline; filename=\"a\"".into()),
            "attachment; filename=\"a\""
        );
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition(false, "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition(true, "naïve \"x\";.pdf"),
            "inline; filename=\"na_ve _x_;.pdf\"; filename*=UTF-8''na%C3%AFve%20%22x%22%3B.pdf"
        );
    }
}
