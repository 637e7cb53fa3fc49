//! `POST /api/files/upload`: a multipart form read as a stream, one file part at a time, into
//! the upload service (which stages and commits all or nothing).
//!
//! What a form may cost is bounded before anything is stored: its size (the configured maximum,
//! and the caller's remaining quota room plus framing), its number of file parts, and what the
//! parser holds before a boundary or within a part's headers ([`framing`]).

mod framing;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use utoipa::ToSchema;

use super::extract::{clip, Auth};
use super::AppState;
use crate::domain::{User, UserPath};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::schema::HomePath;
use crate::services::{Core, Principal, UploadBatch, Uploaded};

/// Text fields (`path`, `overwrite`) are short.
const TEXT_FIELD_LIMIT: u64 = 8 * 1024;
/// Beyond the files' bytes, a form carries boundaries, part headers and text fields: this much
/// for the form, and [`FRAMING_PER_FILE`] per file part it may hold.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;
const FRAMING_PER_FILE: u64 = 1024;

/// How many bytes a form may have, and which rule says so.
#[derive(Clone, Copy)]
struct BodyLimit {
    bytes: u64,
    /// The caller's remaining quota room (plus framing), not the configured maximum, is lower.
    by_quota: bool,
}

/// What went wrong with the request body itself, seen from inside the streams.
#[derive(Default)]
struct BodyTrouble {
    too_large: AtomicBool,
    malformed: Mutex<Option<String>>,
}

/// The form of an upload, its fields in this order (only the OpenAPI document uses it). Other
/// fields are skipped.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct UploadForm {
    /// The folder, created if missing; default the home.
    #[schema(value_type = HomePath, required = false)]
    path: Option<String>,
    /// `true` (or `1`, `yes`, `on`) replaces existing files; `false`, `0`, `no`, `off` or empty
    /// (the default) do not. Any case.
    #[schema(value_type = String, required = false,
        pattern = r"^\s*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])?\s*$")]
    overwrite: Option<String>,
    /// One or more files, each with a file name (one path segment).
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    files: Vec<Vec<u8>>,
}

/// Upload files into a folder (multipart/form-data).
///
/// Fields, in this order: `path` (the folder, created if missing; default the home),
/// `overwrite` (`true` replaces existing files; default `false`), then one or more `files`
/// parts, each with a file name. Nothing is stored unless every file is. Larger files than the
/// request limit (6 MB on AWS Lambda) go through `POST /api/files/uploads`.
#[utoipa::path(post, path = "/api/files/upload", tag = "files", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data",
        description = "`path`, `overwrite`, then `files` parts"),
    responses((status = 201, body = Uploaded),
              (status = 400, description = "`invalid_path`, `invalid_form` (also: no boundary or part headers within 16 KiB), `field_order`, `duplicate_name`, `too_many_files`, `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the path (`details.job_id`)", body = ErrorBody),
              (status = 413, description = "`request_too_large` (use a direct upload), `quota_exceeded` (also: the body is larger than the room left, refused before storing), `file_limit_exceeded`", body = ErrorBody),
              (status = 415, body = ErrorBody)))]
pub(super) async fn upload(
    State(core): State<AppState>,
    Auth(me): Auth,
    request: Request,
) -> AppResult<(StatusCode, Json<Uploaded>)> {
    let limit = body_limit(&core, &me.user);
    let trouble = Arc::new(BodyTrouble::default());
    let mut form = open_form(request, limit, &me.user, trouble.clone())?;
    let mut reader = FormReader {
        core: &core,
        me: &me,
        trouble: trouble.clone(),
        path: None,
        overwrite: false,
        batch: None,
        files: 0,
    };
    let read = reader
        .read_all(&mut form)
        .await
        .map_err(|e| trouble.explain(e, limit, &me.user));
    let uploaded = match (read, reader.batch) {
        (Ok(()), Some(batch)) => batch.finish().await?,
        (Ok(()), None) => return Err(UploadBatch::no_files()),
        (Err(e), Some(batch)) => {
            batch.abandon().await;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    Ok((StatusCode::CREATED, Json(uploaded)))
}

/// The configured maximum, or the caller's room under the quota plus the form's framing.
fn body_limit(core: &AppState, user: &User) -> BodyLimit {
    let configured = core.config.max_form_bytes;
    let framing = FRAMING_ALLOWANCE
        .saturating_add(FRAMING_PER_FILE.saturating_mul(core.config.limits.max_form_files));
    match core.room(user).map(|room| room.saturating_add(framing)) {
        Some(by_room) if by_room < configured => BodyLimit {
            bytes: by_room,
            by_quota: true,
        },
        _ => BodyLimit {
            bytes: configured,
            by_quota: false,
        },
    }
}

/// A form past its [`BodyLimit`].
fn over_limit(limit: BodyLimit, user: &User) -> AppError {
    if !limit.by_quota {
        return too_large(limit.bytes);
    }
    let quota = user.quota_bytes.unwrap_or_default();
    AppError::too_large(
        "quota_exceeded",
        format!(
            "This upload is larger than the room left under your storage quota ({quota} bytes, \
             {} used).",
            user.used_bytes
        ),
    )
}

fn too_large(limit: u64) -> AppError {
    AppError::too_large(
        "request_too_large",
        format!(
            "An upload request may be at most {limit} bytes here. Send larger files with a \
             direct upload: POST /api/files/uploads."
        ),
    )
}

/// The request's body as a multipart form whose byte count and framing are watched: past
/// `limit`, or with a preamble or part headers too long, it fails, and `trouble` says why.
fn open_form(
    request: Request,
    limit: BodyLimit,
    user: &User,
    trouble: Arc<BodyTrouble>,
) -> AppResult<multer::Multipart<'static>> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            AppError::UnsupportedMediaType(
                "Expected a `multipart/form-data` request with a boundary.".into(),
            )
        })?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.bytes) {
        return Err(over_limit(limit, user));
    }
    let mut seen = 0u64;
    let mut framing = framing::Framing::new(&boundary);
    let body = request.into_body().into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > limit.bytes {
            trouble.too_large.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request too large"));
        }
        if let Err(framing::FramingError(why)) = framing.feed(&chunk) {
            trouble.set_malformed(why.to_owned());
            return Err(std::io::Error::other(why));
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .for_field("path", TEXT_FIELD_LIMIT)
            .for_field("overwrite", TEXT_FIELD_LIMIT),
    );
    Ok(multer::Multipart::with_constraints(
        body,
        boundary,
        constraints,
    ))
}

