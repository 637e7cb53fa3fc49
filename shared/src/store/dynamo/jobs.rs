//! Jobs in DynamoDB: one `ZIPJOB#<jid>` item per job (see [`super::items`]), written with
//! `UpdateItem` so the cancel flag beside the body survives every write of a running job (a
//! hand-over never loses a stop asked meanwhile); the write that ends the job removes it.
//!
//! A write of the run that owns the job is conditional on `run`; one that also changes the
//! owner's usage is a transaction of the job's update and the counters' (held to the caps), so
//! a crash can never leave one without the other. A write that collides with another one in
//! flight (`TransactionConflict`: a cancellation, a racing take-over) reads the run again:
//! another owner means `Superseded`, otherwise it tries again.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::Utc;
use serde_json::json;

use super::items::{from_item, to_item, Item, JobItem, Key, JOB};
use super::users::caps_condition;
use super::{names, DynamoStore, GSI1};
use crate::aws::errors;
use crate::store::{Job, JobStatus, JobStore, JobWrite, StoreError, StoreResult, UsageChange};

/// The user index's partition of running jobs (sparse: the attributes go when a job ends).
const RUNNING: &str = "JOBS_RUNNING";
/// Tries of a write that keeps colliding with others in flight before it is "unavailable".
const CONFLICT_TRIES: u32 = 4;
/// DynamoDB's error code when a single-item write meets a transaction in flight.
const CONFLICT: &str = "TransactionConflictException";

/// One job write: the update expression with the attribute names and values it uses (DynamoDB
/// refuses unused ones).
struct JobUpdate {
    expression: String,
    names: Vec<&'static str>,
    values: serde_json::Value,
}

impl JobUpdate {
    /// Body, expiry, run and index entry of `job`; an ended job also loses its cancel flag.
    fn of(job: &Job) -> StoreResult<Self> {
        let mut values = json!({
            ":job": serde_json::to_string(job).map_err(StoreError::other)?,
            ":ttl": job.expires_at.timestamp(),
            ":run": job.run,
        });
        let mut names = vec!["job", "ttl", "run"];
        let mut expression = "SET #job = :job, #ttl = :ttl, #run = :run".to_owned();
        let mut remove = Vec::new();
        if job.status == JobStatus::Running {
            values[":running"] = RUNNING.into();
            values[":index"] = format!("{}#{}", job.user_id, job.id).into();
            expression.push_str(", gsi1pk = :running, gsi1sk = :index");
        } else {
            names.push("cancel");
            remove.extend(["gsi1pk", "gsi1sk", "#cancel"]);
        }
        if !remove.is_empty() {
            expression = format!("{expression} REMOVE {}", remove.join(", "));
        }
        Ok(Self {
            expression,
            names,
            values,
        })
    }

    /// Made conditional on the stored run being `expected` (items from before runs were
    /// stored have none: run 0).
    fn if_run(mut self, expected: u32) -> (Self, &'static str) {
        self.values[":expected"] = expected.into();
        let condition = match expected {
            0 => "attribute_exists(pk) AND (attribute_not_exists(#run) OR #run = :expected)",
            _ => "#run = :expected",
        };
        (self, condition)
    }
}

/// The codes of a cancelled transaction's reasons, one per item in item order (empty for any
/// other failure).
pub(super) fn cancellation_reasons<R>(err: &SdkError<TransactWriteItemsError, R>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// A short pause before trying a colliding write again, longer each time.
async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
}

fn kept_conflicting() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("job write kept conflicting with others"))
}

impl DynamoStore {
    /// The stored run and cancel flag of the job, read consistently.
    async fn job_item(&self, job: &Job) -> StoreResult<Option<JobItem>> {
        self.get::<JobItem>(&Key::job(&job.user_id, &job.id)).await
    }

