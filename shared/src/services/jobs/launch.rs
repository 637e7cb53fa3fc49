//! Handing a job to the background: a task of this process (local server, tests), or on AWS an
//! asynchronous invocation of a Lambda function (the zip function for archives, the files
//! function for folder jobs: each invokes itself), which runs while the request that started
//! the job answers at once. A folder job hands itself over the same way when its run's time is
//! up, so no folder is too large for one invocation.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::services::Core;

/// The event an asynchronous invocation carries: `{"vertex_job": {...}}`. API Gateway events
/// never have this shape, and only principals allowed to invoke the function can send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    pub user_id: String,
    pub job_id: String,
    /// The run this invocation is for: a duplicate (a Lambda retry after a hand-over) names a
    /// run the job has left, and does nothing. Events of before runs existed name run 0.
    #[serde(default)]
    pub run: u32,
}

/// The key of [`JobEvent`] in an invocation's payload.
pub const JOB_EVENT_KEY: &str = "vertex_job";
/// The key zip jobs were handed over with before every kind of job was: invocations queued
/// during a deploy still carry it.
const OLD_JOB_EVENT_KEY: &str = "vertex_zip_job";

pub enum Launcher {
    /// A task of this process.
    Task,
    /// An asynchronous (`Event`) invocation of this Lambda function.
    Lambda {
        client: aws_sdk_lambda::Client,
        function: String,
    },
}

impl Launcher {
    /// Starts a run of the job `event` names. Locally the run has no deadline of its own (the
    /// job's slice still bounds a folder job's run).
    pub async fn launch(&self, core: Arc<Core>, event: &JobEvent) -> AppResult<()> {
        match self {
            Launcher::Task => {
                let event = event.clone();
                tokio::spawn(async move { core.run_job(&event, Duration::MAX).await });
                Ok(())
            }
            Launcher::Lambda { client, function } => {
                let payload = serde_json::json!({ JOB_EVENT_KEY: event });
                client
                    .invoke()
                    .function_name(function)
                    .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                    .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| {
                        AppError::Unavailable(anyhow::anyhow!(
                            "invoking {function} for job {}: {}",
                            event.job_id,
                            aws_sdk_lambda::error::DisplayErrorContext(e)
                        ))
                    })
            }
        }
    }
}

/// The job an invocation payload names, if it is a job event (and not an HTTP request).
pub fn job_event(payload: &serde_json::Value) -> Option<JobEvent> {
    let event = payload
        .get(JOB_EVENT_KEY)
        .or_else(|| payload.get(OLD_JOB_EVENT_KEY))?;
    serde_json::from_value(event.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_events_are_read_under_either_key() {
        let new = serde_json::json!({"vertex_job": {"user_id": "u", "job_id": "j", "run": 3}});
        let old = serde_json::json!({"vertex_zip_job": {"user_id": "u", "job_id": "j"}});
        assert_eq!(job_event(&new).map(|e| e.run), Some(3));
        assert_eq!(job_event(&old).map(|e| e.run), Some(0));
        assert_eq!(job_event(&serde_json::json!({"version": "2.0"})), None);
    }
}
