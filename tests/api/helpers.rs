//! The test harness: a fresh app per test, on the backend the test asks for, driven in process
//! through the same router the servers use.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{Backend, Config, Secret, ThrottleConfig};
use shared::domain::Role;
use shared::http::{router, Group};

use crate::deployed;
pub use crate::flaky::Flaky;
use shared::objects::local::LocalObjects;
use shared::objects::s3::S3Objects;
use shared::services::{Backends, RegisterInput};
use shared::store::dynamo::DynamoStore;
use shared::store::sqlite::SqliteStore;
use shared::Core;
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite + the local object store.
    Embedded,
    /// DynamoDB (DynamoDB Local) + S3 (LocalStack).
    Aws,
}

pub struct TestApp {
    pub core: Arc<Core>,
    router: Router,
    /// AWS backend: the core of each function (`deployed`), whose AWS calls are recorded.
    functions: Vec<(Group, Arc<Core>)>,
    _dir: Option<tempfile::TempDir>,
    _namespace: Option<AwsNamespace>,
}

/// An AWS case's own table and bucket, deleted when its app is dropped, so that the emulators
/// do not hold every case's data until the suite ends.
struct AwsNamespace(String);

impl Drop for AwsNamespace {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop cannot await, and the case's runtime may be the current-thread kind: delete on a
        // runtime of its own, with clients of its own. A failure is reported, never a panic
        // (this may run while a failed case unwinds).
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(delete_namespace(&name))
        })
        .join();
        if let Ok(Err(err)) = done {
            eprintln!(
                "could not delete the test table and bucket {}: {err:#}",
                self.0
            );
        }
    }
}

/// Deletes the table and the bucket `name` (emptied first: objects and unfinished uploads).
async fn delete_namespace(name: &str) -> anyhow::Result<()> {
    dynamo_client()
        .await
        .delete_table()
        .table_name(name)
        .send()
        .await?;
    let s3 = s3_client().await;
    let uploads = s3.list_multipart_uploads().bucket(name).send().await?;
    for upload in uploads.uploads() {
        s3.abort_multipart_upload()
            .bucket(name)
            .key(upload.key().unwrap_or_default())
            .upload_id(upload.upload_id().unwrap_or_default())
            .send()
            .await?;
    }
    let mut pages = s3.list_objects_v2().bucket(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page?.contents() {
            let key = object.key().unwrap_or_default();
            s3.delete_object().bucket(name).key(key).send().await?;
        }
    }
    s3.delete_bucket().bucket(name).send().await?;
    Ok(())
}

/// An answer whose body is not (necessarily) JSON.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Raw {
    /// A router's answer, read whole.
    pub async fn of(response: axum::response::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Self {
            status,
            headers,
            body,
        }
    }
}

/// One HTTP/1.1 request to `url` (plain http, as the emulators speak).
pub async fn http_fetch(method: Method, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Raw {
    use http_body_util::{BodyExt, Full};
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("host").clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(header::HOST, authority.as_str())
        .header(header::CONTENT_LENGTH, body.len());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = sender
        .send_request(
            req.body(Full::new(bytes::Bytes::from(body)))
                .expect("request"),
        )
        .await
        .expect("send");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Raw {
        status,
        headers,
        body,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts the JSON error shape of API.md with this status and code.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.body["code"], code,
            "unexpected code; body: {}",
            self.body
        );
        assert!(self.body["error"].is_string(), "no message: {}", self.body);
        assert!(
            self.body.get("details").is_some(),
            "no details: {}",
            self.body
        );
        self.body
    }
}

