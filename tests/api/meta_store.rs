//! The metadata-store port, on every backend: SQLite and DynamoDB (DynamoDB Local) must keep
//! the same promises, since every service stands on either. A change to one adapter that the
//! other lacks fails here.

use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::domain::{Email, Role, User, UserId, Username};
use shared::store::{
    ApiKey, Caps, Charge, Counter, JobStatus, MetaStore, Session, Share, ShareKind, UserKey,
    WriteUserError, ZipJob,
};

use crate::backend_tests;
use crate::helpers::{race, Kind, TestApp};

mod jobs;

backend_tests!(
    names_and_emails_are_unique_in_any_case,
    concurrent_creates_of_one_name_make_one_user,
    updates_apply_only_to_the_user_they_read,
    usage_counters_hold_the_quota_and_never_go_below_zero,
    usage_counters_hold_the_file_limit,
    charges_hold_room_until_settled_dropped_or_expired,
    charges_at_the_quota_edge_pass_once,
    sessions_rotate_once_per_generation,
    sessions_end_one_or_all_but_one,
    api_keys_are_listed_found_and_revoked,
    throttle_counters_count_within_their_window,
    throttle_releases_give_back_within_the_window,
    jobs_are_kept_until_they_expire,
    job_slots_are_claimed_renewed_released_and_lapse,
    concurrent_job_slot_claims_win_at_most_the_slots,
    listings_page_in_name_order_and_search,
    deleting_a_user_frees_the_name_and_ends_credentials,
    the_last_active_superuser_stays,
    every_key_of_a_user_is_revoked_at_once,
);

/// Stores keep times to the second.
fn second(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).unwrap()
}

fn now() -> DateTime<Utc> {
    second(Utc::now())
}

fn user(username: &str, email: &str) -> User {
    let at = now();
    User {
        id: UserId::generate(),
        username: Username::parse(username).unwrap(),
        email: Email::parse(email).unwrap(),
        first_name: String::new(),
        last_name: String::new(),
        role: Role::User,
        is_active: true,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        quota_bytes: None,
        file_limit: None,
        used_bytes: 0,
        file_count: 0,
        reserved_bytes: 0,
        reserved_files: 0,
        created_at: at,
        updated_at: at,
    }
}

async fn created(store: &dyn MetaStore, username: &str, email: &str) -> User {
    let user = user(username, email);
    store.create_user(&user).await.unwrap();
    user
}

fn session(user: &User, id: &str, hash: &str) -> Session {
    let at = now();
    Session {
        id: id.into(),
        user_id: user.id.to_string(),
        refresh_hash: hash.into(),
        previous_hash: None,
        generation: 0,
        created_at: at,
        expires_at: at + Duration::days(1),
    }
}

/// The fields a store keeps, for comparing what was written with what is read.
fn fields(u: &User) -> String {
    format!(
        "{} {} {} {:?} {:?} {} {} {:?} {:?} {} {} {} {}",
        u.id,
        u.username,
        u.email,
        (&u.first_name, &u.last_name),
        u.role,
        u.is_active,
        u.password_hash,
        u.quota_bytes,
        u.file_limit,
        u.used_bytes,
        u.file_count,
        u.created_at,
        u.updated_at
    )
}

async fn names_and_emails_are_unique_in_any_case(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let mut alice = user("Alice.B", "Alice@Example.com");
    alice.first_name = "Alice".into();
    alice.quota_bytes = Some(1_000);
    alice.role = Role::Manager;
    store.create_user(&alice).await.unwrap();

    let taken = store
        .create_user(&user("aLiCe.b", "other@example.com"))
        .await;
    assert!(
        matches!(taken, Err(WriteUserError::UsernameTaken)),
        "{taken:?}"
    );
    let taken = store.create_user(&user("bob", "ALICE@example.COM")).await;
    assert!(
        matches!(taken, Err(WriteUserError::EmailTaken)),
        "{taken:?}"
    );
    // Both taken: the name is reported.
    let taken = store
        .create_user(&user("ALICE.b", "alice@EXAMPLE.com"))
        .await;
    assert!(
        matches!(taken, Err(WriteUserError::UsernameTaken)),
        "{taken:?}"
    );

    // Stored as given, found in any case, by name or by address.
    let stored = store.get_user(&alice.id).await.unwrap().unwrap();
    assert_eq!(fields(&stored), fields(&alice));
    for login in [
        "alice.b",
        "ALICE.B",
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
    ] {
        let found = store.find_user_by_login(login).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(alice.id.clone()), "{login}");
    }
    assert!(store.find_user_by_login("nobody").await.unwrap().is_none());
    assert!(store
        .find_user_by_login("no@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store.get_user("no-such-id").await.unwrap().is_none());
    assert_eq!(store.count_active_superusers().await.unwrap(), 0);
    store.ping().await.unwrap();
}

async fn concurrent_creates_of_one_name_make_one_user(kind: Kind) {
    let app = TestApp::new(kind).await;
    let names = ["dave", "Dave", "DAVE", "daVe", "DaVe", "dAVE"];
    let outcomes = race(names.len(), |i| {
        let store = app.core.store.clone();
        let user = user(names[i], &format!("dave{i}@example.com"));
        async move { store.create_user(&user).await }
    })
    .await;
    let made = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(WriteUserError::UsernameTaken)))
        .count();
    assert_eq!((made, refused), (1, names.len() - 1), "{outcomes:?}");

    let outcomes = race(names.len(), |i| {
        let store = app.core.store.clone();
        let user = user(&format!("erin{i}"), &format!("{}@example.com", names[i]));
        async move { store.create_user(&user).await }
    })
    .await;
    let made = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(WriteUserError::EmailTaken)))
        .count();
    assert_eq!((made, refused), (1, names.len() - 1), "{outcomes:?}");
    let listed = app.core.store.list_users(None, None, 100).await.unwrap();
    assert_eq!(listed.len(), 2);
}

