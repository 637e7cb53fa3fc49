//! Folder jobs at work, on every backend: copy, move, rename and delete of folders above the
//! threshold run as jobs that finish with exact totals, usage and markers; a cancel stops them
//! at the next object; a failed copy is retried, then the job fails and resumes; a job whose
//! process died is taken over and its old run writes nothing more; a quota reached midway
//! fails the job with what was copied charged; undo puts a cancelled move or copy back.
//!
//! After each of these, every object exists exactly once as a whole object (under its old or
//! its new name) and usage equals what is stored. Test apps hand every step to a fresh run
//! (`small_jobs`), so hand-overs happen throughout (on AWS through the files function).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;

use crate::backend_tests;
use crate::flaky::{Flaky, FlakyMeta};
use crate::folder_job_guards::{finished, folder, held_at, small_jobs, started};
use crate::helpers::{Kind, TestApp};
use crate::invariants::{objects_of, usage_matches_listing};
use crate::shares_support::{create_share, visitor};

backend_tests!(
    large_folder_operations_answer_202_and_finish,
    cancelling_midway_leaves_every_object_once,
    undo_puts_a_cancelled_move_and_copy_back,
    undoing_a_copy_keeps_what_was_added_to_its_target_meanwhile,
    a_failure_midway_is_retried_then_resumed,
    a_cancel_stops_at_the_next_object,
    a_copy_that_finds_its_target_changed_stops_and_keeps_it,
    a_step_done_twice_changes_nothing_more,
    a_job_resumes_after_a_restart,
    quota_reached_midway,
    a_delete_job_gives_back_usage_and_keeps_the_parent,
    a_move_job_ends_the_shares_of_its_source,
    a_move_takes_objects_that_slipped_in_behind_it,
);

/// One stored object below a folder: (path relative to it, size, is a folder marker).
type Entry = (String, u64, bool);

/// The objects below the folder `path` (its marker as ""), as the owner's listing shows them.
async fn objects_below(app: &TestApp, token: &str, path: &str) -> BTreeSet<Entry> {
    let inside = format!("{path}/");
    objects_of(app, token)
        .await
        .into_iter()
        .filter_map(|(p, size, dir)| {
            let rel = if p == path {
                String::new()
            } else {
                p.strip_prefix(&inside)?.to_owned()
            };
            Some((rel, size, dir))
        })
        .collect()
}

/// Bytes and objects of these entries.
fn tally(entries: &BTreeSet<Entry>) -> (u64, u64) {
    (
        entries.iter().map(|(_, size, _)| size).sum(),
        entries.len() as u64,
    )
}

/// A user with the folder `a` of 9 objects and 70 bytes (a marker, five files, the folder
/// `a/sub` with two) and an empty folder `dst`: (user id, token, the objects of `a`).
async fn owner_of_a_folder(app: &TestApp, name: &str) -> (String, String, BTreeSet<Entry>) {
    let (id, token, _) = app.user(name).await;
    folder(app, &token, "", "a", 5).await;
    folder(app, &token, "a", "sub", 2).await;
    folder(app, &token, "", "dst", 0).await;
    let original = objects_below(app, &token, "a").await;
    assert_eq!(tally(&original), (70, 9));
    (id, token, original)
}

