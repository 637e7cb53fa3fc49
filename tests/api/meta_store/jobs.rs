//! The job and job-slot ports on every backend: conditional writes on the owning run, the cancel
//! flag beside the body, usage changed in the same atomic step, and slots that reserve paths.

use chrono::{DateTime, Duration, Utc};
use shared::store::{
    GuardedClaim, Job, JobKind, JobSlot, JobStatus, JobWrite, MetaStore, Step, UsageChange,
};

use super::{caps, counters, created, now};
use crate::backend_tests;
use crate::helpers::{race, running_copy, Kind, TestApp};

backend_tests!(
    jobs_keep_their_run_and_cancel_flag,
    job_updates_change_usage_atomically,
    concurrent_take_overs_of_a_job_win_once,
    running_jobs_lists_only_running_jobs_of_every_user,
    guarded_slot_claims_hold_paths_and_fail_on_change,
    concurrent_guarded_claims_win_at_most_one_overlap,
);

/// A running folder copy of `user`, at run 0.
fn folder_job(user_id: &str, id: &str) -> Job {
    running_copy(user_id, id, "backup/docs")
}

async fn stored(store: &dyn MetaStore, job: &Job) -> Job {
    let found = store.get_job(&job.user_id, &job.id).await.unwrap();
    found.expect("the job is stored")
}

fn saved(cancel_requested: bool) -> JobWrite {
    JobWrite::Saved { cancel_requested }
}

async fn jobs_keep_their_run_and_cancel_flag(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "olga", "olga@example.com").await;
    let other = created(store, "pia", "pia@example.com").await;
    let mut job = folder_job(&u.id, "job-1");
    store.save_job(&job).await.unwrap();
    let read = stored(store, &job).await;
    assert_eq!(
        (read.kind, read.run, read.cancel_requested),
        (JobKind::Copy, 0, false)
    );
    assert_eq!(read.folder, job.folder);

    // Only the owner's running job can be asked to stop.
    assert!(!store.cancel_job(&other.id, "job-1").await.unwrap());
    assert!(!store.cancel_job(&u.id, "job-2").await.unwrap());
    assert!(store.cancel_job(&u.id, "job-1").await.unwrap());
    assert!(stored(store, &job).await.cancel_requested);
    // A save keeps the flag; the owning run's update reports it.
    job.files_total = 7;
    store.save_job(&job).await.unwrap();
    assert!(stored(store, &job).await.cancel_requested);
    job.files_done = 2;
    let step = Some(Step {
        through: "b.txt".into(),
        bytes: 10,
        files: 2,
    });
    job.folder.as_mut().unwrap().step = step.clone();
    assert_eq!(store.update_job(&job, 0, None).await.unwrap(), saved(true));

    // A write from a run that no longer owns the job changes nothing.
    let stale = Job {
        files_done: 99,
        run: 3,
        ..job.clone()
    };
    let written = store.update_job(&stale, 2, None).await.unwrap();
    assert_eq!(written, JobWrite::Superseded);
    let read = stored(store, &job).await;
    assert_eq!((read.files_done, read.run), (2, 0));
    assert_eq!(read.folder.unwrap().step, step);

    // A take-over (run 0 → 1) keeps the flag (a stop asked meanwhile is not lost); the old run
    // is superseded from then on.
    let taken = Job {
        run: 1,
        ..job.clone()
    };
    assert_eq!(
        store.update_job(&taken, 0, None).await.unwrap(),
        saved(true)
    );
    let read = stored(store, &job).await;
    assert_eq!((read.run, read.cancel_requested), (1, true));
    assert_eq!(
        store.update_job(&job, 0, None).await.unwrap(),
        JobWrite::Superseded
    );
    // The new owner's writes pass; an ended job cannot be cancelled, nor a missing one updated.
    let done = Job {
        status: JobStatus::Done,
        ..taken.clone()
    };
    assert_eq!(
        store.update_job(&done, 1, None).await.unwrap(),
        saved(false)
    );
    assert!(!store.cancel_job(&u.id, "job-1").await.unwrap());
    assert_eq!(stored(store, &job).await.status, JobStatus::Done);
    let missing = folder_job(&u.id, "job-9");
    for expected in [0, 1] {
        let written = store.update_job(&missing, expected, None).await.unwrap();
        assert_eq!(written, JobWrite::Superseded);
    }
    assert!(store.get_job(&u.id, "job-9").await.unwrap().is_none());
}