    /// `update_job` without a usage change: one conditional `UpdateItem`.
    async fn update_job_alone(&self, job: &Job, expected: u32) -> StoreResult<JobWrite> {
        let (update, condition) = JobUpdate::of(job)?.if_run(expected);
        for attempt in 0..CONFLICT_TRIES {
            let request = self
                .update_item(
                    &Key::job(&job.user_id, &job.id),
                    &update.expression,
                    condition,
                    &update.names,
                    update.values.clone(),
                )?
                .return_values(ReturnValue::AllNew);
            match request.send().await {
                Ok(out) => {
                    let cancel = out.attributes.as_ref().and_then(|a| a.get("cancel"));
                    let cancel_requested = matches!(cancel, Some(AttributeValue::Bool(true)));
                    return Ok(JobWrite::Saved { cancel_requested });
                }
                Err(e) if errors::is(&e, errors::CONDITION_FAILED) => {
                    return Ok(JobWrite::Superseded)
                }
                Err(e) if errors::is(&e, CONFLICT) => pause(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(kept_conflicting())
    }

    /// `update_job` with a usage change: the job's update and the counters' in one transaction.
    async fn update_job_and_usage(
        &self,
        job: &Job,
        expected: u32,
        usage: UsageChange,
    ) -> StoreResult<JobWrite> {
        let mut values = json!({});
        let caps = usage.caps.unwrap_or_default();
        let Some(caps_held) = caps_condition(&mut values, usage.bytes, usage.files, caps) else {
            return Ok(JobWrite::OverCaps);
        };
        let user = &job.user_id;
        let counters = self.counters(user, (usage.bytes, usage.files), (0, 0), caps_held, values);
        let items = vec![self.job_update(job, expected)?, counters?.1];
        for attempt in 0..CONFLICT_TRIES {
            let request = self.client.transact_write_items();
            let Err(err) = request.set_transact_items(Some(items.clone())).send().await else {
                // Committed: a read that fails now must not turn it into an error (the caller
                // would redo the usage change). The flag is then learnt at the next write.
                let cancel_requested = match self.job_item(job).await {
                    Ok(stored) => stored.is_some_and(|s| s.cancel_requested()),
                    Err(e) => {
                        tracing::warn!(job_id = %job.id, error = %e, "cancel flag not read back");
                        false
                    }
                };
                return Ok(JobWrite::Saved { cancel_requested });
            };
            let reasons = cancellation_reasons(&err);
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .is_some_and(|r| r == "ConditionalCheckFailed")
            };
            if failed(0) {
                return Ok(JobWrite::Superseded);
            }
            if failed(1) {
                return Ok(JobWrite::OverCaps);
            }
            if !reasons.iter().any(|r| r == "TransactionConflict") {
                return Err(err.into());
            }
            // Changed meanwhile: someone else's run now, or only a collision (a cancellation).
            let stored = self.job_item(job).await?;
            if stored.is_none_or(|s| s.run() != expected) {
                return Ok(JobWrite::Superseded);
            }
            pause(attempt).await;
        }
        Err(kept_conflicting())
    }

    /// The job's conditional update as a transaction item.
    fn job_update(&self, job: &Job, expected: u32) -> StoreResult<TransactWriteItem> {
        let (update, condition) = JobUpdate::of(job)?.if_run(expected);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::job(&job.user_id, &job.id).item()?))
            .update_expression(update.expression)
            .condition_expression(condition)
            .set_expression_attribute_names(names(&update.names))
            .set_expression_attribute_values(Some(to_item(update.values)?))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn save_job(&self, job: &Job) -> StoreResult<()> {
        let update = JobUpdate::of(job)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Key::job(&job.user_id, &job.id).item()?))
            .update_expression(update.expression)
            .set_expression_attribute_names(names(&update.names))
            .set_expression_attribute_values(Some(to_item(update.values)?))
            .send()
            .await?;
        Ok(())
    }

    async fn get_job(&self, user_id: &str, job_id: &str) -> StoreResult<Option<Job>> {
        let Some(item) = self.get::<JobItem>(&Key::job(user_id, job_id)).await? else {
            return Ok(None);
        };
        let job = item.into_job()?;
        // TTL deletion lags.
        Ok((job.expires_at > Utc::now()).then_some(job))
    }

    async fn update_job(
        &self,
        job: &Job,
        expected_run: u32,
        usage: Option<UsageChange>,
    ) -> StoreResult<JobWrite> {
        match usage {
            None => self.update_job_alone(job, expected_run).await,
            Some(usage) => self.update_job_and_usage(job, expected_run, usage).await,
        }
    }

    async fn cancel_job(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        let values = json!({ ":yes": true, ":running": RUNNING, ":now": Utc::now().timestamp() });
        for attempt in 0..CONFLICT_TRIES {
            let update = self.update_item(
                &Key::job(user_id, job_id),
                "SET #cancel = :yes",
                "gsi1pk = :running AND #ttl > :now",
                &["cancel", "ttl"],
                values.clone(),
            )?;
            match update.send().await {
                Ok(_) => return Ok(true),
                Err(e) if errors::is(&e, errors::CONDITION_FAILED) => return Ok(false),
                Err(e) if errors::is(&e, CONFLICT) => pause(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(kept_conflicting())
    }

    async fn running_jobs(&self, limit: usize) -> StoreResult<Vec<Job>> {
        let (mut jobs, mut start): (Vec<Job>, Option<Item>) = (Vec::new(), None);
        let now = Utc::now();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :running")
                .expression_attribute_values(":running", AttributeValue::S(RUNNING.into()))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in out.items.unwrap_or_default() {
                let job = from_item::<JobItem>(item)?.into_job()?;
                if job.expires_at > now && jobs.len() < limit {
                    jobs.push(job);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() || jobs.len() >= limit {
                return Ok(jobs);
            }
        }
    }

    async fn jobs_of(&self, user_id: &str) -> StoreResult<Vec<Job>> {
        let items: Vec<JobItem> = self.query(user_id, JOB, None).await?;
        let now = Utc::now();
        let mut jobs = Vec::with_capacity(items.len());
        for item in items {
            let job = item.into_job()?;
            // TTL deletion lags.
            if job.expires_at > now {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::JobKind;

    fn job(status: JobStatus) -> Job {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Job {
            id: "j".into(),
            user_id: "u".into(),
            kind: JobKind::Move,
            status,
            name: "docs".into(),
            paths: Vec::new(),
            folder_contents: false,
            files_done: 0,
            files_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            error: None,
            error_code: None,
            share_id: None,
            folder: None,
            run: 2,
            cancel_requested: true,
            created_at: at,
            updated_at: at,
            expires_at: at,
        }
    }

    #[test]
    fn running_jobs_are_indexed_and_ended_ones_leave_the_index() {
        let running = JobUpdate::of(&job(JobStatus::Running)).unwrap();
        assert_eq!(
            running.expression,
            "SET #job = :job, #ttl = :ttl, #run = :run, gsi1pk = :running, gsi1sk = :index"
        );
        assert_eq!(running.names, ["job", "ttl", "run"]);
        assert_eq!(running.values[":index"], "u#j");
        assert_eq!(running.values[":run"], 2);
        // The flag is the store's: never in the body.
        let body: serde_json::Value =
            serde_json::from_str(running.values[":job"].as_str().unwrap()).unwrap();
        assert!(body.get("cancel_requested").is_none());

        let ended = JobUpdate::of(&job(JobStatus::Cancelled)).unwrap();
        assert_eq!(
            ended.expression,
            "SET #job = :job, #ttl = :ttl, #run = :run REMOVE gsi1pk, gsi1sk, #cancel"
        );
        assert_eq!(ended.names, ["job", "ttl", "run", "cancel"]);
        assert!(ended.values.get(":index").is_none());
    }

    #[test]
    fn writes_are_conditional_on_the_run_and_older_items_have_run_0() {
        let update = JobUpdate::of(&job(JobStatus::Running)).unwrap();
        let (update, condition) = update.if_run(0);
        assert!(condition.contains("attribute_not_exists(#run)"));
        assert!(condition.starts_with("attribute_exists(pk)"));
        assert_eq!(update.values[":expected"], 0);
        let (_, condition) = JobUpdate::of(&job(JobStatus::Running)).unwrap().if_run(3);
        assert_eq!(condition, "#run = :expected");
    }

    #[test]
    fn items_carry_run_and_flag_beside_the_body() {
        let body = serde_json::to_string(&job(JobStatus::Running)).unwrap();
        let item = |extra: serde_json::Value| {
            let mut value =
                serde_json::json!({ "pk": "USER#u", "sk": "ZIPJOB#j", "job": body, "ttl": 1 });
            value
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            from_item::<JobItem>(to_item(value).unwrap())
                .unwrap()
                .into_job()
                .unwrap()
        };
        // The attributes win over the body's copy of the run.
        let stored = item(serde_json::json!({ "run": 5, "cancel": true }));
        assert_eq!((stored.run, stored.cancel_requested), (5, true));
        let old = item(serde_json::json!({}));
        assert_eq!((old.run, old.cancel_requested), (0, false));
    }
}
