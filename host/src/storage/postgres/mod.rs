//! The PostgreSQL backend: several tenantry servers on one database.
//!
//! Behind the same seam as the embedded store ([`crate::storage::Store`]): the record functions
//! of `storage/records` run unchanged on it, through the table-shape statements of
//! [`shapes`]. What the seam promises (`Store::write`) holds here by the database's own
//! guarantees:
//! - **Serializable writes.** Every write batch is one transaction that first takes a
//!   transaction-scoped advisory lock ([`schema::WRITE_LOCK`]), so writes from every server
//!   run one batch at a time, as redb's single writer does on one machine; under READ COMMITTED
//!   each statement after the lock sees every earlier commit. An invariant checked inside a
//!   write (link cap, one live link per pair, exactly one owner, a single-use invitation, an
//!   idempotency claim) therefore holds across servers without retries, and unique keys are
//!   primary keys besides. The cost is that writes do not run in parallel across servers; a
//!   batch carries up to 512 of them per commit.
//! - **All or nothing per job.** Each job of a batch runs inside its own savepoint: a failed
//!   job is rolled back to it and its neighbours commit.
//! - **Durable on return.** A job is answered once the batch's `COMMIT` returned
//!   (`synchronous_commit` as the database is configured; its default waits for the WAL flush).
//! - **Reads** are `REPEATABLE READ, READ ONLY` transactions: one snapshot per read closure.

pub mod pool;
pub mod schema;
pub mod scratch;
pub mod session;
pub mod shapes;

use std::str::FromStr;
use std::time::Duration;

use pool::Pool;
use session::Session;

use super::writer::{Backend, Batch};
use super::{StorageError, Tx, View};

pub struct Postgres {
    /// Connections for reads.
    pool: Pool,
    /// The writer's own connection, so that reads holding every pooled connection never keep
    /// a write (and the requests waiting on it) from running.
    writer: Pool,
}

