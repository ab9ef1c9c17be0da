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
//!   The round trip that opens one also asks which tables changed since this server's record
//!   cache last looked ([`cache`]), so point lookups of unchanged tables stay in memory.

pub mod cache;
pub mod cached_session;
pub mod columns;
pub mod counters;
pub mod listen;
pub mod pool;
pub mod read_group;
pub mod references;
pub mod schema;
pub mod scratch;
pub mod session;
pub mod shapes;

use std::cell::RefCell;

use redb::TableHandle;
use std::str::FromStr;
use std::time::Duration;

use cache::{Cache, Seen, Written};
use cached_session::CachedSession;
use pool::Pool;
use read_group::{Job, ReadGroup};
use session::Session;

use super::writer::{Backend, Batch};
use super::{StorageError, Tx, View};

/// How a read opens its snapshot.
const READ_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

pub struct Postgres {
    /// Connections for reads.
    pool: Pool,
    /// The writer's own connection, so that reads holding every pooled connection never keep
    /// a write (and the requests waiting on it) from running.
    writer: Pool,
    cache: Cache,
    /// Small reads sharing one snapshot ([`Postgres::read_together`]).
    together: ReadGroup,
    /// The engine takes `NOTIFY`: commits that raise the policy generation notify
    /// ([`listen`]).
    notifies: bool,
    /// The listener, once [`Postgres::policy_changes`] asked.
    listener: std::sync::OnceLock<(
        std::sync::Arc<tokio::sync::Notify>,
        Option<tokio::task::AbortHandle>,
    )>,
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
    /// `connections` connections and a record cache of `cache_bytes`, and creates or upgrades
    /// the schema. Refuses a database whose schema is newer than this build. Every error names
    /// the URL without its password.
    pub fn connect(
        url: &str,
        ca_file: Option<&std::path::Path>,
        connections: usize,
        cache_bytes: usize,
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
        let notifies = listen::supported(&first);
        Ok(Self {
            writer: Pool::on_own_thread(config.clone(), tls.clone(), 1),
            pool: Pool::new(config, tls, connections),
            cache: Cache::new(cache_bytes),
            together: ReadGroup::default(),
            notifies,
            listener: std::sync::OnceLock::new(),
        })
    }

    /// Signalled soon after another server's commit raised the policy generation, where the
    /// engine takes LISTEN/NOTIFY (`None` elsewhere: polling alone follows). The first call
    /// starts the listening connection.
    pub fn policy_changes(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        if !self.notifies {
            return None;
        }
        let (notice, _) = self.listener.get_or_init(|| {
            let notice = std::sync::Arc::new(tokio::sync::Notify::new());
            let (config, tls) = self.pool.target();
            let task = listen::listen(config.clone(), tls.clone(), std::sync::Arc::clone(&notice))
                .inspect_err(|error| {
                    tracing::warn!(%error, "cannot listen for policy changes; polling goes on");
                })
                .ok();
            (notice, task)
        });
        Some(std::sync::Arc::clone(notice))
    }

    /// Opens a transaction with `opening` and, in the same round trip, reads what changed since
    /// the cache last looked; answers the clock of what the transaction sees.
    fn open(&self, session: &Session, opening: &str) -> Result<Seen, StorageError> {
        session.set_in_transaction(true);
        let known = self.cache.clock();
        let changes = session
            .rows_after(opening, cache::CATCH_UP, &[&known])?
            .iter()
            .map(|row| Ok((row.try_get::<_, String>(0)?, row.try_get::<_, i64>(1)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(self.cache.catch_up(&changes))
    }

    /// Runs `f` on one snapshot.
    ///
    /// A read waits on the network with its thread. `tenantry serve` runs a worker thread per
    /// connection besides one per core ([`crate::config::Settings::worker_threads`]), so
    /// waiting there is cheap. A runtime with fewer workers than connections (a test's, an
    /// embedder's) would have every worker waiting and the cores idle, so there a read first
    /// hands the worker's other tasks to another thread (`block_in_place`), which costs a
    /// thread hand-over per read but keeps the connections busy.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        self.waiting(|| self.read_here(f))
    }

    /// Runs `wait` (which waits on the network) on this thread, or hands the worker's other
    /// tasks over first when the runtime has fewer workers than connections ([`Postgres::read`]).
    fn waiting<T>(&self, wait: impl FnOnce() -> T) -> T {
        let too_few_workers = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
            runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                && runtime.metrics().num_workers() < self.pool.size()
        });
        if too_few_workers {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        }
    }

