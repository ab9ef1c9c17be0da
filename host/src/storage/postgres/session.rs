//! One PostgreSQL connection, used synchronously by the storage seam.
//!
//! [`super::super::View`] and [`super::super::Tx`] are synchronous (a use case is a plain
//! closure, as it is on redb), so each statement blocks its thread until the answer comes, the
//! way a redb read blocks on the disk. Who drives the connection's socket meanwhile depends on
//! the thread ([`Driver`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::storage::StorageError;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A parameter a deferred write owns until it is sent.
pub type Owned = Box<dyn ToSql + Sync + Send>;

pub fn own(value: impl ToSql + Sync + Send + 'static) -> Owned {
    Box::new(value)
}

type Sending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + 'a>>;

/// A statement waiting to be sent in front of the next one that needs an answer.
enum Deferred {
    Write {
        statement: Statement,
        params: Vec<Owned>,
    },
    /// A savepoint command of a write job ([`Session::begin_job`]).
    Savepoint(&'static str),
}

/// The deferred statements of a write batch, and where the running job's begin.
#[derive(Default)]
struct Queue {
    statements: Vec<Deferred>,
    /// Where the running job's unsent writes begin: the statements before belong to jobs that
    /// finished and are kept.
    job_from: usize,
    /// A job is running (between [`Session::begin_job`] and its keep or undo).
    in_job: bool,
    /// The running job's savepoint was sent: undoing the job rolls back to it.
    savepoint: bool,
    /// A kept job's statement failed: the transaction is aborted, or a later rollback to a
    /// savepoint could undo a kept job, so the batch must never be committed.
    poisoned: bool,
}

/// Who drives a connection's socket while a thread waits on it.
pub(super) enum Driver {
    /// A current-thread runtime of the session's own, run by the waiting thread: for a thread
    /// outside every tokio runtime (the writer's), which then sends, waits on the socket and
    /// reads the answer itself, with no other thread woken in between.
    Own(tokio::runtime::Runtime),
    /// The shared I/O runtime ([`super::pool`]); the waiting is `futures_executor::block_on`,
    /// which does not enter a tokio runtime, so a request handler on any tokio worker and a
    /// test on a current-thread runtime can wait this way. (Polling the connection on the
    /// waiting thread instead, the I/O runtime only watching the socket, was measured slower:
    /// 4,545–4,627 authorized reads/s against 5,461–5,665.)
    Shared,
}

pub struct Session {
    client: Client,
    driver: Driver,
    /// Prepared once per connection: a statement is then one round trip, not two.
    statements: Mutex<HashMap<String, Statement>>,
    /// A transaction is open: set by `begin`, cleared by a successful `end`.
    in_transaction: AtomicBool,
    /// A write batch runs its jobs: writes are deferred ([`Session::begin_job`]).
    deferring: AtomicBool,
    queue: Mutex<Queue>,
    /// A statement failed since [`Session::take_failure`] last looked.
    failed: AtomicBool,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Without blocking: the last owner of a store may drop it inside an async context.
        let driver = std::mem::replace(&mut self.driver, Driver::Shared);
        if let Driver::Own(runtime) = driver {
            runtime.shutdown_background();
        }
    }
}

impl Session {
    pub(super) fn new(client: Client, driver: Driver) -> Self {
        Self {
            client,
            driver,
            statements: Mutex::new(HashMap::new()),
            in_transaction: AtomicBool::new(false),
            deferring: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            failed: AtomicBool::new(false),
        }
    }

    /// The connection is gone (the server closed it or the network broke): not reusable.
    pub fn is_closed(&self) -> bool {
        // Let the connection read what came in while nobody waited on it (the server closing
        // an idle connection), so a dead connection is not handed out.
        self.drive_once();
        self.client.is_closed()
    }

    /// Gives a connection driven by its own runtime one turn without waiting: it takes in
    /// what arrived while nobody waited on it.
    fn drive_once(&self) {
        if let Driver::Own(runtime) = &self.driver {
            runtime.block_on(tokio::task::yield_now());
        }
    }

    /// Waits for `future` while the connection's driver runs.
    fn wait<F: Future>(&self, future: F) -> F::Output {
        match &self.driver {
            Driver::Own(runtime) => runtime.block_on(future),
            Driver::Shared => block(future),
        }
    }

