//! The `vertexcloud` binary: the README's run command, the superuser and the token commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{Method, StatusCode};
use serde_json::json;
use shared::config::{Backend, Config};

use crate::helpers::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_vertexcloud");
const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// How long one command may take before the case fails instead of hanging (generous).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Waits for `child` to exit, reading its output meanwhile; kills it and fails after `limit`.
fn finish(mut child: Child, limit: Duration) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// Runs `command` to its end, within `limit`.
fn run(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    finish(child, limit)
}

fn create_superuser(data_dir: &std::path::Path, username: &str, password: &str) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["create-superuser", "--username", username, "--email"])
        .arg(format!("{username}@example.com"))
        .args(["--password-stdin", "--data-dir"])
        .arg(data_dir)
        .env("VERTEX_BACKEND", "embedded")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = finish(child, COMMAND_LIMIT);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `vertexcloud issue-token <args>` on the embedded backend in `data_dir`:
/// (success, stdout, stderr).
fn issue_token(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = run(
        Command::new(BIN)
            .arg("issue-token")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("VERTEX_BACKEND", "embedded"),
        COMMAND_LIMIT,
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The API over `data_dir`, built as `vertexcloud serve` builds it (same database, same secret).
async fn served_from(data_dir: &Path) -> TestApp {
    let mut config = Config::from_env().expect("config");
    config.backend = Backend::Embedded;
    config.data_dir = data_dir.to_owned();
    config.jwt_secret = None;
    TestApp::from_core(shared::runtime::build_core(config).await.expect("core"))
}

/// One HTTP/1.1 request over a plain socket; returns the raw response.
fn http(addr: &str, request: &str) -> String {
    let addr = addr.parse().expect("socket address");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn create_superuser_refuses_weak_passwords_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = create_superuser(dir.path(), "root", "password");
    assert!(!ok);
    assert!(text.contains("too common"), "{text}");
    let (ok, text) = create_superuser(dir.path(), "root", "correct horse battery staple");
    assert!(ok, "{text}");
    assert!(text.contains("Superuser root created"), "{text}");
    let (ok, text) = create_superuser(dir.path(), "ROOT", "correct horse battery staple");
    assert!(!ok);
    assert!(text.contains("already exists"), "{text}");
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = create_superuser(
        &dir.path().join("data"),
        "admin",
        "correct horse battery staple",
    );
    assert!(ok, "{text}");
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("VERTEX_BACKEND", "embedded")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Its output, line by line, read by a thread so that every wait below has a bound.
    let (line_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(COMMAND_LIMIT)
        .expect("the server's banner");
    assert!(first.contains("embedded"), "{first}");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address in the banner")
        .to_owned();

    let health = http(
        &addr,
        "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health.to_ascii_lowercase().contains("x-request-id:"),
        "{health}"
    );
    // The superuser made by the CLI logs in over HTTP with its role
    let body = r#"{"username":"admin","password":"correct horse battery staple"}"#;
    let login = http(
        &addr,
        &format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(login.contains(r#""user_type":"superuser""#), "{login}");
    // The data dir and the generated signing secret are private to their owner
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path().join("data/jwt-secret")), 0o600);
        assert_eq!(mode(dir.path().join("data")), 0o700);
    }

    // SIGTERM: a clean exit
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = finish(child, COMMAND_LIMIT).status;
    assert!(status.success(), "{status:?}");
    // The process has exited: the reader ends once it has read the rest.
    let rest: Vec<String> = std::iter::from_fn(|| lines.recv_timeout(COMMAND_LIMIT).ok()).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_token_prints_a_token_the_api_accepts() {
    // GIVEN a superuser made by the CLI
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, text) = create_superuser(&data, "admin", ADMIN_PASSWORD);
    assert!(ok, "{text}");

    // WHEN a token is issued for them (by email, for a minute)
    let (ok, out, err) = issue_token(&data, &["--username", "Admin@Example.com", "--ttl", "60"]);

    // THEN standard output is the token alone, a JWT for 60 seconds...
    assert!(ok, "{err}");
    assert!(err.contains("admin (superuser)"), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let token = out.trim();
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("a JWT"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    // ...which the API over the same data dir accepts as the superuser
    let app = served_from(&data).await;
    let profile = app
        .get("/api/auth/profile", Some(token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(profile["username"], "admin");
    app.get("/api/users", Some(token))
        .await
        .expect(StatusCode::OK);
    // and its session ends like any other
    app.post("/api/auth/logout-all", Some(token), json!({}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_token_refuses_unknown_and_disabled_users() {
    // GIVEN a superuser and a disabled user
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, text) = create_superuser(&data, "admin", ADMIN_PASSWORD);
    assert!(ok, "{text}");
    {
        let app = served_from(&data).await;
        let admin = app.core.issue_token("admin", 60).await.unwrap().access;
        let carol = app
            .post(
                "/api/users",
                Some(&admin),
                json!({"username": "carol", "email": "carol@example.com",
                       "password": "correct horse battery"}),
            )
            .await
            .expect(StatusCode::CREATED);
        let uri = format!("/api/users/{}", carol["id"].as_str().unwrap());
        app.call(
            Method::PATCH,
            &uri,
            Some(&admin),
            Some(json!({"is_active": false})),
        )
        .await
        .expect(StatusCode::OK);
    }
    // WHEN tokens are asked for them, or elsewhere, THEN none is printed and each says why
    for (data_dir, args, why) in [
        (&data, &["--username", "nobody"][..], "No user \"nobody\""),
        (&data, &["--username", "carol"][..], "disabled"),
        (&data, &["--username", "admin", "--ttl", "0"][..], "ttl"),
        (&data, &["--username", "admin", "--ttl", "86401"][..], "ttl"),
        (
            &dir.path().join("nowhere"),
            &["--username", "admin"][..],
            "no embedded data",
        ),
    ] {
        let (ok, out, err) = issue_token(data_dir, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    assert!(!dir.path().join("nowhere").exists(), "no data dir made");
}

#[test]
fn issue_token_refuses_an_unreachable_aws_backend_promptly() {
    // GIVEN the aws backend's settings, with nothing listening where DynamoDB should be, or
    // something that never answers (only the SDK's timeouts end that wait)
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    for endpoint in [closed.as_str(), silent_url.as_str()] {
        // WHEN a token is asked for
        let started = Instant::now();
        let mut command = Command::new(BIN);
        command
            .args(["issue-token", "--username", "admin", "--backend", "aws"])
            .env("VERTEX_TABLE", "vertexcloud-nowhere")
            .env("VERTEX_BUCKET", "vertexcloud-nowhere")
            .env(
                "VERTEX_JWT_SECRET",
                "test-secret-test-secret-test-secret-0123",
            )
            .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
            .env("AWS_ENDPOINT_URL_S3", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("VERTEX_RECORD_AWS_CALLS");
        let out = run(&mut command, COMMAND_LIMIT);
        // THEN it fails within the SDK's timeouts, saying where it looked
        let elapsed = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{endpoint}: {err}");
        assert!(out.stdout.is_empty(), "{endpoint}");
        assert!(elapsed < Duration::from_secs(20), "{endpoint}: {elapsed:?}");
        assert!(
            err.contains("cannot reach the aws backend")
                && err.contains("vertexcloud-nowhere")
                && err.contains(endpoint),
            "{endpoint}: {err}"
        );
    }
}
