//! Process wiring shared by the five Lambda binaries and the local server: tracing, clients and
//! the [`Core`], built once per process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

use crate::aws::{AwsClients, CallLog};
use crate::config::{Backend, Config};
use crate::http::{self, Group};
use crate::objects::s3::S3Objects;
use crate::services::{job_event, sweep_event, Backends, Launcher};
use crate::store::dynamo::DynamoStore;
use crate::Core;

/// JSON logs on Lambda (CloudWatch), readable text elsewhere; `RUST_LOG` filters (default info).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let registry = tracing_subscriber::registry().with(log_filter());
    let _ = if on_lambda {
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .without_time()
            .with_target(false);
        registry.with(json).try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init()
    };
}

/// `RUST_LOG` (`info`, `shared=debug,warn`, …), default info; a value that does not parse is
/// reported and replaced by the default. Whatever it asks, the libraries in [`CAPPED`] log no
/// more than their cap.
pub fn log_filter() -> Targets {
    let default = Targets::new().with_default(LevelFilter::INFO);
    let asked = match std::env::var("RUST_LOG") {
        Ok(value) => value.parse().unwrap_or_else(|e| {
            eprintln!("RUST_LOG={value:?} is not a filter ({e}); logging at info");
            default
        }),
        Err(_) => default,
    };
    capped(&asked)
}

/// Libraries whose most verbose levels echo the credentials they carry, with the most they
/// may log. Logs never carry credentials, at any level asked.
const CAPPED: &[(&str, LevelFilter)] = &[
    // trace: every raw event ("raw JSON event received from Lambda": request bodies with
    // passwords and tokens, Authorization headers).
    ("lambda_runtime", LevelFilter::INFO),
    ("lambda_runtime_api_client", LevelFilter::INFO),
    ("lambda_http", LevelFilter::INFO),
    // trace: whole AWS requests and responses ("transmitting request": the session-token
    // header, items and their bodies).
    ("aws_smithy_runtime", LevelFilter::DEBUG),
    ("aws_smithy_runtime_api", LevelFilter::DEBUG),
    ("aws_smithy_http", LevelFilter::DEBUG),
    ("aws_smithy_http_client", LevelFilter::DEBUG),
    ("aws_smithy_types", LevelFilter::DEBUG),
    // trace: the string to sign and canonical request (redacted today; capped all the same).
    ("aws_sigv4", LevelFilter::DEBUG),
];

/// `asked`, with every directive for a [`CAPPED`] library (or a module of one) lowered to
/// its cap, and each such library given its cap where only the default named its level.
fn capped(asked: &Targets) -> Targets {
    let cap_of = |target: &str| {
        CAPPED
            .iter()
            .filter(|(lib, _)| target == *lib || target.starts_with(&format!("{lib}::")))
            .map(|(_, cap)| *cap)
            .min()
    };
    let mut filter = Targets::new();
    if let Some(default) = asked.default_level() {
        filter = filter.with_default(default);
    }
    for (target, level) in asked.iter() {
        filter = filter.with_target(target, cap_of(target).map_or(level, |cap| level.min(cap)));
    }
    for (lib, cap) in CAPPED {
        if !asked.iter().any(|(target, _)| target == *lib) {
            filter = filter.with_target(*lib, effective_level(asked, lib).min(*cap));
        }
    }
    filter
}

/// The most verbose level `filter` lets `target` log at.
fn effective_level(filter: &Targets, target: &str) -> LevelFilter {
    use tracing::Level;
    [
        Level::TRACE,
        Level::DEBUG,
        Level::INFO,
        Level::WARN,
        Level::ERROR,
    ]
    .into_iter()
    .find(|level| filter.would_enable(target, level))
    .map_or(LevelFilter::OFF, LevelFilter::from_level)
}

/// Readable logs on standard error, for commands whose standard output is their result.
pub fn init_tracing_to_stderr() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(log_filter())
        .with(stderr)
        .try_init();
}

/// The AWS SDK configuration: region and credentials from the usual chain, `AWS_ENDPOINT_URL`
/// for emulators, and [`aws_timeouts`].
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(aws_timeouts())
        .load()
        .await
}