    /// Whether the connection can serve someone else: open, and no transaction left behind
    /// (a closure that panicked, an `end` that failed).
    pub fn is_reusable(&self) -> bool {
        !self.client.is_closed() && !self.in_transaction.load(Ordering::Relaxed)
    }

    pub(super) fn set_in_transaction(&self, open: bool) {
        self.in_transaction.store(open, Ordering::Relaxed);
    }

    /// Starts a write job. Its writes are not sent at once but queued, and the queue goes out
    /// pipelined in front of the next statement that needs an answer (a read, the batch's
    /// `COMMIT`): a job of six writes and four reads is then at most four round trips, not ten,
    /// and a job that reads nothing after its writes costs none. Writes answer nothing a job
    /// could use (every uniqueness rule is checked by a read first, and every write is an
    /// upsert), so their errors are just as well reported by that later statement.
    ///
    /// The job's savepoint goes out unanswered in front of its first statement sent, and is
    /// released unanswered when the job is kept; a job that fails before sending anything is
    /// undone by forgetting its queued writes, without a round trip.
    pub fn begin_job(&self) {
        self.deferring.store(true, Ordering::Relaxed);
        let mut queue = self.queue();
        queue.job_from = queue.statements.len();
        queue.in_job = true;
        queue.savepoint = false;
    }

    /// Keeps the running job: its queued writes go out with the batch's later statements.
    pub fn keep_job(&self) {
        let mut queue = self.queue();
        queue.in_job = false;
        if std::mem::take(&mut queue.savepoint) {
            queue
                .statements
                .push(Deferred::Savepoint("RELEASE SAVEPOINT job"));
        }
        queue.job_from = queue.statements.len();
    }

    /// Undoes the running job: forgets its unsent writes, and rolls back to its savepoint if
    /// it sent anything. An error leaves the transaction unusable (never to be committed).
    pub fn undo_job(&self) -> Result<(), StorageError> {
        let sent = {
            let mut queue = self.queue();
            queue.in_job = false;
            let from = queue.job_from;
            queue.statements.truncate(from);
            std::mem::take(&mut queue.savepoint)
        };
        if sent {
            self.simple("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")?;
        }
        Ok(())
    }

    /// Whether a kept job's write failed: the batch must be rolled back.
    pub fn poisoned(&self) -> bool {
        self.queue().poisoned
    }