async fn updates_apply_only_to_the_user_they_read(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let before = created(store, "frank", "frank@example.com").await;
    let other = created(store, "grace", "grace@example.com").await;
    store.add_usage(&before.id, 10, 1, None).await.unwrap();

    let mut after = before.clone();
    after.email = Email::parse("Frank.New@example.com").unwrap();
    after.first_name = "Frank".into();
    after.quota_bytes = Some(500);
    after.file_limit = Some(7);
    after.role = Role::Superuser;
    after.updated_at = before.updated_at + Duration::seconds(5);
    store.update_user(&before, &after).await.unwrap();
    let stored = store.get_user(&before.id).await.unwrap().unwrap();
    // Usage counters are not the update's to write.
    assert_eq!((stored.used_bytes, stored.file_count), (10, 1));
    assert_eq!(
        fields(&stored),
        fields(&User {
            used_bytes: 10,
            file_count: 1,
            ..after.clone()
        })
    );
    assert_eq!(store.count_active_superusers().await.unwrap(), 1);
    // The new address finds the user; the old one is free again.
    let found = store
        .find_user_by_login("frank.new@EXAMPLE.com")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(before.id.clone()));
    assert!(store
        .find_user_by_login("frank@example.com")
        .await
        .unwrap()
        .is_none());
    created(store, "henry", "FRANK@example.com").await;

    // A write based on what is no longer stored changes nothing.
    let mut stale = before.clone();
    stale.first_name = "Stale".into();
    let refused = store.update_user(&before, &stale).await;
    assert!(matches!(refused, Err(WriteUserError::Stale)), "{refused:?}");
    // Nor may it take another user's address, in any case.
    let mut grab = after.clone();
    grab.email = Email::parse("GRACE@example.com").unwrap();
    let refused = store.update_user(&after, &grab).await;
    assert!(
        matches!(refused, Err(WriteUserError::EmailTaken)),
        "{refused:?}"
    );
    let stored = store.get_user(&before.id).await.unwrap().unwrap();
    assert_eq!(stored.email, after.email);
    assert_eq!(stored.first_name, "Frank");

    // Another active superuser, so that frank may be disabled below (the last one may not:
    // `the_last_active_superuser_stays`).
    let other_superuser = User {
        role: Role::Superuser,
        ..other.clone()
    };
    store.update_user(&other, &other_superuser).await.unwrap();
    // A change of case only is still the user's own address; no quota means unlimited.
    let mut recased = after.clone();
    recased.email = Email::parse("FRANK.NEW@example.com").unwrap();
    recased.quota_bytes = None;
    recased.file_limit = None;
    recased.is_active = false;
    store.update_user(&after, &recased).await.unwrap();
    let stored = store.get_user(&before.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.email.as_str(), stored.quota_bytes, stored.file_limit),
        ("FRANK.NEW@example.com", None, None)
    );
    assert_eq!(store.count_active_superusers().await.unwrap(), 1);

    store.delete_user(&other).await.unwrap();
    let gone = store.update_user(&other, &other.clone()).await;
    assert!(matches!(gone, Err(WriteUserError::Stale)), "{gone:?}");
}

async fn usage_counters_hold_the_quota_and_never_go_below_zero(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "ivy", "ivy@example.com").await;
    let usage = |u: User| (u.used_bytes, u.file_count);
    let read = || async { usage(store.get_user(&u.id).await.unwrap().unwrap()) };

    assert!(store.add_usage(&u.id, 100, 1, Some(150)).await.unwrap());
    assert!(store.add_usage(&u.id, 50, 1, Some(150)).await.unwrap());
    assert_eq!(read().await, (150, 2));
    // One byte over is refused, and nothing changes.
    assert!(!store.add_usage(&u.id, 1, 1, Some(150)).await.unwrap());
    assert!(!store.add_usage(&u.id, 1_000, 0, Some(150)).await.unwrap());
    assert_eq!(read().await, (150, 2));
    // Freeing is never held to the quota; without one, growth is free.
    assert!(store.add_usage(&u.id, -50, -1, Some(10)).await.unwrap());
    assert!(store.add_usage(&u.id, 1_000, 3, None).await.unwrap());
    assert_eq!(read().await, (1_100, 4));
    // A release larger than what is counted stops at zero.
    assert!(store.add_usage(&u.id, -5_000, -9, None).await.unwrap());
    assert_eq!(read().await, (0, 0));
    // Concurrent additions are all counted.
    race(8, |_| {
        let store = app.core.store.clone();
        let id = u.id.to_string();
        async move { assert!(store.add_usage(&id, 10, 1, Some(1_000)).await.unwrap()) }
    })
    .await;
    assert_eq!(read().await, (80, 8));
    // There is no one to count for a missing user.
    assert!(!store.add_usage("no-such-id", 1, 1, None).await.unwrap());
    assert!(!store.add_usage("no-such-id", -1, -1, None).await.unwrap());
}

async fn sessions_rotate_once_per_generation(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "jack", "jack@example.com").await;
    let s = session(&u, "s1", "hash-0");
    store.create_session(&s).await.unwrap();

    let (user, loaded) = store.load_session_principal(&u.id, "s1").await.unwrap();
    assert_eq!(user.map(|u| u.id), Some(u.id.clone()));
    let loaded = loaded.unwrap();
    assert_eq!(
        (
            loaded.id.as_str(),
            loaded.user_id.as_str(),
            loaded.refresh_hash.as_str()
        ),
        ("s1", u.id.as_str(), "hash-0")
    );
    assert_eq!((loaded.generation, loaded.previous_hash), (0, None));
    assert_eq!(
        (loaded.created_at, loaded.expires_at),
        (s.created_at, s.expires_at)
    );

    let later = s.expires_at + Duration::hours(1);
    assert!(store
        .rotate_session(&u.id, "s1", 0, "hash-1", later)
        .await
        .unwrap());
    // The same generation rotates once only.
    assert!(!store
        .rotate_session(&u.id, "s1", 0, "hash-x", later)
        .await
        .unwrap());
    let (_, loaded) = store.load_session_principal(&u.id, "s1").await.unwrap();
    let loaded = loaded.unwrap();
    assert_eq!(loaded.generation, 1);
    assert_eq!(loaded.refresh_hash, "hash-1");
    assert_eq!(loaded.previous_hash.as_deref(), Some("hash-0"));
    assert_eq!(loaded.expires_at, later);

    // Two rotations of one generation at once: exactly one wins.
    let wins = race(4, |i| {
        let store = app.core.store.clone();
        let id = u.id.to_string();
        async move {
            let hash = format!("hash-2-{i}");
            store
                .rotate_session(&id, "s1", 1, &hash, later)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");

    // No such session, or another user's: nothing to rotate or load.
    assert!(!store
        .rotate_session(&u.id, "nope", 0, "h", later)
        .await
        .unwrap());
    let other = created(store, "kate", "kate@example.com").await;
    assert!(!store
        .rotate_session(&other.id, "s1", 2, "h", later)
        .await
        .unwrap());
    let (user, none) = store.load_session_principal(&other.id, "s1").await.unwrap();
    assert!(user.is_some() && none.is_none());
    let (user, none) = store
        .load_session_principal("no-such-id", "s1")
        .await
        .unwrap();
    assert!(user.is_none() && none.is_none());
}

async fn sessions_end_one_or_all_but_one(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "liam", "liam@example.com").await;
    let other = created(store, "mia", "mia@example.com").await;
    for id in ["a", "b", "c", "d"] {
        store.create_session(&session(&u, id, id)).await.unwrap();
    }
    store
        .create_session(&session(&other, "o", "o"))
        .await
        .unwrap();
    let live = |user: User, ids: &'static [&'static str]| async move {
        for id in ["a", "b", "c", "d", "o"] {
            let (_, s) = store.load_session_principal(&user.id, id).await.unwrap();
            assert_eq!(s.is_some(), ids.contains(&id), "session {id}");
        }
    };
    store.delete_session(&u.id, "a").await.unwrap();
    // Deleting what is not there (or not the user's) is no error and ends nothing.
    store.delete_session(&u.id, "a").await.unwrap();
    store.delete_session(&u.id, "o").await.unwrap();
    live(u.clone(), &["b", "c", "d"]).await;
    store.delete_sessions(&u.id, Some("c")).await.unwrap();
    live(u.clone(), &["c"]).await;
    store.delete_sessions(&u.id, None).await.unwrap();
    live(u.clone(), &[]).await;
    live(other.clone(), &["o"]).await;
}