fn base_config(backend: Backend) -> Config {
    Config {
        backend,
        addr: ([127, 0, 0, 1], 0).into(),
        data_dir: ".".into(),
        table: None,
        bucket: None,
        s3_path_style: true,
        jwt_secret: Some(Secret(SECRET.into())),
        jwt_secret_param: None,
        access_ttl_secs: 900,
        refresh_ttl_secs: 3600,
        default_quota_bytes: None,
        max_form_bytes: 64 * 1024 * 1024,
        transfer_url_ttl_secs: 900,
        public_url: None,
        zip_sync_max_files: 1000,
        zip_sync_max_bytes: 64 * 1024 * 1024,
        folder_sync_max_objects: 500,
        job_slice_secs: 600,
        job_step_objects: 100,
        job_step_bytes: 2 << 30,
        job_heartbeat_ms: 60_000,
        job_retry_pause_ms: 1000,
        throttle: ThrottleConfig {
            account_max_failures: 5,
            address_max_failures: 50,
            window_secs: 900,
            slowdown_after: 20,
            max_delay_ms: 3000,
        },
        trusted_proxies: Default::default(),
        record_aws_calls: None,
        warm_connections: false,
        limits: shared::config::Limits::default(),
        server: shared::config::ServerLimits::default(),
        shares: shared::config::ShareConfig::default(),
        zip_function: None,
        // Hundreds of logins: the real cost is kept by the hasher's own unit test and by
        // auth::passwords_are_hashed_at_the_configured_cost.
        password_cost: shared::config::PasswordCost::Minimal,
    }
}

/// SDK configuration for the emulator whose endpoint is in `variable`.
pub async fn emulator_sdk(variable: &str) -> aws_config::SdkConfig {
    let endpoint = std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "the AWS-backend tests need the emulators: run scripts/test.sh, which starts them \
             and sets {variable} (a plain `cargo test` leaves them out: they are ignored)"
        )
    });
    sdk_at(&endpoint).await
}

/// SDK configuration for a service at `endpoint`, with test credentials.
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn dynamo_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&emulator_sdk("VERTEX_TEST_DYNAMODB_ENDPOINT").await)
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    let sdk = emulator_sdk("VERTEX_TEST_S3_ENDPOINT").await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What `VERTEX_TEST_BACKENDS` may say.
const BACKENDS_ACCEPTED: &str =
    "all, embedded, aws, or a comma-separated list such as embedded,aws";

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Embedded => "embedded",
            Kind::Aws => "aws",
        }
    }
}

/// The backends `VERTEX_TEST_BACKENDS` switches on (default: all).
fn backends_wanted() -> Vec<Kind> {
    parse_backends(&std::env::var("VERTEX_TEST_BACKENDS").unwrap_or_else(|_| "all".into()))
}

/// Anything this does not recognise panics: an empty, misspelled or upper-case value used to
/// switch every backend off while every case still reported `ok`.
fn parse_backends(value: &str) -> Vec<Kind> {
    if value == "all" {
        return vec![Kind::Embedded, Kind::Aws];
    }
    value
        .split(',')
        .map(|name| match name.trim() {
            "embedded" => Kind::Embedded,
            "aws" => Kind::Aws,
            other => panic!(
                "VERTEX_TEST_BACKENDS={value:?}: unknown backend {other:?}; accepted: \
                 {BACKENDS_ACCEPTED}"
            ),
        })
        .collect()
}

#[test]
fn backend_lists_are_read_strictly() {
    use Kind::{Aws, Embedded};
    assert_eq!(parse_backends("all"), [Embedded, Aws]);
    assert_eq!(parse_backends("embedded"), [Embedded]);
    assert_eq!(parse_backends("aws, embedded"), [Aws, Embedded]);
    for wrong in ["", "AWS", "embeded", "all,aws", "embedded,"] {
        let outcome = std::panic::catch_unwind(|| parse_backends(wrong));
        assert!(outcome.is_err(), "{wrong:?} was accepted");
    }
}

/// Whether `VERTEX_TEST_BACKENDS` switches this backend on (panics on an unknown value).
pub fn enabled(kind: Kind) -> bool {
    backends_wanted().contains(&kind)
}

/// How long one case may run before it fails instead of hanging the suite (a generous bound
/// for a loaded machine, not a speed check). The slow tier has its own.
pub const CASE_LIMIT: Duration = Duration::from_secs(180);
pub const SLOW_CASE_LIMIT: Duration = Duration::from_secs(900);

