//! Handing a ZIP job to the background: a task of this process (local server, tests), or on AWS
//! an asynchronous invocation of the zip function itself, which may run for up to 15 minutes
//! while the request that started the job answers at once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::services::Core;
use crate::store::ZipJob;

/// The event an asynchronous invocation carries: `{"vertex_zip_job": {...}}`. API Gateway
/// events never have this shape, and only principals allowed to invoke the function can send it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEvent {
    pub user_id: String,
    pub job_id: String,
}

/// The key of [`JobEvent`] in an invocation's payload.
pub const JOB_EVENT_KEY: &str = "vertex_zip_job";

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
    pub(super) async fn launch(&self, core: Arc<Core>, job: &ZipJob) -> AppResult<()> {
        let event = JobEvent {
            user_id: job.user_id.clone(),
            job_id: job.id.clone(),
        };
        match self {
            Launcher::Task => {
                tokio::spawn(async move { core.run_zip_job(&event).await });
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
                            "invoking {function} for a zip job: {}",
                            aws_sdk_lambda::error::DisplayErrorContext(e)
                        ))
                    })
            }
        }
    }
}

/// The job an invocation payload names, if it is a job event (and not an HTTP request).
pub fn job_event(payload: &serde_json::Value) -> Option<JobEvent> {
    serde_json::from_value(payload.get(JOB_EVENT_KEY)?.clone()).ok()
}
