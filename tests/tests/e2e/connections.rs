//! Limits on connections, over raw TCP: the cap on open connections, the header timeout
//! (slow-loris), the idle timeout, and the request timeout for a body that arrives too slowly.
//! Each is set low here so its edge is reached in about a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::Value;
use tenantry::Settings;
use tenantry::api::connections::ConnectionLimits;
use tenantry_e2e::{TestServer, policies_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// Far longer than any limit set below: a connection still open after this was never closed.
const PATIENCE: Duration = Duration::from_secs(10);

/// At most three connections, the given header and idle timeouts in seconds, and a 1 s request
/// timeout.
fn limits(settings: &mut Settings, header_read_timeout_secs: u64, idle_timeout_secs: u64) {
    settings.connections = ConnectionLimits {
        max_open: 3,
        header_read_timeout_secs,
        idle_timeout_secs,
    };
    settings.request_timeout_secs = 1;
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// A raw HTTP/1.1 answer: status, headers (lower-case names), body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one answer (headers and a `content-length` body) from `stream`.
async fn read_answer(stream: &mut TcpStream) -> RawAnswer {
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "connection closed before an answer");
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = bytes[head_end + 4..].to_vec();
    while body.len() < length {
        let n = timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("the body in time")
            .unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawAnswer {
        status,
        headers,
        body,
    }
}

async fn get(stream: &mut TcpStream, path: &str) -> RawAnswer {
    let request = format!("GET {path} HTTP/1.1\r\nhost: tenantry\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream).await
}

/// Waits for the server to close `stream`; returns how long that took, or panics after
/// [`PATIENCE`].
async fn closed_by_server(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut sink = [0_u8; 1024];
    loop {
        match timeout(PATIENCE, stream.read(&mut sink)).await {
            Err(_) => panic!("the server kept the connection open for {PATIENCE:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn the_connection_past_the_cap_is_answered_503_and_a_freed_slot_serves_again() {
    let s = TestServer::spawn_with(policies_dir(), |s| limits(s, 60, 60))
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&s).await;
        assert_eq!(get(&mut stream, "/healthz").await.status, 200);
        held.push(stream);
    }

    let mut over = connect(&s).await;
    let refused = get(&mut over, "/healthz").await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["title"], "too many connections");
    closed_by_server(&mut over).await;

    // The held connections are unaffected.
    assert_eq!(get(&mut held[0], "/healthz").await.status, 200);

    // Closing one frees its slot (the server notices the close asynchronously).
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut stream = connect(&s).await;
        let answer = get(&mut stream, "/healthz").await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503);
        assert!(Instant::now() < deadline, "the freed slot never served");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_but_a_busy_one_is_kept() {
    let s = TestServer::spawn_with(policies_dir(), |s| limits(s, 60, 1))
        .await
        .unwrap();
    let mut silent = connect(&s).await;
    let mut idle_after_a_request = connect(&s).await;
    assert_eq!(get(&mut idle_after_a_request, "/healthz").await.status, 200);
    let mut busy = connect(&s).await;

    // The busy connection sends a request every 300 ms for 2.4 s, twice the idle timeout.
    for _ in 0..8 {
        assert_eq!(get(&mut busy, "/healthz").await.status, 200);
        sleep(Duration::from_millis(300)).await;
    }
    closed_by_server(&mut silent).await;
    closed_by_server(&mut idle_after_a_request).await;
    assert_eq!(get(&mut busy, "/healthz").await.status, 200);
}

#[tokio::test]
async fn headers_trickling_in_are_cut_off_by_the_header_timeout() {
    let s = TestServer::spawn_with(policies_dir(), |s| limits(s, 1, 60))
        .await
        .unwrap();
    let mut stream = connect(&s).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header byte every 200 ms: never idle, never done. The server must close it although
    // bytes keep arriving.
    let trickle = async {
        for byte in b"x-slow: ".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            sleep(Duration::from_millis(200)).await;
        }
    };
    assert!(
        timeout(PATIENCE, trickle).await.is_ok(),
        "the server kept reading headers for {PATIENCE:?}"
    );
}

#[tokio::test]
async fn a_body_trickling_in_gets_408_problem_json() {
    let s = TestServer::spawn_with(policies_dir(), |s| limits(s, 60, 60))
        .await
        .unwrap();
    let before = s.get("/v1/orgs", &s.operator).await.body["items"].clone();
    let mut stream = connect(&s).await;
    let head = format!(
        "POST /v1/orgs HTTP/1.1\r\nhost: tenantry\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\":",
        s.operator
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 408);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("within 1 s"),
        "{}",
        answer.json()
    );
    let after = s.get("/v1/orgs", &s.operator).await.body["items"].clone();
    assert_eq!(after, before, "nothing was created");
}

#[test]
fn limits_that_serve_nothing_are_refused_at_start() {
    let zero = ConnectionLimits {
        max_open: 0,
        ..ConnectionLimits::default()
    };
    assert!(zero.check(30).unwrap_err().to_string().contains("max_open"));
    let instant = ConnectionLimits {
        idle_timeout_secs: 0,
        ..ConnectionLimits::default()
    };
    assert!(
        instant
            .check(30)
            .unwrap_err()
            .to_string()
            .contains("idle_timeout_secs")
    );
    let overflowing = ConnectionLimits {
        header_read_timeout_secs: u64::MAX,
        ..ConnectionLimits::default()
    };
    assert!(
        overflowing
            .check(30)
            .unwrap_err()
            .to_string()
            .contains("1 to 86400")
    );
    let shorter_than_a_request = ConnectionLimits {
        idle_timeout_secs: 10,
        ..ConnectionLimits::default()
    };
    assert!(
        shorter_than_a_request
            .check(30)
            .unwrap_err()
            .to_string()
            .contains("request_timeout_secs")
    );
    assert!(ConnectionLimits::default().check(30).is_ok());
}
