//! `POST /api/files/upload`: a multipart form read as a stream, one file part at a time, into
//! the upload service (which stages and commits all or nothing).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use utoipa::ToSchema;

use super::extract::Auth;
use super::AppState;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::schema::HomePath;
use crate::services::{Core, Principal, UploadBatch, Uploaded};

/// Text fields (`path`, `overwrite`) are short.
const TEXT_FIELD_LIMIT: u64 = 8 * 1024;

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
              (status = 400, description = "`invalid_path`, `invalid_form`, `field_order`, `duplicate_name`, `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 409, description = "`already_exists`", body = ErrorBody),
              (status = 413, description = "`request_too_large` (use a direct upload), `quota_exceeded`", body = ErrorBody),
              (status = 415, body = ErrorBody)))]
pub(super) async fn upload(
    State(core): State<AppState>,
    Auth(me): Auth,
    request: Request,
) -> AppResult<(StatusCode, Json<Uploaded>)> {
    let limit = core.config.max_form_bytes;
    let trouble = Arc::new(BodyTrouble::default());
    let mut form = open_form(request, limit, trouble.clone())?;
    let mut reader = FormReader {
        core: &core,
        me: &me,
        trouble: trouble.clone(),
        path: None,
        overwrite: false,
        batch: None,
    };
    let read = reader
        .read_all(&mut form)
        .await
        .map_err(|e| trouble.explain(e, limit));
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

fn too_large(limit: u64) -> AppError {
    AppError::too_large(
        "request_too_large",
        format!(
            "An upload request may be at most {limit} bytes here. Send larger files with a \
             direct upload: POST /api/files/uploads."
        ),
    )
}

/// The request's body as a multipart form whose byte count is watched: past `limit` it fails,
/// and `trouble` says so.
fn open_form(
    request: Request,
    limit: u64,
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
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut seen = 0u64;
    let body = request.into_body().into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > limit {
            trouble.too_large.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request too large"));
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
    fn explain(&self, err: AppError, limit: u64) -> AppError {
        if self.too_large.load(Ordering::Relaxed) {
            return too_large(limit);
        }
        match self
            .malformed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(m) => {
                AppError::bad_request("invalid_form", format!("The form could not be read: {m}"))
            }
            None => err,
        }
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
        let trouble = self.trouble.clone();
        let bytes = field
            .map_err(move |e| {
                // Past the size limit the stream's own error says less than `too_large`.
                if !trouble.too_large.load(Ordering::Relaxed) {
                    *trouble.malformed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(e.to_string());
                }
                std::io::Error::other(e)
            })
            .boxed();
        batch.add(name.as_deref(), bytes).await
    }
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
            format!("The field {} is too long.", field_name.unwrap_or_default()),
        ),
        other => AppError::bad_request(
            "invalid_form",
            format!("The form could not be read: {other}"),
        ),
    }
}