/// Runs one case on `kind` within `limit`. A case whose backend `VERTEX_TEST_BACKENDS` switched
/// off fails rather than passing unrun: the AWS cases are `#[ignore]`d, so they only run when
/// asked for (`--include-ignored`, as scripts/test.sh does).
pub async fn run_case<F, Fut>(kind: Kind, limit: Duration, case: F)
where
    F: FnOnce(Kind) -> Fut,
    Fut: Future<Output = ()>,
{
    assert!(
        enabled(kind),
        "the {} backend is switched off by VERTEX_TEST_BACKENDS, yet its case was asked to run: \
         leave out --include-ignored, or pick cases by name (`-- --include-ignored ::embedded`)",
        kind.name()
    );
    if tokio::time::timeout(limit, case(kind)).await.is_err() {
        panic!("the case did not finish within {limit:?}");
    }
}

impl TestApp {
    pub async fn new(kind: Kind) -> Self {
        Self::with(kind, |_| {}).await
    }

    /// A fresh app (its own database or table) with `tweak` applied to the test config.
    pub async fn with(kind: Kind, tweak: impl FnOnce(&mut Config)) -> Self {
        // Logs are printed only when asked for: `TEST_LOG=1 scripts/test.sh`.
        if std::env::var_os("TEST_LOG").is_some() {
            shared::runtime::init_tracing();
        }
        let (config, backends, dir, namespace) = match kind {
            Kind::Embedded => {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut config = base_config(Backend::Embedded);
                config.data_dir = dir.path().to_owned();
                let backends = Backends {
                    store: Arc::new(
                        SqliteStore::open(&dir.path().join("test.db")).expect("sqlite"),
                    ),
                    objects: Arc::new(
                        LocalObjects::open(&dir.path().join("objects")).expect("objects"),
                    ),
                };
                (config, backends, Some(dir), None)
            }
            Kind::Aws => {
                // Each test has its own table and bucket.
                let name = format!("vc-test-{}", uuid::Uuid::new_v4().simple());
                let dynamo = dynamo_client().await;
                DynamoStore::create_table(&dynamo, &name)
                    .await
                    .expect("create table");
                let s3 = s3_client().await;
                S3Objects::create_bucket(&s3, &name)
                    .await
                    .expect("create bucket");
                let mut config = base_config(Backend::Aws);
                config.table = Some(name.clone());
                config.bucket = Some(name.clone());
                let backends = Backends {
                    store: Arc::new(DynamoStore::new(dynamo, name.clone())),
                    objects: Arc::new(S3Objects::new(s3, name.clone())),
                };
                (config, backends, None, Some(AwsNamespace(name)))
            }
        };
        let mut config = config;
        tweak(&mut config);
        let core = Arc::new(Core::new(config.clone(), backends, SECRET.as_bytes()));
        let functions = match kind {
            Kind::Embedded => Vec::new(),
            Kind::Aws => deployed::functions(config).await,
        };
        let router = match kind {
            Kind::Embedded => router(core.clone(), &Group::ALL),
            Kind::Aws => shared::http::routed(functions.clone()),
        };
        Self {
            _dir: dir,
            _namespace: namespace,
            router,
            functions,
            core,
        }
    }

    /// Hands an API Gateway request to one function's router, as `lambda_http` does.
    pub async fn invoke(&self, group: Group, request: lambda_http::Request) -> Raw {
        let response = self
            .function(group)
            .oneshot(request)
            .await
            .expect("infallible");
        Raw::of(response).await
    }

    /// The router of one function, as its Lambda binary runs it (on the AWS backend with that
    /// function's own recorded clients).
    pub fn function(&self, group: Group) -> Router {
        router(self.function_core(group), &[group])
    }

    /// The core one function's Lambda binary runs (the app's own on the embedded backend).
    pub fn function_core(&self, group: Group) -> Arc<Core> {
        self.functions
            .iter()
            .find(|(g, _)| *g == group)
            .map_or(&self.core, |(_, core)| core)
            .clone()
    }

    /// An app around a core the test built itself.
    pub fn from_core(core: Arc<Core>) -> Self {
        Self {
            router: router(core.clone(), &Group::ALL),
            functions: Vec::new(),
            core,
            _dir: None,
            _namespace: None,
        }
    }

