//! The object-store port, on every backend: the local store and S3 (LocalStack) must behave
//! alike, since the files service stands on either.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures::StreamExt;
use shared::domain::UserPath;
use shared::layout::{self, Home};
use shared::objects::s3::{CopyShape, S3Objects};
use shared::objects::{
    ByteRange, ByteStream, CopyRefused, IfDest, Listed, ObjectError, ObjectStore, PartInfo, Presign,
};

use crate::backend_tests;
use crate::helpers::{s3_client, Kind, TestApp};

backend_tests!(
    put_get_round_trip_is_byte_exact,
    large_streams_round_trip_in_parts,
    range_reads_return_exactly_the_range,
    oversized_puts_leave_the_previous_object,
    delimited_listing_rolls_up_folders,
    pagination_neither_loses_nor_repeats,
    copy_and_delete,
    failed_streams_store_nothing,
    conditional_copies_write_only_what_was_asked,
    conditional_deletes_remove_one_version_once,
    conditional_puts_and_completions_write_only_where_asked,
    listing_after_a_key,
    large_objects_are_copied_whole_with_their_conditions,
);

fn stream(chunks: Vec<Bytes>) -> ByteStream {
    Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))
}

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

async fn read(objects: &dyn ObjectStore, key: &str, range: Option<ByteRange>) -> Vec<u8> {
    let download = objects
        .get(key, range)
        .await
        .unwrap()
        .expect("object exists");
    let mut body = download.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn put(objects: &dyn ObjectStore, key: &str, data: Bytes) {
    objects
        .put(
            key,
            stream(vec![data]),
            "application/octet-stream",
            u64::MAX,
        )
        .await
        .unwrap();
}

async fn put_get_round_trip_is_byte_exact(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let data = pattern(100_000, 7);
    let chunks = data.chunks(4096).map(Bytes::copy_from_slice).collect();
    let info = objects
        .put(
            "users/u/docs/a b ü.bin",
            stream(chunks),
            "application/x-test",
            u64::MAX,
        )
        .await
        .unwrap();
    assert_eq!(info.size, 100_000);
    assert!(!info.etag.is_empty());
    assert_eq!(
        read(objects, "users/u/docs/a b ü.bin", None).await,
        data.to_vec()
    );
    let head = objects
        .head("users/u/docs/a b ü.bin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (head.size, head.content_type.as_str()),
        (100_000, "application/x-test")
    );
    assert_eq!(head.etag, info.etag);
    assert!(objects
        .head("users/u/docs/missing")
        .await
        .unwrap()
        .is_none());
    assert!(objects
        .get("users/u/docs/missing", None)
        .await
        .unwrap()
        .is_none());
    // An empty object (a folder marker) is an object too
    put(objects, "users/u/empty/", Bytes::new()).await;
    assert_eq!(
        objects.head("users/u/empty/").await.unwrap().unwrap().size,
        0
    );
    assert!(read(objects, "users/u/empty/", None).await.is_empty());
}

async fn large_streams_round_trip_in_parts(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    // 20 MiB in 64 KiB chunks: more than two S3 parts, never one buffer
    let data = pattern(20 * 1024 * 1024 + 123, 3);
    let chunks = data.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let info = objects
        .put(
            "users/u/big.bin",
            stream(chunks),
            "application/octet-stream",
            u64::MAX,
        )
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(read(objects, "users/u/big.bin", None).await, data.to_vec());
}

async fn range_reads_return_exactly_the_range(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let data = pattern(10_000, 1);
    put(objects, "users/u/r.bin", data.clone()).await;
    for (start, end) in [(0u64, 0u64), (0, 9_999), (1234, 5678), (9_999, 9_999)] {
        let got = read(objects, "users/u/r.bin", Some(ByteRange { start, end })).await;
        assert_eq!(
            got,
            data[start as usize..=end as usize].to_vec(),
            "{start}-{end}"
        );
    }
    let download = objects
        .get("users/u/r.bin", Some(ByteRange { start: 10, end: 19 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        download.info.size, 10_000,
        "info gives the whole object's size"
    );
}

async fn oversized_puts_leave_the_previous_object(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    put(objects, "users/u/keep.txt", Bytes::from_static(b"old")).await;
    let big = vec![pattern(600, 1), pattern(600, 2)];
    let err = objects
        .put("users/u/keep.txt", stream(big), "text/plain", 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ObjectError::TooLarge { limit: 1000 }),
        "{err:?}"
    );
    assert_eq!(read(objects, "users/u/keep.txt", None).await, b"old");
    // Oversized in the multipart range too, and nothing appears under a new key
    let chunks = (0..3).map(|i| pattern(8 * 1024 * 1024, i)).collect();
    let err = objects
        .put(
            "users/u/new.bin",
            stream(chunks),
            "text/plain",
            10 * 1024 * 1024,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::TooLarge { .. }), "{err:?}");
    assert!(objects.head("users/u/new.bin").await.unwrap().is_none());
}

async fn delimited_listing_rolls_up_folders(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    for key in [
        "users/u/a.txt",
        "users/u/docs/one.txt",
        "users/u/docs/deep/two.txt",
        "users/u/empty/",
        "users/u/z.txt",
        "users/v/other.txt",
    ] {
        put(objects, key, Bytes::from_static(b"x")).await;
    }
    let page = objects.list("users/u/", true, None, 100).await.unwrap();
    let keys: Vec<&str> = page.items.iter().map(Listed::key).collect();
    assert_eq!(
        keys,
        [
            "users/u/a.txt",
            "users/u/docs/",
            "users/u/empty/",
            "users/u/z.txt"
        ]
    );
    assert!(matches!(page.items[1], Listed::Prefix(_)));
    assert!(page.next.is_none());
    // Recursive: every object, nothing of another prefix
    let page = objects.list("users/u/", false, None, 100).await.unwrap();
    let keys: Vec<&str> = page.items.iter().map(Listed::key).collect();
    assert_eq!(
        keys,
        [
            "users/u/a.txt",
            "users/u/docs/deep/two.txt",
            "users/u/docs/one.txt",
            "users/u/empty/",
            "users/u/z.txt"
        ]
    );
    let page = objects
        .list("users/u/docs/", true, None, 100)
        .await
        .unwrap();
    let keys: Vec<&str> = page.items.iter().map(Listed::key).collect();
    assert_eq!(keys, ["users/u/docs/deep/", "users/u/docs/one.txt"]);
}

async fn pagination_neither_loses_nor_repeats(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let mut expected = BTreeSet::new();
    for i in 0..23 {
        let key = format!("users/u/f{i:02}.txt");
        put(objects, &key, Bytes::from_static(b"x")).await;
        expected.insert(key);
    }
    for folder in ["d1", "d5", "f10x"] {
        for j in 0..3 {
            put(
                objects,
                &format!("users/u/{folder}/inner{j}"),
                Bytes::from_static(b"y"),
            )
            .await;
        }
        expected.insert(format!("users/u/{folder}/"));
    }
    for limit in [1, 4, 7, 26, 100] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = objects
                .list("users/u/", true, cursor.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.items.len() <= limit);
            seen.extend(page.items.iter().map(|i| i.key().to_owned()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "limit {limit}: repeated entries {seen:?}"
        );
        assert_eq!(unique, expected, "limit {limit}");
    }
}

/// The keys of a page, checking that a listing by key holds objects only.
fn object_keys(page: &shared::objects::ListPage) -> Vec<&str> {
    let keys = page.items.iter().map(|item| match item {
        Listed::Object(o) => o.key.as_str(),
        Listed::Prefix(p) => panic!("a listing by key rolls nothing up: {p}"),
    });
    keys.collect()
}

async fn listing_after_a_key(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let inside = [
        "users/u/docs/",
        "users/u/docs/a.txt",
        "users/u/docs/b/",
        "users/u/docs/b/c.txt",
        "users/u/docs/b/d.txt",
        "users/u/docs/e.txt",
    ];
    for key in inside
        .iter()
        .chain(&["users/u/docsx.txt", "users/u/other/x"])
    {
        let body = if key.ends_with('/') { "" } else { "x" };
        put(objects, key, Bytes::from(body)).await;
    }
    let prefix = "users/u/docs/";
    // From the start: every object below the prefix, markers too, none beside it.
    let page = objects.list_after(prefix, None, 100).await.unwrap();
    assert_eq!(object_keys(&page), inside);
    assert!(page.next.is_none());
    // Strictly after a key, up to the limit; `next` is the last key while more follow.
    let page = objects
        .list_after(prefix, Some(inside[2]), 2)
        .await
        .unwrap();
    assert_eq!(object_keys(&page), &inside[3..5]);
    assert_eq!(page.next.as_deref(), Some(inside[4]));
    let page = objects
        .list_after(prefix, page.next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(object_keys(&page), &inside[5..]);
    assert!(page.next.is_none());
    // A full last page is the last; after the last key there is nothing.
    let page = objects
        .list_after(prefix, Some(inside[3]), 2)
        .await
        .unwrap();
    assert_eq!(object_keys(&page), &inside[4..]);
    assert!(page.next.is_none());
    let page = objects
        .list_after(prefix, Some(inside[5]), 2)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
    // A key is a position for ever: one that no longer exists, or never did, still is.
    objects.delete(&[inside[3].to_owned()]).await.unwrap();
    let page = objects
        .list_after(prefix, Some(inside[3]), 100)
        .await
        .unwrap();
    assert_eq!(object_keys(&page), &inside[4..]);
    let page = objects
        .list_after(prefix, Some("users/u/docs/b"), 100)
        .await
        .unwrap();
    assert_eq!(
        object_keys(&page),
        ["users/u/docs/b/", "users/u/docs/b/d.txt", inside[5]]
    );
    // Page by page from any size, nothing is lost or repeated.
    let left: Vec<&str> = inside.iter().copied().filter(|k| *k != inside[3]).collect();
    for limit in [1, 2, 4] {
        let (mut seen, mut after) = (Vec::new(), None::<String>);
        loop {
            let page = objects
                .list_after(prefix, after.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.items.len() <= limit);
            seen.extend(object_keys(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, left, "limit {limit}");
    }
    // Markers are listed with their size (none).
    let page = objects.list_after(prefix, None, 1).await.unwrap();
    let Listed::Object(marker) = &page.items[0] else {
        unreachable!()
    };
    assert_eq!((marker.key.as_str(), marker.size), (inside[0], 0));
}

async fn copy_and_delete(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let data = pattern(5000, 9);
    objects
        .put(
            "users/u/src.bin",
            stream(vec![data.clone()]),
            "image/png",
            u64::MAX,
        )
        .await
        .unwrap();
    let copied = objects
        .copy("users/u/src.bin", "users/u/dst.bin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (copied.size, copied.content_type.as_str()),
        (5000, "image/png")
    );
    assert!(objects
        .copy("users/u/none", "users/u/x")
        .await
        .unwrap()
        .is_none());
    // Deleting the source leaves the copy intact
    objects
        .delete(&["users/u/src.bin".into(), "users/u/never-existed".into()])
        .await
        .unwrap();
    assert!(objects.head("users/u/src.bin").await.unwrap().is_none());
    assert_eq!(read(objects, "users/u/dst.bin", None).await, data.to_vec());
    // Replacing an object by a copy
    put(objects, "users/u/other.bin", Bytes::from_static(b"other")).await;
    objects
        .copy("users/u/other.bin", "users/u/dst.bin")
        .await
        .unwrap();
    assert_eq!(read(objects, "users/u/dst.bin", None).await, b"other");
    // Deleting many at once
    let keys: Vec<String> = (0..30).map(|i| format!("users/u/many/{i}")).collect();
    for k in &keys {
        put(objects, k, Bytes::from_static(b"m")).await;
    }
    objects.delete(&keys).await.unwrap();
    assert!(objects
        .list("users/u/many/", false, None, 100)
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn conditional_copies_write_only_what_was_asked(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    put(objects, "users/u/a", Bytes::from_static(b"first")).await;
    let a = objects.head("users/u/a").await.unwrap().unwrap();
    // To a free key, of the version read: written
    let copy = objects
        .copy_if("users/u/a", &a.etag, "users/u/b", IfDest::Absent)
        .await
        .unwrap()
        .expect("copied");
    assert_eq!((copy.key.as_str(), copy.size), ("users/u/b", 5));
    assert_eq!(read(objects, "users/u/b", None).await, b"first");
    // To a taken key: refused, the object there unchanged
    put(objects, "users/u/c", Bytes::from_static(b"other")).await;
    let refused = objects
        .copy_if("users/u/a", &a.etag, "users/u/c", IfDest::Absent)
        .await
        .unwrap();
    assert_eq!(refused, Err(CopyRefused::DestinationTaken));
    assert_eq!(read(objects, "users/u/c", None).await, b"other");
    // Over the version read of the target: written; over another: refused
    let c = objects.head("users/u/c").await.unwrap().unwrap();
    let copied = objects
        .copy_if("users/u/a", &a.etag, "users/u/c", IfDest::Matches(&c.etag))
        .await
        .unwrap();
    assert!(copied.is_ok(), "{copied:?}");
    assert_eq!(read(objects, "users/u/c", None).await, b"first");
    let refused = objects
        .copy_if("users/u/a", &a.etag, "users/u/c", IfDest::Matches(&c.etag))
        .await
        .unwrap();
    assert_eq!(refused, Err(CopyRefused::DestinationTaken));
    // A source replaced or gone since it was read: refused, nothing written
    put(objects, "users/u/a", Bytes::from_static(b"second!")).await;
    for source in ["users/u/a", "users/u/none"] {
        let refused = objects
            .copy_if(source, &a.etag, "users/u/d", IfDest::Absent)
            .await
            .unwrap();
        assert_eq!(refused, Err(CopyRefused::SourceChanged));
    }
    assert!(objects.head("users/u/d").await.unwrap().is_none());
}

async fn conditional_deletes_remove_one_version_once(kind: Kind) {
    let app = std::sync::Arc::new(TestApp::new(kind).await);
    let objects = app.core.objects.clone();
    put(objects.as_ref(), "users/u/a", Bytes::from_static(b"one")).await;
    let one = objects.head("users/u/a").await.unwrap().unwrap();
    put(objects.as_ref(), "users/u/a", Bytes::from_static(b"two!")).await;
    // Another version than the one there: kept
    assert!(!objects
        .delete_if_match("users/u/a", &one.etag)
        .await
        .unwrap());
    assert!(objects.head("users/u/a").await.unwrap().is_some());
    // The version there, by eight callers at once: removed, and exactly one was told so
    let two = objects.head("users/u/a").await.unwrap().unwrap();
    let removed = crate::helpers::race(8, |_| {
        let (objects, etag) = (objects.clone(), two.etag.clone());
        async move { objects.delete_if_match("users/u/a", &etag).await.unwrap() }
    })
    .await;
    assert_eq!(removed.iter().filter(|r| **r).count(), 1, "{removed:?}");
    assert!(objects.head("users/u/a").await.unwrap().is_none());
    assert!(!objects
        .delete_if_match("users/u/a", &two.etag)
        .await
        .unwrap());
    // Nothing is left of the bookkeeping either
    let staging = objects
        .list(layout::STAGING_ROOT, false, None, 10)
        .await
        .unwrap();
    assert!(staging.items.is_empty(), "{:?}", staging.items);
}

/// Sends one part of a direct upload the way a client would: to its presigned URL, or (local
/// store) straight to the store.
async fn send_part(app: &TestApp, key: &str, upload_id: &str, data: Bytes) -> PartInfo {
    let objects = app.core.objects.as_ref();
    let size = data.len() as u64;
    let what = Presign::Part {
        key,
        upload_id,
        part_number: 1,
        size,
    };
    let ttl = std::time::Duration::from_secs(60);
    match objects.presign(what, ttl).await.unwrap() {
        Some(url) => {
            let sent = app.fetch(http::Method::PUT, &url, &[], data.to_vec()).await;
            assert!(sent.status.is_success(), "{:?}", sent.status);
            let etag = sent.headers["etag"].to_str().unwrap().to_owned();
            PartInfo {
                part_number: 1,
                size,
                etag,
            }
        }
        None => objects
            .put_part(upload_id, 1, 0, size, stream(vec![data]))
            .await
            .unwrap(),
    }
}

async fn conditional_puts_and_completions_write_only_where_asked(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let put_if = |key: &'static str, data: &'static [u8], dest: IfDest<'static>| {
        let body = stream(vec![Bytes::from_static(data)]);
        objects.put_if(key, body, "text/plain", u64::MAX, dest)
    };
    // A PUT where nothing is: written; where something is: refused, the object unchanged
    let first = put_if("users/u/p", b"first", IfDest::Absent).await.unwrap();
    let first = first.expect("written");
    assert!(put_if("users/u/p", b"again", IfDest::Absent)
        .await
        .unwrap()
        .is_none());
    assert_eq!(read(objects, "users/u/p", None).await, b"first");
    // Over the version read: written; over another: refused
    let etag: &'static str = Box::leak(first.etag.into_boxed_str());
    let second = put_if("users/u/p", b"second", IfDest::Matches(etag)).await;
    assert!(second.unwrap().is_some());
    let stale = put_if("users/u/p", b"third", IfDest::Matches(etag)).await;
    assert!(stale.unwrap().is_none());
    assert_eq!(read(objects, "users/u/p", None).await, b"second");
    // A direct upload completed onto a key taken meanwhile: refused, the object unchanged
    let key = "users/u/direct.bin";
    let id = objects.begin_upload(key, "text/plain").await.unwrap();
    let data = pattern(3000, 4);
    let part = send_part(&app, key, &id, data.clone()).await;
    put(objects, key, Bytes::from_static(b"taken")).await;
    let refused = objects
        .complete_upload_if(key, &id, std::slice::from_ref(&part), IfDest::Absent)
        .await
        .unwrap();
    assert!(refused.is_none());
    assert_eq!(read(objects, key, None).await, b"taken");
    objects.abort_upload(key, &id).await.unwrap();
    assert!(objects.list_parts(key, &id).await.unwrap().is_none());
    // Onto a key still free: completed
    let key = "users/u/free.bin";
    let id = objects.begin_upload(key, "text/plain").await.unwrap();
    let part = send_part(&app, key, &id, data.clone()).await;
    let done = objects
        .complete_upload_if(key, &id, &[part], IfDest::Absent)
        .await
        .unwrap()
        .expect("completed");
    assert_eq!(done.size, 3000);
    assert_eq!(read(objects, key, None).await, data.to_vec());
}

async fn failed_streams_store_nothing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let objects = app.core.objects.as_ref();
    let failing: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(pattern(1000, 1)),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(objects
        .put("users/u/broken", failing, "text/plain", u64::MAX)
        .await
        .is_err());
    assert!(objects.head("users/u/broken").await.unwrap().is_none());
    // Past the first part of a multipart upload too: the upload is aborted.
    let failing: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(pattern(9 * 1024 * 1024, 2)),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(objects
        .put(
            "archives/u/broken.zip",
            failing,
            "application/zip",
            u64::MAX
        )
        .await
        .is_err());
    assert!(objects
        .head("archives/u/broken.zip")
        .await
        .unwrap()
        .is_none());
}

/// The local store's sweeper removes what crashes and abandoned uploads leave, and nothing else.
#[tokio::test]
async fn local_sweeper_removes_only_leftovers() {
    use shared::objects::local::LocalObjects;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    let store = LocalObjects::open(&root).unwrap();
    let kept = Home::of("u").file(&UserPath::parse("kept.txt").unwrap());
    let staged = layout::new_staging_key("u");
    let archive = layout::archive_key("u", "job");
    put(&store, &kept, pattern(10, 1)).await;
    put(&store, &staged, pattern(10, 2)).await;
    put(&store, &archive, pattern(10, 4)).await;
    let upload = store
        .begin_upload("users/u/big", "text/plain")
        .await
        .unwrap();
    let part = Box::pin(futures::stream::iter([Ok(pattern(5, 3))]));
    store.put_part(&upload, 1, 0, 5, part).await.unwrap();
    // What a crash between writing and indexing, or mid-write, leaves
    std::fs::write(
        root.join("blobs").join("0123456789abcdef0123456789abcdef"),
        b"x",
    )
    .unwrap();
    std::fs::write(root.join("tmp").join("partial"), b"x").unwrap();
    // Young leftovers are left alone (they may belong to requests in flight)
    assert_eq!(
        store
            .sweep(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let removed = store.sweep(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(
        removed, 5,
        "staged object, archive, upload, orphan blob, temp file"
    );
    assert!(store.head(&archive).await.unwrap().is_none());
    assert!(store
        .list_parts("users/u/big", &upload)
        .await
        .unwrap()
        .is_none());
    assert!(store.head(&staged).await.unwrap().is_none());
    assert_eq!(read(&store, &kept, None).await, pattern(10, 1));
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(root.join("uploads")).unwrap().count(), 0);
    // Exactly one blob left: the kept file's
    assert_eq!(std::fs::read_dir(root.join("blobs")).unwrap().count(), 1);
}

/// A part sent again that breaks off midway no longer counts as received (its old record would
/// vouch for bytes the broken write replaced); sent whole again, it does.
#[tokio::test]
async fn a_broken_resend_of_a_part_unrecords_it() {
    use shared::objects::local::LocalObjects;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::open(&dir.path().join("objects")).unwrap();
    let upload = store.begin_upload("users/u/f", "text/plain").await.unwrap();
    let part = |data: bytes::Bytes| Box::pin(futures::stream::iter([Ok(data)]));
    let first = store
        .put_part(&upload, 1, 0, 10, part(pattern(10, 1)))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_parts("users/u/f", &upload)
            .await
            .unwrap()
            .unwrap(),
        std::slice::from_ref(&first)
    );
    let broken = store.put_part(&upload, 1, 0, 10, part(pattern(4, 2))).await;
    assert!(broken.is_err());
    assert_eq!(
        store
            .list_parts("users/u/f", &upload)
            .await
            .unwrap()
            .unwrap(),
        []
    );
    let again = store
        .put_part(&upload, 1, 0, 10, part(pattern(10, 1)))
        .await
        .unwrap();
    assert_eq!(again, first);
    let info = store
        .complete_upload("users/u/f", &upload, &[again])
        .await
        .unwrap();
    assert_eq!(info.size, 10);
    assert_eq!(read(&store, "users/u/f", None).await, pattern(10, 1));
}

/// An object larger than one CopyObject: S3 copies it in parts, side by side (here parts of
/// 5 MiB, 2 at a time: 12 MiB is 3 parts), and the copy is the same object, written under the
/// same conditions, as a small one's.
async fn large_objects_are_copied_whole_with_their_conditions(kind: Kind) {
    const MIB: u64 = 1024 * 1024;
    let app = TestApp::new(kind).await;
    let parted;
    let objects: &dyn ObjectStore = match kind {
        Kind::Embedded => app.core.objects.as_ref(),
        Kind::Aws => {
            let bucket = app.core.config.bucket.clone().expect("bucket");
            let shape = CopyShape {
                single_max: 5 * MIB,
                part_bytes: 5 * MIB,
                parallel: 2,
            };
            parted = S3Objects::new(s3_client().await, bucket).with_copy_shape(shape);
            &parted
        }
    };
    let data = pattern(12 * MIB as usize, 3);
    put(objects, "users/u/big.bin", data.clone()).await;
    let source = objects.head("users/u/big.bin").await.unwrap().unwrap();

    let copied = objects
        .copy("users/u/big.bin", "users/u/copy.bin")
        .await
        .unwrap()
        .expect("copied");
    assert_eq!(copied.size, 12 * MIB);
    assert!(read(objects, "users/u/copy.bin", None).await == data);

    let to_absent = |to: &'static str, etag: String| {
        let source = "users/u/big.bin";
        async move {
            objects
                .copy_if(source, &etag, to, IfDest::Absent)
                .await
                .unwrap()
        }
    };
    let first = to_absent("users/u/c.bin", source.etag.clone()).await;
    assert_eq!(first.expect("copied").size, 12 * MIB);
    assert!(read(objects, "users/u/c.bin", None).await == data);
    let again = to_absent("users/u/c.bin", source.etag.clone()).await;
    assert_eq!(again.err(), Some(CopyRefused::DestinationTaken));
    let stale = to_absent("users/u/d.bin", "\"stale\"".into()).await;
    assert_eq!(stale.err(), Some(CopyRefused::SourceChanged));
    assert!(objects.head("users/u/d.bin").await.unwrap().is_none());
    // Over the copy, only while it is the version asked for.
    let over = objects
        .copy_if(
            "users/u/big.bin",
            &source.etag,
            "users/u/copy.bin",
            IfDest::Matches("\"other\""),
        )
        .await
        .unwrap();
    assert_eq!(over.err(), Some(CopyRefused::DestinationTaken));
    let over = objects
        .copy_if(
            "users/u/big.bin",
            &source.etag,
            "users/u/copy.bin",
            IfDest::Matches(&copied.etag),
        )
        .await
        .unwrap();
    assert!(over.is_ok(), "{over:?}");
    assert!(read(objects, "users/u/copy.bin", None).await == data);
}