    /// Runs `f` in a snapshot shared with the other small reads waiting at the same moment
    /// ([`read_group`]): one round trip for all of them.
    pub fn read_together<T: Send + 'static>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error> + Send + 'static,
    ) -> Result<T, crate::Error> {
        self.waiting(|| self.together.read(f, |jobs| self.run_together(jobs)))
    }

    /// Runs a group of reads in one snapshot; a statement that fails aborts the snapshot, so
    /// the reads after it get a new one.
    fn run_together(&self, jobs: Vec<Job>) {
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let opened = self.pool.get().and_then(|session| {
                let seen = self.open(&session, READ_SNAPSHOT)?;
                Ok((session, seen))
            });
            let (session, seen) = match opened {
                Ok(opened) => opened,
                Err(error) => {
                    for job in jobs {
                        job(Err(&error));
                    }
                    return;
                }
            };
            session.take_failure();
            let cached = CachedSession::reading(&session, &self.cache, seen);
            for job in jobs.by_ref() {
                job(Ok(&View::SqlRead(&cached)));
                if session.take_failure() {
                    break;
                }
            }
            session.send_unanswered("COMMIT");
            session.set_in_transaction(false);
        }
    }

    fn read_here<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        let session = self.pool.get()?;
        let seen = self.open(&session, READ_SNAPSHOT)?;
        let out = f(&View::SqlRead(&CachedSession::reading(
            &session,
            &self.cache,
            seen,
        )));
        // Nothing to keep, and nothing a read-only COMMIT can refuse: it is not waited for.
        session.send_unanswered("COMMIT");
        session.set_in_transaction(false);
        out
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((_, Some(listener))) = self.listener.get() {
            listener.abort();
        }
    }
}

