//! What an archive costs its owner: its bytes count against the quota while it exists.
//!
//! An archive is made from the owner's files, so without this a user at the quota could store
//! the same bytes again and again (one archive per request, each kept for a day). Its charge
//! is taken when the job is created, before any byte is written (413 `quota_exceeded` when the
//! archive would not fit the room left), and lives as long as the archive: it ends by itself
//! when both expire (nothing runs when S3's lifecycle rule deletes the archive), and is given
//! back at once when the job fails. The charge is the content's size (`bytes_total`): ZIP
//! headers are not counted, and deflate only makes the archive smaller.

use super::Core;
use crate::domain::User;
use crate::error::AppResult;
use crate::store::ZipJob;

/// The charge of a job's archive is named after the job, so the job alone finds it again.
fn charge_id(job: &ZipJob) -> String {
    format!("zip-{}", job.id)
}

impl Core {
    /// Holds the room the job's archive will take, until it expires with the job.
    pub(super) async fn charge_archive(&self, owner: &User, job: &ZipJob) -> AppResult<()> {
        let id = self
            .reserve_as(owner, charge_id(job), job.bytes_total, 0, job.expires_at)
            .await?;
        debug_assert_eq!(id, charge_id(job));
        Ok(())
    }

    /// Gives back the room of a job whose archive will not exist. Its failure is already
    /// recorded, so a failure here is logged: the charge then ends when it expires.
    pub(super) async fn release_archive(&self, job: &ZipJob) {
        if let Err(e) = self.store.drop_charge(&job.user_id, &charge_id(job)).await {
            tracing::warn!(job_id = %job.id, error = %e, "archive charge not given back");
        }
    }
}