/// `url` without its password, for logs and errors.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an unparseable database URL)".into(),
    }
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`), with at most
    /// `connections` connections, and creates or upgrades the schema. Refuses a database whose
    /// schema is newer than this build. Every error names the URL without its password.
    pub fn connect(
        url: &str,
        ca_file: Option<&std::path::Path>,
        connections: usize,
    ) -> Result<Self, StorageError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StorageError::Internal(format!("invalid database URL {}: {e}", redacted(url)))
        })?;
        config
            .connect_timeout(Duration::from_secs(5))
            .application_name("tenantry")
            // A statement that hangs (a lock held by a stuck session) fails the request with 503
            // instead of holding a connection and a request forever.
            .options(
                "-c statement_timeout=15000 -c idle_in_transaction_session_timeout=60000 \
                 -c client_min_messages=warning",
            );
        let tls = pool::tls(ca_file).map_err(StorageError::Internal)?;
        let first = pool::open(&config, &tls).map_err(|e| {
            StorageError::Internal(format!(
                "cannot connect to the database at {}: {e}",
                redacted(url)
            ))
        })?;
        schema::prepare(&first)?;
        Ok(Self {
            writer: Pool::new(config.clone(), tls.clone(), 1),
            pool: Pool::new(config, tls, connections),
        })
    }

    /// Runs `f` on one snapshot.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        let session = self.pool.get()?;
        session.begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let out = f(&View::SqlRead(&session));
        // Nothing to keep: a failed end only costs the connection (the pool drops it).
        let _ = session.end("COMMIT");
        out
    }
}

impl Backend for Postgres {
    fn begin(&self) -> Result<Box<dyn Batch + '_>, StorageError> {
        let session = self.writer.get()?;
        session.begin("BEGIN")?;
        session.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::WRITE_LOCK])?;
        Ok(Box::new(SqlBatch {
            session,
            broken: false,
        }))
    }

    fn recover(&self) -> Result<(), StorageError> {
        // Broken connections leave the pool on their own; the next batch opens a new one.
        Ok(())
    }
}

/// One write transaction holding the write lock; each job in a savepoint.
struct SqlBatch<'p> {
    session: pool::Lease<'p>,
    /// A savepoint could not be released or rolled back to: the transaction may be aborted,
    /// and PostgreSQL would answer its `COMMIT` with a silent rollback. It is never committed.
    broken: bool,
}

impl Batch for SqlBatch<'_> {
    fn job(&mut self, job: &mut dyn FnMut(&Tx<'_>) -> bool) -> Result<(), StorageError> {
        if self.broken {
            return Err(StorageError::Unavailable);
        }
        self.session.simple("SAVEPOINT job")?;
        let keep = job(&Tx::Sql(&self.session));
        let ended = if keep {
            self.session.simple("RELEASE SAVEPOINT job")
        } else {
            Err(StorageError::Internal("rolled back".into()))
        };
        match ended {
            Ok(()) => Ok(()),
            Err(release) => {
                if let Err(rollback) = self.session.simple("ROLLBACK TO SAVEPOINT job") {
                    self.broken = true;
                    return Err(rollback);
                }
                if keep { Err(release) } else { Ok(()) }
            }
        }
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        if self.broken {
            let _ = self.session.end("ROLLBACK");
            return Err(StorageError::Unavailable);
        }
        self.session.end("COMMIT")
    }
}

impl Session {
    /// Opens a transaction; a connection given back while one is open is not reused.
    pub fn begin(&self, statement: &str) -> Result<(), StorageError> {
        self.set_in_transaction(true);
        self.simple(statement)
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    pub fn end(&self, statement: &str) -> Result<(), StorageError> {
        self.simple(statement)?;
        self.set_in_transaction(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Store, tables};

    #[test]
    fn a_password_never_appears_in_what_is_shown() {
        let url = "postgres://tenantry:hunter2-secret@127.0.0.1:1/tenantry";
        assert_eq!(
            redacted(url),
            "postgres://tenantry:***@127.0.0.1:1/tenantry"
        );
        let settings = crate::config::Settings {
            database_url: Some(url.into()),
            ..crate::config::Settings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(!settings.database_label().contains("hunter2"));
        // Nothing listens on port 1: the start-up error names the place, not the password.
        let Err(refused) = Postgres::connect(url, None, 1) else {
            panic!("connected to port 1");
        };
        let shown = refused.to_string();
        assert!(
            shown.contains("127.0.0.1:1") && shown.contains("***") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// `sslmode=require` is kept: a server without TLS is refused, never talked to in clear.
    #[test]
    fn a_url_that_requires_tls_refuses_a_server_without_it() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return;
        };
        let mut url = url::Url::parse(&server).unwrap();
        url.query_pairs_mut().append_pair("sslmode", "require");
        let Err(refused) = Postgres::connect(url.as_str(), None, 1) else {
            panic!(
                "connected in clear although the URL requires TLS (.ci/postgres runs without TLS)"
            );
        };
        assert!(
            refused
                .to_string()
                .contains("cannot connect to the database"),
            "{refused}"
        );
    }

    /// A read closure that fails or panics inside its snapshot must not hand that snapshot to
    /// the next read on the same connection: it would see the database as it was.
    #[tokio::test]
    async fn a_read_that_failed_leaves_no_snapshot_behind() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return;
        };
        let store = Store::connect(&scratch::create_database(&server).unwrap(), 1).unwrap();
        let failed: Result<(), crate::Error> = store.read(|view| {
            view.record::<u8>(tables::ORGS, 1)?;
            Err(crate::Error::NotFound("nothing"))
        });
        assert!(failed.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.read(|view| -> Result<(), crate::Error> {
                view.record::<u8>(tables::ORGS, 1)?;
                panic!("a bug in a read");
            })
        }));
        assert!(panicked.is_err());
        store
            .write(|tx| Ok(tx.put(tables::ORGS, 1, &7u8)?))
            .await
            .unwrap();
        let seen = store
            .read(|view| Ok(view.record::<u8>(tables::ORGS, 1)?))
            .unwrap();
        assert_eq!(seen, Some(7), "the next read sees the write");
    }
}
