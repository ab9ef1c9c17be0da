//! Group commit: one thread owns every write transaction.
//!
//! Requests queue their write closures; the thread runs each in its own transaction committed
//! without fsync (so a failed closure aborts alone and never touches its neighbours), then makes
//! the whole batch durable with one `Durability::Immediate` commit, and only then answers every
//! request of the batch. Durable write throughput is therefore bounded by batches per fsync, not
//! requests per fsync.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use redb::{Database, Durability};

use super::StorageError;
use super::tx::Tx;

/// Called once the batch holding a job is durable (or failed to become so).
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Database) -> Finish + Send>;

/// Most jobs in one batch: bounds the latency a request waits behind its neighbours.
const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    stats: Arc<WriteStats>,
}

/// What this writer has done since it started.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Write transactions run (committed or aborted).
    pub transactions: AtomicU64,
    /// Durable commits, one fsync each.
    pub batches: AtomicU64,
}

impl Writer {
    pub fn start(db: Arc<Database>) -> Result<Self, StorageError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let stats = Arc::new(WriteStats::default());
        let counters = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("tenantry-writer".into())
            .spawn(move || run(&db, &queue, &counters))
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |db| {
            let outcome = run_one(db, op);
            Box::new(move |durable| {
                let result = match (outcome, durable) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(message)) => Err(E::from(StorageError::Durability(message))),
                    (Err(error), _) => Err(error),
                };
                // The requester may have gone away (client disconnected); the write stands.
                let _ = reply.send(result);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(StorageError::Closed))?;
        answer.await.map_err(|_| E::from(StorageError::Closed))?
    }
}

fn run_one<T, E, F>(db: &Database, op: F) -> Result<T, E>
where
    F: FnOnce(&Tx<'_>) -> Result<T, E>,
    E: From<StorageError>,
{
    let mut txn = db.begin_write().map_err(StorageError::from)?;
    txn.set_durability(Durability::None)
        .map_err(|e| StorageError::Internal(e.to_string()))?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| op(&Tx::new(&txn))));
    match outcome {
        Ok(Ok(value)) => {
            txn.commit().map_err(StorageError::from)?;
            Ok(value)
        }
        Ok(Err(error)) => {
            txn.abort().map_err(StorageError::from)?;
            Err(error)
        }
        Err(_) => {
            let _ = txn.abort();
            Err(E::from(StorageError::Internal(
                "a write operation panicked; it was rolled back".into(),
            )))
        }
    }
}

fn run(db: &Database, queue: &mpsc::Receiver<Job>, stats: &WriteStats) {
    while let Ok(first) = queue.recv() {
        let mut finishes = vec![first(db)];
        while finishes.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => finishes.push(job(db)),
                Err(_) => break,
            }
        }
        let durable = flush(db);
        crate::metrics::record_batch(finishes.len());
        stats
            .transactions
            .fetch_add(finishes.len() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        if let Err(message) = &durable {
            tracing::error!(%message, batch = finishes.len(), "group commit failed to reach disk");
        }
        for finish in finishes {
            finish(durable.clone());
        }
    }
}

/// An empty transaction committed with `Immediate` durability persists every earlier
/// non-durable commit with one fsync.
fn flush(db: &Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tables::ORGS;
    use redb::ReadableDatabase;

    fn open() -> (tempfile::TempDir, Writer, Arc<Database>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("t.redb")).unwrap());
        crate::storage::migrate::prepare(&db).unwrap();
        let writer = Writer::start(Arc::clone(&db)).unwrap();
        (dir, writer, db)
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
        let read = db.begin_read().unwrap();
        let view = crate::storage::View::Read(&read);
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

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, writer, _db) = open();
        let panicked: Result<(), StorageError> = writer.write(|_| panic!("boom")).await;
        assert!(matches!(panicked, Err(StorageError::Internal(_))));
        let ok: Result<u8, StorageError> =
            writer.write(|tx| tx.put(ORGS, 1, &1u8).map(|()| 7)).await;
        assert_eq!(ok.unwrap(), 7);
    }
}
