//! The web app as `vertexcloud serve` serves it (issue 16): its files with their security and
//! caching headers, the app's routes, the API beside it, and share links that open the app's
//! visitor page. Through the binary, on the embedded backend.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::config::WebApp;

use crate::backend_tests;
use crate::helpers::{http_fetch, Kind, Raw, TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_vertexcloud");
const WEB_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web/app");
/// A share id's shape: 22 base64url characters.
const SOME_SHARE_ID: &str = "AbCdEfGhIjKlMnOpQrStUv";

backend_tests!(links_open_the_web_url_when_the_app_is_elsewhere);

/// `vertexcloud serve` on a free port over a data dir of its own; killed when dropped.
struct Served {
    child: Child,
    origin: String,
    _data: tempfile::TempDir,
}

impl Served {
    fn start(env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("data"))
            .env("VERTEX_BACKEND", "embedded")
            .env("VERTEX_PASSWORD_COST", "minimal")
            .env_remove("VERTEX_WEB_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server's banner");
        let addr = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("address in the banner")
            .to_owned();
        Self {
            child,
            origin: format!("http://{addr}"),
            _data: data,
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Raw {
        let url = format!("{}{path}", self.origin);
        http_fetch(Method::GET, &url, headers, Vec::new()).await
    }

    async fn json(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let url = format!("{}{path}", self.origin);
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let raw = http_fetch(method, &url, &headers, body.to_string().into_bytes()).await;
        assert!(raw.status.is_success(), "{path}: {}", text(&raw));
        serde_json::from_slice(&raw.body).expect("JSON")
    }

    /// A user with the folder `docs` shared as a download link; returns the link's view.
    async fn share_a_folder(&self) -> Value {
        let register = json!({"username": "web", "email": "web@example.com",
                              "password": PASSWORD, "password2": PASSWORD});
        self.json(Method::POST, "/api/auth/register", None, register)
            .await;
        let login = json!({"username": "web", "password": PASSWORD});
        let tokens = self
            .json(Method::POST, "/api/auth/login", None, login)
            .await;
        let token = tokens["access"].as_str().expect("access");
        let folder = json!({"parent_path": "", "folder_name": "docs"});
        self.json(
            Method::POST,
            "/api/files/create-folder",
            Some(token),
            folder,
        )
        .await;
        let share = json!({"path": "docs", "kind": "download"});
        self.json(Method::POST, "/api/shares", Some(token), share)
            .await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(raw: &Raw) -> String {
    String::from_utf8_lossy(&raw.body).into_owned()
}

fn header_of<'a>(raw: &'a Raw, name: &str) -> &'a str {
    raw.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// The directives of a Content-Security-Policy, by name.
fn directive<'a>(csp: &'a str, name: &str) -> Option<&'a str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .map(str::trim)
}

/// The `src="/..."` and `href="/..."` of `html` that name files of the app (not `#anchors`).
fn local_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            let value = piece.split('"').next().unwrap_or_default();
            if value.starts_with('/') && !value.starts_with("//") {
                found.push(value.to_owned());
            }
        }
    }
    found
}

