//! Group commit: one thread owns every write transaction.
//!
//! Requests queue their write closures; the thread runs each in its own transaction committed
//! without fsync (so a failed closure aborts alone and never touches its neighbours), then makes
//! the whole batch durable with one `Durability::Immediate` commit, and only then answers every
//! request of the batch. Durable write throughput is therefore bounded by batches per fsync, not
//! requests per fsync.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

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
}

impl Writer {
    pub fn start(db: std::sync::Arc<Database>) -> Result<Self, StorageError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tenantry-writer".into())
            .spawn(move || run(&db, &queue))
            .map_err(|e| StorageError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs })
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

fn run(db: &Database, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut finishes = vec![first(db)];
        while finishes.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => finishes.push(job(db)),
                Err(_) => break,
            }
        }
        let durable = flush(db);
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
