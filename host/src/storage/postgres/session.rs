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

/// A write waiting to be sent with the next statement that needs an answer.
struct Deferred {
    statement: Statement,
    params: Vec<Owned>,
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
    /// Writes are deferred ([`Session::defer_writes`]).
    deferring: AtomicBool,
    deferred: Mutex<Vec<Deferred>>,
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
            deferred: Mutex::new(Vec::new()),
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

    /// While on, a write is not sent at once but queued, and the queue goes out pipelined in
    /// front of the next statement that needs an answer (a read, `RELEASE SAVEPOINT`): a write
    /// job of six writes and four reads is then four round trips, not ten. Writes answer
    /// nothing the job could use (every uniqueness rule is checked by a read first, and every
    /// write is an upsert), so their errors are just as well reported by that statement, which
    /// fails the job. Turning it off drops what is queued: the job that wrote it failed.
    pub fn defer_writes(&self, on: bool) {
        self.deferring.store(on, Ordering::Relaxed);
        if !on {
            self.take_deferred();
        }
    }

    fn take_deferred(&self) -> Vec<Deferred> {
        std::mem::take(
            &mut *self
                .deferred
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
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

    /// Sends the deferred writes, then `last`, without waiting in between, and waits for all
    /// of them: one round trip. The first error, in the order sent, is the answer.
    fn after_deferred<T>(
        &self,
        last: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StorageError> {
        let deferred = self.take_deferred();
        if deferred.is_empty() {
            return Ok(self.wait(last)?);
        }
        // A write still on its way, or the answer it already had at its first poll.
        let mut writes: Vec<Result<Sending<'_>, Result<u64, tokio_postgres::Error>>> =
            Vec::with_capacity(deferred.len());
        for write in &deferred {
            let params: Vec<&(dyn ToSql + Sync)> = write
                .params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let mut sending: Sending<'_> =
                Box::pin(async move { self.client.execute(&write.statement, &params).await });
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
        for write in writes {
            match write {
                Ok(sending) => self.wait(sending)?,
                Err(done) => done?,
            };
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
            self.deferred
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Deferred { statement, params });
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
            Some(db) => StorageError::Internal(format!("database: {}", db.message())),
            // No answer from the server: the connection is closed or the network failed.
            None if error.is_closed() || source_is_io(&error) => StorageError::Unavailable,
            None => StorageError::Internal(format!("database client: {error}")),
        }
    }
}

fn source_is_io(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}