async fn job_call(app: &TestApp, token: &str, method: Method, uri: &str) -> Value {
    let status = if method == Method::GET {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    app.call(method, uri, Some(token), None)
        .await
        .expect(status)
}

/// Asks the job to stop: 202 with `cancel_requested`.
async fn cancel(app: &TestApp, token: &str, id: &str) {
    let asked = job_call(app, token, Method::DELETE, &format!("/api/jobs/{id}")).await;
    assert_eq!(asked["cancel_requested"], true, "{asked}");
}

/// Resumes (or undoes) the job: 202, running again; its end.
async fn run_again(app: &TestApp, token: &str, id: &str, how: &str) -> Value {
    let again = job_call(app, token, Method::POST, &format!("/api/jobs/{id}/{how}")).await;
    assert_eq!(again["status"], "running", "{again}");
    finished(app, token, id).await
}

/// Starts a move or copy of `a` into `dst` through `app`, its first copy held at the gate,
/// cancels it and lets it end: the cancelled job.
async fn cancelled_midway(app: &TestApp, flaky: &Flaky, token: &str, what: &str) -> Value {
    let id = held_at(app, &flaky.copy_gate, token, what, ("a", "dst"), 1).await;
    cancel(app, token, &id).await;
    flaky.copy_gate.open();
    let ended = finished(app, token, &id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(
        (&ended["resumable"], &ended["undoable"]),
        (&json!(true), &json!(true))
    );
    let (done, total) = (&ended["objects_done"], &ended["objects_total"]);
    assert_eq!(total, 9, "{ended}");
    assert!(
        done.as_u64() > Some(0) && done.as_u64() < Some(9),
        "{ended}"
    );
    ended
}

/// A 3-byte file put at `path` of the user's home straight into the stores (counted), as a
/// write that slipped past the job's reservation would.
async fn put_behind_the_reservation(base: &TestApp, uid: &str, path: &str) {
    let key = shared::layout::Home::of(uid).prefix().to_owned() + path;
    let body: shared::objects::ByteStream = Box::pin(futures::stream::once(async {
        Ok(bytes::Bytes::from_static(b"abc"))
    }));
    base.core
        .objects
        .put(&key, body, "text/plain", 3)
        .await
        .expect("put");
    base.core
        .store
        .add_usage(uid, 3, 1, None)
        .await
        .expect("usage");
}

/// Every object of `original` is in exactly one of `left` and `moved`.
#[track_caller]
fn each_once(original: &BTreeSet<Entry>, left: &BTreeSet<Entry>, moved: &BTreeSet<Entry>) {
    assert!(left.is_disjoint(moved), "in both: {left:?} {moved:?}");
    let union: BTreeSet<Entry> = left.union(moved).cloned().collect();
    assert_eq!(&union, original);
}

async fn large_folder_operations_answer_202_and_finish(kind: Kind) {
    // GIVEN a folder of 9 objects, above the threshold of 3
    let app = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&app, "ann").await;
    let before = usage_matches_listing(&app, &token).await;
    let post = |uri: &'static str, body: Value| app.post(uri, Some(&token), body);
    // WHEN it is copied
    let copy = post(
        "/api/files/copy",
        json!({"source_path": "a", "dest_path": "dst"}),
    )
    .await;
    let done = finished(&app, &token, &started(copy, "copy")).await;
    // THEN the job ends done with exact totals, the copy whole, its usage charged
    assert_eq!(done["status"], "done", "{done}");
    let totals = ["objects_done", "objects_total", "bytes_done", "bytes_total"].map(|k| &done[k]);
    assert_eq!(
        totals,
        [&json!(9), &json!(9), &json!(70), &json!(70)],
        "{done}"
    );
    assert_eq!(
        (&done["source_path"], &done["target_path"]),
        (&json!("a"), &json!("dst/a"))
    );
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    assert_eq!(objects_below(&app, &token, "a").await, original);
    let copied = usage_matches_listing(&app, &token).await;
    assert_eq!(copied, (before.0 + 70, before.1 + 9));
    // WHEN the copy is renamed, then moved to the home
    let rename = post(
        "/api/files/rename",
        json!({"old_path": "dst/a", "new_name": "b"}),
    )
    .await;
    let done = finished(&app, &token, &started(rename, "rename")).await;
    assert_eq!(
        (&done["status"], &done["objects_done"]),
        (&json!("done"), &json!(9))
    );
    assert!(objects_below(&app, &token, "dst/a").await.is_empty());
    assert_eq!(objects_below(&app, &token, "dst/b").await, original);
    let moved = post(
        "/api/files/move",
        json!({"source_path": "dst/b", "dest_path": ""}),
    )
    .await;
    let done = finished(&app, &token, &started(moved, "move")).await;
    assert_eq!(done["status"], "done", "{done}");
    // THEN each object is under its new name only, usage unchanged, `dst` kept (now empty)
    assert!(objects_below(&app, &token, "dst/b").await.is_empty());
    assert_eq!(objects_below(&app, &token, "b").await, original);
    assert_eq!(usage_matches_listing(&app, &token).await, copied);
    let dst = app.get("/api/files/stat?path=dst", Some(&token)).await;
    assert_eq!(dst.expect(StatusCode::OK)["is_directory"], true);
    // WHEN the moved folder is deleted
    let delete = post("/api/files/delete", json!({"path": "b"})).await;
    let done = finished(&app, &token, &started(delete, "delete")).await;
    // THEN it is gone, with its usage
    assert_eq!(
        (&done["status"], &done["objects_total"]),
        (&json!("done"), &json!(9))
    );
    assert!(objects_below(&app, &token, "b").await.is_empty());
    assert_eq!(usage_matches_listing(&app, &token).await, before);
}

async fn cancelling_midway_leaves_every_object_once(kind: Kind) {
    // GIVEN a move of a folder of 9 objects, held at its first copy
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "bob").await;
    let before = usage_matches_listing(&base, &token).await;
    let (app, flaky) = Flaky::around(&base);
    // WHEN it is cancelled midway
    let ended = cancelled_midway(&app, &flaky, &token, "move").await;
    // THEN every object is once under its old or its new name, and usage is unchanged
    let left = objects_below(&app, &token, "a").await;
    let moved = objects_below(&app, &token, "dst/a").await;
    each_once(&original, &left, &moved);
    assert_eq!(Some(moved.len() as u64), ended["objects_done"].as_u64());
    assert_eq!(usage_matches_listing(&app, &token).await, before);
    // and the paths are free again: the target takes writes
    let new = json!({"parent_path": "dst/a", "folder_name": "new"});
    app.post("/api/files/create-folder", Some(&token), new)
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/api/files/delete",
        Some(&token),
        json!({"path": "dst/a/new"}),
    )
    .await
    .expect(StatusCode::OK);
    // WHEN it is resumed
    let id = ended["job_id"].as_str().expect("id");
    let done = run_again(&app, &token, id, "resume").await;
    // THEN the move ends with everything moved
    assert_eq!(done["status"], "done", "{done}");
    assert!(objects_below(&app, &token, "a").await.is_empty());
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    assert_eq!(usage_matches_listing(&app, &token).await, before);
}

