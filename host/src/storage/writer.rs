//! Group commit: one thread owns every write transaction.
//!
//! Requests queue their write closures; the thread runs a batch of them in one transaction
//! (on the file, each closure's writes are noted in an undo log, so a failed closure is rolled
//! back alone and never touches its neighbours; on PostgreSQL each runs under a savepoint), makes
//! the batch durable with one commit and one fsync, and only then answers every request of the
//! batch. Durable write throughput is therefore bounded by batches per fsync, not requests per
//! fsync, and the commit's fixed cost is paid once per batch, not once per request.
//!
//! A relaxed write ([`Writer::write_relaxed`], the decision log) is answered once committed and
//! visible, before its fsync: a batch of relaxed writes alone skips the durable commit, and
//! its effect becomes durable with the next durable batch, or [`RELAXED_FOR`] later at most.
//! A crash loses at most that long of them, never an acknowledged durable write. Recording
//! decisions thus costs no fsync of its own (it was one durable commit per recorder batch).
//!
//! A batch that fails to reach the disk fails every request in it, and the writer reopens the
//! file ([`super::handle`]); while that fails (the disk is still full) each new batch is
//! refused with the reason, and another reopen is tried at most every [`RETRY_REOPEN`].

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use redb::{Durability, WriteTransaction};

use super::StorageError;
use super::handle::Handle;
use super::tx::Tx;
use super::undo::UndoLog;

/// Called once the batch holding a job is durable (or failed to become so).
type Finish = Box<dyn FnOnce(Result<(), FlushFailure>) + Send>;

/// Why a batch did not reach the disk; every job of the batch gets it.
#[derive(Debug, Clone)]
enum FlushFailure {
    /// Out of space: a condition the client can be told about (503) and that passes.
    Full,
    /// The database cannot be reached (PostgreSQL): 503 as well, until it is back.
    Unavailable,
    Other(String),
}

impl FlushFailure {
    fn of(error: StorageError) -> Self {
        match error {
            StorageError::Full => Self::Full,
            StorageError::Unavailable => Self::Unavailable,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<FlushFailure> for StorageError {
    fn from(failure: FlushFailure) -> Self {
        match failure {
            FlushFailure::Full => StorageError::Full,
            FlushFailure::Unavailable => StorageError::Unavailable,
            FlushFailure::Other(message) => StorageError::Durability(message),
        }
    }
}

impl std::fmt::Display for FlushFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("the disk is full"),
            Self::Unavailable => f.write_str("the database cannot be reached"),
            Self::Other(message) => f.write_str(message),
        }
    }
}
/// Runs a job in the open batch, or refuses it with the failure that keeps the store closed.
type Job = Box<dyn FnOnce(Result<&mut dyn Batch, &FlushFailure>) -> Finish + Send>;

/// A job, and whether its caller waits for it to be durable.
struct Queued {
    job: Job,
    durable: bool,
}

/// What the writer needs of a backend: batches of all-or-nothing jobs made durable together.
pub trait Backend: Send + Sync + 'static {
    /// Opens the batch the next jobs share (redb: the live file; PostgreSQL: one transaction
    /// holding the write lock).
    fn begin(&self) -> Result<Box<dyn Batch + '_>, StorageError>;
    /// After a batch failed to become durable: makes the store usable again, or says why not.
    fn recover(&self) -> Result<(), StorageError>;
}

pub trait Batch {
    /// Runs one job in its own all-or-nothing unit (a transaction, a savepoint), keeping its
    /// effect when `job` returns true. An `Err` means the unit itself failed.
    fn job(&mut self, job: &mut dyn FnMut(&Tx<'_>) -> bool) -> Result<(), StorageError>;
    /// Makes every kept job durable.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Ends a batch whose jobs may become durable later: their effect is visible now. Returns
    /// whether a durable commit is still owed for them (PostgreSQL commits its transaction
    /// here as in [`Batch::commit`], and owes nothing).
    fn commit_relaxed(self: Box<Self>) -> Result<bool, StorageError> {
        self.commit().map(|()| false)
    }
}

/// The longest a relaxed write waits for the durable commit that persists it.
pub const RELAXED_FOR: Duration = Duration::from_secs(1);

/// How often a writer whose database is broken tries to open it again.
const RETRY_REOPEN: Duration = Duration::from_millis(500);

/// Most jobs in one batch: bounds the latency a request waits behind its neighbours.
const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Queued>,
    stats: Arc<WriteStats>,
}

/// What this writer has done since it started.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Write jobs run (kept or rolled back).
    pub transactions: AtomicU64,
    /// Durable commits, one fsync each.
    pub batches: AtomicU64,
    /// The last batch did not reach the disk (full, an I/O error, the file being reopened):
    /// writes are refused until one does.
    pub failing: AtomicBool,
}

