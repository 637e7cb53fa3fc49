//! Where folder jobs begin and what they hold, on every backend: the threshold (a folder of at
//! most `folder_sync_max_objects` objects is relocated or deleted within the request and
//! answered exactly as before; one more object makes it a job: 202 with `Location`), `stat`
//! naming the job that holds a path, and the guards: while a job runs, every write at, below or
//! above the paths it holds is refused with 409 `job_running` naming the job, reads are not,
//! unrelated folders get jobs of their own, and of concurrent jobs on one folder one starts. A
//! step holds no more bytes than `job_step_bytes` (or one larger object), and a long one keeps
//! its job and slot alive.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::config::Config;

use crate::backend_tests;
use crate::flaky::{Flaky, Gate};
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::invariants::{files_of, usage_matches_listing};
use crate::share_uploads::visit;
use crate::shares_support::create_share;

backend_tests!(
    small_folders_answer_as_today,
    one_object_more_makes_each_operation_a_job,
    progress_and_stat_while_a_job_runs,
    a_step_holds_at_most_its_bytes,
    a_long_step_keeps_its_job_and_slot_alive,
    two_jobs_on_overlapping_folders,
);

/// Jobs of a test's size: more than 3 objects is a job, 2 objects a step, every step a run of
/// its own (a hand-over after each).
pub fn small_jobs(c: &mut Config) {
    c.folder_sync_max_objects = 3;
    c.job_step_objects = 2;
    c.job_slice_secs = 0;
    c.job_retry_pause_ms = 10;
}

/// Creates the folder `parent/name` (a marker) holding `files` files `f<i>.txt` (uploaded, so
/// charged): `files + 1` objects.
pub async fn folder(app: &TestApp, token: &str, parent: &str, name: &str, files: usize) {
    app.post(
        "/api/files/create-folder",
        Some(token),
        json!({"parent_path": parent, "folder_name": name}),
    )
    .await
    .expect(StatusCode::CREATED);
    if files == 0 {
        return;
    }
    let path = if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    };
    let names: Vec<String> = (0..files).map(|i| format!("f{i}.txt")).collect();
    let parts: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), &b"0123456789"[..]))
        .collect();
    app.upload(token, &[("path", None, path.as_bytes())], &parts)
        .await
        .expect(StatusCode::CREATED);
}

/// Starts `/api/files/<what>` (copy or move) of `source` into `dest` as `token`'s holder
/// through `app`, its object copies held at `gate` (shut here), and waits until `n` of them
/// have reached it: the job's id.
pub async fn held_at(
    app: &TestApp,
    gate: &Gate,
    token: &str,
    what: &str,
    (source, dest): (&str, &str),
    n: usize,
) -> String {
    gate.shut();
    let body = json!({"source_path": source, "dest_path": dest});
    let reply = app
        .post(&format!("/api/files/{what}"), Some(token), body)
        .await;
    let id = started(reply, what);
    gate.reached(n).await;
    id
}

/// The job id of a 202, after checking its `Location` and that the body is the running job.
#[track_caller]
pub fn started(reply: Reply, kind: &str) -> String {
    let location = reply
        .headers
        .get(http::header::LOCATION)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = reply.expect(StatusCode::ACCEPTED);
    let id = body["job_id"].as_str().expect("job_id").to_owned();
    assert_eq!(location.as_deref(), Some(&*format!("/api/jobs/{id}")));
    assert_eq!(body["kind"], kind, "{body}");
    assert_eq!(body["status"], "running", "{body}");
    id
}