impl Backend for Postgres {
    fn begin(&self) -> Result<Box<dyn Batch + '_>, StorageError> {
        let session = self.writer.get()?;
        // Under READ COMMITTED the catch-up, a statement after the lock, sees every commit.
        let seen = self.open(
            &session,
            &format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                schema::WRITE_LOCK
            ),
        )?;
        Ok(Box::new(SqlBatch {
            session,
            cache: &self.cache,
            notifies: self.notifies,
            seen,
            written: RefCell::new(Written::new()),
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
    cache: &'p Cache,
    /// The engine takes `NOTIFY` ([`listen`]).
    notifies: bool,
    /// The clock of the last commit, read under the write lock.
    seen: Seen,
    /// The keys the batch wrote, per table; the tables are stamped with the next clock by its
    /// commit.
    written: RefCell<Written>,
    /// A savepoint could not be released or rolled back to: the transaction may be aborted,
    /// and PostgreSQL would answer its `COMMIT` with a silent rollback. It is never committed.
    broken: bool,
}

impl Batch for SqlBatch<'_> {
    fn job(&mut self, job: &mut dyn FnMut(&Tx<'_>) -> bool) -> Result<(), StorageError> {
        self.broken |= self.session.poisoned();
        if self.broken {
            return Err(StorageError::Unavailable);
        }
        // The job's writes wait in the session's queue: they go out with a later statement
        // (its own next read, a later job's, the batch's COMMIT), so a job that fails before
        // any went out is undone without a round trip ([`Session::begin_job`]). A write that
        // fails after its job was kept fails the statement it went out with, and the batch.
        self.session.begin_job();
        let cached = CachedSession::writing(&self.session, self.cache, self.seen, &self.written);
        if job(&Tx::Sql(&cached)) {
            self.session.keep_job();
            return Ok(());
        }
        self.session.undo_job().inspect_err(|_| self.broken = true)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let broken = self.broken || self.session.poisoned();
        self.session.end_jobs(broken);
        if broken {
            let _ = self.session.end("ROLLBACK");
            return Err(StorageError::Unavailable);
        }
        let written = self.written.borrow();
        if written.is_empty() {
            return self.session.end("COMMIT");
        }
        // Stamped in the batch's own transaction: the change and its clock commit together.
        let stamp = cache::changes_statement(self.seen.0, &written);
        let raised_generation = written.get(super::tables::META.name()).is_some_and(|keys| {
            keys.contains(&cache::Key::Text(super::POLICY_GENERATION_KEY.into()))
        });
        let notice = if self.notifies && raised_generation {
            format!("; NOTIFY {}", listen::CHANNEL)
        } else {
            String::new()
        };
        self.session.end(&format!("{stamp}{notice}; COMMIT"))?;
        self.cache.committed(self.seen, &written);
        Ok(())
    }
}

impl Session {
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
        let Err(refused) = Postgres::connect(url, None, 1, 0) else {
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
        let Err(refused) = Postgres::connect(url.as_str(), None, 1, 0) else {
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

    fn org_byte(store: &Store) -> Option<u8> {
        store
            .read(|view| Ok(view.record::<u8>(tables::ORGS, 1)?))
            .unwrap()
    }

    /// Two servers on one database, each with its record cache: what one writes, the other
    /// reads at once, even a record it holds in its cache.
    #[tokio::test]
    async fn a_record_one_server_keeps_is_read_anew_once_another_server_wrote_it() {
        let Some(url) = scratch_database() else {
            return;
        };
        let (a, b) = (
            Store::connect(&url, 2).unwrap(),
            Store::connect(&url, 2).unwrap(),
        );
        a.write(|tx| Ok(tx.put(tables::ORGS, 1, &1u8)?))
            .await
            .unwrap();
        assert_eq!(org_byte(&b), Some(1));
        assert_eq!(org_byte(&b), Some(1), "kept, and still right");
        a.write(|tx| Ok(tx.put(tables::ORGS, 1, &2u8)?))
            .await
            .unwrap();
        assert_eq!(org_byte(&b), Some(2), "B read what A acknowledged");
        a.write(|tx| Ok(tx.delete(tables::ORGS, 1)?)).await.unwrap();
        assert_eq!(org_byte(&b), None, "B read A's delete");
    }

    /// Inside a write, a record read before the write changed it is read anew after; a write
    /// that failed leaves every server reading what was there.
    #[tokio::test]
    async fn a_write_sees_its_own_change_of_a_record_it_read_and_a_failed_one_changes_nothing() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return;
        };
        let store = Store::connect(&scratch::create_database(&server).unwrap(), 2).unwrap();
        store
            .write(|tx| Ok(tx.put(tables::ORGS, 1, &1u8)?))
            .await
            .unwrap();
        assert_eq!(org_byte(&store), Some(1));
        let seen = store
            .write(|tx| {
                let before = tx.view().record::<u8>(tables::ORGS, 1)?;
                tx.put(tables::ORGS, 1, &2u8)?;
                let after = tx.view().record::<u8>(tables::ORGS, 1)?;
                Ok((before, after))
            })
            .await
            .unwrap();
        assert_eq!(seen, (Some(1), Some(2)));
        let failed = store
            .write(|tx| {
                tx.put(tables::ORGS, 1, &3u8)?;
                Err::<(), _>(crate::Error::NotFound("a reason to fail"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(org_byte(&store), Some(2), "the failed write left nothing");
    }

    /// A new database on the test server, or `None` (said on stderr) without one.
    fn scratch_database() -> Option<String> {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return None;
        };
        Some(scratch::create_database(&server).unwrap())
    }

    /// Jobs of one batch on the writer's connection, as the writer thread runs them.
    fn backend_at(url: &str) -> Postgres {
        Postgres::connect(url, None, 1, 1 << 20).unwrap()
    }

    /// A batch whose first job, kept, wrote organization 1 (not sent yet).
    fn batch_with_a_kept_write(db: &Postgres) -> Box<dyn Batch + '_> {
        let mut batch = db.begin().unwrap();
        batch
            .job(&mut |tx| tx.put(tables::ORGS, 1, &1u8).is_ok())
            .unwrap();
        batch
    }

    /// A job that sent writes (a read after them) and then failed is rolled back alone: the
    /// kept job before it, whose writes went out in the same round trip, keeps its own.
    #[test]
    fn a_job_that_failed_after_sending_its_writes_leaves_the_kept_one_before_it() {
        let Some(url) = scratch_database() else {
            return;
        };
        let db = backend_at(&url);
        let mut batch = batch_with_a_kept_write(&db);
        let mut sent = false;
        batch
            .job(&mut |tx| {
                tx.put(tables::ORGS, 2, &2u8).unwrap();
                // Sends both jobs' writes, behind this job's savepoint.
                sent = tx.view().record::<u8>(tables::ORGS, 2).unwrap() == Some(2);
                false
            })
            .unwrap();
        assert!(sent, "the failing job read its own write");
        batch.commit().unwrap();
        let store = Store::connect(&url, 1).unwrap();
        let kept = |id| {
            store
                .read(|view| Ok(view.record::<u8>(tables::ORGS, id)?))
                .unwrap()
        };
        assert_eq!(kept(1), Some(1), "the kept job committed");
        assert_eq!(kept(2), None, "the failed job was rolled back");
    }

    /// A write that fails when it goes out, after its job was kept, fails the whole batch: the
    /// jobs kept before it are not committed either (none was acknowledged yet).
    #[test]
    fn a_write_that_fails_after_its_job_was_kept_commits_nothing() {
        let Some(url) = scratch_database() else {
            return;
        };
        let db = backend_at(&url);
        // The database refuses every new address, as a full disk would refuse anything.
        db.pool
            .get()
            .unwrap()
            .simple(
                r#"CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
                   AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
                   CREATE TRIGGER refuse BEFORE INSERT ON "user_by_email"
                   FOR EACH ROW EXECUTE FUNCTION refuse()"#,
            )
            .unwrap();
        let mut batch = batch_with_a_kept_write(&db);
        // This job's read sends the first job's write, behind this job's savepoint; its own
        // write waits for the next job's read, with the release of that savepoint.
        batch
            .job(&mut |tx| {
                tx.view().record::<u8>(tables::ORGS, 2).is_ok()
                    && tx
                        .set_unique(tables::USER_BY_EMAIL, "ann@example.com", 2)
                        .is_ok()
            })
            .unwrap();
        let mut read = None;
        let _ = batch.job(&mut |tx| {
            read = Some(tx.view().record::<u8>(tables::ORGS, 3).is_ok());
            read == Some(true)
        });
        assert_eq!(
            read,
            Some(false),
            "the read that sent the refused write failed"
        );
        assert!(batch.commit().is_err(), "the batch is not committed");
        let store = Store::connect(&url, 1).unwrap();
        assert_eq!(org_byte(&store), None, "nothing of the batch is stored");
    }

    /// A key PostgreSQL cannot store fails its own write at once, not a later job's statement.
    #[test]
    fn a_key_with_a_nul_fails_its_own_job_only() {
        let Some(url) = scratch_database() else {
            return;
        };
        let db = backend_at(&url);
        let mut batch = batch_with_a_kept_write(&db);
        let mut refused = false;
        batch
            .job(&mut |tx| {
                refused = tx
                    .set_unique(tables::USER_BY_EMAIL, "nul\0@example.com", 2)
                    .is_err();
                !refused
            })
            .unwrap();
        assert!(refused);
        batch.commit().unwrap();
        let store = Store::connect(&url, 1).unwrap();
        assert_eq!(org_byte(&store), Some(1), "the neighbour's write committed");
    }

    /// Reads run together share a snapshot, yet each answers its own question, and each sees
    /// what another server acknowledged before it began.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_together_answer_each_reader_and_see_other_servers_writes() {
        let Some(url) = scratch_database() else {
            return;
        };
        let (a, b) = (
            std::sync::Arc::new(Store::connect(&url, 2).unwrap()),
            Store::connect(&url, 2).unwrap(),
        );
        a.write(|tx| {
            for id in 1..=20_u8 {
                tx.put(tables::ORGS, u128::from(id), &id)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let readers: Vec<_> = (1..=20_u8)
            .map(|id| {
                let a = std::sync::Arc::clone(&a);
                std::thread::spawn(move || {
                    a.read_together(
                        move |view| Ok(view.record::<u8>(tables::ORGS, u128::from(id))?),
                    )
                })
            })
            .collect();
        for (id, reader) in (1..=20_u8).zip(readers) {
            assert_eq!(reader.join().unwrap().unwrap(), Some(id));
        }
        b.write(|tx| Ok(tx.put(tables::ORGS, 1, &99u8)?))
            .await
            .unwrap();
        let seen = a
            .read_together(|view| Ok(view.record::<u8>(tables::ORGS, 1)?))
            .unwrap();
        assert_eq!(
            seen,
            Some(99),
            "the other server's write, acknowledged before the read"
        );
    }

    /// Where the engine has LISTEN/NOTIFY, a commit that raised the policy generation wakes
    /// the other server's follower (polling stays the guarantee everywhere).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_raises_the_policy_generation_wakes_the_other_server() {
        let Some(url) = scratch_database() else {
            return;
        };
        let (a, b) = (
            Store::connect(&url, 2).unwrap(),
            Store::connect(&url, 2).unwrap(),
        );
        let notice = b.policy_changes().expect("PostgreSQL takes NOTIFY");
        let patience = Duration::from_secs(10);
        tokio::time::timeout(patience, notice.notified())
            .await
            .expect("signalled once listening");
        a.write(|tx| Ok(tx.put_meta(crate::storage::POLICY_GENERATION_KEY, &1u64.to_le_bytes())?))
            .await
            .unwrap();
        tokio::time::timeout(patience, notice.notified())
            .await
            .expect("the commit woke the other server");
    }
}