async fn api_keys_are_listed_found_and_revoked(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "noah", "noah@example.com").await;
    let other = created(store, "olga", "olga@example.com").await;
    let key = |id: &str, user: &User, age: i64, expires: Option<DateTime<Utc>>| ApiKey {
        id: id.into(),
        user_id: user.id.to_string(),
        name: format!("key {id}"),
        prefix: format!("vc_{id}"),
        key_hash: format!("hash-{id}"),
        created_at: now() - Duration::seconds(age),
        expires_at: expires,
    };
    let expiring = key("k2", &u, 10, Some(now() + Duration::days(30)));
    for k in [
        key("k1", &u, 5, None),
        expiring.clone(),
        key("k3", &other, 1, None),
    ] {
        store.create_api_key(&k).await.unwrap();
    }
    // Oldest first, the user's own only, each as written.
    let listed = store.list_api_keys(&u.id).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["k2", "k1"]);
    let first = &listed[0];
    assert_eq!(
        (&first.user_id, &first.name, &first.prefix, &first.key_hash),
        (
            &expiring.user_id,
            &expiring.name,
            &expiring.prefix,
            &expiring.key_hash
        )
    );
    assert_eq!(
        (first.created_at, first.expires_at),
        (expiring.created_at, expiring.expires_at)
    );
    assert_eq!(listed[1].expires_at, None);

    let (user, found) = store.load_key_principal(&u.id, "k1").await.unwrap();
    assert_eq!(user.map(|u| u.id), Some(u.id.clone()));
    assert_eq!(found.map(|k| k.key_hash), Some("hash-k1".to_owned()));
    let (_, found) = store.load_key_principal(&u.id, "k3").await.unwrap();
    assert!(found.is_none(), "another user's key is not this user's");

    assert!(!store.delete_api_key(&u.id, "k3").await.unwrap());
    assert!(store.delete_api_key(&u.id, "k1").await.unwrap());
    assert!(!store.delete_api_key(&u.id, "k1").await.unwrap());
    let ids: Vec<_> = store.list_api_keys(&u.id).await.unwrap();
    assert_eq!(
        ids.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["k2"]
    );
    assert_eq!(store.list_api_keys(&other.id).await.unwrap().len(), 1);
}

async fn throttle_counters_count_within_their_window(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let (a, b, c) = (
        "login:a".to_owned(),
        "ip:10.0.0.1".to_owned(),
        "login:c".to_owned(),
    );
    let t = Utc::now().timestamp();
    let counter = |count, closes_at| Counter { count, closes_at };

    let hit = store
        .throttle_hit(&[a.clone(), b.clone()], t, 60)
        .await
        .unwrap();
    assert_eq!(hit, [counter(1, t + 60), counter(1, t + 60)]);
    // Later failures count in the window the first one opened.
    let hit = store
        .throttle_hit(std::slice::from_ref(&a), t + 10, 60)
        .await
        .unwrap();
    assert_eq!(hit, [counter(2, t + 60)]);
    let counts = store
        .throttle_counts(&[a.clone(), b.clone(), c.clone()], t + 20)
        .await
        .unwrap();
    assert_eq!(
        counts,
        [counter(2, t + 60), counter(1, t + 60), Counter::default()]
    );

    // Concurrent failures are all counted.
    race(6, |_| {
        let store = app.core.store.clone();
        let b = b.clone();
        async move { store.throttle_hit(&[b], t + 30, 60).await.unwrap() }
    })
    .await;
    let counts = store
        .throttle_counts(std::slice::from_ref(&b), t + 30)
        .await
        .unwrap();
    assert_eq!(counts, [counter(7, t + 60)]);

    // A closed window counts nothing; the next failure opens a new one.
    let closed = store
        .throttle_counts(&[a.clone(), b.clone()], t + 60)
        .await
        .unwrap();
    assert_eq!(closed, [Counter::default(), Counter::default()]);
    let hit = store
        .throttle_hit(std::slice::from_ref(&a), t + 61, 60)
        .await
        .unwrap();
    assert_eq!(hit, [counter(1, t + 121)]);

    store.throttle_reset(&a).await.unwrap();
    store.throttle_reset(&c).await.unwrap();
    let counts = store
        .throttle_counts(std::slice::from_ref(&a), t + 62)
        .await
        .unwrap();
    assert_eq!(counts, [Counter::default()]);
}

async fn throttle_releases_give_back_within_the_window(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let (a, missing) = ("login:a".to_owned(), "addr:192.0.2.1".to_owned());
    let t = Utc::now().timestamp();
    let counter = |count, closes_at| Counter { count, closes_at };
    for _ in 0..3 {
        store
            .throttle_hit(std::slice::from_ref(&a), t, 60)
            .await
            .unwrap();
    }
    // One back from an open window; an absent counter is not opened by a release.
    store
        .throttle_release(&[a.clone(), missing.clone()], t + 1)
        .await
        .unwrap();
    let counts = store
        .throttle_counts(&[a.clone(), missing.clone()], t + 1)
        .await
        .unwrap();
    assert_eq!(counts, [counter(2, t + 60), Counter::default()]);
    // Concurrent releases never take a counter below zero, and the window stays as it was.
    race(5, |_| {
        let store = app.core.store.clone();
        let a = a.clone();
        async move { store.throttle_release(&[a], t + 2).await.unwrap() }
    })
    .await;
    let counts = store
        .throttle_counts(std::slice::from_ref(&a), t + 2)
        .await
        .unwrap();
    assert_eq!(counts, [counter(0, t + 60)]);
    let hit = store
        .throttle_hit(std::slice::from_ref(&a), t + 3, 60)
        .await
        .unwrap();
    assert_eq!(hit, [counter(1, t + 60)]);
    // After the window closes a release changes nothing; the next hit opens a new window.
    store
        .throttle_release(std::slice::from_ref(&a), t + 60)
        .await
        .unwrap();
    let hit = store
        .throttle_hit(std::slice::from_ref(&a), t + 61, 60)
        .await
        .unwrap();
    assert_eq!(hit, [counter(1, t + 121)]);
}

