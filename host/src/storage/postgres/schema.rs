//! The PostgreSQL schema and its versions, applied when a server connects.
//!
//! One SQL table per table of [`crate::storage::tables`], in the same shape, so each list there
//! is the one place a table is declared for both backends. Primary keys state what redb's keys
//! state: a unique table's key (`tenant_id`, the live-link pair, token digests, an e-mail
//! address) is unique in the database itself. `tenantry_schema` holds the schema version;
//! a server refuses a database whose version is newer than it knows, and servers starting
//! together serialize their migrations on an advisory lock.

use redb::{MultimapTableHandle, TableHandle};

use super::session::Session;
use crate::storage::records::layout_v5;
use crate::storage::{StorageError, migrate, tables};

/// The SQL schema this build writes. A later build adds a step to [`STEPS`].
pub const SQL_SCHEMA_VERSION: i32 = 7;

/// Advisory lock keys (any 64-bit numbers, held for one transaction).
pub const MIGRATION_LOCK: i64 = 0x7465_6e61_6e74_0001;
pub const WRITE_LOCK: i64 = 0x7465_6e61_6e74_0002;

type Step = fn(&Session) -> Result<(), StorageError>;

/// `STEPS[i]` takes the schema from version `i` to `i + 1`.
const STEPS: &[Step] = &[
    create_tables,
    track_changes,
    super::counters::create_tables,
    super::columns::add_columns,
    super::references::add_cascade,
    super::columns::correct_invitation_view,
    key_decisions_by_time,
];

/// Creates or upgrades the schema, in one transaction.
pub fn prepare(session: &Session) -> Result<(), StorageError> {
    session.simple("BEGIN")?;
    let prepared = migrate_locked(session);
    match prepared {
        Ok(()) => session.simple("COMMIT"),
        Err(error) => {
            let _ = session.simple("ROLLBACK");
            Err(error)
        }
    }
}

fn migrate_locked(session: &Session) -> Result<(), StorageError> {
    session.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    session.simple("CREATE TABLE IF NOT EXISTS tenantry_schema (version integer NOT NULL)")?;
    let found: i32 = session
        .row("SELECT coalesce(max(version), 0) FROM tenantry_schema", &[])?
        .map_or(Ok(0), |row| row.try_get(0))?;
    if found > SQL_SCHEMA_VERSION {
        return Err(StorageError::Internal(format!(
            "the database has schema version {found}, newer than this build ({SQL_SCHEMA_VERSION}); use a newer tenantry"
        )));
    }
    for (from, step) in STEPS.iter().enumerate().skip(found.unsigned_abs() as usize) {
        tracing::info!(from, to = from + 1, "migrating the database schema");
        step(session)?;
    }
    // Tables added within a version are created here too, as on the embedded store.
    create_tables(session)?;
    session.execute("DELETE FROM tenantry_schema", &[])?;
    session.execute(
        "INSERT INTO tenantry_schema (version) VALUES ($1)",
        &[&SQL_SCHEMA_VERSION],
    )?;
    // The record layout the tables hold is the embedded store's current one: records written
    // here never need its upgrade steps.
    session.put_keyed(
        tables::META.name(),
        migrate::VERSION_KEY,
        &migrate::SCHEMA_VERSION.to_le_bytes(),
    )
}

/// Runs `step` if the engine supports what it uses (`what`): a statement the engine refuses as
/// `feature_not_supported` (CockroachDB refuses deferrable keys) rolls the step back and is
/// said in the log, and the schema goes on without it, the host keeping by itself what the step
/// would have made the database keep, as on the embedded file.
pub fn where_supported(
    session: &Session,
    what: &str,
    step: impl FnOnce(&Session) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    session.simple("SAVEPOINT tenantry_optional")?;
    match step(session) {
        Ok(()) => session.simple("RELEASE SAVEPOINT tenantry_optional"),
        Err(StorageError::Internal(why)) if why.contains("SQLSTATE 0A000") => {
            tracing::warn!(%why, "the database does not support {what}; going on without");
            session.simple("ROLLBACK TO SAVEPOINT tenantry_optional")
        }
        Err(other) => Err(other),
    }
}

