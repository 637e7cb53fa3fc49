//! The zip endpoint group, on every backend: archive content and names, empty folders, stored vs
//! deflated entries, several paths, jobs with progress, owner-only jobs, failures; and ZIP64 on
//! a synthetic archive of more entries than zip32 can count. Archives are checked by three
//! independent readers: `unzip -t`, Python's `zipfile` and 7-Zip.

use std::path::Path;
use std::process::Command;

use http::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};

backend_tests!(
    a_folder_downloads_as_a_zip,
    several_paths_make_one_archive,
    zip_requests_are_checked,
    large_archives_become_jobs_their_owner_can_follow,
    a_failed_job_says_why,
    random_bin_files_are_stored_text_deflated,
    a_large_text_file_is_deflated_in_chunks,
);

/// What Python's zipfile reads in an archive: name → (method, bytes as text).
const INSPECT: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None, "bad CRC"
    print(json.dumps({i.filename: [i.compress_type, z.read(i).decode("utf-8", "replace")]
                      for i in z.infolist()}))
"#;

/// What Python's zipfile reads of each entry: name → [method, size, compressed size, CRC].
const SIZES: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None, "bad CRC"
    print(json.dumps({i.filename: [i.compress_type, i.file_size, i.compress_size, i.CRC]
                      for i in z.infolist()}))
"#;

