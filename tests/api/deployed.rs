//! The AWS backend as it is deployed: each endpoint group served by its own core (its own
//! function), with its own clients recording every AWS call under the function's name, the
//! signing secret read from SSM, and jobs handed over by invoking a function (archives: the zip
//! function; folder jobs: the files function, run after run). SSM and Lambda are played by a
//! small fake on loopback; DynamoDB and S3 are the emulators.
//!
//! The recorded calls are what `tests/iam.rs` holds against the template's policies.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use shared::aws::{self, AwsClients, CallLog};
use shared::config::Config;
use shared::http::Group;
use shared::runtime::{aws_backends, aws_secret, warm_connections};
use shared::services::{job_event, Launcher};
use shared::Core;

use crate::helpers::{emulator_sdk, sdk_at, SECRET};

/// The SSM parameter the functions read their signing secret from.
pub const SECRET_PARAMETER: &str = "/vertexcloud/test/jwt-secret";
/// The name the zip function invokes itself by (`vertexcloud-<stage>-zip` in the template).
pub const ZIP_FUNCTION: &str = "vertexcloud-test-zip";
/// The name the files function invokes itself by, for folder jobs.
pub const FILES_FUNCTION: &str = "vertexcloud-test-files";
/// What a job's run is given, as an invocation of a function with the 900 s timeout would.
const RUN_BUDGET: Duration = Duration::from_secs(870);

/// Every call of this test process: into `VERTEX_TEST_AWS_CALLS` when set (scripts/test.sh),
/// else in memory.
pub fn call_log() -> &'static CallLog {
    static LOG: OnceLock<CallLog> = OnceLock::new();
    LOG.get_or_init(|| match std::env::var_os("VERTEX_TEST_AWS_CALLS") {
        Some(path) => CallLog::to_file(path),
        None => CallLog::in_memory(),
    })
}

/// The five function cores, sharing `config`'s table and bucket, each as its Lambda init
/// leaves it (connections warmed).
pub async fn functions(config: Config) -> Vec<(Group, Arc<Core>)> {
    let fake = Fake::default();
    let endpoint = fake.clone().serve().await;
    let dynamodb_sdk = emulator_sdk("VERTEX_TEST_DYNAMODB_ENDPOINT").await;
    let s3_sdk = emulator_sdk("VERTEX_TEST_S3_ENDPOINT").await;
    let fake_sdk = sdk_at(&endpoint).await;
    let mut config = config;
    config.jwt_secret = None;
    config.jwt_secret_param = Some(SECRET_PARAMETER.into());
    let mut cores = Vec::new();
    for group in Group::ALL {
        let recorder = call_log().recorder(group.name());
        let clients = AwsClients {
            dynamodb: aws::dynamodb(&dynamodb_sdk, Some(&recorder)),
            s3: aws::s3(&s3_sdk, true, Some(&recorder)),
            lambda: aws::lambda(&fake_sdk, Some(&recorder)),
            ssm: aws::ssm(&fake_sdk, Some(&recorder)),
        };
        let backends = aws_backends(&config, &clients).expect("backends");
        let secret = aws_secret(&config, &clients.ssm).await.expect("secret");
        let mut core = Core::new(config.clone(), backends, &secret);
        // The shares function hands visitors' large archives to the zip function too.
        let function = match group {
            Group::Zip | Group::Shares => Some(ZIP_FUNCTION),
            Group::Files => Some(FILES_FUNCTION),
            _ => None,
        };
        if let Some(function) = function {
            core.launcher = Launcher::Lambda {
                client: clients.lambda,
                function: function.into(),
            };
        }
        warm_connections(&core).await;
        let core = Arc::new(core);
        match group {
            Group::Zip => {
                fake.zip.set(core.clone()).ok();
            }
            Group::Files => {
                fake.files.set(core.clone()).ok();
            }
            _ => {}
        }
        cores.push((group, core));
    }
    cores
}

/// SSM's GetParameter and Lambda's asynchronous Invoke, as far as the functions use them.
#[derive(Clone, Default)]
struct Fake {
    zip: Arc<OnceLock<Arc<Core>>>,
    files: Arc<OnceLock<Arc<Core>>>,
}

impl Fake {
    /// Serves on a free loopback port until the process ends; returns the endpoint.
    async fn serve(self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/", post(ssm))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        endpoint
    }
}

async fn ssm(
    headers: HeaderMap,
    body: String,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let json = [("content-type", "application/x-amz-json-1.1")];
    if target != "AmazonSSM.GetParameter" || request["Name"] != SECRET_PARAMETER {
        let error =
            serde_json::json!({"__type": "ParameterNotFound", "message": "no such parameter"});
        return (StatusCode::BAD_REQUEST, json, error.to_string());
    }
    let answer = serde_json::json!({"Parameter": {
        "Name": SECRET_PARAMETER, "Type": "SecureString", "Value": SECRET, "Version": 1,
    }});
    (StatusCode::OK, json, answer.to_string())
}

/// An `Event` invocation of the zip or files function: the job's run goes on in the background,
/// as Lambda would run it in a fresh invocation; anything else is refused.
async fn invoke(
    State(fake): State<Fake>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let event = serde_json::from_str(&body).ok().and_then(|p| job_event(&p));
    let asynchronous = headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v == "Event");
    let core = match name.as_str() {
        ZIP_FUNCTION => fake.zip.get(),
        FILES_FUNCTION => fake.files.get(),
        _ => None,
    };
    match (event, core) {
        (Some(event), Some(core)) if asynchronous => {
            let core = core.clone();
            tokio::spawn(async move { core.run_job(&event, RUN_BUDGET).await });
            StatusCode::ACCEPTED
        }
        _ => StatusCode::BAD_REQUEST,
    }
}
