//! The local server's defences (`shared::http::serve`), over real sockets: slow and idle
//! clients, stalled bodies, downloads nobody reads, the connection cap, graceful shutdown; and
//! the bounded password hashing queue behind every login.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{json, Value};
use shared::config::ServerLimits;
use shared::http::{router, Group};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp, PASSWORD};

/// `vertexcloud serve` over a test app's core, on a free port.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(app: &TestApp, limits: ServerLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(app.core.clone(), &Group::ALL);
        let done = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            shared::http::serve::serve(listener, app, &limits, shutdown).await
        });
        Self {
            addr,
            stop: Some(stop),
            done,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    fn shut_down(&mut self) {
        let _ = self.stop.take().expect("running").send(());
    }
}

fn limits(header: u64, idle: u64, body: u64, connections: usize) -> ServerLimits {
    ServerLimits {
        header_timeout_secs: header,
        idle_timeout_secs: idle,
        body_timeout_secs: body,
        write_timeout_secs: 30,
        max_connections: connections,
    }
}

/// One answer read off `stream`: (status, head, JSON body or null). Panics after `limit`.
async fn answer(stream: &mut TcpStream, limit: Duration) -> (u16, String, Value) {
    tokio::time::timeout(limit, read_answer(stream))
        .await
        .expect("an answer in time")
}

async fn read_answer(stream: &mut TcpStream) -> (u16, String, Value) {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
    let status = head[9..12].parse().expect("status");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("length"));
    while data.len() < end + length {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed within the body");
        data.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&data[end..end + length]).unwrap_or(Value::Null);
    (status, head, body)
}

/// Whether the server closes `stream` within `limit` (end of stream or reset).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nhost: test\r\n\r\n";

/// A client that sends half a request line is cut off at the header timeout; one that sends
/// nothing at all too; an honest client is served meanwhile.
async fn half_a_request_line_is_closed_after_the_header_timeout(kind: Kind) {
    let app = TestApp::new(kind).await;
    let server = Server::start(&app, limits(1, 30, 30, 100)).await;
    let started = Instant::now();
    let mut slow = server.connect().await;
    slow.write_all(b"GET /api/hea").await.expect("write");
    let mut silent = server.connect().await;

    let mut honest = server.connect().await;
    honest.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut honest, Duration::from_secs(10)).await.0, 200);

    assert!(closed_within(&mut slow, Duration::from_secs(10)).await);
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// An idle keep-alive connection outlives the header timeout, serves another request, and is
/// closed once it idles for the idle timeout.
async fn an_idle_keep_alive_connection_is_closed(kind: Kind) {
    let app = TestApp::new(kind).await;
    let server = Server::start(&app, limits(1, 3, 30, 100)).await;
    let mut client = server.connect().await;
    client.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut client, Duration::from_secs(10)).await.0, 200);

    // Longer than the header timeout: an idle connection is not a slow request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut client, Duration::from_secs(10)).await.0, 200);

    let idle = Instant::now();
    assert!(closed_within(&mut client, Duration::from_secs(15)).await);
    assert!(
        idle.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        idle.elapsed()
    );
}

/// A body that stops arriving ends with 408 `request_timeout` and the connection; the login it
/// carried did not happen, and a stalled upload stores nothing and charges nothing.
async fn a_stalled_body_gets_408(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("amy").await;
    let server = Server::start(&app, limits(5, 30, 1, 100)).await;

    let mut login = server.connect().await;
    let head = "POST /api/auth/login HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                content-length: 100\r\n\r\n{\"username\": \"amy\",";
    login.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (status, head, body) = answer(&mut login, Duration::from_secs(15)).await;
    assert_eq!(status, 408, "{head}{body}");
    assert_eq!(body["code"], "request_timeout", "{body}");
    assert!(body["error"].is_string() && body.get("details").is_some());
    assert!(head.contains("connection: close"), "{head}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(closed_within(&mut login, Duration::from_secs(5)).await);

    let mut upload = server.connect().await;
    let part = "--b\r\ncontent-disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n\
                content-type: application/octet-stream\r\n\r\n0123456789";
    let request = format!(
        "POST /api/files/upload HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: 100000\r\n\r\n{part}"
    );
    upload.write_all(request.as_bytes()).await.expect("write");
    let (status, _, body) = answer(&mut upload, Duration::from_secs(15)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (408, Some("request_timeout"))
    );

    let listing = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listing["total_items"], 0, "{listing}");
    let info = app
        .get("/api/auth/user-info", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["storage"]["used_bytes"], 0, "{info}");
}

/// With the cap reached, the next connection waits unserved; it is served once one ends.
async fn the_connection_cap_holds_and_frees(kind: Kind) {
    let app = TestApp::new(kind).await;
    let server = Server::start(&app, limits(30, 30, 30, 2)).await;
    let mut first = server.connect().await;
    first.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut first, Duration::from_secs(10)).await.0, 200);
    let mut second = server.connect().await;
    second.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut second, Duration::from_secs(10)).await.0, 200);

    let mut third = server.connect().await;
    third.write_all(HEALTH).await.expect("write");
    let waited = tokio::time::timeout(Duration::from_secs(2), read_answer(&mut third)).await;
    assert!(
        waited.is_err(),
        "a third connection was served beyond the cap"
    );

    drop(first);
    assert_eq!(answer(&mut third, Duration::from_secs(10)).await.0, 200);
    // The second one is still served.
    second.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut second, Duration::from_secs(10)).await.0, 200);
}