/// Version 6 to 7: the decision log keyed by time, as on the embedded file
/// (`records::layout_v5`): the bodies to `decision_bodies`, each organization's keys to
/// `decisions_by_org`, and layout 4's table dropped; in the migration's one transaction.
fn key_decisions_by_time(session: &Session) -> Result<(), StorageError> {
    create_tables(session)?;
    let old = layout_v5::DECISIONS_V4.name();
    let found: bool = session
        .row(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&format!(r#""{old}""#)],
        )?
        .map_or(Ok(false), |row| row.try_get(0))?;
    if !found {
        return Ok(());
    }
    let bodies = tables::DECISION_BODIES.name();
    let by_org = tables::DECISIONS_BY_ORG.name();
    session.simple(&format!(
        r#"INSERT INTO "{bodies}" (id, body) SELECT id, body FROM "{old}" ON CONFLICT (id) DO NOTHING;
           INSERT INTO "{by_org}" (parent, id, body) SELECT parent, id, ''::bytea FROM "{old}"
               ON CONFLICT (parent, id) DO NOTHING;"#
    ))?;
    // An engine that refuses a schema change after writes in one transaction (CockroachDB)
    // keeps the old table, copied and no longer read.
    where_supported(
        session,
        "dropping a table after writing in one transaction",
        |s| s.simple(&format!(r#"DROP TABLE "{old}""#)),
    )
}

/// Version 1 to 2: the clock of the last commit and of each table's last change, which tells
/// every server's record cache what to drop ([`super::cache`]). A server of version 1 would
/// write without advancing it, so version 2 refuses to share a database with it.
fn track_changes(session: &Session) -> Result<(), StorageError> {
    session.simple(
        r#"CREATE TABLE IF NOT EXISTS tenantry_changes (name text COLLATE "C" PRIMARY KEY, changed bigint NOT NULL)"#,
    )
}

/// Version 0 to 1: every table (and, on every start, any table a later build of the same
/// version added).
fn create_tables(session: &Session) -> Result<(), StorageError> {
    let mut ddl = String::new();
    let keyed = |name: &str| {
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (key text COLLATE "C" PRIMARY KEY, body bytea NOT NULL);"#
        )
    };
    ddl.push_str(&keyed(tables::META.name()));
    for def in tables::ALL_KEYED {
        ddl.push_str(&keyed(def.name()));
    }
    for def in tables::ALL_RECORDS {
        let name = def.name();
        ddl.push_str(&format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (id uuid PRIMARY KEY, body bytea NOT NULL);"#
        ));
    }
    for def in tables::ALL_PAIR_RECORDS {
        let name = def.name();
        ddl.push_str(&format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (parent uuid NOT NULL, id uuid NOT NULL, body bytea NOT NULL, PRIMARY KEY (parent, id));"#
        ));
    }
    for def in tables::ALL_CHILDREN {
        let name = def.name();
        ddl.push_str(&format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (parent uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (parent, id));"#
        ));
    }
    for def in tables::ALL_UNIQUE {
        let name = def.name();
        ddl.push_str(&format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (key text COLLATE "C" PRIMARY KEY, id uuid NOT NULL);"#
        ));
    }
    for def in tables::ALL_TERMS {
        let name = def.name();
        ddl.push_str(&format!(
            r#"CREATE TABLE IF NOT EXISTS "{name}" (key text COLLATE "C" NOT NULL, id uuid NOT NULL, PRIMARY KEY (key, id));"#
        ));
    }
    session.simple(&ddl)
}

#[cfg(test)]
mod tests {
    use super::super::scratch;
    use crate::domain::ids::OrgId;
    use crate::storage::records::decisions::DecisionRecord;
    use crate::storage::{Store, records::layout_v5};

    /// A database of schema 6 keeps decisions by organization in `decisions`; connecting a
    /// server of this build moves them to the tables keyed by time, in order, and drops the old
    /// table.
    #[tokio::test]
    async fn a_schema_6_decision_log_is_rekeyed_by_time() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: no PostgreSQL test server");
            return;
        };
        let url = scratch::create_database(&server).unwrap();
        let session = scratch::admin_session(&url).unwrap();
        let (org, other) = (OrgId::new(), OrgId::new());
        let records: Vec<DecisionRecord> = (0..6)
            .map(|i| DecisionRecord::stand_in(Some(if i % 2 == 0 { org } else { other }), i))
            .collect();
        let store = Store::connect(&url, 2).unwrap();
        session
            .simple(
                r#"CREATE TABLE "decisions" (parent uuid NOT NULL, id uuid NOT NULL, body bytea NOT NULL, PRIMARY KEY (parent, id))"#,
            )
            .unwrap();
        let older = records.clone();
        store
            .write(move |tx| {
                layout_v5::write_v4(tx, &older);
                Ok(())
            })
            .await
            .unwrap();
        session
            .simple("UPDATE tenantry_schema SET version = 6")
            .unwrap();
        drop(store);

        let store = Store::connect(&url, 2).unwrap();

        let (oldest_first, newest_first, count) = store
            .read(|view| {
                Ok((
                    view.decisions_of(org, None, 10)?,
                    view.newest_decisions(other, 10)?,
                    view.decision_count()?,
                ))
            })
            .unwrap();
        layout_v5::assert_read_back_by_org(&records, (org, &oldest_first), (other, &newest_first));
        assert_eq!(count, 6);
        let old_table = session
            .row("SELECT to_regclass('decisions') IS NOT NULL", &[])
            .unwrap()
            .unwrap();
        assert!(!old_table.get::<_, bool>(0), "the old table is dropped");
        scratch::drop_database(&server, &url).unwrap();
    }
}
