//! Connections: how many may be open at once, how long a client may take to send a request's
//! headers, and how long a connection may stay silent.
//!
//! axum's `serve` bounds none of these (hyper's header timeout needs a timer, which axum does
//! not install), so a client that opens connections and sends nothing, or sends its headers a
//! byte a minute, would hold a socket and a task forever, and enough of them would exhaust the
//! process's file descriptors for every tenant. This accept loop:
//!
//! - serves at most `max_open` connections; the next one gets an immediate
//!   `503 too many connections` (problem+json, `Retry-After: 1`) and is closed, so a client
//!   learns why instead of hanging in the kernel's backlog;
//! - gives a request's headers `header_read_timeout_secs` to arrive, then hyper closes the
//!   connection. hyper starts that clock whenever it waits for a request, so it is also how long
//!   a keep-alive connection may wait for its next one;
//! - asks a connection that moved no bytes for `idle_timeout_secs` to close (at once if no
//!   request is in flight) and drops it if it stays silent for one more period: a client that
//!   stopped reading its answer holds no slot for long. Slow request bodies are bounded by the
//!   request timeout (`408`) in [`super::router`].
//!
//! On shutdown it stops accepting, asks every connection to close after its request in flight,
//! and returns when all are gone.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tower::ServiceExt;

/// Connections being refused at once (each lives about a second); past this, a connection over
/// the cap is closed without an answer, so refusing cannot itself exhaust descriptors.
const MAX_REFUSING: usize = 256;
/// Descriptors kept free of connections: the database, backups, the policy watcher, logs.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long shutdown waits for connections still moving bytes (a long download).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// The longest timeout accepted: a day. Longer ones would overflow deadline arithmetic.
const MAX_TIMEOUT_SECS: u64 = 86_400;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Connections served at once. Keep it below the process's open-file limit.
    pub max_open: u32,
    /// Seconds a client has to send a request's headers.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may move no bytes before it is asked to close. Keep it above the
    /// request timeout: a request computing its answer moves no bytes either.
    pub idle_timeout_secs: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_open: 10_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
        }
    }
}

impl ConnectionLimits {
    /// Refuses limits that would serve nothing, time out at once, or cut off a request still
    /// being computed (`request_timeout_secs`: a request moves no bytes while it computes).
    pub fn check(&self, request_timeout_secs: u64) -> anyhow::Result<()> {
        if self.max_open == 0 {
            anyhow::bail!("`connections.max_open` must be at least 1");
        }
        for (name, secs) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
        ] {
            if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                anyhow::bail!("`connections.{name}` must be 1 to {MAX_TIMEOUT_SECS}, not {secs}");
            }
        }
        if self.idle_timeout_secs < request_timeout_secs {
            anyhow::bail!(
                "`connections.idle_timeout_secs` ({}) must be at least `request_timeout_secs` ({request_timeout_secs})",
                self.idle_timeout_secs
            );
        }
        Ok(())
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets requests
/// in flight finish.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let max_open = connections_that_fit(limits.max_open);
    let open = Arc::new(Semaphore::new(max_open as usize));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let (closing, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        if let Ok(permit) = open.clone().try_acquire_owned() {
            let connection =
                serve_connection(stream, peer, router.clone(), limits, closing_rx.clone());
            tokio::spawn(async move {
                crate::metrics::connection_opened();
                connection.await;
                crate::metrics::connection_closed();
                drop(permit);
            });
        } else {
            crate::metrics::connection_refused();
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                tokio::spawn(refuse(stream, permit));
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it is gone; one still streaming an answer after
    // the grace period is cut off.
    if timeout(SHUTDOWN_GRACE, open.acquire_many(max_open))
        .await
        .is_err()
    {
        tracing::warn!(
            connections = max_open as usize - open.available_permits(),
            "cutting off connections still open after the shutdown grace period"
        );
    }
    Ok(())
}

/// `max_open`, or fewer if the process may not open that many descriptors: each connection is
/// one, and past the limit `accept` fails with no answer to the client. Raises the soft limit
/// to the hard one first (Linux's soft default is often 1,024).
fn connections_that_fit(max_open: u32) -> u32 {
    let Some(descriptors) = raise_open_file_limit() else {
        return max_open;
    };
    let fit = descriptors.saturating_sub(RESERVED_DESCRIPTORS + MAX_REFUSING as u64);
    let fit = u32::try_from(fit).unwrap_or(u32::MAX).max(1);
    if fit < max_open {
        tracing::warn!(
            max_open,
            open_file_limit = descriptors,
            serving = fit,
            "the open-file limit is too low for `connections.max_open`; serving fewer"
        );
        return fit;
    }
    max_open
}

/// The soft open-file limit after raising it to the hard one; `None` when unlimited.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        raised.current
    } else {
        limit.current
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Accept errors are the client's (reset before accept) or the process's (out of descriptors);
/// neither should end the server, and the second should not spin.
async fn accept_failed(error: &io::Error) {
    if !matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        tracing::warn!(error = %error, "accepting a connection failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    // The peer's address goes with every request: unauthenticated routes are rate limited by it.
    let service = TowerToHyperService::new(router.map_request(move |req: Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    }));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let mut connection = pin!(builder.serve_connection(io, service));
    let idle = Duration::from_secs(limits.idle_timeout_secs);
    let mut asked_to_close = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(activity.last() + idle) => {
                if activity.last() + idle > Instant::now() {
                    continue;
                }
                if asked_to_close {
                    tracing::debug!("dropping a connection that stayed silent after being asked to close");
                    return;
                }
                crate::metrics::connection_idle();
                connection.as_mut().graceful_shutdown();
                asked_to_close = true;
                activity.touch();
            }
            _ = closing.changed(), if !asked_to_close => {
                connection.as_mut().graceful_shutdown();
                asked_to_close = true;
            }
        }
    }
}

/// Answers a connection over the cap with a 503 and closes it. The request is read first (as
/// much as arrives promptly) so that closing does not reset the connection under the answer.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let mut request = [0_u8; 4096];
    let _ = timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let body = r#"{"type":"about:blank","title":"too many connections","status":503,"detail":"the server is serving its maximum number of connections; retry shortly"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what else the client sends until it closes: closing with unread bytes would
        // reset the connection and could discard the answer before the client reads it.
        let mut rest = [0_u8; 4096];
        while stream.read(&mut rest).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

/// When a connection last moved a byte, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that notes every byte it moves in its [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note_written(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note_written(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Watched {
    fn note_written(&self, poll: &Poll<io::Result<usize>>) {
        if matches!(poll, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.touch();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use axum::routing::get;

    /// A client that asks for an endless answer and stops reading it holds its slot only until
    /// the idle timeout has passed twice: the server asks the connection to close (which cannot
    /// finish, the answer never ends) and then drops it.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped() {
        let endless = || async {
            Body::from_stream(tokio_util::io::ReaderStream::new(tokio::io::repeat(b'x')))
        };
        let router = Router::new().route("/endless", get(endless));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            max_open: 4,
            header_read_timeout_secs: 60,
            idle_timeout_secs: 1,
        };
        tokio::spawn(serve(router, listener, limits, std::future::pending()));

        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /endless HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0_u8; 16];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first[..12], b"HTTP/1.1 200");
        // Stop reading: the socket buffers fill and the server's writes stall.
        tokio::time::sleep(Duration::from_secs(4)).await;
        // Were the connection still served, this would read forever.
        let mut sink = vec![0_u8; 1 << 16];
        let drained = timeout(Duration::from_secs(20), async {
            loop {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(drained.is_ok(), "the stalled connection was never dropped");
    }
}