async fn jobs_are_kept_until_they_expire(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "paul", "paul@example.com").await;
    let other = created(store, "quinn", "quinn@example.com").await;
    let at = now();
    let mut job = ZipJob {
        id: "job-1".into(),
        user_id: u.id.to_string(),
        status: JobStatus::Running,
        name: "photos.zip".into(),
        paths: vec!["photos".into(), "a b/ü.txt".into()],
        folder_contents: true,
        files_done: 0,
        files_total: 3,
        bytes_done: 0,
        bytes_total: 300,
        error: None,
        share_id: None,
        kind: Default::default(),
        error_code: None,
        folder: None,
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + Duration::hours(1),
    };
    let json = |j: &ZipJob| serde_json::to_value(j).unwrap();
    store.save_job(&job).await.unwrap();
    let stored = store.get_job(&u.id, "job-1").await.unwrap().unwrap();
    assert_eq!(json(&stored), json(&job));

    // Progress and outcome are written over the job.
    job.status = JobStatus::Failed;
    job.files_done = 2;
    job.error = Some("A file changed while it was read.".into());
    store.save_job(&job).await.unwrap();
    let stored = store.get_job(&u.id, "job-1").await.unwrap().unwrap();
    assert_eq!(json(&stored), json(&job));
    // A share visitor's job keeps the link it was made through.
    let shared = ZipJob {
        id: "job-s".into(),
        share_id: Some("share-1".into()),
        ..job.clone()
    };
    store.save_job(&shared).await.unwrap();
    let stored = store.get_job(&u.id, "job-s").await.unwrap().unwrap();
    assert_eq!(stored.share_id.as_deref(), Some("share-1"));
    assert_eq!(json(&stored), json(&shared));

    assert!(store.get_job(&other.id, "job-1").await.unwrap().is_none());
    assert!(store.get_job(&u.id, "job-2").await.unwrap().is_none());
    // An expired job is gone, whether or not the store has removed it yet.
    let expired = ZipJob {
        id: "job-old".into(),
        expires_at: now() - Duration::seconds(5),
        ..job.clone()
    };
    store.save_job(&expired).await.unwrap();
    assert!(store.get_job(&u.id, "job-old").await.unwrap().is_none());
}

async fn listings_page_in_name_order_and_search(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let names = ["delta", "Alpha", "charlie", "Echo", "bravo"];
    for (i, name) in names.iter().enumerate() {
        let mut u = user(name, &format!("{name}@host{}.example.com", i % 2));
        u.first_name = format!("First{i}");
        u.last_name = if i == 2 { "Zulu".into() } else { String::new() };
        store.create_user(&u).await.unwrap();
    }
    let listed = |users: Vec<User>| {
        users
            .iter()
            .map(|u| u.username.to_string())
            .collect::<Vec<_>>()
    };
    // Pages follow the normalized name, whatever the case typed.
    let first = store.list_users(None, None, 2).await.unwrap();
    assert_eq!(listed(first.clone()), ["Alpha", "bravo"]);
    let after = UserKey::of(first.last().unwrap());
    assert_eq!(after.username_lc, "bravo");
    let second = store.list_users(None, Some(&after), 2).await.unwrap();
    assert_eq!(listed(second.clone()), ["charlie", "delta"]);
    let after = UserKey::of(second.last().unwrap());
    let third = store.list_users(None, Some(&after), 2).await.unwrap();
    assert_eq!(listed(third.clone()), ["Echo"]);
    let after = UserKey::of(third.last().unwrap());
    assert!(store
        .list_users(None, Some(&after), 2)
        .await
        .unwrap()
        .is_empty());

    // Search matches name, address and names, lowercased, and pages like the rest.
    let host1 = store.list_users(Some("host1"), None, 10).await.unwrap();
    assert_eq!(listed(host1), ["Alpha", "Echo"]);
    let zulu = store.list_users(Some("zulu"), None, 10).await.unwrap();
    assert_eq!(listed(zulu), ["charlie"]);
    let echo = store.list_users(Some("echo"), None, 10).await.unwrap();
    assert_eq!(listed(echo), ["Echo"]);
    let page = store.list_users(Some("first"), None, 3).await.unwrap();
    assert_eq!(listed(page.clone()), ["Alpha", "bravo", "charlie"]);
    let after = UserKey::of(page.last().unwrap());
    let rest = store
        .list_users(Some("first"), Some(&after), 3)
        .await
        .unwrap();
    assert_eq!(listed(rest), ["delta", "Echo"]);
    assert!(store
        .list_users(Some("nobody"), None, 3)
        .await
        .unwrap()
        .is_empty());
}

async fn deleting_a_user_frees_the_name_and_ends_credentials(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let mut u = user("Rita", "rita@example.com");
    u.role = Role::Superuser;
    store.create_user(&u).await.unwrap();
    let keep = created(store, "sam", "sam@example.com").await;
    store.create_session(&session(&u, "s1", "h")).await.unwrap();
    store
        .create_session(&session(&keep, "s2", "h"))
        .await
        .unwrap();
    let key = ApiKey {
        id: "k1".into(),
        user_id: u.id.to_string(),
        name: "ci".into(),
        prefix: "vc_k1".into(),
        key_hash: "hash".into(),
        created_at: now(),
        expires_at: None,
    };
    store.create_api_key(&key).await.unwrap();
    assert_eq!(store.count_active_superusers().await.unwrap(), 1);

    store.delete_user(&u).await.unwrap();
    assert!(store.get_user(&u.id).await.unwrap().is_none());
    assert!(store.find_user_by_login("rita").await.unwrap().is_none());
    assert!(store
        .find_user_by_login("rita@example.com")
        .await
        .unwrap()
        .is_none());
    let (user, session) = store.load_session_principal(&u.id, "s1").await.unwrap();
    assert!(user.is_none() && session.is_none());
    let (user, key) = store.load_key_principal(&u.id, "k1").await.unwrap();
    assert!(user.is_none() && key.is_none());
    assert!(store.list_api_keys(&u.id).await.unwrap().is_empty());
    assert_eq!(store.count_active_superusers().await.unwrap(), 0);
    // Only that user went; the name and address are free for someone new.
    let (user, session) = store.load_session_principal(&keep.id, "s2").await.unwrap();
    assert!(user.is_some() && session.is_some());
    created(store, "RITA", "Rita@example.com").await;
}

/// `used_bytes`, `file_count`, `reserved_bytes`, `reserved_files` as stored.
async fn counters(store: &dyn MetaStore, id: &str) -> (u64, u64, u64, u64) {
    let u = store.get_user(id).await.unwrap().unwrap();
    (
        u.used_bytes,
        u.file_count,
        u.reserved_bytes,
        u.reserved_files,
    )
}

fn caps(quota_bytes: Option<u64>, file_limit: Option<u64>) -> Caps {
    Caps {
        quota_bytes,
        file_limit,
    }
}

fn charge(user: &User, id: &str, bytes: u64, files: u64, expires_at: DateTime<Utc>) -> Charge {
    Charge {
        id: id.into(),
        user_id: user.id.to_string(),
        bytes,
        files,
        expires_at,
    }
}

