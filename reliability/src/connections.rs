//! `connections`: what silent, slow and excess connections cost a behaving client, and whether
//! the server lets go of them.
//!
//! The real binary runs with `max_open = 2000`, a 5 s header timeout and a 10 s idle timeout.
//! A behaving client reads its organization for a few seconds alone (the baseline); then 1,599
//! connections open and send nothing and 400 send a request's headers one byte a second (a
//! slow-loris), so that with the behaving client's own connection every slot is taken; 300
//! more connect and ask for `/healthz`. The behaving client reads without a pause from start
//! to end on one kept-alive connection; its latency is taken alone, under the siege, and after
//! it. The harness then waits for the server to close the silent and slow connections and reports
//! when it did, the 503s the excess got, and the server's memory.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::latency::percentile_ms;
use crate::server::Server;
use crate::workload::Tenants;

const MAX_OPEN: usize = 2_000;
const HEADER_SECS: u64 = 5;
const IDLE_SECS: u64 = 10;
const SLOW: usize = 400;
/// With the behaving client's connection, the silent and slow ones take every slot.
const SILENT: usize = MAX_OPEN - SLOW - 1;
const EXCESS: usize = 300;
const MEASURE: Duration = Duration::from_secs(3);
/// Far past both timeouts: a connection still open after this was never closed.
const PATIENCE: Duration = Duration::from_secs(40);

pub async fn run(binary: &Path) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let config = format!(
        "request_timeout_secs = {IDLE_SECS}\n[connections]\nmax_open = {MAX_OPEN}\nheader_read_timeout_secs = {HEADER_SECS}\nidle_timeout_secs = {IDLE_SECS}\n"
    );
    let server = Server::start_with(
        binary,
        data.path(),
        &data.path().join("server.log"),
        &config,
    )
    .await?;
    let address = server.base.trim_start_matches("http://").to_owned();
    let tenants = Tenants::create(&server.base, 1).await?;
    let home = tenants.homes()[0].clone();
    let behaving = Behaving::start(
        format!("{}/v1/orgs/{}", server.base, home.org),
        home.owner.clone(),
    )?;
    let baseline = behaving.measure().await;
    let rss_before = server.rss_kib()?;
    println!(
        "connections: cap {MAX_OPEN}, header timeout {HEADER_SECS} s, idle timeout {IDLE_SECS} s"
    );
    println!(
        "alone:        behaving client p50 {:.2} ms, p99 {:.2} ms over {} reads; server RSS {} MiB",
        percentile_ms(&baseline, 0.5),
        percentile_ms(&baseline, 0.99),
        baseline.len(),
        rss_before / 1024
    );

    let mut siege = JoinSet::new();
    for _ in 0..SILENT {
        let stream = TcpStream::connect(&address).await?;
        siege.spawn(silent(stream, Instant::now()));
    }
    for _ in 0..SLOW {
        let stream = TcpStream::connect(&address).await?;
        siege.spawn(slow_loris(stream, Instant::now()));
    }
    let refused = Arc::new(AtomicUsize::new(0));
    let mut excess = JoinSet::new();
    for _ in 0..EXCESS {
        let stream = TcpStream::connect(&address).await?;
        excess.spawn(ask_healthz(stream, Arc::clone(&refused)));
    }
    let mut served = 0;
    while let Some(status) = excess.join_next().await {
        if status?? == 200 {
            served += 1;
        }
    }
    let under_siege = behaving.measure().await;
    let rss_siege = server.rss_kib()?;
    println!(
        "under siege:  behaving client p50 {:.2} ms, p99 {:.2} ms over {} reads ({:.2}× the p99 alone); server RSS {} MiB",
        percentile_ms(&under_siege, 0.5),
        percentile_ms(&under_siege, 0.99),
        under_siege.len(),
        percentile_ms(&under_siege, 0.99) / percentile_ms(&baseline, 0.99),
        rss_siege / 1024
    );
    println!(
        "past the cap: {EXCESS} connections asked for /healthz: {} answered `503 too many connections`, {served} served",
        refused.load(Ordering::Relaxed)
    );

    let mut closed = Closings::default();
    while let Some(closing) = siege.join_next().await {
        closed.add(closing??);
    }
    println!(
        "silent:       {} of {SILENT} closed by the server, {:.1}–{:.1} s after opening",
        closed.silent.len(),
        min_secs(&closed.silent),
        max_secs(&closed.silent)
    );
    println!(
        "slow-loris:   {} of {SLOW} closed by the server, {:.1}–{:.1} s after opening (still sending a byte a second)",
        closed.slow.len(),
        min_secs(&closed.slow),
        max_secs(&closed.slow)
    );
    let after = behaving.measure().await;
    let failures = behaving.stop();
    println!(
        "after:        behaving client p99 {:.2} ms; a new connection is {}; server RSS {} MiB (peak {} MiB)",
        percentile_ms(&after, 0.99),
        if ask_healthz(TcpStream::connect(&address).await?, Arc::default()).await? == 200 {
            "served"
        } else {
            "refused"
        },
        server.rss_kib()? / 1024,
        server.peak_kib()? / 1024,
    );
    println!(
        "behaving client: {} reads failed{}",
        failures.len(),
        failures
            .first()
            .map(|f| format!(" (first: {f})"))
            .unwrap_or_default()
    );
    let all_closed = closed.silent.len() == SILENT && closed.slow.len() == SLOW;
    if !all_closed || refused.load(Ordering::Relaxed) != EXCESS || !failures.is_empty() {
        anyhow::bail!("a connection outlived its limit or the cap did not hold");
    }
    Ok(())
}