/// Every AWS call's time, so an unreachable service is a prompt 503, not a hang. The calls
/// that make S3 move many bytes are given more, for their size (objects/s3/copy.rs).
pub fn aws_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(4))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The AWS backend's signing secret: configured, or read from SSM Parameter Store.
pub async fn aws_secret(config: &Config, ssm: &aws_sdk_ssm::Client) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.0.as_bytes().to_vec());
    }
    let Some(name) = &config.jwt_secret_param else {
        bail!("no JWT secret configured (VERTEX_JWT_SECRET or VERTEX_JWT_SECRET_PARAM)");
    };
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("reading SSM parameter {name}"))?;
    let value = out
        .parameter
        .and_then(|p| p.value)
        .context("SSM parameter has no value")?;
    if value.len() < 32 {
        bail!("the JWT secret in {name} is shorter than 32 bytes");
    }
    Ok(value.into_bytes())
}

/// What the local process calls itself in recorded AWS calls (a Lambda function uses its group).
const LOCAL_PROCESS: &str = "vertexcloud";

/// The AWS clients of `function`, recording their calls when `VERTEX_RECORD_AWS_CALLS` names a
/// file.
pub async fn aws_clients(config: &Config, function: &str) -> AwsClients {
    let recorder = config
        .record_aws_calls
        .as_ref()
        .map(|path| CallLog::to_file(path).recorder(function));
    AwsClients::new(
        &aws_sdk_config().await,
        config.s3_path_style,
        recorder.as_ref(),
    )
}

/// The stores of the AWS backend, over `clients`.
pub fn aws_backends(config: &Config, clients: &AwsClients) -> anyhow::Result<Backends> {
    let table = config.table.clone().context("VERTEX_TABLE is not set")?;
    let bucket = config.bucket.clone().context("VERTEX_BUCKET is not set")?;
    Ok(Backends {
        store: Arc::new(DynamoStore::new(clients.dynamodb.clone(), table)),
        objects: Arc::new(S3Objects::new(clients.s3.clone(), bucket)),
    })
}

/// Opens the metadata and object stores of the configured backend.
pub async fn open_backends(config: &Config) -> anyhow::Result<Backends> {
    Ok(match config.backend {
        Backend::Embedded => embedded::backends(config)?,
        Backend::Aws => aws_backends(config, &aws_clients(config, LOCAL_PROCESS).await)?,
    })
}

/// The JWT signing secret: configured, or (embedded) generated on first start.
pub async fn load_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    match (&config.jwt_secret, config.backend) {
        (Some(secret), _) => Ok(secret.0.as_bytes().to_vec()),
        (None, Backend::Embedded) => embedded::secret(&config.data_dir),
        (None, Backend::Aws) => {
            aws_secret(config, &aws_clients(config, LOCAL_PROCESS).await.ssm).await
        }
    }
}

/// Store, secret and services, ready to serve. The dummy hash for unknown-user logins is
/// computed in the background: a server answers sooner (one argon2 hash, ~20 ms, was a third
/// of its start), and a login that comes first waits for it as it would have.
pub async fn build_core(config: Config) -> anyhow::Result<Arc<Core>> {
    let (core, _) = new_core(config, LOCAL_PROCESS).await?;
    let passwords = core.passwords.clone();
    tokio::spawn(async move { passwords.warm_up().await });
    Ok(Arc::new(core))
}

/// The core of `function`, and on the AWS backend the clients it was built with.
async fn new_core(config: Config, function: &str) -> anyhow::Result<(Core, Option<AwsClients>)> {
    let (core, clients) = match config.backend {
        Backend::Embedded => {
            let backends = open_backends(&config).await?;
            let secret = load_secret(&config).await?;
            (Core::new(config, backends, &secret), None)
        }
        Backend::Aws => {
            let clients = aws_clients(&config, function).await;
            let backends = aws_backends(&config, &clients)?;
            let secret = aws_secret(&config, &clients.ssm).await?;
            (Core::new(config, backends, &secret), Some(clients))
        }
    };
    Ok((core, clients))
}