async fn usage_counters_hold_the_file_limit(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "iris", "iris@example.com").await;
    let limit = caps(Some(1_000), Some(3));
    assert!(store.add_usage_within(&u.id, 10, 3, limit).await.unwrap());
    // One file more is refused, even an empty one, and nothing changes.
    assert!(!store.add_usage_within(&u.id, 0, 1, limit).await.unwrap());
    // Bytes alone still fit; a release always passes.
    assert!(store.add_usage_within(&u.id, 10, 0, limit).await.unwrap());
    assert!(store.add_usage_within(&u.id, -5, -1, limit).await.unwrap());
    assert_eq!(counters(store, &u.id).await, (15, 2, 0, 0));
    // Concurrent additions at the edge: exactly the one that fits passes.
    let passed = race(8, |_| {
        let store = app.core.store.clone();
        let id = u.id.to_string();
        async move { store.add_usage_within(&id, 1, 1, limit).await.unwrap() }
    })
    .await;
    assert_eq!(passed.iter().filter(|p| **p).count(), 1);
    assert_eq!(counters(store, &u.id).await, (16, 3, 0, 0));
}

async fn charges_hold_room_until_settled_dropped_or_expired(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "judy", "judy@example.com").await;
    let limit = caps(Some(100), Some(10));
    let later = now() + Duration::hours(1);
    // A charge counts in usage and apart, as reserved.
    assert!(store
        .take_charge(&charge(&u, "c1", 60, 2, later), limit)
        .await
        .unwrap());
    assert_eq!(counters(store, &u.id).await, (60, 2, 60, 2));
    // What it holds is not free for others, charges or plain growth.
    assert!(!store
        .take_charge(&charge(&u, "c2", 41, 1, later), limit)
        .await
        .unwrap());
    assert!(!store.add_usage_within(&u.id, 41, 1, limit).await.unwrap());
    // Settling counts the stored file in its place, once.
    assert!(store.settle_charge(&u.id, "c1", 50, 1).await.unwrap());
    assert_eq!(counters(store, &u.id).await, (50, 1, 0, 0));
    assert!(!store.settle_charge(&u.id, "c1", 50, 1).await.unwrap());
    assert!(!store.drop_charge(&u.id, "c1").await.unwrap());
    // Dropping gives everything back, once.
    assert!(store
        .take_charge(&charge(&u, "c3", 50, 9, later), limit)
        .await
        .unwrap());
    assert!(store.drop_charge(&u.id, "c3").await.unwrap());
    assert!(!store.drop_charge(&u.id, "c3").await.unwrap());
    assert_eq!(counters(store, &u.id).await, (50, 1, 0, 0));
    // An expired charge is given back by a sweep; live ones stay.
    let past = now() - Duration::seconds(1);
    assert!(store
        .take_charge(&charge(&u, "old", 30, 1, past), limit)
        .await
        .unwrap());
    assert!(store
        .take_charge(&charge(&u, "new", 20, 1, later), limit)
        .await
        .unwrap());
    assert_eq!(counters(store, &u.id).await, (100, 3, 50, 2));
    assert_eq!(store.sweep_charges(&u.id, now()).await.unwrap(), 1);
    assert_eq!(store.sweep_charges(&u.id, now()).await.unwrap(), 0);
    assert_eq!(counters(store, &u.id).await, (70, 2, 20, 1));
    assert!(!store.settle_charge(&u.id, "old", 30, 1).await.unwrap());
    // Deleting the user takes its charges along.
    store.delete_user(&u).await.unwrap();
    assert!(!store.drop_charge(&u.id, "new").await.unwrap());
}

async fn charges_at_the_quota_edge_pass_once(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "kate", "kate@example.com").await;
    let later = now() + Duration::hours(1);
    let passed = race(10, |i| {
        let store = app.core.store.clone();
        let c = charge(&u, &format!("c{i}"), 60, 1, later);
        async move { store.take_charge(&c, caps(Some(100), None)).await.unwrap() }
    })
    .await;
    assert_eq!(passed.iter().filter(|p| **p).count(), 1);
    assert_eq!(counters(store, &u.id).await, (60, 1, 60, 1));
}

async fn job_slots_are_claimed_renewed_released_and_lapse(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "lena", "lena@example.com").await;
    let other = created(store, "mona", "mona@example.com").await;
    let (at, later) = (now(), now() + Duration::minutes(10));
    let claim = |user: &User, job: &str, at| {
        let (user, job) = (user.id.to_string(), job.to_owned());
        async move {
            store
                .claim_job_slot(&user, &job, 2, at, later)
                .await
                .unwrap()
        }
    };
    assert!(claim(&u, "j1", at).await);
    assert!(claim(&u, "j2", at).await);
    // Both slots are held: a third job waits; another user's slots are their own.
    assert!(!claim(&u, "j3", at).await);
    assert!(claim(&other, "j3", at).await);

    // Renewing and releasing touch only the slot the job holds.
    let until = later + Duration::minutes(5);
    assert!(store.renew_job_slot(&u.id, "j1", until).await.unwrap());
    assert!(!store.renew_job_slot(&u.id, "j3", until).await.unwrap());
    assert!(!store.release_job_slot(&u.id, "j3").await.unwrap());
    assert!(!claim(&u, "j3", at).await);
    assert!(store.release_job_slot(&u.id, "j2").await.unwrap());
    assert!(!store.release_job_slot(&u.id, "j2").await.unwrap());
    assert!(claim(&u, "j3", at).await);
    assert!(!claim(&u, "j4", at).await);

    // Once j3's slot has lapsed (j1 was renewed past it), it is taken over, and j3 can no
    // longer renew or free what is now j4's.
    let (lapsed, until) = (later + Duration::seconds(1), until + Duration::minutes(1));
    assert!(store
        .claim_job_slot(&u.id, "j4", 2, lapsed, until)
        .await
        .unwrap());
    assert!(!store.renew_job_slot(&u.id, "j3", until).await.unwrap());
    assert!(!store.release_job_slot(&u.id, "j3").await.unwrap());
    assert!(!claim(&u, "j5", lapsed).await);
    assert!(store.release_job_slot(&u.id, "j4").await.unwrap());
}

async fn concurrent_job_slot_claims_win_at_most_the_slots(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "nina", "nina@example.com").await;
    let (at, later) = (now(), now() + Duration::minutes(10));
    let won = race(10, |i| {
        let (store, user) = (app.core.store.clone(), u.id.to_string());
        async move {
            let job = format!("job-{i}");
            let won = store.claim_job_slot(&user, &job, 3, at, later).await;
            won.unwrap().then_some(job)
        }
    })
    .await;
    let won: Vec<String> = won.into_iter().flatten().collect();
    assert_eq!(won.len(), 3, "{won:?}");
    // Each winner holds a slot of its own.
    for job in &won {
        assert!(store.release_job_slot(&u.id, job).await.unwrap());
    }
}

backend_tests!(sessions_are_trimmed_oldest_first_and_end_in_any_number);

