//! Clients written for the File Manager seed work unchanged. Its "Usage Examples" (a Python
//! `requests` script and a JavaScript `fetch` one, seeds/004) call the API as Django serves it,
//! with a trailing slash: `/api/auth/register/`, `/api/files/list/?path=`. They run here as
//! written, only with a password the policy accepts: through the whole router (as `vertexcloud
//! serve` runs it), through API Gateway (the template's routes) into the Lambda functions' routers,
//! and over TCP against the `vertexcloud` binary, on both backends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use base64::Engine;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::http::{instance_of, openapi, router, Group};
use tower::ServiceExt;

use crate::backend_tests;
use crate::helpers::{http_fetch, Kind, Raw, TestApp, PASSWORD, SECRET};
use crate::infra::{instance, template_routes, FUNCTIONS};

backend_tests!(
    seed_examples_through_the_router,
    seed_examples_through_api_gateway,
    seed_examples_against_vertexcloud_serve,
);

/// Where a client's requests go.
enum Server<'a> {
    /// The whole API's router, in process.
    Router(&'a TestApp),
    /// API Gateway in front of the four functions: a request goes to the function whose route in
    /// infra/template.yaml takes it, else to the catch-all's (auth). `exact`: a route takes only
    /// its own path, so a slash path falls to the catch-all (what HTTP APIs were seen to do);
    /// otherwise a route takes its path with one trailing slash too.
    Gateway { app: &'a TestApp, exact: bool },
    /// A server over TCP at this base URL (`http://127.0.0.1:port`).
    Tcp(String),
}

impl Server<'_> {
    async fn send(
        &self,
        method: &Method,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Raw {
        match self {
            Server::Router(app) => {
                let mut req = Request::builder().method(method).uri(target);
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                app.send_raw(req.body(body.to_vec().into()).unwrap()).await
            }
            Server::Gateway { app, exact } => {
                gateway(app, *exact, method, target, headers, body).await
            }
            Server::Tcp(base) => {
                http_fetch(
                    method.clone(),
                    &format!("{base}{target}"),
                    headers,
                    body.to_vec(),
                )
                .await
            }
        }
    }
}

/// One request through API Gateway: routed as the template says, handed to that function's
/// router as the API Gateway (payload 2.0) event `lambda_http` reads.
async fn gateway(
    app: &TestApp,
    exact: bool,
    method: &Method,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let takes = |route: &str| {
        instance_of(route, path)
            || (!exact
                && path
                    .strip_suffix('/')
                    .is_some_and(|p| instance_of(route, p)))
    };
    let (group, route_key) = FUNCTIONS
        .into_iter()
        .find_map(|(group, resource)| {
            template_routes(resource)
                .into_iter()
                .find(|(m, route)| m == method.as_str() && takes(route))
                .map(|(m, route)| (group, format!("{m} {route}")))
        })
        .unwrap_or((Group::Auth, "ANY /{proxy+}".to_owned()));
    let mut event_headers = json!({
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https",
        "content-length": body.len().to_string(),
    });
    for (name, value) in headers {
        event_headers[name.to_ascii_lowercase()] = (*value).into();
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": event_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "seed-example"
            },
            "requestId": "Ex4mpleId=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2026:03:00:00 +0000",
            "timeEpoch": 1795316400000u64
        },
        "isBase64Encoded": true
    });
    if !body.is_empty() {
        event["body"] = base64::engine::general_purpose::STANDARD
            .encode(body)
            .into();
    }
    let request = lambda_http::request::from_str(&event.to_string()).expect("event");
    app.invoke(group, request).await
}

/// An HTTP client as `requests` and `fetch` are: a 307/308 is followed with the same method,
/// body and headers (the credentials too: same origin). It notes every redirect.
struct Client<'a> {
    server: Server<'a>,
    redirects: Mutex<Vec<String>>,
}

impl<'a> Client<'a> {
    fn new(server: Server<'a>) -> Self {
        Self {
            server,
            redirects: Mutex::default(),
        }
    }

