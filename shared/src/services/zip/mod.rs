//! ZIP archives of folders and files: `GET /api/files/download-zip`, `POST /api/zip`, and
//! `GET /api/zip/{job_id}` (the view of any job, as `GET /api/jobs/{job_id}`, see
//! [`super::jobs`]).
//!
//! A request resolves its paths and counts what they hold (one listing pass). Small archives are
//! written within the request; larger ones become a [`ZipJob`] run in the background (a task
//! locally; an asynchronous invocation of the zip function on AWS, see
//! [`super::jobs::Launcher`]). Either
//! way [`build`] streams the objects one after another through [`crate::archive`] into one
//! object ([`job_archive_key`]), which expires after a day (lifecycle rule /
//! sweeper) like the job itself. Jobs are stored in their owner's records: another user's job
//! id is simply not found.

mod build;
mod charge;
mod sources;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(crate) use super::jobs::is_job_id;

use sources::{Pages, Source};

use super::files::download::{content_disposition, signed_url};
use super::files::{not_found, parse_path};
use super::jobs::{JobEvent, JobView};
use super::schema::{ArchiveName, HomePath};
use super::{now, Core, Principal, SignedUrl};
use crate::domain::{User, UserPath};
use crate::error::{AppError, AppResult};
use crate::layout::{job_archive_key, Home};
use crate::store::{JobKind, JobStatus, JobWrite, ZipJob};