/// Sequential authorized reads from the start of the run to its end, on one kept-alive
/// connection: kept busy, it holds its slot while the siege takes the others.
struct Behaving {
    reads: Arc<Mutex<Vec<(Instant, Duration)>>>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Behaving {
    fn start(url: String, token: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let behaving = Self {
            reads: Arc::default(),
            failures: Arc::default(),
            stop: Arc::default(),
        };
        let (reads, failures, stop) = (
            Arc::clone(&behaving.reads),
            Arc::clone(&behaving.failures),
            Arc::clone(&behaving.stop),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lock(&reads).push((started, started.elapsed()));
                    }
                    Ok(r) => lock(&failures).push(r.status().to_string()),
                    Err(e) => lock(&failures).push(e.to_string()),
                }
            }
        });
        Ok(behaving)
    }

    /// The latencies of the reads that start in the next [`MEASURE`].
    async fn measure(&self) -> Vec<Duration> {
        let from = Instant::now();
        tokio::time::sleep(MEASURE).await;
        lock(&self.reads)
            .iter()
            .filter(|(at, _)| *at >= from && *at < from + MEASURE)
            .map(|(_, latency)| *latency)
            .collect()
    }

    fn stop(&self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        lock(&self.failures).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

enum Closing {
    Silent(Duration),
    Slow(Duration),
    /// Still open after [`PATIENCE`].
    Never,
}

#[derive(Default)]
struct Closings {
    silent: Vec<Duration>,
    slow: Vec<Duration>,
}

impl Closings {
    fn add(&mut self, closing: Closing) {
        match closing {
            Closing::Silent(after) => self.silent.push(after),
            Closing::Slow(after) => self.slow.push(after),
            Closing::Never => {}
        }
    }
}

/// Sends nothing; waits for the server to close the connection.
async fn silent(mut stream: TcpStream, opened: Instant) -> anyhow::Result<Closing> {
    let mut sink = [0_u8; 64];
    Ok(
        match tokio::time::timeout(PATIENCE, stream.read(&mut sink)).await {
            Ok(_) => Closing::Silent(opened.elapsed()),
            Err(_) => Closing::Never,
        },
    )
}

/// Sends a request line, then a header one byte a second, until the server closes.
async fn slow_loris(mut stream: TcpStream, opened: Instant) -> anyhow::Result<Closing> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
    let (mut reader, mut writer) = stream.into_split();
    let trickle = async move {
        for byte in b"x-slow: ".iter().cycle() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    };
    let mut sink = [0_u8; 64];
    let closed = async move {
        loop {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    Ok(
        match tokio::time::timeout(PATIENCE, async {
            tokio::select! {
                () = trickle => {},
                () = closed => {},
            }
        })
        .await
        {
            Ok(()) => Closing::Slow(opened.elapsed()),
            Err(_) => Closing::Never,
        },
    )
}

/// `GET /healthz` on a fresh connection; the status, counting 503s in `refused`.
async fn ask_healthz(mut stream: TcpStream, refused: Arc<AtomicUsize>) -> anyhow::Result<u16> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: tenantry\r\nconnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await??;
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status == 503 {
        refused.fetch_add(1, Ordering::Relaxed);
    }
    Ok(status)
}

fn min_secs(durations: &[Duration]) -> f64 {
    durations.iter().min().map_or(0.0, Duration::as_secs_f64)
}

fn max_secs(durations: &[Duration]) -> f64 {
    durations.iter().max().map_or(0.0, Duration::as_secs_f64)
}