    async fn request(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Raw {
        let mut target = target.to_owned();
        for _ in 0..5 {
            let raw = self.server.send(&method, &target, headers, &body).await;
            if !raw.status.is_redirection() {
                return raw;
            }
            assert!(
                matches!(
                    raw.status,
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                ),
                "{method} {target}: {} would turn the request into a GET",
                raw.status
            );
            let location = raw.headers[header::LOCATION].to_str().unwrap().to_owned();
            assert!(location.starts_with("/api/"), "{location}");
            self.redirects
                .lock()
                .unwrap()
                .push(format!("{method} {target} -> {location}"));
            target = location;
        }
        panic!("{method} {target}: too many redirects");
    }

    fn redirects(&self) -> Vec<String> {
        self.redirects.lock().unwrap().clone()
    }
}

/// `response.json()`, after checking the status, the JSON content type and the request id.
#[track_caller]
fn json_of(response: &Raw, status: StatusCode) -> Value {
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, status, "{body}");
    let content_type = response.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(response.headers.contains_key("x-request-id"));
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A JSON object as Python's `json.dumps` writes it (what `requests.post(json=...)` sends):
/// keys in order, `", "` and `": "` between them.
fn python_json(fields: &[(&str, &str)]) -> Vec<u8> {
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", Value::from(*k), Value::from(*v)))
        .collect();
    format!("{{{}}}", fields.join(", ")).into_bytes()
}

/// The bytes of `test.txt`, the file the Python example uploads.
const TEST_TXT: &[u8] = b"Hello from the File Manager seed's Python example.\n";

/// The seed's Python example, call for call, as `requests` sends it: its default headers, JSON
/// as `json.dumps` writes it, and the upload as urllib3 encodes `files=` with `data=` (form
/// fields first, then the file part, which carries no content type of its own).
async fn python_example(client: &Client<'_>) {
    const BASE_URL: &str = "/api";
    let python = [
        ("User-Agent", "python-requests/2.32.3"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "*/*"),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        python
            .iter()
            .chain(extra)
            .map(|(k, v)| (*k, v.to_string()))
            .collect()
    };
    let send = |method: Method,
                url: String,
                headers: Vec<(&'static str, String)>,
                body: Vec<u8>| async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        client.request(method, &url, &headers, body).await
    };

    // Register a new user
    let register_data = python_json(&[
        ("username", "testuser"),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("email", "test@example.com"),
        ("first_name", "Test"),
        ("last_name", "User"),
    ]);
    let json_type = [("Content-Type", "application/json")];
    let response = send(
        Method::POST,
        format!("{BASE_URL}/auth/register/"),
        with(&json_type),
        register_data,
    )
    .await;
    let user = json_of(&response, StatusCode::CREATED);
    assert_eq!(
        (
            &user["username"],
            &user["email"],
            &user["first_name"],
            &user["last_name"]
        ),
        (
            &json!("testuser"),
            &json!("test@example.com"),
            &json!("Test"),
            &json!("User")
        ),
        "{user}"
    );
    assert_eq!(
        (&user["full_name"], &user["user_type"]),
        (&json!("Test User"), &json!("user"))
    );

    // Login
    let login_data = python_json(&[("username", "testuser"), ("password", PASSWORD)]);
    let response = send(
        Method::POST,
        format!("{BASE_URL}/auth/login/"),
        with(&json_type),
        login_data,
    )
    .await;
    let tokens = json_of(&response, StatusCode::OK);
    let access_token = tokens["access"].as_str().expect("access").to_owned();
    assert_eq!(
        (&tokens["token_type"], &tokens["username"]),
        (&json!("Bearer"), &json!("testuser"))
    );

    // Set up headers for authenticated requests
    let bearer = format!("Bearer {access_token}");
    let headers = [("Authorization", bearer.as_str())];

    // List directory contents
    let response = send(
        Method::GET,
        format!("{BASE_URL}/files/list/"),
        with(&headers),
        Vec::new(),
    )
    .await;
    let listing = json_of(&response, StatusCode::OK);
    assert_eq!(
        listing,
        json!({"path": "", "items": [], "total_items": 0, "next_cursor": null})
    );

    // Upload a file
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let mut form = Vec::new();
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\ndocuments\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"test.txt\"\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(TEST_TXT);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let form_type = format!("multipart/form-data; boundary={boundary}");
    let upload_headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", form_type.as_str()),
    ];
    let response = send(
        Method::POST,
        format!("{BASE_URL}/files/upload/"),
        with(&upload_headers),
        form,
    )
    .await;
    let uploaded = json_of(&response, StatusCode::CREATED);
    assert_eq!(uploaded["message"], "Successfully uploaded 1 file");
    assert_eq!(
        uploaded["files"],
        json!([{"name": "test.txt", "size": TEST_TXT.len(), "path": "documents/test.txt",
                "content_type": "text/plain"}])
    );
}

