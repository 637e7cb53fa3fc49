//! S3 answers a copy only once it is done, at tens of MB/s per call, where the emulators
//! answer at once. Against a fake S3 on loopback that takes 5 s over every copy, part copy and
//! completion (longer than the 4 s each attempt of any other call is given, runtime.rs), with
//! the deployed functions' timeouts: those calls get time for their size, a large object's parts
//! are copied side by side, and any other call that slow still fails promptly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use shared::objects::s3::S3Objects;
use shared::objects::ObjectStore;

use crate::helpers::sdk_at;

const MIB: u64 = 1024 * 1024;
/// How long the fake takes over each call that moves bytes inside S3 (and over a HEAD of `slow`).
const SLOW: Duration = Duration::from_secs(5);
const BUCKET: &str = "bucket";

/// Part copies in flight now, and the most there ever were; the part copies in flight when an
/// upload was aborted (`usize::MAX`: none was).
struct Fake {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    parts: AtomicUsize,
    at_abort: AtomicUsize,
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            parts: AtomicUsize::new(0),
            at_abort: AtomicUsize::new(usize::MAX),
        }
    }
}

fn xml(body: String) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(body))
        .unwrap()
}

/// The size the fake gives a key: `big…` and `changing…` 200 MiB (4 parts of at most 64 MiB),
/// `mid…` 32 MiB (one CopyObject), anything else 1 KiB.
fn size_of(key: &str) -> u64 {
    if key.starts_with("big") || key.starts_with("changing") {
        200 * MIB
    } else if key.starts_with("mid") {
        32 * MIB
    } else {
        1024
    }
}

async fn s3(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let key = request
        .uri()
        .path()
        .trim_start_matches(&format!("/{BUCKET}/"))
        .to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let copying = request.headers().contains_key("x-amz-copy-source");
    let modified = "2026-12-01T00:00:00.000Z";
    match (request.method().clone(), copying) {
        (Method::HEAD, _) => {
            if key == "slow" {
                tokio::time::sleep(SLOW).await;
            }
            Response::builder()
                .header(header::CONTENT_LENGTH, size_of(&key))
                .header(header::ETAG, "\"e\"")
                .header(header::LAST_MODIFIED, "Tue, 01 Dec 2026 00:00:00 GMT")
                .body(Body::empty())
                .unwrap()
        }
        (Method::POST, _) if query.starts_with("uploads") => xml(format!(
            "<InitiateMultipartUploadResult><Bucket>{BUCKET}</Bucket><Key>{key}</Key>\
             <UploadId>up</UploadId></InitiateMultipartUploadResult>"
        )),
        (Method::PUT, true) if query.contains("partNumber") => {
            // `changing…`: the source changes under part 1 (412 at once); the others take 1 s.
            let source = request.headers()["x-amz-copy-source"]
                .to_str()
                .unwrap_or_default();
            if source.contains("changing") && query.split('&').any(|kv| kv == "partNumber=1") {
                return Response::builder()
                    .status(StatusCode::PRECONDITION_FAILED)
                    .header(header::CONTENT_TYPE, "application/xml")
                    .body(Body::from(
                        "<Error><Code>PreconditionFailed</Code><Message>At least one of the \
                         pre-conditions you specified did not hold</Message></Error>",
                    ))
                    .unwrap();
            }
            let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            fake.most.fetch_max(now, Ordering::SeqCst);
            fake.parts.fetch_add(1, Ordering::SeqCst);
            let pause = if source.contains("changing") {
                Duration::from_secs(1)
            } else {
                SLOW
            };
            tokio::time::sleep(pause).await;
            fake.in_flight.fetch_sub(1, Ordering::SeqCst);
            xml(format!(
                "<CopyPartResult><LastModified>{modified}</LastModified><ETag>\"p\"</ETag>\
                 </CopyPartResult>"
            ))
        }
        (Method::PUT, true) => {
            tokio::time::sleep(SLOW).await;
            xml(format!(
                "<CopyObjectResult><LastModified>{modified}</LastModified><ETag>\"c\"</ETag>\
                 </CopyObjectResult>"
            ))
        }
        (Method::POST, _) if query.starts_with("uploadId") => {
            tokio::time::sleep(SLOW).await;
            xml(format!(
                "<CompleteMultipartUploadResult><Bucket>{BUCKET}</Bucket><Key>{key}</Key>\
                 <ETag>\"m-4\"</ETag></CompleteMultipartUploadResult>"
            ))
        }
        (Method::DELETE, _) => {
            if query.contains("uploadId=") {
                let now = fake.in_flight.load(Ordering::SeqCst);
                fake.at_abort.store(now, Ordering::SeqCst);
            }
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::empty())
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_IMPLEMENTED)
            .body(Body::empty())
            .unwrap(),
    }
}

/// The object store over the fake, with the SDK configured as the functions configure it.
async fn store(fake: Arc<Fake>) -> S3Objects {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(s3).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = sdk_at(&endpoint)
        .await
        .into_builder()
        .timeout_config(shared::runtime::aws_timeouts())
        .build();
    S3Objects::new(shared::aws::s3(&sdk, true, None), BUCKET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_get_time_for_their_size_and_other_calls_do_not() {
    let fake = Arc::new(Fake::default());
    let objects = store(fake.clone()).await;
    let (mid, big, slow) = tokio::join!(
        objects.copy("mid.bin", "mid-copy.bin"),
        objects.copy("big.bin", "big-copy.bin"),
        objects.head("slow"),
    );
    let mid = mid
        .expect("a 32 MiB CopyObject that takes 5 s")
        .expect("copied");
    assert_eq!(mid.size, 32 * MIB);
    let big = big.expect("a 200 MiB copy whose parts and completion take 5 s each");
    assert_eq!(big.expect("copied").size, 200 * MIB);
    // Its 4 parts were copied side by side.
    assert_eq!(fake.parts.load(Ordering::SeqCst), 4);
    assert_eq!(fake.most.load(Ordering::SeqCst), 4);
    // A HEAD as slow is a prompt failure, as before.
    let slow = slow.expect_err("a HEAD that takes 5 s");
    assert!(
        matches!(slow, shared::objects::ObjectError::Unavailable(_)),
        "{slow:?}"
    );
}

/// A part refused midway (its source changed): no part starts after it, the parts in flight are
/// waited for, and only then is the upload aborted (a part landing after the abort would be
/// kept, out of every listing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_part_aborts_the_upload_once_no_part_is_in_flight() {
    let fake = Arc::new(Fake::default());
    let objects = store(fake.clone()).await;
    let copied = objects.copy("changing.bin", "changing-copy.bin").await;
    assert!(copied.is_err(), "{copied:?}");
    assert_eq!(
        fake.at_abort.load(Ordering::SeqCst),
        0,
        "part copies in flight at the abort"
    );
    // Parts 2, 3 and 4 had started beside part 1; none after.
    assert_eq!(fake.parts.load(Ordering::SeqCst), 3);
}