    /// Ends the batch's jobs, forgetting what is still queued when the batch is rolled back.
    pub fn end_jobs(&self, discard: bool) {
        self.deferring.store(false, Ordering::Relaxed);
        if discard {
            *self.queue() = Queue::default();
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes what is queued, to be sent now, and how many of the statements taken belong to
    /// kept jobs. The running job's first statement sent goes behind its savepoint.
    fn take_deferred(&self) -> (Vec<Deferred>, usize) {
        let mut queue = self.queue();
        let kept = queue.job_from.min(queue.statements.len());
        if queue.in_job && !queue.savepoint {
            queue
                .statements
                .insert(kept, Deferred::Savepoint("SAVEPOINT job"));
            queue.savepoint = true;
        }
        queue.job_from = 0;
        (std::mem::take(&mut queue.statements), kept)
    }

    fn statement(&self, sql: &str) -> Result<Statement, StorageError> {
        let mut statements = self
            .statements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(statement) = statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.wait(self.client.prepare(sql))?;
        statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Whether a statement failed since the last call (which aborts the transaction).
    pub fn take_failure(&self) -> bool {
        self.failed.swap(false, Ordering::Relaxed)
    }

    /// Sends the deferred writes, then `last`, without waiting in between, and waits for all
    /// of them: one round trip. The first error, in the order sent, is the answer.
    fn after_deferred<T>(
        &self,
        last: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StorageError> {
        self.sent_after_deferred(last)
            .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))
    }

    fn sent_after_deferred<T>(
        &self,
        last: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StorageError> {
        let (deferred, kept) = self.take_deferred();
        if deferred.is_empty() {
            return Ok(self.wait(last)?);
        }
        // A write still on its way, or the answer it already had at its first poll.
        let mut writes: Vec<Result<Sending<'_>, Result<u64, tokio_postgres::Error>>> =
            Vec::with_capacity(deferred.len());
        for write in &deferred {
            let mut sending: Sending<'_> = match write {
                Deferred::Write { statement, params } => {
                    let params: Vec<&(dyn ToSql + Sync)> = params
                        .iter()
                        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    Box::pin(async move { self.client.execute(statement, &params).await })
                }
                Deferred::Savepoint(command) => {
                    Box::pin(async move { self.client.batch_execute(command).await.map(|()| 0) })
                }
            };
            // The first poll queues the statement on the connection, in order.
            writes.push(
                match sending
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                {
                    Poll::Ready(done) => Err(done),
                    Poll::Pending => Ok(sending),
                },
            );
        }
        let answer = self.wait(last);
        for (n, write) in writes.into_iter().enumerate() {
            let done = match write {
                Ok(sending) => self.wait(sending),
                Err(done) => done,
            };
            if let Err(error) = done {
                if n < kept {
                    self.queue().poisoned = true;
                }
                return Err(error.into());
            }
        }
        Ok(answer?)
    }

    pub fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StorageError> {
        let statement = self.statement(sql)?;
        self.after_deferred(self.client.query(&statement, params))
    }

    pub fn row(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StorageError> {
        let statement = self.statement(sql)?;
        self.after_deferred(self.client.query_opt(&statement, params))
    }

    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StorageError> {
        let statement = self.statement(sql)?;
        self.after_deferred(self.client.execute(&statement, params))
    }

    /// A write: queued while writes are deferred, else sent and waited for.
    pub fn write(&self, sql: &str, params: Vec<Owned>) -> Result<(), StorageError> {
        let statement = self.statement(sql)?;
        if self.deferring.load(Ordering::Relaxed) {
            self.queue()
                .statements
                .push(Deferred::Write { statement, params });
            return Ok(());
        }
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.wait(self.client.execute(&statement, &params))?;
        Ok(())
    }

    /// Statements without parameters, sent as one simple query (`BEGIN`, `COMMIT`, DDL), after
    /// the deferred writes.
    pub fn simple(&self, sql: &str) -> Result<(), StorageError> {
        self.after_deferred(self.client.batch_execute(sql))
    }

    /// Sends `sql` as one simple query without waiting for its answer: the next statement on
    /// this connection runs after it. For the `COMMIT` of a read-only snapshot, which cannot
    /// fail short of losing the connection, and a lost connection is found by whoever uses it
    /// next. Saves a read its last round trip.
    pub fn send_unanswered(&self, sql: &str) {
        let mut sending = std::pin::pin!(self.client.batch_execute(sql));
        // The first poll queues the message on the connection; the answer is then discarded.
        let _ = sending
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        // A connection of its own runtime sends it on its next turn; the answer is discarded.
        self.drive_once();
    }

    /// Sends `opening` (statements without parameters, as one simple query) and then the
    /// prepared `sql` behind it without waiting in between: one round trip for both. Answers
    /// the rows of `sql`; an error of either is the error.
    pub fn rows_after(
        &self,
        opening: &str,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, StorageError> {
        let statement = self.statement(sql)?;
        let mut opened = std::pin::pin!(self.client.batch_execute(opening));
        // The first poll queues `opening`; `sql` is queued behind it, and the connection
        // answers both in order.
        let first = opened
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        let rows = self.wait(self.client.query(&statement, params));
        match first {
            Poll::Ready(done) => done?,
            Poll::Pending => self.wait(opened)?,
        }
        Ok(rows?)
    }
}

fn block<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match error.as_db_error() {
            Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => {
                StorageError::Duplicate(db.message().to_owned())
            }
            Some(db) if *db.code() == SqlState::QUERY_CANCELED => StorageError::Unavailable,
            Some(db)
                if db.code().code().starts_with("08") || db.code().code().starts_with("57") =>
            {
                // Connection exceptions and operator intervention (a restart, a shutdown).
                StorageError::Unavailable
            }
            Some(db) => StorageError::Internal(format!(
                "database: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            )),
            // No answer from the server: the connection is closed or the network failed.
            None if error.is_closed() || source_is_io(&error) => StorageError::Unavailable,
            None => StorageError::Internal(format!("database client: {error}")),
        }
    }
}

fn source_is_io(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}