impl Writer {
    /// Starts the thread, named `name` (one per file: the domain's, the decision log's).
    pub fn start(backend: Arc<dyn Backend>, name: &str) -> Result<Self, StorageError> {
        let (jobs, queue) = mpsc::channel::<Queued>();
        let stats = Arc::new(WriteStats::default());
        let counters = Arc::clone(&stats);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(backend.as_ref(), &queue, &counters))
            .map_err(|e| StorageError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs, stats })
    }

    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Runs `op` in a write transaction and returns once its effect is durable on disk.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.queue(op, true).await
    }

    /// Runs `op` in a write transaction and returns once its effect is committed and visible;
    /// it is durable at most [`RELAXED_FOR`] later. Only for what a crash may lose.
    pub async fn write_relaxed<T, E, F>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.queue(op, false).await
    }

    async fn queue<T, E, F>(&self, op: F, durable: bool) -> Result<T, E>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |batch| {
            let outcome = match batch {
                Ok(batch) => run_one(batch, op),
                Err(failure) => Err(E::from(StorageError::from(failure.clone()))),
            };
            Box::new(move |durable| {
                let result = match (outcome, durable) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(failure)) => Err(E::from(StorageError::from(failure))),
                    (Err(error), _) => Err(error),
                };
                // The requester may have gone away (client disconnected); the write stands.
                let _ = reply.send(result);
            })
        });
        self.jobs
            .send(Queued { job, durable })
            .map_err(|_| E::from(StorageError::Closed))?;
        answer.await.map_err(|_| E::from(StorageError::Closed))?
    }
}

fn run_one<T, E, F>(batch: &mut dyn Batch, op: F) -> Result<T, E>
where
    F: FnOnce(&Tx<'_>) -> Result<T, E>,
    E: From<StorageError>,
{
    let mut op = Some(op);
    // `None` after the job ran: the operation panicked.
    let mut outcome: Option<Result<T, E>> = None;
    let ran = batch.job(&mut |tx| {
        let Some(op) = op.take() else {
            return false;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| op(tx))) {
            Ok(result) => {
                let keep = result.is_ok();
                outcome = Some(result);
                keep
            }
            Err(_) => false,
        }
    });
    match (ran, outcome) {
        (Err(error), Some(Ok(_)) | None) => Err(E::from(error)),
        (_, Some(result)) => result,
        (Ok(()), None) => Err(E::from(StorageError::Internal(
            "a write operation panicked; it was rolled back".into(),
        ))),
    }
}