/// The whole of a Lambda function's `main`: one endpoint group on the AWS backend.
pub async fn run_lambda(group: Group) -> Result<(), lambda_http::Error> {
    init_tracing();
    let mut config = Config::from_env()?;
    config.backend = Backend::Aws;
    // Lambda cannot receive more; saying so lets the 413 name the direct-upload endpoint.
    config.max_form_bytes = config
        .max_form_bytes
        .min(crate::config::LAMBDA_REQUEST_LIMIT);
    config.check()?;
    let (mut core, clients) = new_core(config, group.name()).await?;
    // In Lambda's init phase, before any request is accepted: free for the first request.
    core.passwords.warm_up().await;
    if core.config.warm_connections {
        warm_connections(&core).await;
    }
    tracing::info!(function = group.name(), "cold start complete");
    match group {
        Group::Zip | Group::Files => {}
        Group::Shares => {
            // Visitors' large archives are built by the zip function, which may run for up to
            // 15 minutes; this function answers within API Gateway's 30 s.
            core.launcher = Launcher::Lambda {
                client: clients.context("the shares function runs on AWS")?.lambda,
                function: core
                    .config
                    .zip_function
                    .clone()
                    .context("VERTEX_ZIP_FUNCTION must name the zip function")?,
            };
            return lambda_http::run(http::router(Arc::new(core), &[group])).await;
        }
        _ => return lambda_http::run(http::router(Arc::new(core), &[group])).await,
    }
    // The zip function hands long archives, the files function large folder operations, to
    // asynchronous invocations of itself (a folder job hands itself over to the next one when
    // its invocation's time is up).
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").context("AWS_LAMBDA_FUNCTION_NAME")?;
    core.launcher = Launcher::Lambda {
        client: clients.context("jobs run on AWS")?.lambda,
        function,
    };
    let core = Arc::new(core);
    let http = lambda_http::Adapter::from(http::router(core.clone(), &[group]));
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| {
        invocation(core.clone(), http.clone(), event)
    }))
    .await
}

/// What a job's run leaves of its invocation: time to record its outcome, or to hand over,
/// before Lambda's own timeout ends the process.
const JOB_MARGIN: Duration = Duration::from_secs(30);

/// One cheap read of each store (a missing user, an empty listing: calls every function's
/// policy allows), so DNS, TCP and TLS to DynamoDB and S3 are done before the first request
/// waits for them. A failure only means the first request connects itself.
pub async fn warm_connections(core: &Core) {
    let home = crate::layout::Home::of("warm-up");
    let (store, objects) = tokio::join!(
        core.store.get_user("warm-up"),
        core.objects.list(home.prefix(), false, None, 1)
    );
    if let Err(e) = store {
        tracing::warn!(error = %e, "warming the metadata store's connection failed");
    }
    if let Err(e) = objects {
        tracing::warn!(error = %e, "warming the object store's connection failed");
    }
}

