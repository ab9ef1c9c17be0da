//! One PostgreSQL connection, used synchronously by the storage seam.
//!
//! [`super::super::View`] and [`super::super::Tx`] are synchronous (a use case is a plain
//! closure, as it is on redb), so each statement blocks its thread until the answer comes, the
//! way a redb read blocks on the disk. The connection's socket is driven by the store's own I/O
//! runtime ([`super::pool`]), and the waiting is done with `futures_executor::block_on`, which
//! does not enter a tokio runtime: a request handler on any tokio worker, a test on a
//! current-thread runtime and the writer thread can all call it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::storage::StorageError;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub struct Session {
    client: Client,
    /// Prepared once per connection: a statement is then one round trip, not two.
    statements: Mutex<HashMap<String, Statement>>,
    /// A transaction is open: set by `begin`, cleared by a successful `end`.
    in_transaction: AtomicBool,
}

impl Session {
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            statements: Mutex::new(HashMap::new()),
            in_transaction: AtomicBool::new(false),
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

    pub fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StorageError> {
        let statement = self.statement(sql)?;
        Ok(block(self.client.query(&statement, params))?)
    }

    pub fn row(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StorageError> {
        let statement = self.statement(sql)?;
        Ok(block(self.client.query_opt(&statement, params))?)
    }

    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StorageError> {
        let statement = self.statement(sql)?;
        Ok(block(self.client.execute(&statement, params))?)
    }

    /// Statements without parameters, sent as one simple query (`BEGIN`, `COMMIT`, DDL).
    pub fn simple(&self, sql: &str) -> Result<(), StorageError> {
        Ok(block(self.client.batch_execute(sql))?)
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