/// The app's file for a URL path: `/api/docs/x` is `api-docs/x`, `/api/docs` its index.
fn file_of(path: &str) -> std::path::PathBuf {
    let rel = path.trim_start_matches('/');
    if rel == "api/docs" || rel == "api/docs/" {
        return Path::new(WEB_APP).join("api-docs/index.html");
    }
    let rel = match rel.strip_prefix("api/docs/") {
        Some(docs) => format!("api-docs/{docs}"),
        None => rel.to_owned(),
    };
    Path::new(WEB_APP).join(rel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_with_a_strict_policy_and_no_inline_script() {
    let server = Served::start(&[]);
    // WHEN a browser opens the root
    let root = server.get("/", &[]).await;
    // THEN it gets the app's HTML with the security headers of src/web.rs
    assert_eq!(root.status, StatusCode::OK);
    assert!(header_of(&root, "content-type").starts_with("text/html"));
    let csp = header_of(&root, "content-security-policy");
    assert_eq!(directive(csp, "script-src"), Some("'self'"), "{csp}");
    assert_eq!(directive(csp, "style-src"), Some("'self'"), "{csp}");
    assert_eq!(directive(csp, "object-src"), Some("'none'"), "{csp}");
    assert_eq!(directive(csp, "frame-ancestors"), Some("'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header_of(&root, "referrer-policy"), "no-referrer");
    assert_eq!(header_of(&root, "x-content-type-options"), "nosniff");
    assert_eq!(header_of(&root, "x-frame-options"), "DENY");
    assert_eq!(header_of(&root, "cache-control"), "no-cache");
    // AND index.html (as served and as in the tree) has no inline script, style or handler
    let html = text(&root);
    assert_eq!(
        html,
        std::fs::read_to_string(file_of("/index.html")).unwrap()
    );
    for tag in html.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap();
        assert!(open.contains(" src=\""), "an inline script: <script{open}>");
        let body = tag.split_once('>').unwrap().1;
        assert!(body.starts_with("</script>"), "a script with a body");
    }
    assert!(!html.contains("<style"), "an inline style element");
    assert!(!html.contains(" style=\""), "a style attribute");
    let lower = html.to_ascii_lowercase();
    for handler in [" onclick=", " onload=", " onerror=", "javascript:"] {
        assert!(!lower.contains(handler), "{handler} in index.html");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_routes_get_the_app_and_missing_files_and_api_paths_do_not() {
    let server = Served::start(&[]);
    let index = text(&server.get("/", &[]).await);
    // The app's routes (folder names may hold dots) are its index.html: the browser routes them
    for route in [
        "/files/a/b.c",
        "/files/docs/a%20b",
        &format!("/s/{SOME_SHARE_ID}"),
        "/login",
        "/account",
    ] {
        let page = server.get(route, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{route}");
        assert!(header_of(&page, "content-type").starts_with("text/html"));
        assert_eq!(text(&page), index, "{route}");
    }
    // A missing script or style is a 404, never HTML a browser would refuse to run
    for missing in ["/js/missing.js", "/missing.css", "/js/views/nothing.js"] {
        let reply = server.get(missing, &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
        let body: Value = serde_json::from_slice(&reply.body).expect("a JSON error");
        assert_eq!(body["code"], "not_found", "{missing}");
    }
    // Paths under /api/ stay the API's: the contract's JSON 404
    let nope = server.get("/api/nope", &[]).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(header_of(&nope, "content-type").starts_with("application/json"));
    let body: Value = serde_json::from_slice(&nope.body).expect("JSON");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert!(body.get("details").is_some(), "{body}");
    assert!(nope.headers.contains_key("x-request-id"));
    let health = server.get("/api/health", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    // The app's files answer only GET and HEAD
    let url = format!("{}/", server.origin);
    let post = http_fetch(Method::POST, &url, &[], b"x".to_vec()).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(&post, "allow"), "GET, HEAD");
    let body: Value = serde_json::from_slice(&post.body).expect("a JSON error");
    assert_eq!(body["code"], "method_not_allowed");
    let head = http_fetch(Method::HEAD, &url, &[], Vec::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    // AND it tells the size the GET sends
    let get = server.get("/", &[]).await;
    assert_eq!(
        header_of(&head, "content-length"),
        get.body.len().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_carry_an_etag_and_revalidate_with_a_304() {
    let server = Served::start(&[]);
    for path in ["/", "/js/main.js", "/app.css", "/api/docs"] {
        let first = server.get(path, &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        let etag = header_of(&first, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        // WHEN the browser revalidates with the ETag it has
        let again = server.get(path, &[("if-none-match", &etag)]).await;
        // THEN nothing is sent again
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(header_of(&again, "etag"), etag);
        // AND a list of tags, or the weak form of it, matches too
        let list = format!("\"0\", W/{etag}");
        let listed = server.get(path, &[("if-none-match", &list)]).await;
        assert_eq!(listed.status, StatusCode::NOT_MODIFIED, "{path}: {list}");
        // AND another ETag gets the file
        let stale = server.get(path, &[("if-none-match", "\"0\"")]).await;
        assert_eq!(stale.status, StatusCode::OK, "{path}");
        assert_eq!(stale.body, first.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_is_served_with_its_own_policy() {
    let server = Served::start(&[]);
    for path in ["/api/docs", "/api/docs/"] {
        let docs = server.get(path, &[]).await;
        assert_eq!(docs.status, StatusCode::OK, "{path}");
        assert!(header_of(&docs, "content-type").starts_with("text/html"));
        let html = text(&docs);
        assert!(html.contains("API reference"), "{html}");
        assert!(html.contains("/api/docs/swagger-ui-bundle.js"), "{html}");
        // Scripts stay same-origin; only styles may be set from script (Swagger UI)
        let csp = header_of(&docs, "content-security-policy");
        assert_eq!(directive(csp, "script-src"), Some("'self'"), "{csp}");
        assert_eq!(directive(csp, "frame-ancestors"), Some("'none'"), "{csp}");
        assert_eq!(header_of(&docs, "referrer-policy"), "no-referrer");
    }
    // The document it renders is the API's own
    let doc = server.get("/api/openapi.json", &[]).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&doc.body).unwrap();
    assert!(doc["paths"]["/api/auth/login"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_the_pages_reference_exists_and_is_served() {
    let server = Served::start(&[]);
    for page in ["/index.html", "/api/docs/index.html"] {
        let html = std::fs::read_to_string(file_of(page)).unwrap();
        let references = local_references(&html);
        assert!(!references.is_empty(), "{page} references nothing");
        for reference in references {
            assert!(
                file_of(&reference).is_file(),
                "{page} references {reference}, which is not in web/app"
            );
            let got = server.get(&reference, &[]).await;
            assert_eq!(got.status, StatusCode::OK, "{reference}");
            let want = std::fs::read(file_of(&reference)).unwrap();
            assert_eq!(got.body.as_ref(), want.as_slice(), "{reference}");
            let kind = header_of(&got, "content-type");
            let expected = match reference.rsplit('.').next() {
                Some("js") => "javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                Some("html") => "text/html",
                _ => "",
            };
            assert!(kind.contains(expected), "{reference}: {kind}");
        }
    }
    // config.json says where the API is: the same origin here
    let config = server.get("/config.json", &[]).await;
    assert_eq!(config.status, StatusCode::OK);
    let config: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(config["api"], "/api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_links_open_the_apps_visitor_page() {
    // GIVEN the binary, which serves the app itself
    let server = Served::start(&[]);
    // WHEN a user shares a folder
    let share = server.share_a_folder().await;
    let id = share["id"].as_str().unwrap();
    // THEN the link is the app's visitor page on the same origin, which the server answers
    let url = share["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/s/{id}", server.origin));
    let page = server.get(&format!("/s/{id}"), &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(header_of(&page, "content-type").starts_with("text/html"));
    // AND the API the page calls is where it was
    let info = server.get(&format!("/api/s/{id}"), &[]).await;
    assert_eq!(info.status, StatusCode::OK, "{}", text(&info));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_web_url_moves_the_links_to_the_app_elsewhere() {
    // GIVEN the app served elsewhere (a CDN in front of a bucket)
    let server = Served::start(&[("VERTEX_WEB_URL", "https://app.example.com/")]);
    let share = server.share_a_folder().await;
    let id = share["id"].as_str().unwrap();
    // THEN links open the app there
    assert_eq!(share["url"], format!("https://app.example.com/s/{id}"));
}

#[test]
fn a_web_url_that_is_not_an_origin_stops_the_server() {
    for bad in ["app.example.com", "https://app.example.com/app"] {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("VERTEX_BACKEND", "embedded")
            .env("VERTEX_WEB_URL", bad)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server started with VERTEX_WEB_URL={bad}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "{bad}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains("VERTEX_WEB_URL"), "{stderr}");
    }
}

/// The CloudFront Function of infra/template.yaml, run by node over `paths`: the URI each
/// request goes to the bucket with.
fn cloudfront_routes(paths: &[String]) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
        .unwrap();
    let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let code = template["Resources"]["WebRoutesFunction"]["Properties"]["FunctionCode"]
        .as_str()
        .expect("the function's code")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("routes.js");
    let driver = "\nconst paths = JSON.parse(process.argv[2]);\n\
                  console.log(JSON.stringify(paths.map((uri) => handler({request: {uri}}).uri)));\n";
    std::fs::write(&script, code + driver).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .arg(serde_json::to_string(paths).unwrap())
        .output()
        .expect("node (the browser tests need it too: scripts/web-test.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Every file of the app, as a URL path.
fn app_files() -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                let rel = path.strip_prefix(WEB_APP).unwrap();
                found.push(format!("/{}", rel.to_str().unwrap()));
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new(WEB_APP), &mut found);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_routes_requests_as_the_local_server_does() {
    let server = Served::start(&[]);
    let index = std::fs::read(file_of("/index.html")).unwrap();
    let mut paths = app_files();
    for path in [
        "/",
        "/login",
        "/files",
        "/files/a/b.c",
        "/files/v1.2/x.txt",
        "/files/docs/a%20b",
        "/files/a.js",
        "/shares",
        "/robots.txt",
        "/index.html",
        "/js/missing.js",
        "/js/views/missing.js",
        "/missing.css",
        "/missing.svg",
        "/img/missing.png",
        "/api/docs",
        "/api/docs/",
        "/api/docs/init.js",
        "/api/docs/missing.js",
    ] {
        paths.push(path.to_owned());
    }
    paths.push(format!("/s/{SOME_SHARE_ID}"));
    let routed = cloudfront_routes(&paths);
    for (path, uri) in paths.iter().zip(&routed) {
        let local = server.get(path, &[]).await;
        if uri == "/index.html" {
            // CloudFront answers the app: so does the server
            assert_eq!(local.status, StatusCode::OK, "{path}");
            assert_eq!(local.body.as_ref(), index.as_slice(), "{path}");
            continue;
        }
        // CloudFront asks the bucket for the key `uri`: the server answers that file, or 404
        let file = Path::new(WEB_APP).join(uri.trim_start_matches('/'));
        if file.is_file() {
            assert_eq!(local.status, StatusCode::OK, "{path} → {uri}");
            assert_eq!(local.body, std::fs::read(&file).unwrap(), "{path} → {uri}");
        } else {
            assert_eq!(local.status, StatusCode::NOT_FOUND, "{path} → {uri}");
        }
    }
    // The API is not the bucket's: its paths are left alone (S3 answers 404)
    let api = [
        "/api/health".to_owned(),
        "/api".to_owned(),
        "/api/s/x".to_owned(),
    ];
    for (path, uri) in api.iter().zip(cloudfront_routes(&api)) {
        assert_eq!(&uri, path);
    }
}

/// The functions: without `VERTEX_WEB_URL` (no app deployed) a link is the API's own
/// `/api/s/{id}` (shares.rs); with it (the template sets it), the app's page.
async fn links_open_the_web_url_when_the_app_is_elsewhere(kind: Kind) {
    let web = "https://d111111abcdef8.cloudfront.net";
    let app = TestApp::with(kind, |c| c.shares.web_app = WebApp::At(web.into())).await;
    let (_, token, _) = app.user("webowner").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = app
        .post(
            "/api/shares",
            Some(&token),
            json!({"path": "docs", "kind": "download"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["url"], format!("{web}/s/{id}"));
    // The owner's list and a change answer the same link
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["url"], created["url"]);
    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/shares/{id}"),
            Some(&token),
            Some(json!({"note": "for the web"})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["url"], created["url"]);
    // AND the visitor's API is where it always was
    let info = app
        .get(&format!("/api/s/{id}"), None)
        .await
        .expect(StatusCode::OK);
    assert!(!info.to_string().contains("webowner"), "{info}");
}