/// One invocation of the zip or files function: a job's run (started by a request or handed
/// over by the job's previous run), a sweep of stalled jobs (the files function's schedule),
/// or an HTTP request from API Gateway.
pub async fn invocation<S>(
    core: Arc<Core>,
    mut http: S,
    event: lambda_http::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_http::Error>
where
    S: lambda_http::Service<
        lambda_http::LambdaEvent<lambda_http::request::LambdaRequest>,
        Error = std::convert::Infallible,
    >,
    S::Response: serde::Serialize,
{
    let (payload, context) = (event.payload, event.context);
    if let Some(job) = job_event(&payload) {
        let budget = Duration::from_millis(context.deadline)
            .saturating_sub(std::time::UNIX_EPOCH.elapsed().unwrap_or_default())
            .saturating_sub(JOB_MARGIN);
        core.run_job(&job, budget).await;
        return Ok(serde_json::json!({"job_id": job.job_id}));
    }
    if sweep_event(&payload) {
        return Ok(serde_json::to_value(core.sweep_jobs().await)?);
    }
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
    use lambda_http::tower::ServiceExt;
    let Ok(ready) = http.ready().await;
    let Ok(response) = ready
        .call(lambda_http::LambdaEvent::new(request, context))
        .await;
    Ok(serde_json::to_value(response)?)
}

/// The embedded backend: SQLite and the local object store under the data directory.
#[cfg(feature = "embedded")]
mod embedded {
    use std::io::Write;
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::{bail, Context};

    use crate::config::Config;
    use crate::objects::local::LocalObjects;
    use crate::security::random_secret;
    use crate::services::Backends;
    use crate::store::sqlite::SqliteStore;

    pub fn backends(config: &Config) -> anyhow::Result<Backends> {
        create_private_dir(&config.data_dir)?;
        // Two files, opened side by side: a new database's first writes wait on fsync, and the
        // two waits need not add up (a first start's time to its first answer, issue 14).
        let (objects, store) = std::thread::scope(|scope| {
            let objects = scope.spawn(|| LocalObjects::open(&config.data_dir.join("objects")));
            let store = SqliteStore::open(&config.data_dir.join("vertexcloud.db"));
            let objects = objects
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (objects, store)
        });
        let objects = objects?;
        objects.spawn_sweeper();
        Ok(Backends {
            store: Arc::new(store?),
            objects: Arc::new(objects),
        })
    }

    /// Reads the signing secret from the data dir, creating it (mode 0600) on first start.
    pub fn secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
        let path = data_dir.join("jwt-secret");
        match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
            Ok(_) => bail!("{} is shorter than 32 bytes", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let secret = random_secret(48);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(secret.as_bytes())?;
        file.sync_all()?;
        Ok(secret.into_bytes())
    }

    /// Creates the data directory readable by its owner only: it holds password hashes and the
    /// signing secret.
    fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
        if dir.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}

/// Built without the embedded backend (the Lambda functions): only the AWS backend runs.
#[cfg(not(feature = "embedded"))]
mod embedded {
    use crate::config::Config;
    use crate::services::Backends;

    const ABSENT: &str = "this binary is built without the embedded backend (VERTEX_BACKEND=aws)";

    pub fn backends(_: &Config) -> anyhow::Result<Backends> {
        anyhow::bail!(ABSENT)
    }

    pub fn secret(_: &std::path::Path) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!(ABSENT)
    }
}

#[cfg(test)]
mod log_filter_tests {
    use tracing::Level;

    use super::*;

    fn filter(asked: &str) -> Targets {
        capped(&asked.parse().expect("a filter"))
    }

    #[test]
    fn trace_everywhere_stops_at_each_cap() {
        let f = filter("trace");
        assert!(f.would_enable("shared::services", &Level::TRACE));
        assert!(f.would_enable("hyper::proto", &Level::TRACE));
        assert!(!f.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(!f.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(f.would_enable("lambda_runtime", &Level::INFO));
        assert!(!f.would_enable("aws_smithy_runtime::client::orchestrator", &Level::TRACE));
        assert!(f.would_enable("aws_smithy_runtime::client::orchestrator", &Level::DEBUG));
        assert!(!f.would_enable("aws_sigv4::http_request::sign", &Level::TRACE));
    }

    #[test]
    fn naming_a_capped_library_or_its_module_does_not_lift_the_cap() {
        let f = filter("warn,lambda_runtime=trace,lambda_runtime::layers=trace,aws_sigv4=trace");
        assert!(!f.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(!f.would_enable("lambda_runtime::layers::api_response", &Level::DEBUG));
        assert!(f.would_enable("lambda_runtime::layers::api_response", &Level::INFO));
        assert!(!f.would_enable("aws_sigv4", &Level::TRACE));
        assert!(!f.would_enable("shared", &Level::INFO));
    }

    #[test]
    fn quieter_requests_stay_quieter() {
        let f = filter("warn");
        assert!(!f.would_enable("lambda_runtime", &Level::INFO));
        assert!(f.would_enable("lambda_runtime", &Level::WARN));
        let f = filter("shared=debug");
        assert!(!f.would_enable("lambda_http", &Level::ERROR));
        assert!(f.would_enable("shared::http", &Level::DEBUG));
    }
}