async fn undo_puts_a_cancelled_move_and_copy_back(kind: Kind) {
    for what in ["move", "copy"] {
        // GIVEN a move (a copy) cancelled midway
        let base = TestApp::with(kind, small_jobs).await;
        let (_, token, original) = owner_of_a_folder(&base, "cyd").await;
        let before = usage_matches_listing(&base, &token).await;
        let (app, flaky) = Flaky::around(&base);
        let ended = cancelled_midway(&app, &flaky, &token, what).await;
        // WHEN it is undone
        let id = ended["job_id"].as_str().expect("id");
        let undone = run_again(&app, &token, id, "undo").await;
        // THEN the source is whole where it was, the target gone, usage as before
        assert_eq!(undone["status"], "undone", "{what}: {undone}");
        assert_eq!(objects_below(&app, &token, "a").await, original, "{what}");
        assert!(
            objects_below(&app, &token, "dst/a").await.is_empty(),
            "{what}"
        );
        app.get("/api/files/stat?path=dst/a", Some(&token))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
        app.get("/api/files/stat?path=dst", Some(&token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(usage_matches_listing(&app, &token).await, before, "{what}");
    }
}

async fn undoing_a_copy_keeps_what_was_added_to_its_target_meanwhile(kind: Kind) {
    // GIVEN a copy cancelled midway (its target no longer reserved), then two files of the
    // owner's own put into the target, one before and one after every copy in key order
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "cyd").await;
    let (app, flaky) = Flaky::around(&base);
    let ended = cancelled_midway(&app, &flaky, &token, "copy").await;
    let mine: [(&str, &[u8]); 2] = [("0-mine.txt", b"not a copy!"), ("zz-mine.txt", b"mine too")];
    app.upload(&token, &[("path", None, b"dst/a")], &mine)
        .await
        .expect(StatusCode::CREATED);
    let before = usage_matches_listing(&app, &token).await;
    // WHEN the copy is undone
    let id = ended["job_id"].as_str().expect("id");
    let undone = run_again(&app, &token, id, "undo").await;
    // THEN only the copies went: the owner's files stay, the source is whole, and what the
    // copies held is given back
    assert_eq!(undone["status"], "undone", "{undone}");
    let left: BTreeSet<Entry> = [("0-mine.txt", 11), ("zz-mine.txt", 8)]
        .into_iter()
        .map(|(name, size)| (name.to_owned(), size, false))
        .collect();
    assert_eq!(objects_below(&app, &token, "dst/a").await, left);
    assert_eq!(objects_below(&app, &token, "a").await, original);
    let after = usage_matches_listing(&app, &token).await;
    assert!(after < before, "{before:?} → {after:?}");
}

async fn a_failure_midway_is_retried_then_resumed(kind: Kind) {
    // GIVEN a move whose third copy fails once
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "dan").await;
    let before = usage_matches_listing(&base, &token).await;
    let (app, flaky) = Flaky::around(&base);
    flaky.failed_copy.store(3, Ordering::SeqCst);
    let body = json!({"source_path": "a", "dest_path": "dst"});
    let id = started(
        app.post("/api/files/move", Some(&token), body).await,
        "move",
    );
    // THEN the step is tried again and the move ends done
    let done = finished(&app, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    assert!(objects_below(&app, &token, "a").await.is_empty());
    assert_eq!(usage_matches_listing(&app, &token).await, before);
    // GIVEN storage that fails for good midway: the job fails, then resumes
    for what in ["move", "copy"] {
        failing_storage_fails_the_job_then_it_resumes(kind, what).await;
    }
}

/// A move (a copy) after whose second copy every copy fails: it fails, resumable, with every
/// object once (a copy: the source whole, the target a part of it); resumed once storage is
/// back, it ends done with nothing lost or doubled.
async fn failing_storage_fails_the_job_then_it_resumes(kind: Kind, what: &str) {
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "dan").await;
    let before = usage_matches_listing(&base, &token).await;
    let (app, flaky) = Flaky::around(&base);
    let body = json!({"source_path": "a", "dest_path": "dst"});
    let reply = app
        .post(&format!("/api/files/{what}"), Some(&token), body)
        .await;
    let id = started(reply, what);
    flaky.copy_gate.reached(2).await;
    flaky.copies_fail.store(true, Ordering::SeqCst);
    let failed = finished(&app, &token, &id).await;
    assert_eq!(failed["status"], "failed", "{what}: {failed}");
    assert_eq!(
        failed["error_code"], "service_unavailable",
        "{what}: {failed}"
    );
    assert_eq!(failed["resumable"], true, "{what}: {failed}");
    let left = objects_below(&app, &token, "a").await;
    let copied = objects_below(&app, &token, "dst/a").await;
    let usage = usage_matches_listing(&app, &token).await;
    if what == "move" {
        each_once(&original, &left, &copied);
        assert_eq!(usage, before);
    } else {
        assert_eq!(left, original);
        assert!(copied.is_subset(&original), "{copied:?}");
        let extra = tally(&copied);
        assert_eq!(usage, (before.0 + extra.0, before.1 + extra.1));
    }
    flaky.copies_fail.store(false, Ordering::SeqCst);
    let done = run_again(&app, &token, &id, "resume").await;
    assert_eq!(done["status"], "done", "{what}: {done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    let grown = if what == "move" {
        assert!(objects_below(&app, &token, "a").await.is_empty());
        (0, 0)
    } else {
        assert_eq!(objects_below(&app, &token, "a").await, original);
        (70, 9)
    };
    let after = usage_matches_listing(&app, &token).await;
    assert_eq!(after, (before.0 + grown.0, before.1 + grown.1), "{what}");
}