/// The seed's JavaScript example, after the Python one: `login('testuser', ...)`, then
/// `listDirectory(token)` with its default `path = ''` (`/files/list/?path=`).
async fn javascript_example(client: &Client<'_>) {
    const BASE_URL: &str = "/api";
    // login(username, password): JSON.stringify({ username, password })
    let body = format!(
        "{{\"username\":{},\"password\":{}}}",
        Value::from("testuser"),
        Value::from(PASSWORD)
    );
    let response = client
        .request(
            Method::POST,
            &format!("{BASE_URL}/auth/login/"),
            &[("Content-Type", "application/json"), ("Accept", "*/*")],
            body.into_bytes(),
        )
        .await;
    let data = json_of(&response, StatusCode::OK);
    let token = data["access"].as_str().expect("access");

    // listDirectory(token, path = '')
    let path = "";
    let bearer = format!("Bearer {token}");
    let response = client
        .request(
            Method::GET,
            &format!("{BASE_URL}/files/list/?path={path}"),
            &[("Authorization", bearer.as_str()), ("Accept", "*/*")],
            Vec::new(),
        )
        .await;
    let files = json_of(&response, StatusCode::OK);
    assert_eq!(files["path"], "");
    assert_eq!(files["total_items"], 1, "{files}");
    let folder = &files["items"][0];
    assert_eq!(
        (&folder["name"], &folder["path"], &folder["is_directory"]),
        (&json!("documents"), &json!("documents"), &json!(true)),
        "{files}"
    );
}

/// Both examples, one after the other, as one user of the seed would run them.
async fn seed_examples(client: &Client<'_>) {
    python_example(client).await;
    javascript_example(client).await;
}

async fn seed_examples_through_the_router(kind: Kind) {
    let app = TestApp::new(kind).await;
    let client = Client::new(Server::Router(&app));
    seed_examples(&client).await;
    assert_eq!(client.redirects(), Vec::<String>::new());
}

async fn seed_examples_through_api_gateway(kind: Kind) {
    // API Gateway routes `/api/files/list/` to no route: the catch-all hands it to the auth
    // function, which sends the client on to the path without the slash.
    let app = TestApp::new(kind).await;
    let client = Client::new(Server::Gateway {
        app: &app,
        exact: true,
    });
    seed_examples(&client).await;
    assert_eq!(
        client.redirects(),
        [
            "GET /api/files/list/ -> /api/files/list",
            "POST /api/files/upload/ -> /api/files/upload",
            "GET /api/files/list/?path= -> /api/files/list?path=",
        ]
    );
    // API Gateway routes it to `GET /api/files/list`: the files function answers it itself.
    let app = TestApp::new(kind).await;
    let client = Client::new(Server::Gateway {
        app: &app,
        exact: false,
    });
    seed_examples(&client).await;
    assert_eq!(client.redirects(), Vec::<String>::new());
}