async fn sessions_are_trimmed_oldest_first_and_end_in_any_number(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "trim", "trim@example.com").await;
    let other = created(store, "keep", "keep@example.com").await;
    let mut expired = session(&u, "s0", "h");
    expired.expires_at = now() - Duration::seconds(5);
    store.create_session(&expired).await.unwrap();
    // Made within one second: creation order breaks the tie (ids sort in it, as UUIDv7 do).
    for id in ["s1", "s2", "s3", "s4", "s5"] {
        store.create_session(&session(&u, id, id)).await.unwrap();
    }
    store
        .create_session(&session(&other, "o", "o"))
        .await
        .unwrap();
    let live = |ids: &'static [&'static str]| {
        let uid = u.id.to_string();
        async move {
            for id in ["s0", "s1", "s2", "s3", "s4", "s5"] {
                let (_, s) = store.load_session_principal(&uid, id).await.unwrap();
                assert_eq!(s.is_some(), ids.contains(&id), "session {id}");
            }
        }
    };
    // Two live ones beyond three end (the expired one goes too, but is not counted)
    assert_eq!(store.trim_sessions(&u.id, 3).await.unwrap(), 2);
    live(&["s3", "s4", "s5"]).await;
    assert_eq!(store.trim_sessions(&u.id, 3).await.unwrap(), 0);
    assert_eq!(store.trim_sessions(&u.id, 1).await.unwrap(), 2);
    live(&["s5"]).await;
    let (_, o) = store.load_session_principal(&other.id, "o").await.unwrap();
    assert!(o.is_some());
    // More sessions than one BatchWriteItem (25) all end, except the one kept
    for i in 0..60 {
        store
            .create_session(&session(&u, &format!("m{i:02}"), "h"))
            .await
            .unwrap();
    }
    store.delete_sessions(&u.id, Some("m07")).await.unwrap();
    assert_eq!(store.trim_sessions(&u.id, 0).await.unwrap(), 1);
    for id in ["m00", "m07", "m59", "s5"] {
        let (_, s) = store.load_session_principal(&u.id, id).await.unwrap();
        assert!(s.is_none(), "session {id}");
    }
    let (_, o) = store.load_session_principal(&other.id, "o").await.unwrap();
    assert!(o.is_some());
}

/// `user` as a superuser, active or not.
fn with_role(user: &User, role: Role, is_active: bool) -> User {
    User {
        role,
        is_active,
        ..user.clone()
    }
}

async fn the_last_active_superuser_stays(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = with_role(&user("ann", "ann@example.com"), Role::Superuser, true);
    let bob = with_role(&user("bob", "bob@example.com"), Role::Superuser, true);
    store.create_user(&ann).await.unwrap();
    store.create_user(&bob).await.unwrap();
    // One of two may go; the other is the last, demoted or disabled.
    let ann_user = with_role(&ann, Role::User, true);
    store.update_user(&ann, &ann_user).await.unwrap();
    for after in [
        with_role(&bob, Role::Manager, true),
        with_role(&bob, Role::Superuser, false),
    ] {
        let refused = store.update_user(&bob, &after).await;
        assert!(
            matches!(refused, Err(WriteUserError::LastSuperuser)),
            "{refused:?}"
        );
    }
    let stored = store.get_user(&bob.id).await.unwrap().unwrap();
    assert_eq!((stored.role, stored.is_active), (Role::Superuser, true));
    // Other changes of the last one pass.
    let renamed = User {
        first_name: "Bob".into(),
        ..bob.clone()
    };
    store.update_user(&bob, &renamed).await.unwrap();
    // Promoted back, ann counts again; disabled and enabled again, so does bob.
    store.update_user(&ann_user, &ann).await.unwrap();
    let bob_disabled = with_role(&renamed, Role::Superuser, false);
    store.update_user(&renamed, &bob_disabled).await.unwrap();
    let refused = store.update_user(&ann, &ann_user).await;
    assert!(
        matches!(refused, Err(WriteUserError::LastSuperuser)),
        "{refused:?}"
    );
    store.update_user(&bob_disabled, &renamed).await.unwrap();
    assert_eq!(store.count_active_superusers().await.unwrap(), 2);
    // Then both demote each other at once, and one stays.
    let outcomes = race(2, |i| {
        let store = app.core.store.clone();
        let (before, after) = match i {
            0 => (ann.clone(), with_role(&ann, Role::User, true)),
            _ => (renamed.clone(), with_role(&renamed, Role::Superuser, false)),
        };
        async move { store.update_user(&before, &after).await }
    })
    .await;
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    let last = outcomes
        .iter()
        .filter(|o| matches!(o, Err(WriteUserError::LastSuperuser)))
        .count();
    assert_eq!((won, last), (1, 1), "{outcomes:?}");
    assert_eq!(store.count_active_superusers().await.unwrap(), 1);
}

async fn every_key_of_a_user_is_revoked_at_once(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let u = created(store, "kay", "kay@example.com").await;
    let other = created(store, "kim", "kim@example.com").await;
    let key = |owner: &User, id: &str| ApiKey {
        id: id.into(),
        user_id: owner.id.to_string(),
        name: id.into(),
        prefix: format!("vc_{id}"),
        key_hash: "hash".into(),
        created_at: now(),
        expires_at: None,
    };
    for id in ["k1", "k2", "k3"] {
        store.create_api_key(&key(&u, id)).await.unwrap();
    }
    store.create_api_key(&key(&other, "k4")).await.unwrap();
    assert_eq!(store.delete_api_keys(&u.id).await.unwrap(), 3);
    assert!(store.list_api_keys(&u.id).await.unwrap().is_empty());
    assert_eq!(store.delete_api_keys(&u.id).await.unwrap(), 0);
    // The user and other users' keys stay.
    assert!(store.get_user(&u.id).await.unwrap().is_some());
    let left = store.list_api_keys(&other.id).await.unwrap();
    assert_eq!(
        left.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["k4"]
    );
}

backend_tests!(
    shares_are_created_within_the_limit_and_found,
    concurrent_share_creates_stop_at_the_limit,
    share_updates_never_touch_uses,
    share_uses_are_claimed_atomically,
    shares_end_under_a_path_not_beside_it,
    deleting_a_user_deletes_their_shares,
    load_share_shows_a_disabled_owner,
    stale_share_updates_are_refused,
);

fn share(owner: &User, id: &str, path: &str) -> Share {
    let at = now();
    Share {
        id: id.into(),
        user_id: owner.id.to_string(),
        path: path.into(),
        kind: ShareKind::Download,
        is_folder: true,
        password_hash: None,
        password_version: 0,
        max_uses: None,
        uses: 0,
        note: None,
        created_at: at,
        updated_at: at,
        expires_at: at + Duration::days(7),
    }
}

/// The ids of the user's shares, in listing order.
async fn share_ids(store: &dyn MetaStore, owner: &User) -> Vec<String> {
    let shares = store.list_shares(&owner.id, None, 1000).await.unwrap();
    shares.into_iter().map(|s| s.id).collect()
}