    /// An app over this app's stores with `tweak` applied to its config: another setting, the
    /// same data.
    pub fn sibling(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.core.config.clone();
        tweak(&mut config);
        let backends = Backends {
            store: self.core.store.clone(),
            objects: self.core.objects.clone(),
        };
        Self::from_core(Arc::new(Core::new(config, backends, SECRET.as_bytes())))
    }

    /// Sends a request from 127.0.0.1 with an optional Bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_from([127, 0, 0, 1], method, uri, token, body)
            .await
    }

    pub async fn call_from(
        &self,
        ip: [u8; 4],
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send_from(ip, req.body(body).expect("request")).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        self.send_from([127, 0, 0, 1], req).await
    }

    /// Sends a request and returns the answer's bytes as they are.
    pub async fn send_raw(&self, mut req: Request<Body>) -> Raw {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        Raw::of(res).await
    }

    /// A multipart upload form: text fields first (name, value), then `files` parts.
    pub async fn upload(
        &self,
        token: &str,
        fields: &[(&str, Option<&str>, &[u8])],
        files: &[(&str, &[u8])],
    ) -> Reply {
        let boundary = "----vertexcloud-test-boundary";
        let mut body = Vec::new();
        let parts = fields.iter().copied().chain(
            files
                .iter()
                .map(|(name, data)| ("files", Some(*name), *data)),
        );
        for (field, file_name, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            // A text field's value is `data`; a file part names its file.
            match (field, file_name) {
                ("files", Some(name)) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                _ => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{field}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/files/upload")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// Sends `method url` with `body`: to this app when the URL is one of its own transfer URLs,
    /// over HTTP otherwise (presigned S3 URLs, to LocalStack).
    pub async fn fetch(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Raw {
        if let Some(i) = url.find("/api/files/transfer/") {
            let mut req = Request::builder().method(method).uri(&url[i..]);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            return self
                .send_raw(req.body(Body::from(body)).expect("request"))
                .await;
        }
        http_fetch(method, url, headers, body).await
    }

    async fn send_from(&self, ip: [u8; 4], req: Request<Body>) -> Reply {
        self.send_by(SocketAddr::from((ip, 40000)), req).await
    }

    /// Sends a request as if its TCP connection came from `peer` (any address, IPv6 too).
    pub async fn send_by(&self, peer: SocketAddr, mut req: Request<Body>) -> Reply {
        req.extensions_mut().insert(ConnectInfo(peer));
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, uri, token, Some(body)).await
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, uri, token, None).await
    }

    /// Registers `username` (email `<username>@example.com`, password [`PASSWORD`]).
    pub async fn register(&self, username: &str) -> Value {
        self.post(
            "/api/auth/register",
            None,
            json!({"username": username, "email": format!("{username}@example.com"),
                   "password": PASSWORD, "password2": PASSWORD}),
        )
        .await
        .expect(StatusCode::CREATED)
    }

    /// One login attempt with these credentials.
    pub async fn try_login(&self, login: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            None,
            json!({"username": login, "password": password}),
        )
        .await
    }

    /// Logs in; returns (access, refresh).
    pub async fn login(&self, username: &str) -> (String, String) {
        let body = self
            .post(
                "/api/auth/login",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await
            .expect(StatusCode::OK);
        (
            body["access"].as_str().expect("access").to_owned(),
            body["refresh"].as_str().expect("refresh").to_owned(),
        )
    }

    /// Creates a user of `role` (as the CLI does) and logs in; returns (user id, access).
    pub async fn member(&self, username: &str, role: Role) -> (String, String) {
        let input: RegisterInput = serde_json::from_value(json!({
            "username": username, "email": format!("{username}@example.com"),
            "password": PASSWORD, "password2": PASSWORD,
        }))
        .expect("input");
        let user = self.core.create_account(input, role).await.expect("create");
        let (access, _) = self.login(username).await;
        (user.id.to_string(), access)
    }

    /// Creates an API key with the session `token`; returns the key.
    pub async fn api_key(&self, token: &str, name: &str) -> String {
        self.post("/api/auth/keys", Some(token), json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED)["key"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    /// Registers and logs in; returns (user id, access, refresh).
    pub async fn user(&self, username: &str) -> (String, String, String) {
        let user = self.register(username).await;
        let (access, refresh) = self.login(username).await;
        (user["id"].as_str().expect("id").to_owned(), access, refresh)
    }
}

/// `text` with its last character changed, always to a different one that is valid in hex and
/// base64url alike (a forged secret or signature; writing a fixed character instead would
/// leave the text unchanged whenever it already ended with it).
pub fn bend_last(text: &str) -> String {
    let mut bent = text.to_owned();
    let last = bent.pop().expect("not empty");
    bent.push(if last == '0' { '1' } else { '0' });
    bent
}

/// Runs `f(0)`, …, `f(n - 1)` at the same moment, each in a task of its own (on the case's
/// multi-threaded runtime, so they truly overlap), and returns their outcomes in that order.
/// A barrier holds every task until all are spawned. A task's panic is the case's.
pub async fn race<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (start, run) = (start.clone(), f(i));
            tokio::spawn(async move {
                start.wait().await;
                run.await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    outcomes
}

/// Runs each named case against every backend: `backend_tests!(case_a, case_b)` makes the tests
/// `case_a::embedded`, `case_a::aws`, … where each case is `async fn case(kind: Kind)` and builds
/// its own [`TestApp`]. The AWS ones are `#[ignore]`d (they need the emulators), so a plain
/// `cargo test` lists them as ignored; scripts/test.sh runs them with `--include-ignored`.
///
/// - `backend_tests!(slow: case)`: the slow tier, ignored on both backends (scripts/test.sh
///   runs it too).
/// - `backend_tests!(waiting "issue 12: why": case)`: a case that fails until that issue lands,
///   as `case::waiting::embedded` and `case::waiting::aws`; scripts/test.sh skips `::waiting::`.
#[macro_export]
macro_rules! backend_tests {
    (@case $case:ident, $limit:expr, [$($embedded:meta)?], $aws:literal) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$embedded])?
            async fn embedded() {
                use $crate::helpers::{run_case, Kind};
                run_case(Kind::Embedded, $limit, super::$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = $aws]
            async fn aws() {
                use $crate::helpers::{run_case, Kind};
                run_case(Kind::Aws, $limit, super::$case).await;
            }
        }
    };
    (slow: $($case:ident),* $(,)?) => {
        $(
            $crate::backend_tests!(@case $case, $crate::helpers::SLOW_CASE_LIMIT,
                [ignore = "slow tier: scripts/test.sh runs it"],
                "slow tier, needs the emulators: scripts/test.sh runs it");
        )*
    };
    (waiting $why:literal: $($case:ident),* $(,)?) => {
        $(
            mod $case {
                mod waiting {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    #[ignore = $why]
                    async fn embedded() {
                        use $crate::helpers::{run_case, Kind, CASE_LIMIT};
                        run_case(Kind::Embedded, CASE_LIMIT, super::super::$case).await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    #[ignore = $why]
                    async fn aws() {
                        use $crate::helpers::{run_case, Kind, CASE_LIMIT};
                        run_case(Kind::Aws, CASE_LIMIT, super::super::$case).await;
                    }
                }
            }
        )*
    };
    ($($case:ident),* $(,)?) => {
        $(
            $crate::backend_tests!(@case $case, $crate::helpers::CASE_LIMIT, [],
                "needs the emulators: scripts/test.sh runs it");
        )*
    };
}

/// A folder copy of `docs` to `target` by `user_id`, running and still counting, at run 0: the
/// record a request above the threshold leaves (tests change what they need).
pub fn running_copy(user_id: &str, id: &str, target: &str) -> shared::store::Job {
    use shared::store::{FolderPhase, FolderWork, Job, JobKind, JobStatus};
    let at = chrono::Utc::now();
    Job {
        id: id.into(),
        user_id: user_id.into(),
        kind: JobKind::Copy,
        status: JobStatus::Running,
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
        folder: Some(FolderWork {
            source: "docs".into(),
            target: Some(target.into()),
            phase: FolderPhase::Counting,
            after: None,
            step: None,
            failures: 0,
            skipped: 0,
        }),
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + chrono::Duration::hours(24),
    }
}