/// Shutdown closes the listener and idle connections at once and lets a request in flight
/// finish with its answer.
async fn a_request_in_flight_finishes_across_shutdown(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("amy").await;
    let mut server = Server::start(&app, limits(5, 30, 30, 100)).await;
    let mut idle = server.connect().await;
    idle.write_all(HEALTH).await.expect("write");
    assert_eq!(answer(&mut idle, Duration::from_secs(10)).await.0, 200);

    let body = json!({"username": "amy", "password": PASSWORD}).to_string();
    let (start, rest) = body.split_at(10);
    let mut busy = server.connect().await;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{start}",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.shut_down();
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after shutdown"
    );
    busy.write_all(rest.as_bytes()).await.expect("write");
    let (status, _, answer_body) = answer(&mut busy, Duration::from_secs(10)).await;
    assert_eq!(status, 200, "{answer_body}");
    assert!(answer_body["access"].is_string(), "{answer_body}");
    tokio::time::timeout(Duration::from_secs(10), &mut server.done)
        .await
        .expect("the server stops once its requests are answered")
        .expect("task")
        .expect("served");
}

/// While every hasher is busy and the queue is full, a login gets 503 `busy` with
/// `Retry-After`; the queued one is answered once a hasher frees, and logins work after.
async fn a_full_password_queue_answers_503(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.password_queue = 1).await;
    app.register("amy").await;
    // One core for every request (on AWS the app's functions each have their own): the one
    // whose hashers are held.
    let served = TestApp::from_core(app.core.clone());
    let hasher = &app.core.passwords;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let held = hasher.occupy().await;

    let queued = tokio::spawn({
        let core = app.core.clone();
        async move { TestApp::from_core(core).try_login("amy", PASSWORD).await }
    });
    while hasher.admitted() < workers + 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = served.try_login("amy", PASSWORD).await;
    assert_eq!(refused.headers[http::header::RETRY_AFTER], "1");
    refused.expect_error(StatusCode::SERVICE_UNAVAILABLE, "busy");

    drop(held);
    queued.await.expect("task").expect(StatusCode::OK);
    served
        .try_login("amy", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(hasher.admitted(), 0);
}

backend_tests!(
    half_a_request_line_is_closed_after_the_header_timeout,
    an_idle_keep_alive_connection_is_closed,
    a_stalled_body_gets_408,
    the_connection_cap_holds_and_frees,
    a_request_in_flight_finishes_across_shutdown,
    a_full_password_queue_answers_503,
);

/// Bytes of the download nobody reads: far more than the sockets' buffers hold.
const LARGE: usize = 24 << 20;

/// A client that asks for a large download and then reads nothing holds its connection (and
/// the file the answer reads) only until the write timeout: the connection is closed, and with
/// a cap of one connection the next client is served once it is. A client that reads gets
/// the whole file.
///
/// The embedded backend only: on the aws backend the local server sends no file bytes
/// (downloads are presigned S3 URLs), so no answer of its own is large enough to stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_is_closed_after_the_write_timeout() {
    crate::helpers::run_case(
        Kind::Embedded,
        crate::helpers::CASE_LIMIT,
        |kind| async move {
            let app = TestApp::new(kind).await;
            let (_, token, _) = app.user("wes").await;
            let data: Vec<u8> = (0..LARGE).map(|i| (i % 251) as u8).collect();
            app.upload(&token, &[], &[("big.bin", &data)])
                .await
                .expect(StatusCode::CREATED);
            let mut stalled_limits = limits(5, 30, 30, 1);
            stalled_limits.write_timeout_secs = 1;
            let server = Server::start(&app, stalled_limits).await;
            let get = format!(
                "GET /api/files/download?path=big.bin HTTP/1.1\r\nhost: test\r\n\
             authorization: Bearer {token}\r\n\r\n"
            );

            // WHEN a client asks for the file through a small window and reads nothing
            let mut stalled = small_window_client(server.addr).await;
            stalled.write_all(get.as_bytes()).await.expect("write");
            tokio::time::sleep(Duration::from_millis(300)).await;

            // THEN the one connection the server serves is given up: the next client is served
            let mut honest = server.connect().await;
            honest.write_all(HEALTH).await.expect("write");
            assert_eq!(answer(&mut honest, Duration::from_secs(20)).await.0, 200);
            // and the stalled one ends short of the file (the server closed it)
            let received = drain(&mut stalled, Duration::from_secs(20)).await;
            assert!(
                received < LARGE,
                "the stalled download was not cut: {received} bytes"
            );
            drop(honest);

            // AND a client that reads gets every byte, however long the answer takes
            let mut reader = server.connect().await;
            reader.write_all(get.as_bytes()).await.expect("write");
            let received = drain(&mut reader, Duration::from_secs(60)).await;
            assert!(received > LARGE, "{received} bytes, head included");
        },
    )
    .await;
}

/// A client socket with a small receive buffer, so that a server's writes stall early.
async fn small_window_client(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    socket.connect(addr).await.expect("connect")
}

/// Reads `stream` until the server closes it (or `limit` passes): the bytes received.
async fn drain(stream: &mut TcpStream, limit: Duration) -> usize {
    let read_all = async {
        let mut total = 0;
        let mut chunk = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            total += n;
            if total > LARGE {
                // The whole answer is here: a keep-alive connection is not closed after it.
                break;
            }
        }
        total
    };
    tokio::time::timeout(limit, read_all)
        .await
        .expect("the connection ends in time")
}