fn usage(bytes: i64, files: i64, quota: Option<u64>, file_limit: Option<u64>) -> UsageChange {
    UsageChange {
        bytes,
        files,
        caps: Some(caps(quota, file_limit)),
    }
}

async fn job_updates_change_usage_atomically(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "quinn", "quinn@example.com").await;
    let mut job = folder_job(&u.id, "job-1");
    store.save_job(&job).await.unwrap();

    // Within the caps: the job and the counters change together.
    job.bytes_done = 60;
    let change = usage(60, 2, Some(100), Some(10));
    assert_eq!(
        store.update_job(&job, 0, Some(change)).await.unwrap(),
        saved(false)
    );
    assert_eq!(counters(store, &u.id).await, (60, 2, 0, 0));
    assert_eq!(stored(store, &job).await.bytes_done, 60);

    // Past the quota, or past the file limit: nothing is written, job or usage.
    let over = Job {
        bytes_done: 101,
        ..job.clone()
    };
    for change in [usage(41, 1, Some(100), None), usage(1, 9, None, Some(10))] {
        let written = store.update_job(&over, 0, Some(change)).await.unwrap();
        assert_eq!(written, JobWrite::OverCaps);
    }
    assert_eq!(counters(store, &u.id).await, (60, 2, 0, 0));
    assert_eq!(stored(store, &job).await.bytes_done, 60);

    // A superseded write changes no usage either.
    let stale = Job {
        run: 5,
        ..over.clone()
    };
    let written = store.update_job(&stale, 4, Some(usage(1, 1, None, None)));
    assert_eq!(written.await.unwrap(), JobWrite::Superseded);
    assert_eq!(counters(store, &u.id).await, (60, 2, 0, 0));

    // The flag is reported by a write with usage too; giving back always fits.
    assert!(store.cancel_job(&u.id, "job-1").await.unwrap());
    let back = usage(-50, -1, Some(0), Some(0));
    assert_eq!(
        store.update_job(&job, 0, Some(back)).await.unwrap(),
        saved(true)
    );
    assert_eq!(counters(store, &u.id).await, (10, 1, 0, 0));
    // Without caps, growth is not held; a take-over with usage keeps the flag.
    let taken = Job {
        run: 1,
        ..job.clone()
    };
    let free = UsageChange {
        bytes: 1_000,
        files: 100,
        caps: None,
    };
    assert_eq!(
        store.update_job(&taken, 0, Some(free)).await.unwrap(),
        saved(true)
    );
    assert_eq!(counters(store, &u.id).await, (1_010, 101, 0, 0));
    assert!(stored(store, &job).await.cancel_requested);
    // The write that ends the job clears it: a resumed job starts clean.
    let ended = Job {
        status: JobStatus::Cancelled,
        ..taken.clone()
    };
    assert_eq!(
        store.update_job(&ended, 1, None).await.unwrap(),
        saved(false)
    );
    assert!(!stored(store, &job).await.cancel_requested);
}

async fn concurrent_take_overs_of_a_job_win_once(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "rita", "rita@example.com").await;
    let job = folder_job(&u.id, "job-1");
    store.save_job(&job).await.unwrap();
    // Ten processes take the job over from run 0, each with a charge: one wins, once.
    let results = race(10, |i| {
        let store = app.core.store.clone();
        let taken = Job {
            run: 1,
            files_done: i as u64,
            ..job.clone()
        };
        async move {
            let change = usage(1, 1, Some(100), None);
            store.update_job(&taken, 0, Some(change)).await.unwrap()
        }
    })
    .await;
    let won = results.iter().filter(|w| **w == saved(false)).count();
    let lost = results
        .iter()
        .filter(|w| **w == JobWrite::Superseded)
        .count();
    assert_eq!((won, lost), (1, 9), "{results:?}");
    assert_eq!(counters(store, &u.id).await, (1, 1, 0, 0));
    assert_eq!(stored(store, &job).await.run, 1);
}

