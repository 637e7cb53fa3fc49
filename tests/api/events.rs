//! The API Gateway events in `events/`: the fixtures of `cargo lambda invoke`, and here inputs
//! to each function's router, in process, exactly as `lambda_http` hands them over.

use http::{header, Method, StatusCode};
use shared::domain::Role;
use shared::http::Group;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};

backend_tests!(authenticated_events_work_in_order);

/// Sends one event file through `group`'s router; returns the status and the JSON body.
async fn invoke(app: &TestApp, group: Group, event: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("{}/events/{event}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let answer = app.invoke(group, request).await;
    assert!(
        answer.headers.contains_key("content-type"),
        "{event}: no content-type"
    );
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or_default(),
    )
}

#[tokio::test]
async fn every_auth_event_gives_its_status() {
    let app = TestApp::new(Kind::Embedded).await;
    for (event, want, code) in [
        ("auth/health.json", StatusCode::OK, None),
        ("auth/openapi.json", StatusCode::OK, None),
        ("auth/register.json", StatusCode::CREATED, None),
        (
            "auth/register.json",
            StatusCode::CONFLICT,
            Some("username_taken"),
        ),
        (
            "auth/register-invalid.json",
            StatusCode::BAD_REQUEST,
            Some("validation_error"),
        ),
        ("auth/login.json", StatusCode::OK, None),
        (
            "auth/login-wrong-password.json",
            StatusCode::UNAUTHORIZED,
            Some("invalid_credentials"),
        ),
        (
            "auth/refresh-invalid.json",
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
        ),
        (
            "auth/profile-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            Some("not_authenticated"),
        ),
        (
            "auth/keys-list-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            Some("not_authenticated"),
        ),
    ] {
        let (status, body) = invoke(&app, Group::Auth, event).await;
        assert_eq!(status, want, "{event}: {body}");
        if let Some(code) = code {
            assert_eq!(body["code"], code, "{event}: {body}");
        }
    }
}

