//! Downloads: a presigned S3 URL (302, or `{url, expires_at}` with `redirect=false`), or, on the
//! local store, the bytes themselves with `Range` support and signed URLs to them.
//!
//! The answer always names the file's type and a `Content-Disposition` (RFC 6266: an ASCII
//! `filename` and the exact UTF-8 `filename*`), built here from the parsed path only, so no
//! name can inject a header.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::direct::ticket_error;
use super::{not_found, parse_path, ItemPath};
use crate::domain::rfc3339;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{ByteRange, Download, Presign};
use crate::services::{now, Core, Principal};

const GET: &str = "get";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The file, relative to the home.
    #[param(value_type = ItemPath, inline, required = true)]
    pub path: Option<String>,
    /// `true`: `Content-Disposition: inline` (show in the browser) instead of `attachment`.
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
}

/// What a signed download URL of the local store says (short names: it travels in the URL).
#[derive(Serialize, Deserialize)]
struct GetTicket {
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "d")]
    content_disposition: String,
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
    let ttl = core.config.transfer_url_ttl_secs;
    let expires_at = rfc3339(now() + chrono::Duration::seconds(ttl));
    let presigned = core
        .objects
        .presign(
            Presign::Get {
                key,
                content_disposition: &disposition,
                content_type,
            },
            std::time::Duration::from_secs(ttl as u64),
        )
        .await?;
    let external = presigned.is_some();
    let url = match presigned {
        Some(url) => url,
        None => {
            let ticket = GetTicket {
                key: key.to_owned(),
                content_disposition: disposition,
            };
            let ticket = core.tickets.issue(GET, now().timestamp() + ttl, &ticket)?;
            format!("{origin}/api/files/transfer/{ticket}")
        }
    };
    Ok((SignedUrl { url, expires_at }, external))
}

impl Core {
    pub async fn download(
        &self,
        me: &Principal,
        query: DownloadQuery,
        range: Option<&str>,
        origin: &str,
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
        let disposition = content_disposition(query.inline.unwrap_or(false), path.name());
        let (link, external) =
            signed_url(self, &key, disposition.clone(), &info.content_type, origin).await?;
        match (external, query.redirect.unwrap_or(true)) {
            (true, true) => Ok(Delivery::Redirect(link)),
            (_, false) => Ok(Delivery::Link(link)),
            // The local store: the bytes themselves.
            (false, true) => self.bytes(&key, info.size, range, disposition).await,
        }
    }

    /// The bytes behind a download URL this service signed (local store).
    pub async fn transfer_get(&self, ticket: &str, range: Option<&str>) -> AppResult<Delivery> {
        let get: GetTicket = self.tickets.check(GET, ticket).map_err(ticket_error)?;
        let info = self.objects.head(&get.key).await?.ok_or_else(not_found)?;
        self.bytes(&get.key, info.size, range, get.content_disposition)
            .await
    }

    async fn bytes(
        &self,
        key: &str,
        size: u64,
        range: Option<&str>,
        content_disposition: String,
    ) -> AppResult<Delivery> {
        let range = match range.map(|r| parse_range(r, size)).transpose() {
            Ok(r) => r.flatten(),
            Err(RangeError::Unsatisfiable { size }) => {
                return Err(AppError::RangeNotSatisfiable { size })
            }
        };
        let download = self.objects.get(key, range).await?.ok_or_else(not_found)?;
        Ok(Delivery::Bytes {
            download,
            range,
            content_disposition,
        })
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
        };
        assert_eq!(
            serde_json::to_value(&ticket).unwrap(),
            serde_json::json!({"k": "users/u1/a.txt", "d": "inline"})
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