/// Polls the job until it is no longer running (bounded: a stuck job fails the case); its view.
pub async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..6000 {
        let job = app
            .get(&format!("/api/jobs/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        if job["status"] != "running" {
            released(app, token, &job).await;
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} still running");
}

/// The ended `job` has given its paths back: its runner frees them before it records the end,
/// so a write right after `done` is never refused. The probe is refused only by the
/// reservation: otherwise its parent is missing.
async fn released(app: &TestApp, token: &str, job: &Value) {
    let Some(source) = job["source_path"].as_str() else {
        return;
    };
    let probe = json!({"parent_path": format!("{source}/no-such-folder"), "folder_name": "x"});
    app.post("/api/files/create-folder", Some(token), probe)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn stat(app: &TestApp, token: &str, path: &str) -> Reply {
    app.get(&format!("/api/files/stat?path={path}"), Some(token))
        .await
}

fn paths(files: Vec<(String, u64)>) -> Vec<String> {
    files.into_iter().map(|(path, _)| path).collect()
}

async fn small_folders_answer_as_today(kind: Kind) {
    // GIVEN folders of exactly the threshold's 3 objects (a marker and 2 files)
    let app = TestApp::with(kind, small_jobs).await;
    let (_, token, _) = app.user("sam").await;
    folder(&app, &token, "", "a", 2).await;
    folder(&app, &token, "", "dst", 0).await;
    // WHEN each is copied, renamed, moved and deleted
    // THEN each answers 200 with today's bodies, and no job
    let answers = [
        (
            "/api/files/copy",
            json!({"source_path": "a", "dest_path": "dst"}),
            json!({"message": "Item copied successfully", "new_path": "dst/a"}),
        ),
        (
            "/api/files/rename",
            json!({"old_path": "a", "new_name": "b"}),
            json!({"message": "Item renamed successfully", "new_path": "b"}),
        ),
        (
            "/api/files/move",
            json!({"source_path": "dst/a", "dest_path": ""}),
            json!({"message": "Item moved successfully", "new_path": "a"}),
        ),
        (
            "/api/files/delete",
            json!({"path": "b"}),
            json!({"message": "Folder 'b' deleted successfully"}),
        ),
    ];
    for (uri, request, answer) in answers {
        let reply = app.post(uri, Some(&token), request).await;
        assert!(reply.headers.get(http::header::LOCATION).is_none());
        assert_eq!(reply.expect(StatusCode::OK), answer, "{uri}");
    }
    assert_eq!(
        paths(files_of(&app, &token).await),
        ["a/f0.txt", "a/f1.txt"]
    );
    usage_matches_listing(&app, &token).await;
}

async fn one_object_more_makes_each_operation_a_job(kind: Kind) {
    // GIVEN a folder of 4 objects, one more than the threshold
    let app = TestApp::with(kind, small_jobs).await;
    let (_, token, _) = app.user("sia").await;
    folder(&app, &token, "", "a", 3).await;
    folder(&app, &token, "", "dst", 0).await;
    // WHEN it is copied, renamed, moved and deleted
    // THEN each answers 202 with a job that ends done
    let jobs = [
        (
            "/api/files/copy",
            json!({"source_path": "a", "dest_path": "dst"}),
            "copy",
        ),
        (
            "/api/files/rename",
            json!({"old_path": "a", "new_name": "b"}),
            "rename",
        ),
        (
            "/api/files/move",
            json!({"source_path": "b", "dest_path": "dst/a"}),
            "move",
        ),
        ("/api/files/delete", json!({"path": "dst"}), "delete"),
    ];
    for (uri, request, job_kind) in jobs {
        let id = started(app.post(uri, Some(&token), request).await, job_kind);
        let job = finished(&app, &token, &id).await;
        assert_eq!(job["status"], "done", "{job}");
    }
    assert!(files_of(&app, &token).await.is_empty());
    usage_matches_listing(&app, &token).await;
}

/// A copy of `src` (a marker and 6 files of 10 bytes) into `dst`, on an app with [`small_jobs`]
/// and `tweak`, whose first object copy waits at the gate (shut until the test opens it).
struct HeldCopy {
    _base: TestApp,
    app: TestApp,
    flaky: Arc<Flaky>,
    user_id: String,
    token: String,
    id: String,
}

async fn copy_held_at_the_gate(kind: Kind, tweak: impl FnOnce(&mut Config)) -> HeldCopy {
    let base = TestApp::with(kind, |c| {
        small_jobs(c);
        tweak(c);
    })
    .await;
    let (user_id, token, _) = base.user("bob").await;
    folder(&base, &token, "", "src", 6).await;
    folder(&base, &token, "", "dst", 0).await;
    let (app, flaky) = Flaky::around(&base);
    let id = held_at(&app, &flaky.copy_gate, &token, "copy", ("src", "dst"), 1).await;
    HeldCopy {
        _base: base,
        app,
        flaky,
        user_id,
        token,
        id,
    }
}

/// Opens the gate: the copy ends done with all 7 objects and 60 bytes, usage exact.
async fn let_go(held: &HeldCopy) {
    held.flaky.copy_gate.open();
    let done = finished(&held.app, &held.token, &held.id).await;
    assert_eq!(
        (&done["status"], &done["objects_done"], &done["bytes_done"]),
        (&json!("done"), &json!(7), &json!(60)),
        "{done}"
    );
    usage_matches_listing(&held.app, &held.token).await;
}

/// A step of large objects is cut by its bytes, however many objects the setting allows: it
/// stays far from being taken for a stall, and within one invocation.
async fn a_step_holds_at_most_its_bytes(kind: Kind) {
    // GIVEN steps of up to 100 objects but 25 bytes, WHEN the copy's first object waits
    let held = copy_held_at_the_gate(kind, |c| {
        c.job_step_objects = 100;
        c.job_step_bytes = 25;
    })
    .await;
    // THEN its first step, recorded before its first copy, holds at most 25 bytes
    let job = held.app.core.store.get_job(&held.user_id, &held.id).await;
    let step = job.unwrap().unwrap().folder.and_then(|w| w.step);
    let step = step.expect("a recorded step");
    assert!(step.bytes <= 25 && (1..7).contains(&step.files), "{step:?}");
    // AND the job goes on to copy everything
    let_go(&held).await;
}

/// A step whose objects take long (here: held at a gate) writes its job all the same, every
/// `job_heartbeat_ms`, and renews its slot: it is never taken for a stalled one, and its folders
/// stay held.
async fn a_long_step_keeps_its_job_and_slot_alive(kind: Kind) {
    // GIVEN one step for all 7 objects and a heartbeat every 50 ms, WHEN its copies wait
    let held = copy_held_at_the_gate(kind, |c| {
        c.job_step_objects = 100;
        c.job_heartbeat_ms = 50;
    })
    .await;
    let (app, user_id, id) = (&held.app, &held.user_id, &held.id);
    let stored = || async { app.core.store.get_job(user_id, id).await.unwrap().unwrap() };
    let slot = || async {
        let slots = app.core.store.job_slots(user_id).await.unwrap();
        let mine = slots.into_iter().find(|s| s.job_id == *id);
        mine.expect("the job holds a slot").expires_at
    };
    let (first, first_slot) = (stored().await, slot().await);
    // THEN the job is written again while the step works, the step as recorded, and its slot
    // is renewed (its expiry counts in seconds)
    let (mut later, mut later_slot) = (stored().await, slot().await);
    for _ in 0..100 {
        if later.updated_at > first.updated_at && later_slot > first_slot {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        (later, later_slot) = (stored().await, slot().await);
    }
    assert!(
        later.updated_at > first.updated_at,
        "not written while the step worked"
    );
    assert!(
        later_slot > first_slot,
        "slot not renewed while the step worked"
    );
    assert_eq!(later.status, shared::store::JobStatus::Running);
    let step = |job: &shared::store::Job| job.folder.as_ref().and_then(|w| w.step.clone());
    assert_eq!(step(&later), step(&first));
    assert!(step(&first).is_some());
    // AND once the copies go on, the job ends with everything copied
    let_go(&held).await;
}

async fn progress_and_stat_while_a_job_runs(kind: Kind) {
    // GIVEN a folder of 7 objects, and copies that pass two gates: `inner` (shut) holds the
    // job's first step, `outer` the ones after it once shut
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, _) = base.user("tia").await;
    folder(&base, &token, "", "src", 6).await;
    folder(&base, &token, "", "dst", 0).await;
    let (held, inner) = Flaky::around(&base);
    let (app, outer) = Flaky::around(&held);
    // WHEN it is copied, and the job's first step (2 objects) waits
    let id = held_at(&app, &inner.copy_gate, &token, "copy", ("src", "dst"), 2).await;
    // THEN stat of the source, of what is in it, and of the target name the job
    let job = |role: &str| json!({"job_id": id, "kind": "copy", "role": role, "status": "running"});
    let source = stat(&app, &token, "src").await.expect(StatusCode::OK);
    assert_eq!(source["is_directory"], true);
    assert!(source["modified"].is_number(), "{source}");
    assert_eq!(source["job"], job("source"));
    let inside = stat(&app, &token, "src/f3.txt")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (inside["size"].as_u64(), &inside["job"]),
        (Some(10), &job("source"))
    );
    // (the target before anything was copied: a folder without a date, not 404)
    let target = stat(&app, &token, "dst/src").await.expect(StatusCode::OK);
    assert_eq!(
        (&target["is_directory"], &target["modified"], &target["job"]),
        (&json!(true), &Value::Null, &job("target"))
    );
    stat(&app, &token, "dst/src/f0.txt")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // (a folder above it is held by no job)
    let dst = stat(&app, &token, "dst").await.expect(StatusCode::OK);
    assert!(dst.get("job").is_none(), "{dst}");
    // WHEN the first step goes through, and the next waits
    outer.copy_gate.shut();
    inner.copy_gate.open();
    outer.copy_gate.reached(3).await;
    // THEN the job shows its progress, and each object is listed (the source whole, the
    // target in part)
    let running = app
        .get(&format!("/api/jobs/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(running["status"], "running", "{running}");
    let progress = (
        running["objects_done"].as_u64(),
        running["objects_total"].as_u64(),
    );
    assert_eq!(progress, (Some(2), Some(7)), "{running}");
    let files = paths(files_of(&app, &token).await);
    let sources: Vec<String> = (0..6).map(|i| format!("src/f{i}.txt")).collect();
    assert!(sources.iter().all(|s| files.contains(s)), "{files:?}");
    assert_eq!(files.len(), 7, "{files:?}");
    let target = stat(&app, &token, "dst/src").await.expect(StatusCode::OK);
    assert!(target["modified"].is_number(), "{target}");
    assert_eq!(target["job"], job("target"));
    // WHEN the copies go on
    outer.copy_gate.open();
    let done = finished(&app, &token, &id).await;
    // THEN the job is done with every object, and stat names no job any more
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (&done["objects_done"], &done["objects_total"]),
        (&json!(7), &json!(7))
    );
    assert_eq!(
        (&done["bytes_done"], &done["bytes_total"]),
        (&json!(60), &json!(60))
    );
    for path in ["src", "dst/src", "dst/src/f5.txt"] {
        let item = stat(&app, &token, path).await.expect(StatusCode::OK);
        assert!(item.get("job").is_none(), "{path}: {item}");
    }
    let files = paths(files_of(&app, &token).await);
    assert_eq!(files.len(), 12, "{files:?}");
    usage_matches_listing(&app, &token).await;
}

/// Every write that touches `a` (held by job `id`) or `b/a` (its target) is 409 `job_running`.
async fn every_guard_refuses(app: &TestApp, token: &str, id: &str) {
    let refusals = [
        (
            "/api/files/copy",
            json!({"source_path": "a/f1.txt", "dest_path": "c"}),
        ),
        (
            "/api/files/copy",
            json!({"source_path": "c/f0.txt", "dest_path": "b/a"}),
        ),
        (
            "/api/files/move",
            json!({"source_path": "c", "dest_path": "a"}),
        ),
        ("/api/files/delete", json!({"path": "b"})),
        ("/api/files/delete", json!({"path": "a/f0.txt"})),
        (
            "/api/files/rename",
            json!({"old_path": "a", "new_name": "z"}),
        ),
        (
            "/api/files/create-folder",
            json!({"parent_path": "b/a", "folder_name": "n"}),
        ),
        (
            "/api/files/create-folder",
            json!({"parent_path": "a", "folder_name": "n"}),
        ),
        (
            "/api/files/uploads",
            json!({"path": "a/new.bin", "size": 10}),
        ),
        ("/api/files/uploads", json!({"path": "b/a", "size": 10})),
    ];
    for (uri, request) in refusals {
        let refused = app.post(uri, Some(token), request.clone()).await;
        let body = refused.expect_error(StatusCode::CONFLICT, "job_running");
        assert_eq!(body["details"], json!({"job_id": id}), "{uri} {request}");
    }
    let form = app
        .upload(
            token,
            &[("path", None, &b"a"[..])],
            &[("new.txt", &b"x"[..])],
        )
        .await;
    let body = form.expect_error(StatusCode::CONFLICT, "job_running");
    assert_eq!(body["details"]["job_id"], id);
}

async fn two_jobs_on_overlapping_folders(kind: Kind) {
    // GIVEN folders a (7 objects), c (6), e (5) and an empty b; an upload link to b; and
    // copies that wait at a gate
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, _) = base.user("uma").await;
    folder(&base, &token, "", "a", 6).await;
    folder(&base, &token, "", "b", 0).await;
    folder(&base, &token, "", "c", 5).await;
    folder(&base, &token, "", "e", 4).await;
    folder(&base, &token, "", "f", 0).await;
    let link = create_share(&base, &token, json!({"path": "b", "kind": "upload"})).await;
    let link = link["id"].as_str().expect("id").to_owned();
    let (app, flaky) = Flaky::around(&base);
    // WHEN job A moves a into b, and waits at its first copy
    let id = held_at(&app, &flaky.copy_gate, &token, "move", ("a", "b"), 1).await;
    // THEN every write at, below or above a and b/a is refused, naming A
    every_guard_refuses(&app, &token, &id).await;
    // (a visitor is refused too, without the owner's job)
    let visitor = visit(
        &app,
        Method::POST,
        &format!("/api/s/{link}/uploads"),
        &[],
        Some(json!({"path": "a/x.txt", "size": 3})),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "job_running");
    assert!(!visitor.to_string().contains(&id), "{visitor}");
    // AND reads are not refused
    app.get("/api/files/list?path=a", Some(&token))
        .await
        .expect(StatusCode::OK);
    // AND a job on an unrelated folder starts and finishes (a delete copies nothing)
    let other = started(
        app.post("/api/files/delete", Some(&token), json!({"path": "c"}))
            .await,
        "delete",
    );
    assert_eq!(finished(&app, &token, &other).await["status"], "done");
    // WHEN five requests move e into f at once
    let app = Arc::new(app);
    let moves = race(5, |_| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            app.post(
                "/api/files/move",
                Some(&token),
                json!({"source_path": "e", "dest_path": "f"}),
            )
            .await
        }
    })
    .await;
    // THEN exactly one started a job; the others were refused naming it
    let statuses: Vec<u16> = moves.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    let mut moves = moves.into_iter();
    let winner = moves.by_ref().find(|r| r.status == StatusCode::ACCEPTED);
    let second = started(winner.expect("one 202"), "move");
    for lost in moves.filter(|r| r.status != StatusCode::ACCEPTED) {
        let body = lost.expect_error(StatusCode::CONFLICT, "job_running");
        assert_eq!(body["details"]["job_id"], second);
    }
    // WHEN the copies go on
    flaky.copy_gate.open();
    // THEN both jobs finish, everything is where they put it, and b/a takes writes again
    for job in [&id, &second] {
        assert_eq!(finished(&app, &token, job).await["status"], "done");
    }
    let mut expected: Vec<String> = (0..6).map(|i| format!("b/a/f{i}.txt")).collect();
    expected.extend((0..4).map(|i| format!("f/e/f{i}.txt")));
    assert_eq!(paths(files_of(&app, &token).await), expected);
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "b/a", "folder_name": "n"}),
    )
    .await
    .expect(StatusCode::CREATED);
    usage_matches_listing(&app, &token).await;
}
