//! `GET /api/jobs`: the caller's jobs, newest first, a page at a time (the API's listing
//! convention: `limit`, an opaque `cursor`, `next_cursor`).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{is_job_id, JobView};
use crate::error::{AppError, AppResult};
use crate::services::{page_limit, Core, Principal};
use crate::store::Job;

/// One page of the caller's jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Newest first.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Page size, 1–1000 (default 100; larger values are capped at 1000).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Where a job sits in the list: newest first, ties by id.
type Place = (DateTime<Utc>, String);

fn place(job: &Job) -> Place {
    (job.created_at, job.id.clone())
}

fn encode_cursor((at, id): &Place) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.timestamp_micros()))
}

/// 400 `invalid_cursor` for a cursor this API did not issue.
fn decode_cursor(raw: &str) -> AppResult<Place> {
    let invalid = || AppError::bad_request("invalid_cursor", "The cursor is not valid here.");
    let text = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    if !is_job_id(id) {
        return Err(invalid());
    }
    Ok((at, id.to_owned()))
}

impl Core {
    /// `GET /api/jobs`: the caller's own jobs that have not expired (archives a share's
    /// visitors asked for are theirs, not listed), newest first; each as
    /// `GET /api/jobs/{job_id}` shows it (a stalled folder job is taken over as it is seen).
    /// A reloaded page finds its running jobs here.
    pub async fn jobs(
        self: &Arc<Self>,
        me: &Principal,
        query: &JobQuery,
        origin: &str,
    ) -> AppResult<JobList> {
        let limit = page_limit(query.limit)?;
        let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(raw) => Some(decode_cursor(raw)?),
            None => None,
        };
        // A user's unexpired jobs are few (each is kept a day at most): read whole, then paged.
        let mut jobs = self.store.jobs_of(&me.user.id).await?;
        jobs.retain(|job| job.share_id.is_none());
        if let Some(after) = &after {
            jobs.retain(|job| place(job) < *after);
        }
        jobs.sort_by_key(|job| std::cmp::Reverse(place(job)));
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        let next_cursor = match (more, jobs.last()) {
            (true, Some(last)) => Some(encode_cursor(&place(last))),
            _ => None,
        };
        let mut items = Vec::with_capacity(jobs.len());
        for job in jobs {
            // One job that cannot be taken over now is shown as stored, not the list refused.
            let view = match self.looked_at(job.clone(), origin).await {
                Ok(view) => view,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "listed job not taken over");
                    self.job_view(job, origin).await?
                }
            };
            items.push(view);
        }
        Ok(JobList { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let at = DateTime::from_timestamp_micros(1_795_316_400_123_456).unwrap();
        let id = "0b6f6c1e-8f4c-4d3b-9a51-3f1d2c4b5a69".to_owned();
        let cursor = encode_cursor(&(at, id.clone()));
        assert_eq!(decode_cursor(&cursor).unwrap(), (at, id));
        for raw in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:../x"),
        ] {
            assert!(decode_cursor(raw).is_err(), "{raw}");
        }
    }
}