impl BodyTrouble {
    /// A failure inside the byte streams surfaces as a storage error: say what really happened.
    fn explain(&self, err: AppError, limit: BodyLimit, user: &User) -> AppError {
        if self.too_large.load(Ordering::Relaxed) {
            return over_limit(limit, user);
        }
        match self
            .malformed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(m) => AppError::bad_request(
                "invalid_form",
                format!("The form could not be read: {}", clip(&m, 300)),
            ),
            None => err,
        }
    }

    /// The first reason the body could not be parsed is the one answered.
    fn set_malformed(&self, why: String) {
        let mut malformed = self.malformed.lock().unwrap_or_else(|p| p.into_inner());
        malformed.get_or_insert(why);
    }
}

/// The form's fields as they arrive: `path` and `overwrite` first, then the files, each staged
/// into the batch as it streams in.
struct FormReader<'a> {
    core: &'a Core,
    me: &'a Principal,
    trouble: Arc<BodyTrouble>,
    path: Option<String>,
    overwrite: bool,
    /// Begun at the first file.
    batch: Option<UploadBatch<'a>>,
    /// File parts so far.
    files: u64,
}

impl<'a> FormReader<'a> {
    async fn read_all(&mut self, form: &mut multer::Multipart<'static>) -> AppResult<()> {
        while let Some(field) = form.next_field().await.map_err(malformed)? {
            match field.name().unwrap_or_default() {
                "path" | "overwrite" if self.batch.is_some() => {
                    return Err(AppError::bad_request(
                        "field_order",
                        "Send `path` and `overwrite` before the files.",
                    ))
                }
                "path" => self.path = Some(field.text().await.map_err(malformed)?),
                "overwrite" => {
                    self.overwrite = parse_overwrite(&field.text().await.map_err(malformed)?)?
                }
                "files" | "file" => self.add_file(field).await?,
                // Unknown fields are skipped, so clients may send extra ones.
                _ => {}
            }
        }
        Ok(())
    }

    async fn add_file(&mut self, field: multer::Field<'static>) -> AppResult<()> {
        self.files += 1;
        let max = self.core.config.limits.max_form_files;
        if self.files > max {
            return Err(AppError::bad_request(
                "too_many_files",
                format!("A form upload may carry at most {max} files; send more in another."),
            ));
        }
        let batch = match self.batch.take() {
            Some(batch) => batch,
            None => {
                self.core
                    .begin_upload_batch(self.me, self.path.as_deref(), self.overwrite)
                    .await?
            }
        };
        let batch = self.batch.insert(batch);
        let name = field.file_name().map(str::to_owned);
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
            check_file_name(name)?;
        }
        let trouble = self.trouble.clone();
        let bytes = field
            .map_err(move |e| {
                // Past the size limit the stream's own error says less than `too_large`.
                if !trouble.too_large.load(Ordering::Relaxed) {
                    trouble.set_malformed(e.to_string());
                }
                std::io::Error::other(e)
            })
            .boxed();
        batch.add(name.as_deref(), bytes).await
    }
}

/// A file part's name, refused with its real reason and without echoing more than 100 characters.
fn check_file_name(name: &str) -> AppResult<()> {
    UserPath::check_name(name).map_err(|e| {
        AppError::bad_request("invalid_path", format!("files: {:?}: {e}", clip(name, 100)))
    })
}

fn parse_overwrite(text: &str) -> AppResult<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(AppError::field("overwrite", "Expected true or false.")),
    }
}

fn malformed(e: multer::Error) -> AppError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => AppError::bad_request(
            "invalid_form",
            format!(
                "The field {} is too long.",
                clip(&field_name.unwrap_or_default(), 100)
            ),
        ),
        other => AppError::bad_request(
            "invalid_form",
            format!(
                "The form could not be read: {}",
                clip(&other.to_string(), 300)
            ),
        ),
    }
}