async fn shares_are_created_within_the_limit_and_found(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let bob = created(store, "bob", "bob@example.com").await;
    let mut first = share(&ann, "sh-c", "photos");
    first.password_hash = Some("$argon2id$hash".into());
    first.max_uses = Some(5);
    first.note = Some("for Carl".into());
    first.kind = ShareKind::Upload;
    assert!(store.create_share(&first, 3).await.unwrap());
    for (id, path) in [("sh-a", "docs/a.txt"), ("sh-b", "docs")] {
        assert!(store.create_share(&share(&ann, id, path), 3).await.unwrap());
    }
    // At the limit: refused, nothing written.
    assert!(!store
        .create_share(&share(&ann, "sh-d", "x"), 3)
        .await
        .unwrap());
    assert!(store.load_share("sh-d").await.unwrap().is_none());
    // An id already taken is an error, not a refusal (ids are random: a clash is a bug).
    assert!(store
        .create_share(&share(&bob, "sh-a", "y"), 3)
        .await
        .is_err());

    assert_eq!(
        store.get_share(&ann.id, "sh-c").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_share(&bob.id, "sh-c").await.unwrap(), None);
    assert_eq!(store.get_share(&ann.id, "sh-x").await.unwrap(), None);
    let (found, owner) = store.load_share("sh-c").await.unwrap().unwrap();
    assert_eq!((found, owner.id), (first, ann.id.clone()));
    assert!(store.load_share("sh-x").await.unwrap().is_none());

    // Paging in id order.
    let page = store.list_shares(&ann.id, None, 2).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sh-a", "sh-b"]);
    let rest = store.list_shares(&ann.id, Some("sh-b"), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, "sh-c");
    assert!(store
        .list_shares(&ann.id, Some("sh-c"), 2)
        .await
        .unwrap()
        .is_empty());
    assert!(share_ids(store, &bob).await.is_empty());

    // Another user's share cannot be deleted; a deletion frees a place under the limit.
    assert!(!store.delete_share(&bob.id, "sh-a").await.unwrap());
    assert!(store.delete_share(&ann.id, "sh-a").await.unwrap());
    assert!(!store.delete_share(&ann.id, "sh-a").await.unwrap());
    assert!(store.load_share("sh-a").await.unwrap().is_none());
    assert!(store
        .create_share(&share(&ann, "sh-d", "x"), 3)
        .await
        .unwrap());
    assert_eq!(share_ids(store, &ann).await, ["sh-b", "sh-c", "sh-d"]);
    // A page may resume after a share deleted meanwhile.
    let resumed = store.list_shares(&ann.id, Some("sh-a"), 1).await.unwrap();
    assert_eq!(resumed[0].id, "sh-b");
    // No owner, no share.
    let ghost = user("ghost", "ghost@example.com");
    assert!(!store
        .create_share(&share(&ghost, "sh-g", "x"), 3)
        .await
        .unwrap());
    assert!(store.load_share("sh-g").await.unwrap().is_none());
}