async fn a_cancel_stops_at_the_next_object(kind: Kind) {
    // GIVEN a copy of 25 objects in steps of 20, its first 16 copies (as many as run at once)
    // held
    let base = TestApp::with(kind, |c| {
        small_jobs(c);
        c.job_step_objects = 20;
    })
    .await;
    let (_, token, _) = base.user("kim").await;
    folder(&base, &token, "", "a", 24).await;
    folder(&base, &token, "", "dst", 0).await;
    let original = objects_below(&base, &token, "a").await;
    let before = usage_matches_listing(&base, &token).await;
    let (app, flaky) = Flaky::around(&base);
    let id = held_at(&app, &flaky.copy_gate, &token, "copy", ("a", "dst"), 16).await;
    // WHEN it is cancelled
    cancel(&app, &token, &id).await;
    flaky.copy_gate.open();
    let ended = finished(&app, &token, &id).await;
    // THEN the copies under way end, no other starts, and only what was copied is charged
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["objects_done"], 16, "{ended}");
    let copied = objects_below(&app, &token, "dst/a").await;
    assert_eq!(copied.len(), 16);
    assert!(copied.is_subset(&original));
    let extra = tally(&copied);
    let usage = usage_matches_listing(&app, &token).await;
    assert_eq!(usage, (before.0 + extra.0, before.1 + extra.1));
    // and it resumes from there
    let done = run_again(&app, &token, &id, "resume").await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    let usage = usage_matches_listing(&app, &token).await;
    assert_eq!(usage, (before.0 + 240, before.1 + 25));
}

