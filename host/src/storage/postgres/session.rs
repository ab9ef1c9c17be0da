//! One PostgreSQL connection, used synchronously by the storage seam.
//!
//! [`super::super::View`] and [`super::super::Tx`] are synchronous (a use case is a plain
//! closure, as it is on redb), so each statement blocks its thread until the answer comes, the
//! way a redb read blocks on the disk. The connection's socket is driven by the store's own I/O
//! runtime ([`super::pool`]), and the waiting is done with `futures_executor::block_on`, which
//! does not enter a tokio runtime: a request handler on any tokio worker, a test on a
//! current-thread runtime and the writer thread can all call it.

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

pub struct Session {
    client: Client,
    /// Prepared once per connection: a statement is then one round trip, not two.
    statements: Mutex<HashMap<String, Statement>>,
    /// A transaction is open: set by `begin`, cleared by a successful `end`.
    in_transaction: AtomicBool,
    /// Writes are deferred ([`Session::defer_writes`]).
    deferring: AtomicBool,
    deferred: Mutex<Vec<Deferred>>,
}

impl Session {
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            statements: Mutex::new(HashMap::new()),
            in_transaction: AtomicBool::new(false),
            deferring: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
        }
    }

    /// The connection is gone (the server closed it or the network broke): not reusable.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
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
        let statement = block(self.client.prepare(sql))?;
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
            return Ok(block(last)?);
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
        let answer = block(last);
        for write in writes {
            match write {
                Ok(sending) => block(sending)?,
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
        block(self.client.execute(&statement, &params))?;
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
        let rows = block(self.client.query(&statement, params));
        match first {
            Poll::Ready(done) => done?,
            Poll::Pending => block(opened)?,
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