async fn concurrent_share_creates_stop_at_the_limit(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let won = race(10, |i| {
        let (store, new) = (app.core.store.clone(), share(&ann, &format!("sh-{i}"), "a"));
        async move { store.create_share(&new, 3).await.unwrap() }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 3, "{won:?}");
    assert_eq!(share_ids(store, &ann).await.len(), 3);
}

async fn share_updates_never_touch_uses(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let original = share(&ann, "sh", "photos");
    assert!(store.create_share(&original, 10).await.unwrap());
    for _ in 0..2 {
        assert!(store.claim_share_use(&ann.id, "sh", now()).await.unwrap());
    }
    // Every editable field set, from a copy read before the uses were claimed.
    let mut edited = original.clone();
    edited.password_hash = Some("$argon2id$new".into());
    edited.password_version = 1;
    edited.max_uses = Some(4);
    edited.note = Some("hello".into());
    edited.expires_at = original.expires_at + Duration::days(1);
    edited.updated_at = original.updated_at + Duration::seconds(5);
    // Fields that are not editable stay as created.
    let mut sneaky = edited.clone();
    sneaky.path = "elsewhere".into();
    sneaky.kind = ShareKind::Upload;
    assert!(store.update_share(&sneaky, 0).await.unwrap());
    let stored = store.get_share(&ann.id, "sh").await.unwrap().unwrap();
    assert_eq!(
        stored,
        Share {
            uses: 2,
            ..edited.clone()
        }
    );
    // Options cleared are gone.
    let mut cleared = edited.clone();
    (cleared.password_hash, cleared.max_uses, cleared.note) = (None, None, None);
    cleared.password_version = 2;
    assert!(store.update_share(&cleared, 1).await.unwrap());
    let stored = store.get_share(&ann.id, "sh").await.unwrap().unwrap();
    assert_eq!(stored, Share { uses: 2, ..cleared });
    // A share that is gone is not written back.
    assert!(store.delete_share(&ann.id, "sh").await.unwrap());
    assert!(!store.update_share(&edited, 2).await.unwrap());
    assert!(store.get_share(&ann.id, "sh").await.unwrap().is_none());
    assert!(store.load_share("sh").await.unwrap().is_none());
}

/// An update computed from a read older than the last password change writes nothing: it
/// would bring the replaced password (and the tokens issued for it) back.
async fn stale_share_updates_are_refused(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let original = share(&ann, "sh", "photos");
    assert!(store.create_share(&original, 10).await.unwrap());
    // A password change, read at version 0.
    let mut changed = original.clone();
    changed.password_hash = Some("$argon2id$new".into());
    changed.password_version = 1;
    assert!(store.update_share(&changed, 0).await.unwrap());
    // A note change read before it: refused, the new password stays.
    let mut late = original.clone();
    late.note = Some("late".into());
    assert!(!store.update_share(&late, 0).await.unwrap());
    let stored = store.get_share(&ann.id, "sh").await.unwrap().unwrap();
    assert_eq!(stored, changed);
    // Made again from a fresh read, it lands on top of the new password.
    let mut again = stored.clone();
    again.note = Some("late".into());
    assert!(store.update_share(&again, 1).await.unwrap());
    assert_eq!(
        store.get_share(&ann.id, "sh").await.unwrap().unwrap(),
        again
    );
    // Another user's id is no share of ann's.
    let bob = created(store, "bob", "bob@example.com").await;
    let mut foreign = again.clone();
    foreign.user_id = bob.id.to_string();
    assert!(!store.update_share(&foreign, 1).await.unwrap());
    assert!(store.get_share(&bob.id, "sh").await.unwrap().is_none());
}

async fn uses_of(store: &dyn MetaStore, owner: &User, id: &str) -> u64 {
    store.get_share(&owner.id, id).await.unwrap().unwrap().uses
}

async fn share_uses_are_claimed_atomically(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let bob = created(store, "bob", "bob@example.com").await;
    let limited = Share {
        max_uses: Some(3),
        ..share(&ann, "sh-3", "a")
    };
    assert!(store.create_share(&limited, 10).await.unwrap());
    let at = now();
    let won = race(20, |_| {
        let (store, owner) = (app.core.store.clone(), ann.id.to_string());
        async move { store.claim_share_use(&owner, "sh-3", at).await.unwrap() }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 3, "{won:?}");
    assert_eq!(uses_of(store, &ann, "sh-3").await, 3);
    assert!(!store.claim_share_use(&ann.id, "sh-3", at).await.unwrap());
    // A use given back can be claimed again, once.
    store.release_share_use(&ann.id, "sh-3").await.unwrap();
    assert_eq!(uses_of(store, &ann, "sh-3").await, 2);
    assert!(store.claim_share_use(&ann.id, "sh-3", at).await.unwrap());
    assert!(!store.claim_share_use(&ann.id, "sh-3", at).await.unwrap());
    // Not another user's share, nor a missing one.
    assert!(!store.claim_share_use(&bob.id, "sh-3", at).await.unwrap());
    assert!(!store.claim_share_use(&ann.id, "sh-x", at).await.unwrap());
    store.release_share_use(&bob.id, "sh-3").await.unwrap();
    store.release_share_use(&ann.id, "sh-x").await.unwrap();
    assert_eq!(uses_of(store, &ann, "sh-3").await, 3);
    assert!(store.get_share(&ann.id, "sh-x").await.unwrap().is_none());

    // Releases never go below zero.
    assert!(store
        .create_share(&share(&ann, "sh-u", "b"), 10)
        .await
        .unwrap());
    store.release_share_use(&ann.id, "sh-u").await.unwrap();
    assert_eq!(uses_of(store, &ann, "sh-u").await, 0);
    // Unlimited: every claim counts.
    for _ in 0..5 {
        assert!(store.claim_share_use(&ann.id, "sh-u", at).await.unwrap());
    }
    assert_eq!(uses_of(store, &ann, "sh-u").await, 5);
    // Expired (by the clock passed in, or by the stored expiry): no claim.
    let expiry = store
        .get_share(&ann.id, "sh-u")
        .await
        .unwrap()
        .unwrap()
        .expires_at;
    assert!(!store
        .claim_share_use(&ann.id, "sh-u", expiry)
        .await
        .unwrap());
    let expired = Share {
        expires_at: at - Duration::seconds(5),
        ..share(&ann, "sh-e", "c")
    };
    assert!(store.create_share(&expired, 10).await.unwrap());
    assert!(!store.claim_share_use(&ann.id, "sh-e", at).await.unwrap());
    assert_eq!(uses_of(store, &ann, "sh-e").await, 0);
}

async fn shares_end_under_a_path_not_beside_it(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let bob = created(store, "bob", "bob@example.com").await;
    let paths = [
        ("s1", "a"),
        ("s2", "a/b"),
        ("s3", "a/b/c.txt"),
        ("s4", "ab"),
        ("s5", "a b"),
        ("s6", "x_"),
        ("s7", "xy"),
        ("s8", "x%/z"),
        ("s9", "x_/z"),
    ];
    for (id, path) in paths {
        assert!(store
            .create_share(&share(&ann, id, path), 100)
            .await
            .unwrap());
    }
    assert!(store
        .create_share(&share(&bob, "b1", "a"), 100)
        .await
        .unwrap());

    assert_eq!(store.delete_shares_under(&ann.id, "a").await.unwrap(), 3);
    assert_eq!(
        share_ids(store, &ann).await,
        ["s4", "s5", "s6", "s7", "s8", "s9"]
    );
    assert!(store.load_share("s2").await.unwrap().is_none());
    // `_` and `%` are names, not patterns.
    assert_eq!(store.delete_shares_under(&ann.id, "x_").await.unwrap(), 2);
    assert_eq!(share_ids(store, &ann).await, ["s4", "s5", "s7", "s8"]);
    assert_eq!(
        store.delete_shares_under(&ann.id, "nothing").await.unwrap(),
        0
    );
    // "": every share of the user, and only theirs; their places under the limit are free.
    assert_eq!(store.delete_shares_under(&ann.id, "").await.unwrap(), 4);
    assert!(share_ids(store, &ann).await.is_empty());
    assert_eq!(share_ids(store, &bob).await, ["b1"]);
    assert!(store.load_share("b1").await.unwrap().is_some());
    for i in 0..2 {
        let again = share(&ann, &format!("n{i}"), "a");
        assert!(store.create_share(&again, 2).await.unwrap());
    }
}

async fn deleting_a_user_deletes_their_shares(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    let bob = created(store, "bob", "bob@example.com").await;
    for id in ["s1", "s2"] {
        assert!(store.create_share(&share(&ann, id, "a"), 5).await.unwrap());
    }
    assert!(store
        .create_share(&share(&bob, "b1", "a"), 5)
        .await
        .unwrap());
    store.delete_user(&ann).await.unwrap();
    for id in ["s1", "s2"] {
        assert!(store.load_share(id).await.unwrap().is_none());
        assert!(store.get_share(&ann.id, id).await.unwrap().is_none());
        assert!(!share_marker_stored(&app, kind, id).await, "marker of {id}");
    }
    assert!(share_ids(store, &ann).await.is_empty());
    assert!(store.load_share("b1").await.unwrap().is_some());
    assert!(share_marker_stored(&app, kind, "b1").await || kind != Kind::Aws);
}

/// Whether the DynamoDB marker item of a share is in the table (embedded: there is none).
async fn share_marker_stored(app: &TestApp, kind: Kind, id: &str) -> bool {
    if kind != Kind::Aws {
        return false;
    }
    let table = app.core.config.table.clone().unwrap();
    let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    let out = crate::helpers::dynamo_client()
        .await
        .get_item()
        .table_name(table)
        .key("pk", key(&format!("SHARE#{id}")))
        .key("sk", key("SHARE"))
        .consistent_read(true)
        .send()
        .await
        .expect("read the marker");
    out.item.is_some()
}

async fn load_share_shows_a_disabled_owner(kind: Kind) {
    let app = TestApp::new(kind).await;
    let store = app.core.store.as_ref();
    let ann = created(store, "ann", "ann@example.com").await;
    assert!(store
        .create_share(&share(&ann, "s1", "a"), 5)
        .await
        .unwrap());
    let disabled = User {
        is_active: false,
        updated_at: now() + Duration::seconds(1),
        ..ann.clone()
    };
    store.update_user(&ann, &disabled).await.unwrap();
    // The visitor's lookup sees the owner as stored now (the service answers 404 for them).
    let (found, owner) = store.load_share("s1").await.unwrap().unwrap();
    assert_eq!(found.id, "s1");
    assert!(!owner.is_active);
    // A disabled owner makes no new share.
    assert!(!store
        .create_share(&share(&ann, "s2", "b"), 5)
        .await
        .unwrap());
    assert!(store.load_share("s2").await.unwrap().is_none());
}
