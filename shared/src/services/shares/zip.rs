//! ZIP archives of a download share for its visitors: `GET /api/s/{id}/download-zip` and
//! `GET /api/s/{id}/zip/{job_id}`.
//!
//! The owner's archive machinery does the work, as the owner: the archive's bytes count against
//! the owner's quota for its day, and a large one holds one of the owner's job slots. The job
//! names the link (`ZipJob::share_id`), so its archive is kept under the link's own prefix
//! (`archives/shares/<id>/`: what the visitor is handed names no user) and only that link's
//! visitors see the job. Each archive created is one use of the link; polling its job is not.

use std::net::IpAddr;
use std::sync::Arc;

use super::access::{claim_use, release_use, OpenShare, ShareCredential, Uses};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::services::files::not_found;
use crate::services::zip::is_job_id;
use crate::services::{Core, JobView, ZipFolderQuery, Zipped};
use crate::store::ShareKind;

fn no_job() -> AppError {
    AppError::not_found("not_found", "No such ZIP job.")
}

impl Core {
    /// An archive of the shared folder, or of a folder inside it (`query.path`, relative to
    /// the shared folder): one use of the link, given back when no archive comes of it.
    pub async fn share_zip(
        self: &Arc<Self>,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        query: ZipFolderQuery,
        origin: &str,
    ) -> AppResult<Zipped> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Download), Uses::Needed)
            .await?;
        let path = self.shared_folder_to_zip(&open, &query).await?;
        claim_use(self, &open).await?;
        let zipped = self
            .zip_folder_at(&open.principal(), path, Some(&open.share.id), origin)
            .await;
        match zipped {
            Ok(Zipped::Done(job)) => Ok(Zipped::Done(scrub_job(&open, job))),
            Ok(Zipped::Started(job)) => Ok(Zipped::Started(scrub_job(&open, job))),
            Err(e) => {
                release_use(self, &open).await;
                Err(visitor_error(&open, e))
            }
        }
    }

    /// `HEAD`: the checks of [`Core::share_zip`], without writing anything or taking a use.
    pub async fn check_share_zip(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        query: &ZipFolderQuery,
    ) -> AppResult<()> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Download), Uses::Needed)
            .await?;
        self.shared_folder_to_zip(&open, query).await.map(drop)
    }

    /// A ZIP job a visitor of this link started: progress, and when done a fresh URL. Open
    /// to the link's visitors even once its uses are taken (the last use may be this
    /// archive); another link's job, or the owner's own, is not found.
    pub async fn share_zip_job(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        job_id: &str,
        origin: &str,
    ) -> AppResult<JobView> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Download), Uses::Later)
            .await?;
        // Not a job id (DynamoDB refuses keys over 1 KiB): nothing to look up.
        if !is_job_id(job_id) {
            return Err(no_job());
        }
        let job = self
            .store
            .get_job(&open.owner.id, job_id)
            .await?
            .filter(|job| job.share_id.as_deref() == Some(open.share.id.as_str()))
            .ok_or_else(no_job)?;
        let view = self.view(job, origin).await?;
        Ok(scrub_job(&open, view))
    }

    /// The home path of the folder a visitor's download-zip names: 400 `not_a_directory`
    /// for a file (or a link to one file), 404 when nothing is there.
    async fn shared_folder_to_zip(
        &self,
        open: &OpenShare,
        query: &ZipFolderQuery,
    ) -> AppResult<UserPath> {
        if !open.share.is_folder {
            return Err(AppError::bad_request(
                "not_a_directory",
                "This link shares one file: download it with GET /api/s/{id}/download.",
            ));
        }
        let path = open.resolve(query.path.as_deref())?;
        let home = Home::of_user(&open.owner);
        if self.file_at(&home, &path).await? {
            return Err(AppError::bad_request(
                "not_a_directory",
                format!(
                    "'{}' is a file: download it with GET /api/s/{{id}}/download.",
                    open.relative(path.as_str())
                ),
            ));
        }
        if !self.folder_exists(&home, &path).await? {
            return Err(not_found());
        }
        Ok(path)
    }
}

/// An error of the owner's services as a visitor may see it: no path above the shared item,
/// and nothing about the owner's storage (the quota messages state its size and use).
pub(super) fn visitor_error(open: &OpenShare, err: AppError) -> AppError {
    match err {
        AppError::TooLarge { code, .. }
            if code == "quota_exceeded" || code == "file_limit_exceeded" =>
        {
            AppError::too_large(code, "The owner of this link has no room left for this.")
        }
        other => open.scrub(other),
    }
}

/// A job as a visitor sees it: its failure in words without the owner's paths.
fn scrub_job(open: &OpenShare, mut job: JobView) -> JobView {
    job.error = job.error.map(|why| open.scrub_text(&why));
    job
}