fn run(backend: &dyn Backend, queue: &mpsc::Receiver<Queued>, stats: &WriteStats) {
    // Why the store is closed, and when recovering it was last tried.
    let mut broken: Option<(FlushFailure, Instant)> = None;
    // Since when relaxed writes wait for a durable commit.
    let mut owed: Option<Instant> = None;
    loop {
        // Checked before taking a job, so a steady stream of relaxed jobs cannot put it off.
        if owed.is_some_and(|since| since.elapsed() >= RELAXED_FOR) {
            owed = None;
            if broken.is_none() {
                make_durable(backend, stats, &mut broken);
            }
        }
        let next = match owed {
            Some(since) => queue.recv_timeout(RELAXED_FOR.saturating_sub(since.elapsed())),
            None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let first = match next {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                if owed.is_some() && broken.is_none() {
                    make_durable(backend, stats, &mut broken);
                }
                return;
            }
        };
        if let Some((_, tried)) = &broken
            && tried.elapsed() >= RETRY_REOPEN
        {
            recover(backend, &mut broken);
        }
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Some((failure, _)) = &broken {
            stats.failing.store(true, Ordering::Relaxed);
            refuse(jobs, failure);
            continue;
        }
        let mut batch = match backend.begin() {
            Ok(batch) => batch,
            Err(e) => {
                let failure = FlushFailure::of(e);
                stats.failing.store(true, Ordering::Relaxed);
                refuse(jobs, &failure);
                broken = Some((failure, Instant::now()));
                continue;
            }
        };
        let wants_fsync = jobs.iter().any(|queued| queued.durable);
        let finishes: Vec<Finish> = jobs
            .into_iter()
            .map(|queued| (queued.job)(Ok(batch.as_mut())))
            .collect();
        let ended = if wants_fsync {
            // A durable commit also persists every relaxed commit before it.
            batch.commit().map(|()| {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                owed = None;
            })
        } else {
            batch.commit_relaxed().map(|still_owed| {
                if still_owed {
                    owed.get_or_insert_with(Instant::now);
                } else {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let ended = ended.map_err(FlushFailure::of);
        crate::metrics::record_batch(finishes.len());
        stats
            .transactions
            .fetch_add(finishes.len() as u64, Ordering::Relaxed);
        stats.failing.store(ended.is_err(), Ordering::Relaxed);
        if let Err(failure) = &ended {
            tracing::error!(%failure, batch = finishes.len(), "group commit failed to become durable; recovering the store");
            recover(backend, &mut broken);
            owed = None;
        }
        for finish in finishes {
            finish(ended.clone());
        }
    }
}

/// redb refuses every transaction after an I/O error until the file is reopened; reopening
/// also drops the commits that never became durable.
fn recover(backend: &dyn Backend, broken: &mut Option<(FlushFailure, Instant)>) {
    *broken = match backend.recover() {
        Ok(()) => None,
        Err(e) => Some((FlushFailure::of(e), Instant::now())),
    };
}

/// The durable commit relaxed writes are owed when no durable batch came to carry them.
fn make_durable(
    backend: &dyn Backend,
    stats: &WriteStats,
    broken: &mut Option<(FlushFailure, Instant)>,
) {
    match backend.begin().and_then(|batch| batch.commit()) {
        Ok(()) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            let failure = FlushFailure::of(e);
            tracing::error!(%failure, "relaxed writes failed to become durable; recovering the store");
            stats.failing.store(true, Ordering::Relaxed);
            recover(backend, broken);
        }
    }
}

/// Answers every job with `failure` without running it.
fn refuse(jobs: Vec<Queued>, failure: &FlushFailure) {
    for queued in jobs {
        let finish = (queued.job)(Err(failure));
        finish(Err(failure.clone()));
    }
}

impl Backend for Handle {
    fn begin(&self) -> Result<Box<dyn Batch + '_>, StorageError> {
        Ok(Box::new(FileBatch {
            txn: self.current()?.begin_write()?,
            undo: UndoLog::default(),
            broken: None,
        }))
    }

    fn recover(&self) -> Result<(), StorageError> {
        self.reopen()
    }
}

/// redb: the whole batch in one transaction, committed once; a failed job is rolled back alone
/// from its [`UndoLog`] (redb's savepoints cannot be taken once a transaction has written).
struct FileBatch {
    txn: WriteTransaction,
    undo: UndoLog,
    /// A rollback failed, or a write ended part-way: the transaction may hold a failed job's
    /// writes, so none of it may commit.
    broken: Option<String>,
}

impl Batch for FileBatch {
    fn job(&mut self, job: &mut dyn FnMut(&Tx<'_>) -> bool) -> Result<(), StorageError> {
        if let Some(reason) = &self.broken {
            return Err(StorageError::Durability(reason.clone()));
        }
        let kept = job(&Tx::undoable(&self.txn, &self.undo));
        let ended = if self.undo.poisoned() {
            Err("a write ended part-way (an error or a panic inside it)".to_owned())
        } else if kept {
            self.undo.keep();
            Ok(())
        } else {
            self.undo
                .roll_back(&self.txn)
                .map_err(|e| format!("rolling back a failed write failed: {e}"))
        };
        ended.map_err(|reason| {
            self.broken = Some(reason.clone());
            StorageError::Durability(reason)
        })
    }

    /// Committed with `Immediate` durability: one fsync persists this batch and every relaxed
    /// batch committed before it.
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.end(Durability::Immediate)
    }

    /// Committed without fsync: visible now, the durable commit is owed.
    fn commit_relaxed(self: Box<Self>) -> Result<bool, StorageError> {
        self.end(Durability::None).map(|()| true)
    }
}

impl FileBatch {
    fn end(self: Box<Self>, durability: Durability) -> Result<(), StorageError> {
        let FileBatch {
            mut txn, broken, ..
        } = *self;
        if let Some(reason) = broken {
            txn.abort()?;
            return Err(StorageError::Durability(reason));
        }
        txn.set_durability(durability)
            .map_err(|e| StorageError::Internal(e.to_string()))?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tables::ORGS;
    use redb::{Database, ReadableDatabase};

    fn open() -> (tempfile::TempDir, Writer, Arc<Handle>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let db = Database::create(&path).unwrap();
        crate::storage::migrate::prepare(&db).unwrap();
        let handle = Arc::new(Handle::new(&path, 16 << 20, db));
        let writer =
            Writer::start(Arc::clone(&handle) as Arc<dyn Backend>, "tenantry-writer").unwrap();
        (dir, writer, handle)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_fsyncs_and_a_failure_aborts_alone() {
        let (_dir, writer, db) = open();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u128 {
            let w = writer.clone();
            tasks.spawn(async move {
                w.write(move |tx| {
                    tx.put(ORGS, i, &format!("org {i}"))?;
                    if i % 10 == 0 {
                        Err(StorageError::Internal("refused".into()))
                    } else {
                        Ok(i)
                    }
                })
                .await
            });
        }
        let results = tasks.join_all().await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 180);
        let stats = writer.stats();
        assert_eq!(stats.transactions.load(Ordering::Relaxed), 200);
        assert!(
            stats.batches.load(Ordering::Relaxed) < 200,
            "batches: {:?}",
            stats
        );
        let read = db.current().unwrap().begin_read().unwrap();
        let view = crate::storage::View::read(&read);
        assert_eq!(
            view.record::<String>(ORGS, 11).unwrap().as_deref(),
            Some("org 11")
        );
        assert_eq!(
            view.record::<String>(ORGS, 10).unwrap(),
            None,
            "the failed write left nothing"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relaxed_writes_are_visible_at_once_and_durable_within_the_bound() {
        let (dir, writer, handle) = open();
        for i in 0..3u128 {
            let relaxed: Result<(), StorageError> =
                writer.write_relaxed(move |tx| tx.put(ORGS, i, &i)).await;
            relaxed.unwrap();
        }
        let read = handle.current().unwrap().begin_read().unwrap();
        let view = crate::storage::View::read(&read);
        assert_eq!(view.record::<u128>(ORGS, 2).unwrap(), Some(2), "visible");
        drop(read);
        let stats = writer.stats();
        assert_eq!(stats.transactions.load(Ordering::Relaxed), 3);
        assert_eq!(
            stats.batches.load(Ordering::Relaxed),
            0,
            "no fsync of their own"
        );
        // The owed durable commit comes (at most RELAXED_FOR later; polled, not timed).
        let deadline = Instant::now() + RELAXED_FOR * 10;
        while stats.batches.load(Ordering::Relaxed) == 0 {
            assert!(
                Instant::now() < deadline,
                "the relaxed writes never became durable"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // What is durable survives the process: the file, copied now as a crash would leave
        // it, holds the three records.
        let copy = dir.path().join("copy.redb");
        std::fs::copy(dir.path().join("t.redb"), &copy).unwrap();
        let reopened = Database::create(&copy).unwrap();
        let read = reopened.begin_read().unwrap();
        let view = crate::storage::View::read(&read);
        assert_eq!(view.record::<u128>(ORGS, 0).unwrap(), Some(0));
        assert_eq!(view.record::<u128>(ORGS, 2).unwrap(), Some(2));
    }

    /// Relaxed jobs queued faster than the writer runs them: the queue never empties, so a
    /// writer that flushed only when it ran out of work would owe the fsync until the last job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_relaxed_writes_does_not_put_off_their_fsync() {
        const JOBS: usize = 4096; // about four seconds of work at a millisecond each
        let (_dir, writer, _handle) = open();
        let ran = Arc::new(AtomicU64::new(0));
        let mut stream = tokio::task::JoinSet::new();
        for i in 0..JOBS as u128 {
            let (writer, ran) = (writer.clone(), Arc::clone(&ran));
            stream.spawn(async move {
                let written: Result<(), StorageError> = writer
                    .write_relaxed(move |tx| {
                        std::thread::sleep(Duration::from_millis(1));
                        ran.fetch_add(1, Ordering::Relaxed);
                        tx.put(ORGS, i, &i)
                    })
                    .await;
                written.unwrap();
            });
        }
        let deadline = Instant::now() + RELAXED_FOR * 20;
        while writer.stats().batches.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "no durable commit at all");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ran_before_the_fsync = ran.load(Ordering::Relaxed);
        assert!(
            ran_before_the_fsync < JOBS as u64,
            "the fsync waited for the queue to empty ({ran_before_the_fsync} jobs ran first)"
        );
        stream.join_all().await;
    }

    #[tokio::test]
    async fn a_durable_write_carries_the_relaxed_ones_before_it() {
        let (_dir, writer, _handle) = open();
        let relaxed: Result<(), StorageError> =
            writer.write_relaxed(|tx| tx.put(ORGS, 1, &1u8)).await;
        relaxed.unwrap();
        let durable: Result<(), StorageError> = writer.write(|tx| tx.put(ORGS, 2, &2u8)).await;
        durable.unwrap();
        // One fsync for both: none is owed, so the timer adds none.
        tokio::time::sleep(RELAXED_FOR + Duration::from_millis(300)).await;
        assert_eq!(writer.stats().batches.load(Ordering::Relaxed), 1);
    }

    /// A write call that ended part-way (redb erred after changing something, or a panic
    /// unwound through it) may have left a change with no note: the batch cannot be trusted to
    /// roll it back, so none of it commits and every job in it is refused.
    #[test]
    fn a_write_cut_short_fails_its_whole_batch_and_commits_none_of_it() {
        let (_dir, _writer, handle) = open();
        let mut batch = handle.begin().unwrap();
        batch
            .job(&mut |tx| tx.put_raw(ORGS, 1, b"kept").is_ok())
            .unwrap();
        let cut_short = batch.job(&mut |tx| {
            let Tx::File(file) = tx else {
                unreachable!("a file batch")
            };
            // A write call that returned early, without reaching its `done`.
            drop(crate::storage::undo::Writing::start(file.undo));
            false
        });
        assert!(matches!(cut_short, Err(StorageError::Durability(_))));
        let later = batch.job(&mut |tx| tx.put_raw(ORGS, 2, b"later").is_ok());
        assert!(later.is_err(), "the batch takes no more jobs");
        assert!(batch.commit().is_err());
        let read = handle.current().unwrap().begin_read().unwrap();
        let view = crate::storage::View::read(&read);
        assert_eq!(view.record::<String>(ORGS, 1).unwrap(), None);
        assert_eq!(view.record::<String>(ORGS, 2).unwrap(), None);
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, writer, _db) = open();
        let panicked: Result<(), StorageError> = writer.write(|_| panic!("boom")).await;
        assert!(matches!(panicked, Err(StorageError::Internal(_))));
        let ok: Result<u8, StorageError> =
            writer.write(|tx| tx.put(ORGS, 1, &1u8).map(|()| 7)).await;
        assert_eq!(ok.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_reopened_database_keeps_its_commits_and_takes_new_writes() {
        let (_dir, writer, handle) = open();
        let first: Result<(), StorageError> = writer.write(|tx| tx.put(ORGS, 1, &1u8)).await;
        first.unwrap();
        let reader = handle.current().unwrap();
        // A read in flight during the reopen delays it but does not break it.
        let held = std::thread::spawn(move || {
            let _txn = reader.begin_read().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
        });
        let reopening = Arc::clone(&handle);
        std::thread::spawn(move || reopening.reopen())
            .join()
            .unwrap()
            .unwrap();
        held.join().unwrap();
        let second: Result<(), StorageError> = writer.write(|tx| tx.put(ORGS, 2, &2u8)).await;
        second.unwrap();
        let read = handle.current().unwrap().begin_read().unwrap();
        let view = crate::storage::View::read(&read);
        assert_eq!(view.record::<u8>(ORGS, 1).unwrap(), Some(1));
        assert_eq!(view.record::<u8>(ORGS, 2).unwrap(), Some(2));
    }
}