/// How long an archive and its job live.
const LIFETIME_HOURS: i64 = 24;
/// `POST /api/zip` takes at most this many paths.
const MAX_PATHS: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ZipFolderQuery {
    /// The folder to download, relative to the home ("" or absent: the whole home).
    #[param(value_type = Option<HomePath>, inline)]
    pub path: Option<String>,
    /// `false`: answer the job (with `url` when done) as JSON instead of redirecting.
    pub redirect: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZipInput {
    /// Files and folders to put in the archive, relative to the home. Each appears under its
    /// own name; a folder with everything below it.
    #[schema(value_type = Vec<HomePath>, min_items = 1, max_items = 1000)]
    pub paths: Option<Vec<String>>,
    /// The archive's file name (`.zip` is added when missing).
    #[schema(value_type = Option<ArchiveName>)]
    pub name: Option<String>,
}

/// An archive to write, parsed: 1–1000 valid paths and a file name ending in `.zip`.
pub struct ZipRequest {
    pub paths: Vec<UserPath>,
    pub name: String,
}

impl ZipInput {
    pub fn parse(self) -> AppResult<ZipRequest> {
        let paths = match self.paths {
            Some(p) if !p.is_empty() => p,
            _ => return Err(AppError::field("paths", "Name at least one path.")),
        };
        if paths.len() > MAX_PATHS {
            return Err(AppError::field(
                "paths",
                format!("At most {MAX_PATHS} paths per archive."),
            ));
        }
        let paths: Vec<UserPath> = paths
            .iter()
            .map(|p| parse_path("paths", Some(p)))
            .collect::<AppResult<_>>()?;
        refuse_nested(&paths)?;
        let fallback = match paths.as_slice() {
            [one] if !one.is_home() => one.name().to_owned(),
            _ => "archive".to_owned(),
        };
        let name = archive_name(self.name.as_deref(), &fallback)?;
        Ok(ZipRequest { paths, name })
    }
}

/// What a zip request came to.
pub enum Zipped {
    /// The archive is ready (small enough to write within the request).
    Done(JobView),
    /// A job is running; poll `GET /api/zip/{job_id}`.
    Started(JobView),
}

/// A path inside another listed one would put the same bytes in the archive twice (or a
/// thousand times: `["a", "a/b", "a/b/c", …]`). Equal paths are left to the name clash check
/// (409), as is the home, which clashes with any other path.
fn refuse_nested(paths: &[UserPath]) -> AppResult<()> {
    let listed: HashSet<&UserPath> = paths.iter().collect();
    for path in paths {
        let mut up = path.parent();
        while let Some(folder) = up.filter(|f| !f.is_home()) {
            if listed.contains(&folder) {
                return Err(AppError::bad_request(
                    "nested_paths",
                    format!(
                        "'{}' lies inside '{}', which is listed too: list each file or folder \
                         once.",
                        path.shown(),
                        folder.shown()
                    ),
                ));
            }
            up = folder.parent();
        }
    }
    Ok(())
}

fn archive_name(raw: Option<&str>, fallback: &str) -> AppResult<String> {
    let name = match raw.map(str::trim).filter(|n| !n.is_empty()) {
        None => fallback.to_owned(),
        // Checked as one name, kept in NFC as every stored name is.
        Some(n) => match UserPath::check_name(n).and_then(|()| UserPath::parse(n)) {
            Ok(name) => name.as_str().to_owned(),
            Err(e) => return Err(AppError::field("name", e.to_string())),
        },
    };
    Ok(if name.to_ascii_lowercase().ends_with(".zip") {
        name
    } else {
        format!("{name}.zip")
    })
}

impl Core {
    /// `GET /api/files/download-zip`: the folder's contents, named below it.
    pub async fn zip_folder(
        self: &Arc<Self>,
        me: &Principal,
        query: ZipFolderQuery,
        origin: &str,
    ) -> AppResult<Zipped> {
        let path = self.folder_to_zip(me, &query).await?;
        self.zip_folder_at(me, path, None, origin).await
    }

    /// The contents of `me`'s folder `path` (checked to be one) as an archive named after it;
    /// `share_id`: asked for by a visitor of that share link (the job and its archive are
    /// then kept apart from the owner's own).
    pub(crate) async fn zip_folder_at(
        self: &Arc<Self>,
        me: &Principal,
        path: UserPath,
        share_id: Option<&str>,
        origin: &str,
    ) -> AppResult<Zipped> {
        let name = archive_name(None, if path.is_home() { "home" } else { path.name() })?;
        self.start_zip(me, vec![path], true, name, share_id, origin)
            .await
    }

    /// `HEAD /api/files/download-zip`: the checks of [`Core::zip_folder`], without writing
    /// anything (a HEAD creates nothing).
    pub async fn check_zip_folder(&self, me: &Principal, query: &ZipFolderQuery) -> AppResult<()> {
        self.folder_to_zip(me, query).await.map(drop)
    }

    /// The folder a download-zip request names, if it is one.
    async fn folder_to_zip(&self, me: &Principal, query: &ZipFolderQuery) -> AppResult<UserPath> {
        let path = parse_path("path", query.path.as_deref())?;
        let home = Home::of_user(&me.user);
        if self.file_at(&home, &path).await? {
            return Err(AppError::bad_request(
                "not_a_directory",
                "This is a file: download it with GET /api/files/download.",
            ));
        }
        if !self.folder_exists(&home, &path).await? {
            return Err(not_found());
        }
        Ok(path)
    }

    /// `POST /api/zip`: several files and folders, each under its own name.
    pub async fn zip_paths(
        self: &Arc<Self>,
        me: &Principal,
        request: ZipRequest,
        origin: &str,
    ) -> AppResult<Zipped> {
        self.start_zip(me, request.paths, false, request.name, None, origin)
            .await
    }

    async fn start_zip(
        self: &Arc<Self>,
        me: &Principal,
        paths: Vec<UserPath>,
        folder_contents: bool,
        name: String,
        share_id: Option<&str>,
        origin: &str,
    ) -> AppResult<Zipped> {
        // A missing path or clashing names are answered (404/409) before any job exists.
        let sources = self.resolve(&me.user.id, &paths, folder_contents).await?;
        let (files_total, bytes_total) = self.measure(&sources).await?;
        let at = now();
        let mut job = ZipJob {
            id: Uuid::new_v4().to_string(),
            user_id: me.user.id.to_string(),
            status: JobStatus::Running,
            name,
            paths: paths.iter().map(|p| p.to_string()).collect(),
            folder_contents,
            files_done: 0,
            files_total,
            bytes_done: 0,
            bytes_total,
            error: None,
            share_id: share_id.map(str::to_owned),
            kind: Default::default(),
            error_code: None,
            folder: None,
            run: 0,
            cancel_requested: false,
            created_at: at,
            updated_at: at,
            expires_at: at + Duration::hours(LIFETIME_HOURS),
        };
        let small = !self.runs_in_background(&job);
        if !small {
            self.claim_slot(&job).await?;
        }
        if let Err(e) = self.record_new_job(&me.user, &job).await {
            if !small {
                self.release_slot(&job).await;
            }
            return Err(e);
        }
        if small {
            if let Err(e) = self.build(&mut job, &sources).await {
                self.fail(&mut job, &e).await;
                return Err(e);
            }
            return Ok(Zipped::Done(self.view(job, origin).await?));
        }
        // A launch that failed is recorded in the job.
        self.launch_run(&mut job).await?;
        tracing::info!(user_id = %job.user_id, job_id = %job.id, files_total, bytes_total, "zip job started");
        Ok(Zipped::Started(self.view(job, origin).await?))
    }

    /// Whether the job is too large to be written within its request: such a job runs in the
    /// background and holds one of its owner's slots while it runs.
    pub(crate) fn runs_in_background(&self, job: &ZipJob) -> bool {
        job.files_total > self.config.zip_sync_max_files
            || job.bytes_total > self.config.zip_sync_max_bytes
    }

    /// Charges the new job's archive and stores the job; nothing is left held if either fails.
    async fn record_new_job(&self, owner: &User, job: &ZipJob) -> AppResult<()> {
        self.charge_archive(owner, job).await?;
        if let Err(e) = self.store.save_job(job).await {
            self.release_archive(job).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Runs a job handed to the background; its outcome is recorded in the job.
    pub async fn run_zip_job(&self, event: &JobEvent) {
        let job = match self.store.get_job(&event.user_id, &event.job_id).await {
            Ok(Some(job)) if job.status == JobStatus::Running => job,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(job_id = %event.job_id, error = %e, "zip job cannot be read");
                return;
            }
        };
        let mut job = job;
        let parsed: Result<Vec<UserPath>, _> =
            job.paths.iter().map(|p| UserPath::parse(p)).collect();
        let sources = match parsed {
            Ok(paths) => {
                self.resolve(&job.user_id, &paths, job.folder_contents)
                    .await
            }
            Err(e) => Err(AppError::internal(anyhow::anyhow!("stored path: {e}"))),
        };
        let result = match sources {
            Ok(sources) => self.build(&mut job, &sources).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.fail(&mut job, &e).await;
        }
    }

    /// [`Core::run_zip_job`], given at most `budget` (what is left of a Lambda invocation): a
    /// job that runs out of time is recorded as failed, not left running.
    pub async fn run_zip_job_within(&self, event: &JobEvent, budget: std::time::Duration) {
        if tokio::time::timeout(budget, self.run_zip_job(event))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(mut job)) = self.store.get_job(&event.user_id, &event.job_id).await {
            if job.status == JobStatus::Running {
                let why = "The archive took longer than a job may run (15 minutes); \
                           archive smaller folders.";
                self.record_job_failure(&mut job, why.into()).await;
            }
        }
    }

    /// Records why a job failed, in words for its owner (the cause is logged). A build its
    /// owner stopped is recorded cancelled; one that lost its job to another run records
    /// nothing (that run owns the record).
    pub(crate) async fn fail(&self, job: &mut ZipJob, err: &AppError) {
        let why = match err {
            AppError::Conflict { code, .. } if *code == SUPERSEDED => {
                tracing::info!(job_id = %job.id, "zip job run superseded by another run");
                return;
            }
            AppError::Conflict { code, .. } if *code == CANCELLED => {
                tracing::info!(user_id = %job.user_id, job_id = %job.id, "zip job cancelled");
                return self.record_job_end(job, JobStatus::Cancelled, None).await;
            }
            AppError::NotFound { message, .. } | AppError::Conflict { message, .. } => {
                message.clone()
            }
            AppError::Unavailable(_) => {
                "Storage was unavailable while the archive was written; try again.".into()
            }
            _ => "The archive could not be written; try again.".into(),
        };
        tracing::warn!(user_id = %job.user_id, job_id = %job.id, error = %err, "zip job failed");
        self.record_job_failure(job, why).await;
    }

    pub(crate) async fn record_job_failure(&self, job: &mut ZipJob, why: String) {
        self.record_job_end(job, JobStatus::Failed, Some(why)).await;
    }

    /// Records that the job ended without an archive, if this run still owns it, and gives
    /// back what it held (the archive's charge, its slot).
    async fn record_job_end(&self, job: &mut ZipJob, status: JobStatus, why: Option<String>) {
        job.status = status;
        job.error = why;
        job.updated_at = now();
        match self.store.update_job(job, job.run, None).await {
            Ok(JobWrite::Saved { .. }) => {
                self.release_archive(job).await;
                if self.runs_in_background(job) {
                    self.release_slot(job).await;
                }
            }
            Ok(_) => tracing::info!(job_id = %job.id, "zip job outcome left to its newer run"),
            Err(e) => tracing::error!(job_id = %job.id, error = %e, "zip job outcome not recorded"),
        }
    }

    /// The job as [`Core::job_view`] shows it (share visitors' jobs).
    pub(super) async fn view(&self, job: ZipJob, origin: &str) -> AppResult<JobView> {
        self.job_view(job, origin).await
    }

    /// A done archive's short-lived URL; None for anything else.
    pub(crate) async fn archive_link(
        &self,
        job: &ZipJob,
        origin: &str,
    ) -> AppResult<Option<SignedUrl>> {
        if job.status != JobStatus::Done || job.kind != JobKind::Zip {
            return Ok(None);
        }
        let key = job_archive_key(&job.user_id, &job.id, job.share_id.as_deref());
        let disposition = content_disposition(false, &job.name);
        let (link, _) = signed_url(self, &key, disposition, "application/zip", origin).await?;
        Ok(Some(link))
    }
}

/// The code of the error a build stops with when its owner cancelled it.
const CANCELLED: &str = "job_cancelled";
/// The code of the error a build stops with when another run took the job over.
const SUPERSEDED: &str = "job_superseded";

/// Why a build stopped: its owner asked it to.
pub(crate) fn cancelled() -> AppError {
    AppError::conflict(CANCELLED, "The job was cancelled.")
}

/// Why a build stopped: another run owns the job now (a restart took it over).
pub(crate) fn superseded() -> AppError {
    AppError::conflict(SUPERSEDED, "Another run of the job took it over.")
}