#[tokio::test]
async fn every_files_event_gives_its_status() {
    let app = TestApp::new(Kind::Embedded).await;
    for (event, want, code) in [
        (
            "files/list-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/upload-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/download-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/transfer-forged.json",
            StatusCode::FORBIDDEN,
            "invalid_signature",
        ),
        (
            "files/job-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/jobs-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
    ] {
        let (status, body) = invoke(&app, Group::Files, event).await;
        assert_eq!(status, want, "{event}: {body}");
        assert_eq!(body["code"], code, "{event}: {body}");
    }
}

#[tokio::test]
async fn every_users_zip_and_shares_event_gives_its_status() {
    let app = TestApp::new(Kind::Embedded).await;
    for (group, event) in [
        (Group::Users, "users/list-unauthenticated.json"),
        (Group::Users, "users/list-seed-path-unauthenticated.json"),
        (Group::Users, "users/create-unauthenticated.json"),
        (Group::Users, "users/keys-list-unauthenticated.json"),
        (Group::Users, "users/shares-list-unauthenticated.json"),
        (Group::Zip, "zip/download-zip-unauthenticated.json"),
        (Group::Zip, "zip/create-unauthenticated.json"),
        (Group::Shares, "shares/list-unauthenticated.json"),
    ] {
        let (status, body) = invoke(&app, group, event).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{event}: {body}");
        assert_eq!(body["code"], "not_authenticated", "{event}: {body}");
    }
}

/// What an authenticated event's invocation answered; a 302 is followed, as a client would.
struct Answer {
    status: StatusCode,
    json: serde_json::Value,
    /// The body's bytes, or those of what the 302 pointed to.
    bytes: bytes::Bytes,
}

/// Sends one event through `group`'s router with `token` in place of its `{{TOKEN}}`
/// placeholder, as `make invoke EVENT=… TOKEN=…` fills it.
async fn invoke_as(app: &TestApp, group: Group, event: &str, token: &str) -> Answer {
    let path = format!("{}/events/{event}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(text.contains("Bearer {{TOKEN}}"), "{event}: no placeholder");
    let request = lambda_http::request::from_str(&text.replace("{{TOKEN}}", token))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let answer = app.invoke(group, request).await;
    let status = answer.status;
    let location = answer.headers.get(header::LOCATION).cloned();
    let bytes = match location {
        Some(url) if status == StatusCode::FOUND => {
            let fetched = app
                .fetch(Method::GET, url.to_str().unwrap(), &[], Vec::new())
                .await;
            assert_eq!(fetched.status, StatusCode::OK, "{event}: {url:?}");
            fetched.body
        }
        _ => answer.body,
    };
    Answer {
        status,
        json: serde_json::from_slice(&bytes).unwrap_or_default(),
        bytes,
    }
}

/// The authenticated events, in the order README's loop invokes them, each working for the
/// superuser a token was issued to (what `vertexcloud issue-token` prints): every group's main
/// operations, each event needing only those before it.
async fn authenticated_events_work_in_order(kind: Kind) {
    // GIVEN a superuser and a token issued for them
    let app = TestApp::new(kind).await;
    app.member("admin", Role::Superuser).await;
    let token = app.core.issue_token("admin", 900).await.unwrap().access;
    // Bytes locally; on AWS a 302 to a presigned URL.
    let download = match kind {
        Kind::Embedded => StatusCode::OK,
        Kind::Aws => StatusCode::FOUND,
    };
    type Check = fn(&Answer) -> bool;
    let steps: [(Group, &str, StatusCode, Check); 19] = [
        (Group::Auth, "auth/profile.json", StatusCode::OK, |a| {
            a.json["username"] == "admin" && a.json["user_type"] == "superuser"
        }),
        (Group::Auth, "auth/user-info.json", StatusCode::OK, |a| {
            a.json["storage"]["used_bytes"] == 0
        }),
        (
            Group::Auth,
            "auth/keys-create.json",
            StatusCode::CREATED,
            |a| {
                a.json["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("vck_"))
            },
        ),
        (Group::Auth, "auth/keys-list.json", StatusCode::OK, |a| {
            a.json.to_string().contains("invoke script")
        }),
        (
            Group::Users,
            "users/create.json",
            StatusCode::CREATED,
            |a| a.json["username"] == "bob" && a.json["quota_bytes"] == 1073741824,
        ),
        (Group::Users, "users/list.json", StatusCode::OK, |a| {
            a.json["items"].as_array().is_some_and(|i| i.len() == 2)
        }),
        (
            Group::Files,
            "files/create-folder.json",
            StatusCode::CREATED,
            |a| a.json["folder_path"] == "docs",
        ),
        (
            Group::Files,
            "files/upload.json",
            StatusCode::CREATED,
            |a| a.json["files"][0]["path"] == "docs/a.txt",
        ),
        (Group::Files, "files/list.json", StatusCode::OK, |a| {
            a.json["items"][0]["name"] == "a.txt"
        }),
        (
            Group::Shares,
            "shares/create.json",
            StatusCode::CREATED,
            |a| {
                a.json["path"] == "docs"
                    && a.json["url"]
                        .as_str()
                        .is_some_and(|u| u.contains("/api/s/"))
            },
        ),
        (Group::Shares, "shares/list.json", StatusCode::OK, |a| {
            a.json["items"][0]["note"] == "invoke script"
        }),
        (Group::Files, "files/stat.json", StatusCode::OK, |a| {
            a.json["size"] == 5
        }),
        (Group::Files, "files/download.json", download, |a| {
            a.bytes == "hello"
        }),
        (Group::Files, "files/copy.json", StatusCode::OK, |a| {
            a.json["new_path"] == "a.txt"
        }),
        (Group::Files, "files/rename.json", StatusCode::OK, |a| {
            a.json["new_path"] == "notes.txt"
        }),
        (Group::Zip, "zip/create.json", StatusCode::OK, |a| {
            a.json["status"] == "done" && a.json["url"].is_string()
        }),
        (
            Group::Zip,
            "zip/download-zip.json",
            StatusCode::FOUND,
            |a| a.bytes.starts_with(b"PK"),
        ),
        (Group::Files, "files/move.json", StatusCode::OK, |a| {
            a.json["new_path"] == "docs/notes.txt"
        }),
        (Group::Files, "files/delete.json", StatusCode::OK, |a| {
            a.json["message"].is_string()
        }),
    ];
    // WHEN each event is invoked in turn THEN it succeeds with its answer
    for (group, event, want, check) in steps {
        let answer = invoke_as(&app, group, event, &token).await;
        let body = String::from_utf8_lossy(&answer.bytes);
        assert_eq!(answer.status, want, "{event}: {body}");
        assert!(check(&answer), "{event}: {body}");
    }
}

/// The zip function takes two kinds of invocation: API Gateway's HTTP events, answered by its
/// router, and the job events it sends itself, which run the job.
#[tokio::test]
async fn the_zip_function_runs_http_events_and_its_own_jobs() {
    use lambda_http::{Context, LambdaEvent};
    use shared::store::{JobStatus, ZipJob};
    let app = TestApp::new(Kind::Embedded).await;
    let (user_id, token, _) = app.user("uma").await;
    app.upload(&token, &[], &[("a.txt", b"alpha")])
        .await
        .expect(StatusCode::CREATED);
    let mut context = Context::default();
    context.deadline = (chrono::Utc::now().timestamp_millis() + 60_000) as u64;
    let http = lambda_http::Adapter::from(app.function(Group::Zip));
    let read = |name: &str| -> serde_json::Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    // An HTTP event: the answer is API Gateway's response shape.
    let event = LambdaEvent::new(read("zip/create-unauthenticated.json"), context.clone());
    let answer = shared::runtime::invocation(app.core.clone(), http.clone(), event)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 401, "{answer}");
    // A job event (the fixture's shape, naming a job of uma's).
    let at = chrono::Utc::now();
    let mut payload = read("jobs/zip-job.json");
    payload["vertex_zip_job"]["user_id"] = user_id.clone().into();
    let job_id = payload["vertex_zip_job"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = ZipJob {
        id: job_id.clone(),
        user_id,
        status: JobStatus::Running,
        name: "a.zip".into(),
        paths: vec!["a.txt".into()],
        folder_contents: false,
        files_done: 0,
        files_total: 1,
        bytes_done: 0,
        bytes_total: 5,
        error: None,
        share_id: None,
        kind: Default::default(),
        error_code: None,
        folder: None,
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + chrono::Duration::hours(1),
    };
    app.core.store.save_job(&job).await.unwrap();
    let event = LambdaEvent::new(payload, context);
    shared::runtime::invocation(app.core.clone(), http, event)
        .await
        .unwrap();
    let done = app
        .get(&format!("/api/zip/{job_id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["bytes_done"], 5);
}

/// The files function, likewise: API Gateway's HTTP events, and the events of its folder jobs'
/// runs (`events/jobs/folder-job.json`), each run going on where the job is.
#[tokio::test]
async fn the_files_function_runs_http_events_and_its_own_jobs() {
    use lambda_http::{Context, LambdaEvent};
    let app = TestApp::new(Kind::Embedded).await;
    let (user_id, token, _) = app.user("uma").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        serde_json::json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(
        &token,
        &[("path", None, b"docs")],
        &[("a.txt", b"alpha"), ("b.txt", b"bravo")],
    )
    .await
    .expect(StatusCode::CREATED);
    let mut context = Context::default();
    context.deadline = (chrono::Utc::now().timestamp_millis() + 60_000) as u64;
    let http = lambda_http::Adapter::from(app.function(Group::Files));
    let read = |name: &str| -> serde_json::Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let event = LambdaEvent::new(read("files/job-unauthenticated.json"), context.clone());
    let answer = shared::runtime::invocation(app.core.clone(), http.clone(), event)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 401, "{answer}");
    // A job event naming a copy of uma's docs, as a request above the threshold leaves it.
    let mut payload = read("jobs/folder-job.json");
    payload["vertex_job"]["user_id"] = user_id.clone().into();
    let job_id = payload["vertex_job"]["job_id"].as_str().unwrap().to_owned();
    let job = crate::helpers::running_copy(&user_id, &job_id, "copied");
    app.core.store.save_job(&job).await.unwrap();
    let event = LambdaEvent::new(payload, context);
    let answer = shared::runtime::invocation(app.core.clone(), http, event)
        .await
        .unwrap();
    assert_eq!(answer["job_id"], job_id.as_str(), "{answer}");
    let done = crate::jobs::settled(&app, &token, &job_id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["kind"], "copy", "{done}");
    assert_eq!(done["bytes_total"], 10, "{done}");
    assert_eq!(done["bytes_done"], 10, "{done}");
    let copied = app
        .get("/api/files/list?path=copied", Some(&token))
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = copied["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.txt", "b.txt"], "{copied}");
}

#[tokio::test]
async fn every_event_file_is_covered_and_parses() {
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for group in std::fs::read_dir(&dir).unwrap() {
        let group = group.unwrap().path();
        let jobs = group.ends_with("jobs");
        for file in std::fs::read_dir(&group).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if jobs {
                // Not HTTP: what the zip and files functions send themselves, and the files
                // function's schedule.
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert!(
                    shared::services::job_event(&value).is_some()
                        || shared::services::sweep_event(&value),
                    "{}",
                    path.display()
                );
            } else {
                lambda_http::request::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            count += 1;
        }
    }
    assert!(count >= 45, "{count} event files");
}

/// On Lambda the client address is API Gateway's `sourceIp`, which login throttling counts.
#[tokio::test]
async fn the_event_source_ip_is_the_throttled_address() {
    let app = TestApp::with(Kind::Embedded, |c| c.throttle.address_max_failures = 2).await;
    invoke(&app, Group::Auth, "auth/register.json").await;
    for _ in 0..2 {
        let (status, body) = invoke(&app, Group::Auth, "auth/login-wrong-password.json").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "invalid_credentials", "{body}");
    }
    let (status, body) = invoke(&app, Group::Auth, "auth/login.json").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "throttled", "{body}");
    // The same account from another address (the in-process default, 127.0.0.1) still logs in.
    app.post(
        "/api/auth/login",
        None,
        serde_json::json!({"username": "alice", "password": "correct horse battery"}),
    )
    .await
    .expect(StatusCode::OK);
}

/// A function serves only its own group: the others' paths are the JSON 404 there.
#[tokio::test]
async fn a_function_serves_only_its_group() {
    let app = TestApp::new(Kind::Embedded).await;
    for group in [Group::Users, Group::Files, Group::Zip, Group::Shares] {
        let (status, body) = invoke(&app, group, "auth/health.json").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{group:?}");
        assert_eq!(body["code"], "not_found");
    }
}

/// The shares function answers its visitors' events: an unknown link is 404, a live one (its id
/// in place of the event's `{{SHARE}}`, as benches/cold_start.sh fills it) shows what it offers.
#[tokio::test]
async fn the_shares_function_answers_visitor_events() {
    let app = TestApp::new(Kind::Embedded).await;
    let (status, body) = invoke(&app, Group::Shares, "shares/info-unknown.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "share_not_found", "{body}");
    let (_, token, _) = app.user("olga").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        serde_json::json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let share = app
        .post(
            "/api/shares",
            Some(&token),
            serde_json::json!({"path": "docs", "kind": "download"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = share["id"].as_str().unwrap();
    let path = format!("{}/events/shares/info.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("{{SHARE}}"), "no placeholder");
    let request = lambda_http::request::from_str(&text.replace("{{SHARE}}", id)).unwrap();
    let answer = app.invoke(Group::Shares, request).await;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    assert_eq!(answer.status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(body["kind"], "download", "{body}");
}