/// `unzip -t` and 7-Zip's test of the archive both pass.
fn unzip_and_7zip_accept(path: &Path) {
    let unzip = Command::new("unzip")
        .arg("-tq")
        .arg(path)
        .output()
        .expect("unzip");
    assert!(
        unzip.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let seven = std::env::var("VERTEX_TEST_7Z").unwrap_or_else(|_| "7z".into());
    let seven = Command::new(&seven)
        .args(["t", "-bd"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("7-Zip ({seven}): {e}; scripts/test.sh provides it"));
    assert!(
        seven.status.success(),
        "7z t: {}",
        String::from_utf8_lossy(&seven.stdout)
    );
}

/// Checks the archive with all three readers; returns Python's view of it.
fn check_archive(path: &Path) -> Value {
    unzip_and_7zip_accept(path);
    let python = Command::new("python3")
        .args(["-c", INSPECT])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        python.status.success(),
        "zipfile: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    serde_json::from_slice(&python.stdout).expect("json")
}

/// Downloads the archive at `url` and checks it.
async fn fetch_archive(app: &TestApp, url: &str) -> Value {
    let raw = app.fetch(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(raw.status, StatusCode::OK);
    let disposition = raw.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains(".zip"), "{disposition}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.zip");
    std::fs::write(&path, &raw.body).unwrap();
    check_archive(&path)
}

const STORED: i64 = 0;
const DEFLATED: i64 = 8;

/// uma's home: docs/{a.txt, photo.jpg, sub/b.txt, empty/}, top.txt.
async fn home(app: &TestApp) -> String {
    let (_, token, _) = app.user("uma").await;
    let folder = |parent: &str, name: &str| json!({"parent_path": parent, "folder_name": name});
    for (parent, name) in [("", "docs"), ("docs", "sub"), ("docs", "empty")] {
        app.post(
            "/api/files/create-folder",
            Some(&token),
            folder(parent, name),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let text = "alpha ".repeat(1000);
    app.upload(
        &token,
        &[("path", None, b"docs")],
        &[
            ("a.txt", text.as_bytes()),
            ("photo.jpg", b"not really a jpeg"),
        ],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(
        &token,
        &[("path", None, b"docs/sub")],
        &[("b.txt", b"beta")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(&token, &[], &[("top.txt", b"top")])
        .await
        .expect(StatusCode::CREATED);
    token
}

async fn a_folder_downloads_as_a_zip(kind: Kind) {
    let app = TestApp::new(kind).await;
    let token = home(&app).await;
    let reply = app
        .get("/api/files/download-zip?path=docs", Some(&token))
        .await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    let url = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    let entries = fetch_archive(&app, &url).await;
    let names: Vec<&str> = entries
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Named below the zipped folder; the empty folder is a directory entry.
    assert_eq!(names, ["a.txt", "empty/", "photo.jpg", "sub/", "sub/b.txt"]);
    assert_eq!(entries["a.txt"], json!([DEFLATED, "alpha ".repeat(1000)]));
    // Already-compressed content is stored as it is.
    assert_eq!(entries["photo.jpg"], json!([STORED, "not really a jpeg"]));
    assert_eq!(entries["sub/b.txt"][1], "beta");
    // redirect=false: the job as JSON, with the same kind of URL.
    let job = app
        .get(
            "/api/files/download-zip?path=docs&redirect=false",
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["status"], "done");
    assert_eq!(job["name"], "docs.zip");
    assert_eq!(job["files_total"], 3);
    assert_eq!(job["files_done"], 3);
    assert!(job["url"].is_string());
    // The whole home.
    let job = app
        .get("/api/files/download-zip?redirect=false", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["name"], "home.zip");
    let entries = fetch_archive(&app, job["url"].as_str().unwrap()).await;
    assert!(entries.get("top.txt").is_some() && entries.get("docs/sub/b.txt").is_some());
}

async fn several_paths_make_one_archive(kind: Kind) {
    let app = TestApp::new(kind).await;
    let token = home(&app).await;
    let job = app
        .post(
            "/api/zip",
            Some(&token),
            json!({"paths": ["docs/sub", "top.txt", "docs/empty"], "name": "bundle"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["status"], "done");
    assert_eq!(job["name"], "bundle.zip");
    let entries = fetch_archive(&app, job["url"].as_str().unwrap()).await;
    let names: Vec<&str> = entries
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["empty/", "sub/", "sub/b.txt", "top.txt"]);
    // The job can be read back, with a fresh URL.
    let id = job["job_id"].as_str().unwrap();
    let again = app
        .get(&format!("/api/zip/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["status"], "done");
    assert_eq!(again["files_total"], 2);
    fetch_archive(&app, again["url"].as_str().unwrap()).await;
}

async fn zip_requests_are_checked(kind: Kind) {
    let app = TestApp::new(kind).await;
    let token = home(&app).await;
    let bad = |code| (StatusCode::BAD_REQUEST, code);
    let missing = (StatusCode::NOT_FOUND, "not_found");
    let twice = (StatusCode::CONFLICT, "duplicate_name");
    let cases = [
        (json!({"paths": []}), bad("validation_error")),
        (json!({}), bad("validation_error")),
        (json!({"paths": ["../x"]}), bad("invalid_path")),
        // JSON is not percent-decoded: this is a (missing) folder named "%2e%2e".
        (json!({"paths": ["docs/%2e%2e/x"]}), missing),
        (json!({"paths": ["a\\b"]}), bad("invalid_path")),
        (json!({"paths": ["missing"]}), missing),
        (
            json!({"paths": ["docs"], "name": "../evil"}),
            bad("validation_error"),
        ),
        (json!({"paths": ["docs"], "extra": 1}), bad("invalid_json")),
        (json!({"paths": ["docs/sub", "sub"]}), missing),
        // Two entries would share a name.
        (json!({"paths": ["docs", "docs"]}), twice),
        (json!({"paths": ["", "docs"]}), twice),
    ];
    for (body, (status, code)) in cases {
        let reply = app.post("/api/zip", Some(&token), body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{body}: {}", reply.body);
    }
    for (uri, (status, code)) in [
        (
            "/api/files/download-zip?path=top.txt",
            bad("not_a_directory"),
        ),
        ("/api/files/download-zip?path=missing", missing),
        ("/api/files/download-zip?path=..", bad("invalid_path")),
        (
            "/api/files/download-zip?path=docs%2F..%2F..",
            bad("invalid_path"),
        ),
        ("/api/zip/no-such-job", missing),
    ] {
        let reply = app.get(uri, Some(&token)).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{uri}: {}", reply.body);
    }
    app.get("/api/files/download-zip?path=docs", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    app.post("/api/zip", None, json!({"paths": ["docs"]}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // Another user's folder of the same name is not found in the caller's home.
    let (_, other, _) = app.user("olga").await;
    app.get("/api/files/download-zip?path=docs", Some(&other))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn poll(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let job = app
            .get(&format!("/api/zip/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} still running after 30 s");
}

async fn large_archives_become_jobs_their_owner_can_follow(kind: Kind) {
    // "Large" here: more than 2 files.
    let app = TestApp::with(kind, |c| c.zip_sync_max_files = 2).await;
    let token = home(&app).await;
    let reply = app
        .get("/api/files/download-zip?path=docs", Some(&token))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let id = reply.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.headers[header::LOCATION],
        format!("/api/jobs/{id}").as_str()
    );
    assert_eq!(reply.body["files_total"], 3);
    assert_eq!(reply.body["bytes_total"], 6000 + 17 + 4);
    let job = poll(&app, &token, &id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["files_done"], 3);
    assert_eq!(job["bytes_done"], 6000 + 17 + 4);
    let entries = fetch_archive(&app, job["url"].as_str().unwrap()).await;
    assert_eq!(entries.as_object().unwrap().len(), 5);
    // POST /api/zip starts a job too.
    let reply = app
        .post(
            "/api/zip",
            Some(&token),
            json!({"paths": ["docs", "top.txt"]}),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let second = reply["job_id"].as_str().unwrap().to_owned();
    assert_eq!(poll(&app, &token, &second).await["status"], "done");
    // Only the owner sees a job: to anyone else it does not exist.
    let (_, other, _) = app.user("olga").await;
    for job in [&id, &second] {
        app.get(&format!("/api/zip/{job}"), Some(&other))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
        app.get(&format!("/api/zip/{job}"), None)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    }
}

async fn a_failed_job_says_why(kind: Kind) {
    use shared::services::JobEvent;
    use shared::store::{JobStatus, ZipJob};
    let app = TestApp::new(kind).await;
    let (user_id, token, _) = app.user("uma").await;
    let at = chrono::Utc::now();
    let job = |id: &str, updated: chrono::DateTime<chrono::Utc>| ZipJob {
        id: id.to_owned(),
        user_id: user_id.clone(),
        status: JobStatus::Running,
        name: "gone.zip".into(),
        paths: vec!["gone".into()],
        folder_contents: false,
        files_done: 0,
        files_total: 1,
        bytes_done: 0,
        bytes_total: 1,
        error: None,
        share_id: None,
        kind: Default::default(),
        error_code: None,
        folder: None,
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: updated,
        expires_at: at + chrono::Duration::hours(1),
    };
    // The folder went away before the background job ran.
    app.core.store.save_job(&job("j1", at)).await.unwrap();
    app.core
        .run_zip_job(&JobEvent {
            user_id: user_id.clone(),
            job_id: "j1".into(),
            run: 0,
        })
        .await;
    let failed = app
        .get("/api/zip/j1", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("gone"),
        "{failed}"
    );
    assert!(failed.get("url").is_none());
    // A job that stopped moving (its server went away) is reported as interrupted.
    let stalled = job("j2", at - chrono::Duration::minutes(30));
    app.core.store.save_job(&stalled).await.unwrap();
    let reply = app
        .get("/api/zip/j2", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["status"], "failed");
    assert!(
        reply["error"].as_str().unwrap().contains("interrupted"),
        "{reply}"
    );
    // Expired jobs are gone.
    let mut old = job("j3", at);
    old.expires_at = at - chrono::Duration::seconds(1);
    app.core.store.save_job(&old).await.unwrap();
    app.get("/api/zip/j3", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// More entries than a zip32 archive can count (65,535): the writer switches to ZIP64 records
/// and every reader still sees them all.
#[tokio::test]
#[ignore = "slow tier: scripts/test.sh runs it"]
async fn zip64_when_entries_pass_the_zip32_count() {
    use shared::archive::ArchiveWriter;
    const ENTRIES: usize = 70_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.zip");
    let file = tokio::fs::File::create(&path).await.unwrap();
    let mut zip = ArchiveWriter::new(tokio::io::BufWriter::new(file));
    let at = chrono::Utc::now();
    zip.add_dir("d/", at).await.unwrap();
    for i in 0..ENTRIES {
        let body = Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(format!(
            "{i}"
        )))]));
        zip.add_file(&format!("d/{i:05}.txt"), at, body)
            .await
            .unwrap();
    }
    zip.finish().await.unwrap();
    unzip_and_7zip_accept(&path);
    let count = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
             print(len(z.infolist()), z.read('d/69999.txt').decode())",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        format!("{} 69999", ENTRIES + 1)
    );
    // The end of the archive holds the ZIP64 end-of-central-directory locator.
    let bytes = std::fs::read(&path).unwrap();
    let tail = &bytes[bytes.len().saturating_sub(200)..];
    assert!(
        tail.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x07]),
        "no ZIP64 locator"
    );
}

/// Downloads the archive of a done job, checks it with all three readers and returns
/// Python's sizes of its entries (see [`SIZES`]) and its bytes.
async fn sizes_of(app: &TestApp, job: &Value) -> (Value, Vec<u8>) {
    assert_eq!(job["status"], "done", "{job}");
    let raw = app
        .fetch(Method::GET, job["url"].as_str().unwrap(), &[], Vec::new())
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.zip");
    std::fs::write(&path, &raw.body).unwrap();
    unzip_and_7zip_accept(&path);
    let python = Command::new("python3")
        .args(["-c", SIZES])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        python.status.success(),
        "zipfile: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let sizes = serde_json::from_slice(&python.stdout).expect("json");
    (sizes, raw.body.to_vec())
}

/// Bytes no deflate can shrink (BLAKE3's output stream).
fn noise(len: usize, seed: &str) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Text of numbered lines: compressible, but not trivially.
fn numbered_text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("{i:08} the quick brown fox, {}\n", i * 7919 % 1000).as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

async fn random_bin_files_are_stored_text_deflated(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("uma").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "mixed"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let random = noise(300_000, "random.bin");
    let text = numbered_text(200_000);
    app.upload(
        &token,
        &[("path", None, b"mixed")],
        &[
            ("random.bin", &random),
            // Named like binary content: the look at its start finds text.
            ("text.bin", &text),
            // Named like compressed content: stored unread.
            ("photo.jpg", &text),
            ("small.txt", b"x"),
            ("empty.txt", b""),
        ],
    )
    .await
    .expect(StatusCode::CREATED);
    let job = app
        .post("/api/zip", Some(&token), json!({"paths": ["mixed"]}))
        .await
        .expect(StatusCode::OK);
    let (sizes, _) = sizes_of(&app, &job).await;
    let method = |name: &str| sizes[format!("mixed/{name}")][0].as_i64().unwrap();
    let size = |name: &str| sizes[format!("mixed/{name}")][1].as_u64().unwrap();
    assert_eq!(method("random.bin"), STORED, "{sizes}");
    assert_eq!(size("random.bin"), 300_000);
    assert_eq!(
        sizes["mixed/random.bin"][2], 300_000,
        "stored as it is: {sizes}"
    );
    assert_eq!(method("text.bin"), DEFLATED, "{sizes}");
    assert_eq!(size("text.bin"), 200_000);
    assert_eq!(method("photo.jpg"), STORED, "{sizes}");
    assert_eq!(method("small.txt"), DEFLATED, "{sizes}");
    assert_eq!(method("empty.txt"), STORED, "{sizes}");
    assert_eq!(size("empty.txt"), 0);
    assert_eq!(job["files_done"], 5);
    assert_eq!(job["bytes_done"], 300_000 + 2 * 200_000 + 1);
}

async fn a_large_text_file_is_deflated_in_chunks(kind: Kind) {
    // Past the pipeline's 1 MiB chunks: deflated on several workers, one stream in the end.
    const LEN: usize = 5 * 1024 * 1024 + 7;
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("uma").await;
    let text = numbered_text(LEN);
    app.upload(&token, &[], &[("big.log", &text)])
        .await
        .expect(StatusCode::CREATED);
    let job = app
        .post("/api/zip", Some(&token), json!({"paths": ["big.log"]}))
        .await
        .expect(StatusCode::OK);
    let (sizes, archive) = sizes_of(&app, &job).await;
    let entry = &sizes["big.log"];
    assert_eq!(entry[0], DEFLATED, "{sizes}");
    assert_eq!(entry[1], LEN as u64);
    assert!(entry[2].as_u64().unwrap() < LEN as u64 / 3, "{sizes}");
    // The bytes themselves, as Python inflates them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    std::fs::write(&path, &archive).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('big.log'))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == text, "inflated bytes differ");
}
