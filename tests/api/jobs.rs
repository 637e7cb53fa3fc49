//! One job model: archives answer at `/api/jobs/{id}` as at their old `/api/zip/{id}`; jobs
//! are their owner's only; a running archive can be cancelled (nothing stored, its charge and
//! slot given back); ended jobs are not changed by a cancel; archives and running jobs are
//! neither resumed nor undone; an archive found running at a restart is written again; a
//! stalled job goes on when its owner looks, or when the files function's sweep finds it;
//! `GET /api/jobs` lists the caller's own jobs, newest first.

use std::sync::Arc;

use http::{header, Method, StatusCode};
use serde_json::{json, Value};
use shared::http::Group;
use shared::layout::archives_of;
use shared::objects::Listed;
use shared::store::{FolderPhase, Job, JobKind, JobStatus};

use crate::backend_tests;
use crate::flaky::Flaky;
use crate::helpers::{running_copy, Kind, TestApp};

backend_tests!(
    zip_jobs_answer_at_api_jobs_and_the_zip_alias,
    a_job_of_another_user_is_not_found,
    cancelling_a_zip_job_stores_nothing_and_gives_back_its_charge_and_slot,
    deleting_an_ended_job_changes_nothing,
    zip_and_running_jobs_cannot_be_resumed_or_undone,
    ended_folder_jobs_say_what_may_follow,
    a_zip_job_running_at_a_restart_is_written_again,
    a_stalled_folder_job_is_taken_over_when_seen,
    a_stalled_folder_job_asked_to_stop_ends_cancelled,
    a_run_event_delivered_twice_works_once,
    stalled_jobs_are_taken_over_by_the_sweep_without_anyone_looking,
    the_callers_jobs_are_listed_newest_first,
);

/// How long a build goes between progress saves (services/zip/build.rs): a cancel is seen at
/// the first save after it.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(1100);