async fn a_copy_that_finds_its_target_changed_stops_and_keeps_it(kind: Kind) {
    // GIVEN a copy held at its first step
    let base = TestApp::with(kind, small_jobs).await;
    let (uid, token, original) = owner_of_a_folder(&base, "jon").await;
    let (app, flaky) = Flaky::around(&base);
    let id = held_at(&app, &flaky.copy_gate, &token, "copy", ("a", "dst"), 2).await;
    // WHEN a write that bypassed the reservation puts a file where `a/f2.txt` is copied to
    // (its second step: `f1.txt`, `f2.txt`)
    put_behind_the_reservation(&base, &uid, "dst/a/f2.txt").await;
    flaky.copy_gate.open();
    // THEN the job fails and writes nothing over it: the step's own copy goes, the file stays
    let failed = finished(&app, &token, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error_code"], "destination_changed", "{failed}");
    assert_eq!(failed["objects_done"], 2, "{failed}");
    let there: BTreeSet<Entry> = [("", 0, true), ("f0.txt", 10, false), ("f2.txt", 3, false)]
        .into_iter()
        .map(|(p, size, dir)| (p.to_owned(), size, dir))
        .collect();
    assert_eq!(objects_below(&app, &token, "dst/a").await, there);
    assert_eq!(objects_below(&app, &token, "a").await, original);
    usage_matches_listing(&app, &token).await;
    // WHEN the stray file is removed (the paths are free again) and the job resumed
    app.post(
        "/api/files/delete",
        Some(&token),
        json!({"path": "dst/a/f2.txt"}),
    )
    .await
    .expect(StatusCode::OK);
    let done = run_again(&app, &token, &id, "resume").await;
    // THEN the copy is whole
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    usage_matches_listing(&app, &token).await;
}

async fn a_step_done_twice_changes_nothing_more(kind: Kind) {
    // GIVEN copies whose k-th job write fails: the step recorded before (or after) its objects
    // were copied, or a hand-over, is done again by the next try
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "eve").await;
    let (app, flaky) = FlakyMeta::around(&base);
    for k in 1..=6 {
        let name = format!("d{k}");
        folder(&app, &token, "", &name, 0).await;
        let before = usage_matches_listing(&app, &token).await;
        flaky.job_updates.fail_after(k);
        let body = json!({"source_path": "a", "dest_path": name});
        let id = started(
            app.post("/api/files/copy", Some(&token), body).await,
            "copy",
        );
        let done = finished(&app, &token, &id).await;
        // THEN each copy is whole once, charged once
        assert!(flaky.job_updates.spent(), "write {k} was not reached");
        assert_eq!(done["status"], "done", "write {k}: {done}");
        assert_eq!(done["objects_done"], 9, "write {k}: {done}");
        let copy = objects_below(&app, &token, &format!("{name}/a")).await;
        assert_eq!(copy, original, "write {k}");
        let after = usage_matches_listing(&app, &token).await;
        assert_eq!(after, (before.0 + 70, before.1 + 9), "write {k}");
    }
}

