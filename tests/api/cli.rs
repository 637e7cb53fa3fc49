//! The `vertexcloud` binary: the README's run command and the superuser command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_vertexcloud");

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
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One HTTP/1.1 request over a plain socket; returns the raw response.
fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
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
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
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
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}