/// The job, once it has ended (polled, within a bound).
pub async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let job = app
            .get(&format!("/api/jobs/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("job {id} still running after 30 s");
}

/// One slot; more than two files make a background archive.
async fn app(kind: Kind) -> TestApp {
    TestApp::with(kind, |c| {
        c.limits.max_running_jobs = 1;
        c.zip_sync_max_files = 2;
    })
    .await
}

/// `count` files of `size` bytes that deflate cannot shrink, under `docs/`; the owner's id and
/// token.
async fn home(app: &TestApp, count: usize, size: usize) -> (String, String) {
    let (id, token, _) = app.user("joan").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    for i in 0..count {
        let mut bytes = vec![0u8; size];
        let mut hasher = blake3::Hasher::new();
        hasher.update(&i.to_le_bytes());
        hasher.finalize_xof().fill(&mut bytes);
        let name = format!("f{i}.bin");
        app.upload(&token, &[("path", None, b"docs")], &[(&name, &bytes)])
            .await
            .expect(StatusCode::CREATED);
    }
    (id, token)
}

/// The user's (`used_bytes`, `reserved_bytes`: what archives hold) as `user-info` shows them.
async fn usage(app: &TestApp, token: &str) -> (u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let n = |name: &str| info["storage"][name].as_u64().expect(name);
    (n("used_bytes"), n("reserved_bytes"))
}

async fn archives(app: &TestApp, user_id: &str) -> usize {
    let page = app
        .core
        .objects
        .list(&archives_of(user_id), false, None, 1000)
        .await
        .unwrap();
    let objects = page.items.iter();
    objects.filter(|i| matches!(i, Listed::Object(_))).count()
}

/// Starts a background archive of docs: its id.
async fn started(app: &TestApp, token: &str) -> String {
    let reply = app
        .post("/api/zip", Some(token), json!({"paths": ["docs"]}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let id = reply.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.headers[header::LOCATION],
        format!("/api/jobs/{id}").as_str()
    );
    id
}

/// The view without what changes at every look (a fresh URL).
fn lasting(mut job: Value) -> Value {
    let fields = job.as_object_mut().unwrap();
    fields.remove("url");
    fields.remove("url_expires_at");
    job
}

async fn zip_jobs_answer_at_api_jobs_and_the_zip_alias(kind: Kind) {
    let app = app(kind).await;
    let (_, token) = home(&app, 3, 1000).await;
    let id = started(&app, &token).await;
    let done = settled(&app, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["kind"], "zip", "{done}");
    assert_eq!(done["files_done"], 3, "{done}");
    assert_eq!(done["objects_done"], 3, "{done}");
    assert_eq!(done["objects_total"], 3, "{done}");
    assert_eq!(done["bytes_total"], 3000, "{done}");
    assert_eq!(done["cancel_requested"], false, "{done}");
    assert_eq!(done["resumable"], false, "{done}");
    assert_eq!(done["undoable"], false, "{done}");
    assert!(done.get("phase").is_none(), "{done}");
    assert!(done["url"].is_string(), "{done}");
    let alias = app
        .get(&format!("/api/zip/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert!(alias["url"].is_string(), "{alias}");
    assert_eq!(lasting(alias), lasting(done));
}

async fn a_job_of_another_user_is_not_found(kind: Kind) {
    let app = app(kind).await;
    let (_, owner) = home(&app, 3, 100).await;
    let id = started(&app, &owner).await;
    settled(&app, &owner, &id).await;
    let (_, other, _) = app.user("kim").await;
    let long = "a".repeat(65);
    for job in [id.as_str(), "no-such-job", long.as_str()] {
        for (method, uri) in [
            (Method::GET, format!("/api/jobs/{job}")),
            (Method::DELETE, format!("/api/jobs/{job}")),
            (Method::POST, format!("/api/jobs/{job}/resume")),
            (Method::POST, format!("/api/jobs/{job}/undo")),
            (Method::GET, format!("/api/zip/{job}")),
        ] {
            let body = (method == Method::POST).then(|| json!({}));
            app.call(method.clone(), &uri, Some(&other), body)
                .await
                .expect_error(StatusCode::NOT_FOUND, "not_found");
        }
    }
    app.get(&format!("/api/jobs/{id}"), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // Still the owner's, unchanged.
    let job = app
        .get(&format!("/api/jobs/{id}"), Some(&owner))
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["status"], "done", "{job}");
}

async fn cancelling_a_zip_job_stores_nothing_and_gives_back_its_charge_and_slot(kind: Kind) {
    let base = app(kind).await;
    // Four incompressible files of 200 KiB: the writer is held by the store midway (the pipe
    // to the store holds 256 KiB), so it saves progress again after the cancel.
    let (user_id, token) = home(&base, 4, 200 * 1024).await;
    let (used, reserved) = usage(&base, &token).await;
    assert_eq!(reserved, 0);
    let (app, objects) = Flaky::around(&base);
    objects.put_gate.shut();
    let id = started(&app, &token).await;
    objects.put_gate.reached(1).await;
    assert_eq!(usage(&app, &token).await, (used, 4 * 200 * 1024));

    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/jobs/{id}"),
            Some(&token),
            None,
        )
        .await;
    let asked = reply.expect(StatusCode::ACCEPTED);
    assert_eq!(asked["status"], "running", "{asked}");
    assert_eq!(asked["cancel_requested"], true, "{asked}");
    // A second ask is the same answer.
    let again = app
        .call(
            Method::DELETE,
            &format!("/api/jobs/{id}"),
            Some(&token),
            None,
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(again["cancel_requested"], true, "{again}");
    // The build's next progress save (at least PROGRESS_EVERY after it began) sees the ask.
    tokio::time::sleep(PROGRESS_EVERY).await;
    objects.put_gate.open();
    let ended = settled(&app, &token, &id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert!(ended.get("url").is_none(), "{ended}");
    assert_eq!(ended["resumable"], false, "{ended}");
    assert_eq!(archives(&app, &user_id).await, 0);
    assert_eq!(usage(&app, &token).await, (used, 0));
    // Its slot is free: the one slot takes the next archive, which is written.
    let next = started(&app, &token).await;
    assert_eq!(settled(&app, &token, &next).await["status"], "done");
    assert_eq!(archives(&app, &user_id).await, 1);
}

async fn deleting_an_ended_job_changes_nothing(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    let id = started(&app, &token).await;
    let done = settled(&app, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    let used = usage(&app, &token).await;
    let answer = app
        .call(
            Method::DELETE,
            &format!("/api/jobs/{id}"),
            Some(&token),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["cancel_requested"], false, "{answer}");
    assert_eq!(lasting(answer), lasting(done.clone()));
    let after = app
        .get(&format!("/api/jobs/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(lasting(after), lasting(done));
    assert_eq!(archives(&app, &user_id).await, 1);
    assert_eq!(usage(&app, &token).await, used);
}

async fn zip_and_running_jobs_cannot_be_resumed_or_undone(kind: Kind) {
    let base = app(kind).await;
    let (_, token) = home(&base, 3, 100).await;
    let (app, objects) = Flaky::around(&base);
    objects.put_gate.shut();
    let id = started(&app, &token).await;
    objects.put_gate.reached(1).await;
    for action in ["resume", "undo"] {
        let refused = app
            .post(&format!("/api/jobs/{id}/{action}"), Some(&token), json!({}))
            .await
            .expect_error(StatusCode::CONFLICT, "job_running");
        assert_eq!(refused["details"]["job_id"], id.as_str(), "{refused}");
    }
    objects.put_gate.open();
    assert_eq!(settled(&app, &token, &id).await["status"], "done");
    app.post(&format!("/api/jobs/{id}/resume"), Some(&token), json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "job_not_resumable");
    app.post(&format!("/api/jobs/{id}/undo"), Some(&token), json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "job_not_undoable");
}

/// A folder job's record as a run leaves it when it ends.
fn ended_folder_job(user_id: &str, id: &str, kind: JobKind, status: JobStatus) -> Job {
    let mut job = running_copy(user_id, id, "elsewhere");
    let failed = status == JobStatus::Failed;
    (job.kind, job.status, job.run) = (kind, status, 3);
    (
        job.files_done,
        job.files_total,
        job.bytes_done,
        job.bytes_total,
    ) = (1, 4, 100, 300);
    job.error = failed.then(|| "Storage unavailable.".into());
    job.error_code = failed.then(|| "service_unavailable".into());
    let work = job.folder.as_mut().expect("a folder job");
    (work.phase, work.after) = (FolderPhase::Working, Some("f0.bin".into()));
    if kind == JobKind::Delete {
        work.target = None;
    }
    job
}

async fn ended_folder_jobs_say_what_may_follow(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 1, 100).await;
    let cases = [
        ("done-move", JobKind::Move, JobStatus::Done, false, false),
        (
            "undone-copy",
            JobKind::Copy,
            JobStatus::Undone,
            false,
            false,
        ),
        (
            "failed-delete",
            JobKind::Delete,
            JobStatus::Failed,
            true,
            false,
        ),
        (
            "cancelled-rename",
            JobKind::Rename,
            JobStatus::Cancelled,
            true,
            true,
        ),
    ];
    for (id, job_kind, status, resumable, undoable) in cases {
        let job = ended_folder_job(&user_id, id, job_kind, status);
        app.core.store.save_job(&job).await.unwrap();
        let view = app
            .get(&format!("/api/jobs/{id}"), Some(&token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(view["resumable"], resumable, "{view}");
        assert_eq!(view["undoable"], undoable, "{view}");
        assert_eq!(view["phase"], "working", "{view}");
        assert_eq!(view["source_path"], "docs", "{view}");
        assert_eq!(view["objects_done"], 1, "{view}");
        assert_eq!(view["objects_total"], 4, "{view}");
        if job_kind == JobKind::Delete {
            assert!(view.get("target_path").is_none(), "{view}");
            assert_eq!(view["error_code"], "service_unavailable", "{view}");
        } else {
            assert_eq!(view["target_path"], "elsewhere", "{view}");
        }
        // Ended: a cancel changes nothing.
        let answer = app
            .call(
                Method::DELETE,
                &format!("/api/jobs/{id}"),
                Some(&token),
                None,
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(answer, view);
        if !resumable {
            app.post(&format!("/api/jobs/{id}/resume"), Some(&token), json!({}))
                .await
                .expect_error(StatusCode::CONFLICT, "job_not_resumable");
        }
        if !undoable {
            app.post(&format!("/api/jobs/{id}/undo"), Some(&token), json!({}))
                .await
                .expect_error(StatusCode::CONFLICT, "job_not_undoable");
        }
    }
}

async fn a_zip_job_running_at_a_restart_is_written_again(kind: Kind) {
    let base = app(kind).await;
    let (user_id, token) = home(&base, 4, 200 * 1024).await;
    let (used, _) = usage(&base, &token).await;
    // The first process: its archive never reaches the store (the process is gone).
    let (first, objects) = Flaky::around(&base);
    objects.put_gate.shut();
    let id = started(&first, &token).await;
    objects.put_gate.reached(1).await;
    // The next process over the same stores takes it over at its start.
    let second = Arc::new(base.sibling(|_| {}));
    second.core.resume_jobs().await;
    let done = settled(&second, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["files_done"], 4, "{done}");
    assert_eq!(done["bytes_done"], 4 * 200 * 1024, "{done}");
    assert_eq!(archives(&second, &user_id).await, 1);
    // Charged once, as when it started.
    assert_eq!(usage(&second, &token).await, (used, 4 * 200 * 1024));
    // Nothing else was running: a second start takes nothing over.
    second.core.resume_jobs().await;
    let again = second
        .get(&format!("/api/jobs/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(lasting(again), lasting(done));
}

/// A copy of docs to `copied` whose run died before it counted anything, `minutes` ago.
async fn stalled_copy(app: &TestApp, user_id: &str, id: &str, minutes: i64) {
    let mut job = ended_folder_job(user_id, id, JobKind::Copy, JobStatus::Running);
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    job.created_at = at;
    job.updated_at = at;
    job.files_done = 0;
    job.files_total = 0;
    job.bytes_done = 0;
    job.bytes_total = 0;
    let work = job.folder.as_mut().unwrap();
    work.target = Some("copied".into());
    work.phase = FolderPhase::Counting;
    work.after = None;
    app.core.store.save_job(&job).await.unwrap();
}

async fn a_stalled_folder_job_is_taken_over_when_seen(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    // Seen while its run may still be alive: left alone.
    stalled_copy(&app, &user_id, "fresh", 1).await;
    let seen = app
        .get("/api/jobs/fresh", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["phase"], "counting", "{seen}");
    let stored = app.core.store.get_job(&user_id, "fresh").await.unwrap();
    assert_eq!(stored.unwrap().run, 3);
    app.core
        .store
        .save_job(&ended_folder_job(
            &user_id,
            "fresh",
            JobKind::Copy,
            JobStatus::Cancelled,
        ))
        .await
        .unwrap();
    // Silent for longer than a run may be: the next look takes it over, and it finishes.
    stalled_copy(&app, &user_id, "stalled", 11).await;
    app.get("/api/jobs/stalled", Some(&token))
        .await
        .expect(StatusCode::OK);
    let done = settled(&app, &token, "stalled").await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["bytes_done"], 300, "{done}");
    let stored = app.core.store.get_job(&user_id, "stalled").await.unwrap();
    assert!(stored.unwrap().run > 3);
    let copied = app
        .get("/api/files/list?path=copied", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(copied["items"].as_array().unwrap().len(), 3, "{copied}");
    // Its slot was given back: the one slot takes an archive.
    started(&app, &token).await;
}

async fn a_stalled_folder_job_asked_to_stop_ends_cancelled(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    stalled_copy(&app, &user_id, "stalled", 11).await;
    let asked = app
        .call(Method::DELETE, "/api/jobs/stalled", Some(&token), None)
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(asked["cancel_requested"], true, "{asked}");
    let ended = settled(&app, &token, "stalled").await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["resumable"], true, "{ended}");
    assert_eq!(ended["undoable"], true, "{ended}");
    // Nothing was copied before it stopped.
    app.get("/api/files/stat?path=copied", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// Lambda delivers an asynchronous event at least once: two deliveries of one run's event at
/// the same time must not both work (both would charge each step).
async fn a_run_event_delivered_twice_works_once(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    stalled_copy(&app, &user_id, "twice", 0).await;
    let run = app.core.store.get_job(&user_id, "twice").await.unwrap();
    let event = shared::services::JobEvent {
        user_id: user_id.clone(),
        job_id: "twice".into(),
        run: run.expect("stored").run,
    };
    let budget = std::time::Duration::MAX;
    tokio::join!(
        app.core.run_job(&event, budget),
        app.core.run_job(&event, budget)
    );
    let done = settled(&app, &token, "twice").await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["bytes_done"], 300, "{done}");
    // Charged once: usage is what the listing holds (the 3 files twice).
    let (bytes, _) = crate::invariants::usage_matches_listing(&app, &token).await;
    assert_eq!(bytes, 600);
}

/// Nobody looks: the files function's scheduled invocation (`events/jobs/sweep.json`, through
/// its Lambda entry point and, on AWS, its own clients) takes over a stalled folder job and
/// records a stalled archive interrupted; a job whose run may be alive is left alone.
async fn stalled_jobs_are_taken_over_by_the_sweep_without_anyone_looking(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    stalled_copy(&app, &user_id, "alive", 1).await;
    stalled_copy(&app, &user_id, "stalled", 11).await;
    let mut archive = ended_folder_job(&user_id, "archive", JobKind::Zip, JobStatus::Running);
    archive.folder = None;
    archive.paths = vec!["docs".into()];
    archive.name = "docs.zip".into();
    archive.updated_at = chrono::Utc::now() - chrono::Duration::minutes(11);
    app.core.store.save_job(&archive).await.unwrap();

    let sweep = || async {
        let payload = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/jobs/sweep.json"
        ))
        .unwrap();
        let mut context = lambda_http::Context::default();
        context.deadline = (chrono::Utc::now().timestamp_millis() + 60_000) as u64;
        let event = lambda_http::LambdaEvent::new(serde_json::from_str(&payload).unwrap(), context);
        let http = lambda_http::Adapter::from(app.function(Group::Files));
        shared::runtime::invocation(app.function_core(Group::Files), http, event)
            .await
            .unwrap()
    };
    let answer = sweep().await;
    assert_eq!(
        answer,
        json!({"running": 3, "taken_over": 1, "interrupted": 1, "failed": 0})
    );
    // As stored, before anyone looks (a look would do the same).
    let stored = |id: &'static str| {
        let app = &app;
        let user_id = &user_id;
        async move { app.core.store.get_job(user_id, id).await.unwrap().unwrap() }
    };
    let interrupted = stored("archive").await;
    assert_eq!(interrupted.status, JobStatus::Failed);
    let why = interrupted.error.unwrap_or_default();
    assert!(why.contains("interrupted"), "{why}");
    assert!(stored("stalled").await.run > 3);
    let alive = stored("alive").await;
    assert_eq!((alive.status, alive.run), (JobStatus::Running, 3));

    let done = settled(&app, &token, "stalled").await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["bytes_done"], 300, "{done}");
    let copied = app
        .get("/api/files/list?path=copied", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(copied["items"].as_array().unwrap().len(), 3, "{copied}");
    // A second sweep finds only the live one, and leaves it.
    assert_eq!(
        sweep().await,
        json!({"running": 1, "taken_over": 0, "interrupted": 0, "failed": 0})
    );
    assert_eq!(stored("alive").await.run, 3);
    let mut alive = alive;
    alive.status = JobStatus::Cancelled;
    app.core.store.save_job(&alive).await.unwrap();
}

/// `GET /api/jobs`: every job of the caller that has not expired, newest first, each as
/// `GET /api/jobs/{id}` shows it (a stalled folder job taken over as it is seen); not another
/// user's, not an archive a share's visitor asked for, not an expired one.
async fn the_callers_jobs_are_listed_newest_first(kind: Kind) {
    let app = app(kind).await;
    let (user_id, token) = home(&app, 3, 100).await;
    let (other_id, other, _) = app.user("kim").await;
    assert_eq!(
        app.get("/api/jobs", Some(&token))
            .await
            .expect(StatusCode::OK),
        json!({"items": [], "next_cursor": null})
    );
    let archive = started(&app, &token).await;
    settled(&app, &token, &archive).await;
    let at = |minutes: i64| chrono::Utc::now() - chrono::Duration::minutes(minutes);
    let mut older = ended_folder_job(&user_id, "older", JobKind::Move, JobStatus::Cancelled);
    older.created_at = at(30);
    stalled_copy(&app, &user_id, "stalled", 11).await;
    let mut visitors = ended_folder_job(&user_id, "visitors", JobKind::Zip, JobStatus::Done);
    visitors.folder = None;
    visitors.share_id = Some("s1".into());
    let mut expired = ended_folder_job(&user_id, "expired", JobKind::Copy, JobStatus::Done);
    expired.expires_at = at(1);
    let theirs = ended_folder_job(&other_id, "theirs", JobKind::Delete, JobStatus::Done);
    for job in [&older, &visitors, &expired, &theirs] {
        app.core.store.save_job(job).await.unwrap();
    }

    let listed = app
        .get("/api/jobs", Some(&token))
        .await
        .expect(StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    // The archive (now), the stalled copy (11 minutes old), the cancelled move (30).
    assert_eq!(ids, [archive.as_str(), "stalled", "older"], "{listed}");
    assert_eq!(listed["next_cursor"], Value::Null);
    // A page at a time, as every listing: the same jobs in the same order.
    let mut paged = Vec::new();
    let mut uri = "/api/jobs?limit=1".to_owned();
    loop {
        let page = app.get(&uri, Some(&token)).await.expect(StatusCode::OK);
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        paged.push(page["items"][0]["job_id"].as_str().unwrap().to_owned());
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/jobs?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, ids);
    app.get("/api/jobs?cursor=bm90LWEtY3Vyc29y", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get("/api/jobs?limit=0", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    let alone = app
        .get(&format!("/api/jobs/{archive}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(lasting(items[0].clone()), lasting(alone));
    assert_eq!(items[2]["resumable"], true, "{listed}");
    // Seen stalled in the list: taken over, and it finishes.
    assert!(
        app.core
            .store
            .get_job(&user_id, "stalled")
            .await
            .unwrap()
            .unwrap()
            .run
            > 3
    );
    assert_eq!(settled(&app, &token, "stalled").await["status"], "done");

    let theirs = app
        .get("/api/jobs", Some(&other))
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "{theirs}");
    assert_eq!(theirs["items"][0]["job_id"], "theirs");
    app.get("/api/jobs", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}