async fn a_job_resumes_after_a_restart(kind: Kind) {
    // GIVEN a move held at its first copy in one process
    let base = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&base, "fay").await;
    let before = usage_matches_listing(&base, &token).await;
    let (first, flaky) = Flaky::around(&base);
    let idle = Arc::strong_count(&first.core);
    let id = held_at(&first, &flaky.copy_gate, &token, "move", ("a", "dst"), 1).await;
    // WHEN another process starts over the same stores and resumes the running jobs
    let second = base.sibling(|_| {});
    second.core.resume_jobs().await;
    // THEN it finishes the move
    let done = finished(&second, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(objects_below(&second, &token, "a").await.is_empty());
    assert_eq!(objects_below(&second, &token, "dst/a").await, original);
    // and the first process's run, let go, finds the job taken over and writes nothing more
    flaky.copy_gate.open();
    for _ in 0..6000 {
        if Arc::strong_count(&first.core) == idle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        Arc::strong_count(&first.core),
        idle,
        "the first run never ended"
    );
    let after = job_call(&second, &token, Method::GET, &format!("/api/jobs/{id}")).await;
    assert_eq!(after, done);
    assert!(objects_below(&second, &token, "a").await.is_empty());
    assert_eq!(objects_below(&second, &token, "dst/a").await, original);
    assert_eq!(usage_matches_listing(&second, &token).await, before);
}

async fn quota_reached_midway(kind: Kind) {
    // GIVEN a folder of 6 objects and 50 bytes (and `dst`, 1) under a quota of 75 bytes: room
    // for 2 more files
    let app = TestApp::with(kind, small_jobs).await;
    let (_, admin) = app.member("boss", Role::Manager).await;
    let (uid, token, _) = app.user("gus").await;
    folder(&app, &token, "", "a", 5).await;
    folder(&app, &token, "", "dst", 0).await;
    let original = objects_below(&app, &token, "a").await;
    let quota = |bytes: u64| {
        let uri = format!("/api/users/{uid}");
        let body = json!({ "quota_bytes": bytes });
        let admin = admin.clone();
        let app = &app;
        async move {
            app.call(Method::PATCH, &uri, Some(&admin), Some(body))
                .await
                .expect(StatusCode::OK);
        }
    };
    quota(75).await;
    // WHEN it is copied
    let body = json!({"source_path": "a", "dest_path": "dst"});
    let id = started(
        app.post("/api/files/copy", Some(&token), body).await,
        "copy",
    );
    let failed = finished(&app, &token, &id).await;
    // THEN the job fails over quota, resumable, the target holding exactly what it copied
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error_code"], "quota_exceeded", "{failed}");
    assert_eq!(failed["resumable"], true, "{failed}");
    let copied = objects_below(&app, &token, "dst/a").await;
    assert_eq!(Some(copied.len() as u64), failed["objects_done"].as_u64());
    assert_eq!(tally(&copied), (20, 3));
    assert!(copied.is_subset(&original));
    assert_eq!(usage_matches_listing(&app, &token).await, (70, 7 + 3));
    // WHEN the quota is raised and the job resumed
    quota(1_000).await;
    let done = run_again(&app, &token, &id, "resume").await;
    // THEN the copy is whole
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    assert_eq!(usage_matches_listing(&app, &token).await, (100, 7 + 6));
}