/// `vertexcloud serve` on a free port; stopped when dropped.
struct Serve {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Serve {
    fn start(app: &TestApp, kind: Kind) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vertexcloud"));
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .env("VERTEX_JWT_SECRET", SECRET)
            .stdout(Stdio::piped());
        match kind {
            Kind::Embedded => command.env("VERTEX_BACKEND", "embedded"),
            Kind::Aws => {
                let config = &app.core.config;
                command
                    .env("VERTEX_BACKEND", "aws")
                    .env("VERTEX_TABLE", config.table.as_deref().unwrap())
                    .env("VERTEX_BUCKET", config.bucket.as_deref().unwrap())
                    .env(
                        "AWS_ENDPOINT_URL_DYNAMODB",
                        std::env::var("VERTEX_TEST_DYNAMODB_ENDPOINT").unwrap(),
                    )
                    .env(
                        "AWS_ENDPOINT_URL_S3",
                        std::env::var("VERTEX_TEST_S3_ENDPOINT").unwrap(),
                    )
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
            }
        };
        let mut child = command.spawn().expect("spawn vertexcloud");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Log lines may come first; the banner names the address.
        let banner = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.contains("listening on http://"))
            .expect("banner");
        let base = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .trim_end_matches('/')
            .to_owned();
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Self {
            child,
            base: format!("http://{base}"),
            _data: data,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn seed_examples_against_vertexcloud_serve(kind: Kind) {
    // The app only makes the AWS backend's table and bucket; the binary serves them.
    let app = TestApp::new(kind).await;
    let serve = Serve::start(&app, kind);
    let client = Client::new(Server::Tcp(serve.base.clone()));
    seed_examples(&client).await;
    assert_eq!(client.redirects(), Vec::<String>::new());
}

/// Every route, and a method it does not take, answers the same with and without a trailing
/// slash: through the whole router and through the router of the route's function. (Without
/// credentials, so that no call changes what the next one sees.)
#[tokio::test]
async fn every_route_answers_alike_with_a_trailing_slash() {
    let app = TestApp::new(Kind::Embedded).await;
    let whole = router(app.core.clone(), &Group::ALL);
    let answer = |router: &axum::Router, method: &str, uri: String| {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let router = router.clone();
        async move {
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            (status, body["code"].clone(), body["error"].clone())
        }
    };
    let mut compared = 0;
    for (group, resource) in FUNCTIONS {
        let function = router(app.core.clone(), &[group]);
        for (method, template) in template_routes(resource) {
            let path = instance(&template);
            let wrong = if method == "PATCH" { "PUT" } else { "PATCH" };
            for method in [method.as_str(), wrong] {
                let plain = answer(&whole, method, path.clone()).await;
                assert_ne!(plain.2, "No such endpoint.", "{method} {path}");
                for (name, router) in [("whole", &whole), ("function's", &function)] {
                    assert_eq!(
                        answer(router, method, format!("{path}/")).await,
                        plain,
                        "{method} {path}/ through the {name} router"
                    );
                    assert_eq!(answer(router, method, path.clone()).await, plain);
                }
                compared += 1;
            }
        }
    }
    assert!(compared >= 60, "{compared}");
}

/// `/`, `//` and a second slash are no paths of the API; the query survives the slash; the
/// OpenAPI document shows each path once, without it.
#[tokio::test]
async fn slash_edge_cases_and_the_documented_form() {
    let app = TestApp::new(Kind::Embedded).await;
    for uri in ["/", "//", "/api/health//", "/api//", "/api/nope/"] {
        let reply = app.get(uri, None).await;
        assert!(reply.headers.contains_key("x-request-id"), "{uri}");
        reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    let health = app.get("/api/health/", None).await.expect(StatusCode::OK);
    assert_eq!(health["status"], "ok");
    let (_, token, _) = app.user("quinn").await;
    app.post(
        "/api/files/create-folder/",
        Some(&token),
        json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        "/api/files/create-folder/",
        Some(&token),
        json!({"parent_path": "docs", "folder_name": "inner"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let listing = app
        .get("/api/files/list/?path=docs", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listing["path"], "docs");
    assert_eq!(listing["items"][0]["path"], "docs/inner");
    app.call(Method::GET, "/api/auth/login/", None, None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    let doc = serde_json::to_value(openapi()).unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(paths.len() >= 30);
    for path in paths {
        assert!(!path.ends_with('/'), "{path}");
    }
}

/// A function sends a slash path it does not serve on to the path without the slash (308, query
/// kept), where API Gateway routes it to its function; it answers its own slash paths itself, and
/// anything else with the JSON 404.
#[tokio::test]
async fn a_function_sends_slash_paths_of_other_functions_on() {
    let app = TestApp::new(Kind::Embedded).await;
    let auth = Server::Gateway {
        app: &app,
        exact: true,
    };
    let cases = [
        (
            "/api/files/list/?path=a%20b",
            Some("/api/files/list?path=a%20b"),
        ),
        ("/api/users/7/", Some("/api/users/7")),
        ("/api/zip/", Some("/api/zip")),
        ("/api/files/download-zip/", Some("/api/files/download-zip")),
        ("/api/auth/users/", Some("/api/auth/users")),
        ("/api/nope/", None),
        ("/api/users/7/x/", None),
    ];
    for (target, moved) in cases {
        let raw = auth.send(&Method::GET, target, &[], &[]).await;
        match moved {
            Some(location) => {
                assert_eq!(raw.status, StatusCode::PERMANENT_REDIRECT, "{target}");
                assert_eq!(raw.headers[header::LOCATION], location, "{target}");
                assert!(raw.headers.contains_key("x-request-id"));
            }
            None => assert_eq!(raw.status, StatusCode::NOT_FOUND, "{target}"),
        }
    }
    // Without the slash API Gateway routes the path itself: a function never redirects it.
    for group in Group::ALL {
        let function = router(app.core.clone(), &[group]);
        let path = if group == Group::Files {
            "/api/health"
        } else {
            "/api/files/list"
        };
        let req = Request::get(path).body(axum::body::Body::empty()).unwrap();
        let res = function.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{group:?} {path}");
    }
    // Its own paths, with the slash: answered, not redirected.
    let raw = auth.send(&Method::GET, "/api/health/", &[], &[]).await;
    assert_eq!(raw.status, StatusCode::OK);
    let raw = auth.send(&Method::GET, "/api/auth/login/", &[], &[]).await;
    assert_eq!(raw.status, StatusCode::METHOD_NOT_ALLOWED);
}