async fn running_jobs_lists_only_running_jobs_of_every_user(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "sara", "sara@example.com").await;
    let other = created(store, "tina", "tina@example.com").await;
    let running = |user: &str, id: &str| folder_job(user, id);
    let ended = |user: &str, id: &str, status| Job {
        status,
        ..folder_job(user, id)
    };
    let expired = Job {
        expires_at: now() - Duration::seconds(5),
        ..folder_job(&u.id, "e")
    };
    let jobs = [
        running(&u.id, "a"),
        ended(&u.id, "b", JobStatus::Done),
        running(&other.id, "c"),
        ended(&other.id, "d", JobStatus::Failed),
        ended(&u.id, "f", JobStatus::Cancelled),
        expired,
    ];
    for job in &jobs {
        store.save_job(job).await.unwrap();
    }
    let ids = |jobs: Vec<Job>| {
        let mut ids: Vec<String> = jobs.into_iter().map(|j| j.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(store.running_jobs(100).await.unwrap()), ["a", "c"]);
    assert_eq!(store.running_jobs(1).await.unwrap().len(), 1);
    // A job that ends leaves the list; one that is written running again comes back.
    let done = Job {
        status: JobStatus::Done,
        ..jobs[0].clone()
    };
    assert_eq!(
        store.update_job(&done, 0, None).await.unwrap(),
        saved(false)
    );
    assert_eq!(ids(store.running_jobs(100).await.unwrap()), ["c"]);
    let resumed = Job {
        status: JobStatus::Running,
        run: 1,
        ..jobs[4].clone()
    };
    assert_eq!(
        store.update_job(&resumed, 0, None).await.unwrap(),
        saved(false)
    );
    assert_eq!(ids(store.running_jobs(100).await.unwrap()), ["c", "f"]);
    // A user's jobs: every one that has not expired, running or ended, and only theirs.
    assert_eq!(ids(store.jobs_of(&u.id).await.unwrap()), ["a", "b", "f"]);
    assert_eq!(ids(store.jobs_of(&other.id).await.unwrap()), ["c", "d"]);
    assert!(store.jobs_of("nobody").await.unwrap().is_empty());
    // With their stored cancel flag, as `get_job` reads it.
    assert!(store.cancel_job(&other.id, "c").await.unwrap());
    let theirs = store.jobs_of(&other.id).await.unwrap();
    let c = theirs.iter().find(|j| j.id == "c").expect("c");
    assert!(c.cancel_requested);
}

/// A claim of `slot` (of 3) for `job` holding `paths`, made after reading `seen` at `now`.
fn claim<'a>(
    user_id: &'a str,
    job_id: &'a str,
    slot: u32,
    paths: &'a [String],
    seen: &'a [JobSlot],
    at: (DateTime<Utc>, DateTime<Utc>),
) -> GuardedClaim<'a> {
    GuardedClaim {
        user_id,
        job_id,
        slot,
        slots: 3,
        paths,
        now: at.0,
        until: at.1,
        seen,
    }
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