async fn a_delete_job_gives_back_usage_and_keeps_the_parent(kind: Kind) {
    // GIVEN `box/big` (6 objects) in a folder `box` that has no marker of its own
    let app = TestApp::with(kind, small_jobs).await;
    let (uid, token, _) = app.user("hal").await;
    folder(&app, &token, "", "box", 0).await;
    folder(&app, &token, "box", "big", 5).await;
    let marker = shared::layout::Home::of(&uid).prefix().to_owned() + "box/";
    app.core.objects.delete(&[marker]).await.expect("delete");
    app.core
        .store
        .add_usage(&uid, 0, -1, None)
        .await
        .expect("usage");
    assert_eq!(usage_matches_listing(&app, &token).await, (50, 6));
    // WHEN `box/big` is deleted
    let body = json!({"path": "box/big"});
    let id = started(
        app.post("/api/files/delete", Some(&token), body).await,
        "delete",
    );
    let done = finished(&app, &token, &id).await;
    // THEN it is gone with its usage, and `box` stays, pinned by a marker
    assert_eq!(done["status"], "done", "{done}");
    let totals = ["objects_done", "objects_total", "bytes_done", "bytes_total"].map(|k| &done[k]);
    assert_eq!(
        totals,
        [&json!(6), &json!(6), &json!(50), &json!(50)],
        "{done}"
    );
    app.get("/api/files/stat?path=box/big", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let kept = app.get("/api/files/stat?path=box", Some(&token)).await;
    assert_eq!(kept.expect(StatusCode::OK)["is_directory"], true);
    assert_eq!(usage_matches_listing(&app, &token).await, (0, 1));
}

async fn a_move_job_ends_the_shares_of_its_source(kind: Kind) {
    // GIVEN shares of a folder and of a folder inside it
    let app = TestApp::with(kind, small_jobs).await;
    let (_, token, original) = owner_of_a_folder(&app, "ida").await;
    let mut shares = Vec::new();
    for path in ["a", "a/sub"] {
        let share = create_share(&app, &token, json!({"path": path, "kind": "download"})).await;
        shares.push(share["id"].as_str().expect("id").to_owned());
    }
    // WHEN the folder is moved by a job
    let body = json!({"source_path": "a", "dest_path": "dst"});
    let id = started(
        app.post("/api/files/move", Some(&token), body).await,
        "move",
    );
    let done = finished(&app, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    // THEN both links have ended
    for share in shares {
        let visit = visitor(&app, Method::GET, &format!("/api/s/{share}"), &[]).await;
        visit.expect_error(StatusCode::NOT_FOUND, "share_not_found");
    }
}

async fn a_move_takes_objects_that_slipped_in_behind_it(kind: Kind) {
    // GIVEN a move held at its first step (`a/`, `a/f0.txt`)
    let base = TestApp::with(kind, small_jobs).await;
    let (uid, token, mut original) = owner_of_a_folder(&base, "lea").await;
    let (app, flaky) = Flaky::around(&base);
    let id = held_at(&app, &flaky.copy_gate, &token, "move", ("a", "dst"), 2).await;
    // WHEN a file lands in the source behind the job's position (as an upload that passed its
    // guard just before the reservation did)
    put_behind_the_reservation(&base, &uid, "a/0.txt").await;
    original.insert(("0.txt".to_owned(), 3, false));
    let before = usage_matches_listing(&base, &token).await;
    flaky.copy_gate.open();
    // THEN the finishing pass moves it too
    let done = finished(&app, &token, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(objects_below(&app, &token, "a").await.is_empty());
    assert_eq!(objects_below(&app, &token, "dst/a").await, original);
    assert_eq!(usage_matches_listing(&app, &token).await, before);
}