async fn guarded_slot_claims_hold_paths_and_fail_on_change(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "uma", "uma@example.com").await;
    let (at, later) = (now(), now() + Duration::minutes(10));
    let window = (at, later);
    let (a, b) = (paths(&["docs"]), paths(&["b/c", "d"]));
    assert!(store.job_slots(&u.id).await.unwrap().is_empty());

    // A claim on an empty set of slots holds its paths.
    assert!(store
        .claim_guarded_slot(&claim(&u.id, "A", 0, &a, &[], window))
        .await
        .unwrap());
    let seen = store.job_slots(&u.id).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].slot, seen[0].job_id.as_str()), (0, "A"));
    assert_eq!(
        (seen[0].paths.clone(), seen[0].expires_at),
        (a.clone(), later)
    );

    // A claim made on an older read (that did not see A) fails and writes nothing.
    let stale = claim(&u.id, "B", 1, &b, &[], window);
    assert!(!store.claim_guarded_slot(&stale).await.unwrap());
    assert_eq!(store.job_slots(&u.id).await.unwrap(), seen);
    // On the current read it passes; a held slot cannot be claimed.
    assert!(store
        .claim_guarded_slot(&claim(&u.id, "B", 1, &b, &seen, window))
        .await
        .unwrap());
    let seen = store.job_slots(&u.id).await.unwrap();
    assert_eq!(seen.iter().map(|s| &s.paths).collect::<Vec<_>>(), [&a, &b]);
    let c = paths(&["e"]);
    assert!(!store
        .claim_guarded_slot(&claim(&u.id, "C", 0, &c, &seen, window))
        .await
        .unwrap());
    // A seen slot still held by its job (renewed meanwhile) lets the claim pass.
    let until = later + Duration::minutes(5);
    assert!(store.renew_job_slot(&u.id, "A", until).await.unwrap());
    assert!(store
        .claim_guarded_slot(&claim(&u.id, "C", 2, &c, &seen, window))
        .await
        .unwrap());
    let renewed = store.job_slots(&u.id).await.unwrap();
    assert_eq!(
        (renewed[0].paths.clone(), renewed[0].expires_at),
        (a.clone(), until)
    );

    // A slot freed meanwhile is no change that matters; one taken by another job is.
    assert!(store.release_job_slot(&u.id, "C").await.unwrap());
    let seen = store.job_slots(&u.id).await.unwrap();
    assert!(store.release_job_slot(&u.id, "B").await.unwrap());
    assert!(store
        .claim_job_slot(&u.id, "Z", 3, at, later)
        .await
        .unwrap());
    let d = paths(&["f"]);
    assert!(!store
        .claim_guarded_slot(&claim(&u.id, "D", 2, &d, &seen, window))
        .await
        .unwrap());
    // A plain claim holds no paths.
    let slots = store.job_slots(&u.id).await.unwrap();
    let z = slots.iter().find(|s| s.job_id == "Z").unwrap();
    assert!(z.paths.is_empty());

    // Lapsed slots are free; but one seen lapsed and renewed since is a change.
    let lapsed = (until + Duration::seconds(1), until + Duration::minutes(10));
    let seen = store.job_slots(&u.id).await.unwrap();
    assert!(store.renew_job_slot(&u.id, "A", lapsed.1).await.unwrap());
    assert!(!store
        .claim_guarded_slot(&claim(&u.id, "D", 2, &d, &seen, lapsed))
        .await
        .unwrap());
    let seen = store.job_slots(&u.id).await.unwrap();
    assert!(store
        .claim_guarded_slot(&claim(&u.id, "D", 2, &d, &seen, lapsed))
        .await
        .unwrap());
    // Z's slot lapsed: it is taken over in place, and Z can no longer renew it.
    let e = paths(&["g"]);
    let seen = store.job_slots(&u.id).await.unwrap();
    let z_slot = seen.iter().find(|s| s.job_id == "Z").unwrap().slot;
    assert!(store
        .claim_guarded_slot(&claim(&u.id, "E", z_slot, &e, &seen, lapsed))
        .await
        .unwrap());
    assert!(!store.renew_job_slot(&u.id, "Z", lapsed.1).await.unwrap());
    let holders: Vec<(u32, String)> = store
        .job_slots(&u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.slot, s.job_id))
        .collect();
    assert_eq!(
        holders,
        [(0, "A".into()), (z_slot, "E".into()), (2, "D".into())]
    );
}

/// Whether two reserved paths overlap (one at or below the other), as the service decides.
fn overlaps(a: &str, b: &str) -> bool {
    let below = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
    below(a, b) || below(b, a)
}

async fn concurrent_guarded_claims_win_at_most_one_overlap(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "vera", "vera@example.com").await;
    // Ten jobs on overlapping folders, each reading the slots and claiming a free one (a slot
    // of its own where it can, so only the checks of the others' slots keep them apart).
    let results = race(10, |i| {
        let (store, user) = (app.core.store.clone(), u.id.to_string());
        async move {
            let mine = paths(&[if i % 2 == 0 { "docs" } else { "docs/sub" }]);
            let job = format!("job-{i}");
            for _ in 0..5 {
                let seen = store.job_slots(&user).await.unwrap();
                let at = (now(), now() + Duration::minutes(10));
                let live: Vec<&JobSlot> = seen.iter().filter(|s| s.expires_at > at.0).collect();
                let taken = |s: &&JobSlot| s.paths.iter().any(|p| overlaps(p, &mine[0]));
                if live.iter().any(taken) {
                    return false;
                }
                let held = |n: u32| live.iter().any(|s| s.slot == n);
                let Some(slot) = (0..3).map(|k| (i as u32 + k) % 3).find(|n| !held(*n)) else {
                    return false;
                };
                let claim = claim(&user, &job, slot, &mine, &seen, at);
                if store.claim_guarded_slot(&claim).await.unwrap() {
                    return true;
                }
            }
            false
        }
    })
    .await;
    assert_eq!(results.iter().filter(|w| **w).count(), 1, "{results:?}");
    let slots = store.job_slots(&u.id).await.unwrap();
    assert_eq!(slots.len(), 1, "{slots:?}");
}

/// DynamoDB only: SQLite's older rows are checked where its migrations are
/// (`store/sqlite.rs`: `a_database_at_step_4_keeps_its_zip_jobs_as_zip_jobs`).
mod zip_job_records_from_before_read_as_zip {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs the emulators: scripts/test.sh runs it"]
    async fn aws() {
        use crate::helpers::{run_case, Kind, CASE_LIMIT};
        run_case(Kind::Aws, CASE_LIMIT, super::zip_job_records_from_before).await;
    }
}

/// An archive job item as the last build wrote it: `PutItem` of the JSON body, no kind and no
/// run in it, no `run`, `cancel` or index attributes beside it.
async fn zip_job_records_from_before(kind: Kind) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "wanda", "wanda@example.com").await;
    let expires = now() + Duration::hours(1);
    let body = serde_json::json!({
        "id": "j1", "user_id": u.id.to_string(), "status": "running", "name": "a.zip",
        "paths": ["a"], "folder_contents": false, "files_done": 1, "files_total": 2,
        "bytes_done": 3, "bytes_total": 4, "error": null,
        "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
        "expires_at": expires.to_rfc3339(),
    });
    let s = |v: String| AttributeValue::S(v);
    crate::helpers::dynamo_client()
        .await
        .put_item()
        .table_name(app.core.config.table.clone().unwrap())
        .item("pk", s(format!("USER#{}", u.id)))
        .item("sk", s("ZIPJOB#j1".into()))
        .item("job", s(body.to_string()))
        .item("ttl", AttributeValue::N(expires.timestamp().to_string()))
        .send()
        .await
        .expect("write the old item");

    let job = store.get_job(&u.id, "j1").await.unwrap().unwrap();
    assert_eq!(
        (job.kind, job.status, job.run),
        (JobKind::Zip, JobStatus::Running, 0)
    );
    assert!(!job.cancel_requested && job.folder.is_none() && job.error_code.is_none());
    assert_eq!(
        (job.name.as_str(), job.files_done, job.bytes_total),
        ("a.zip", 1, 4)
    );
    // The run that owns it writes as run 0; a take-over then moves it on.
    let progress = Job {
        files_done: 2,
        ..job.clone()
    };
    assert_eq!(
        store.update_job(&progress, 0, None).await.unwrap(),
        saved(false)
    );
    let taken = Job { run: 1, ..progress };
    assert_eq!(
        store.update_job(&taken, 0, None).await.unwrap(),
        saved(false)
    );
    assert_eq!(
        store.update_job(&job, 0, None).await.unwrap(),
        JobWrite::Superseded
    );
    let read = stored(store, &job).await;
    assert_eq!((read.run, read.files_done), (1, 2));
}
