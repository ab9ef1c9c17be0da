//! Throwaway databases on a PostgreSQL server, for the tests and benchmarks that each need
//! their own (the end-to-end suite runs every test body on both backends this way).

use std::str::FromStr;

use super::pool;
use crate::storage::StorageError;

/// The variable naming a PostgreSQL server tests may create databases on
/// (`postgres://user@host:port/postgres`). Unset: the PostgreSQL runs are skipped, and say so.
pub const TEST_SERVER_VARIABLE: &str = "TENANTRY_TEST_POSTGRES";

/// Chooses the backend of an end-to-end run: `embedded` (the default) or `postgres`.
pub const TEST_BACKEND_VARIABLE: &str = "TENANTRY_TEST_BACKEND";

/// The server tests may use, when the variable is set.
pub fn test_server() -> Option<String> {
    std::env::var(TEST_SERVER_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Scratch databases are named by this prefix and a UUIDv7, whose first bits are the time
/// they were made.
const PREFIX: &str = "tenantry_";

/// A scratch database older than this, which nothing is connected to, is left over from an
/// earlier run (a test process never drops its own: several servers share one database and
/// none knows it is the last). The next run drops it, so a developer's cluster does not fill
/// its disk run after run.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A session of its own on the database at `admin_url` (the server's, or a scratch database).
pub fn admin_session(admin_url: &str) -> Result<super::session::Session, StorageError> {
    let config = tokio_postgres::Config::from_str(admin_url)
        .map_err(|e| StorageError::Internal(format!("{TEST_SERVER_VARIABLE}: {e}")))?;
    let tls = pool::tls(None).map_err(StorageError::Internal)?;
    pool::open(&config, &tls).map_err(|e| {
        StorageError::Internal(format!(
            "cannot connect to {} ({TEST_SERVER_VARIABLE}): {e}",
            super::redacted(admin_url)
        ))
    })
}

fn database_of(url: &str) -> Result<String, StorageError> {
    let name = url::Url::parse(url)
        .map_err(|e| StorageError::Internal(format!("{TEST_SERVER_VARIABLE}: {e}")))?
        .path()
        .trim_start_matches('/')
        .to_owned();
    match name.strip_prefix(PREFIX) {
        Some(id) if uuid::Uuid::try_parse(id).is_ok() => Ok(name),
        _ => Err(StorageError::Internal(format!(
            "`{name}` is not a scratch database"
        ))),
    }
}

/// Creates a new, empty database on the server at `admin_url` and answers a URL to it. The
/// first call of a process also drops the stale scratch databases of earlier runs.
pub fn create_database(admin_url: &str) -> Result<String, StorageError> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let session = admin_session(admin_url)?;
    SWEPT.call_once(|| drop_stale(&session));
    let name = format!("{PREFIX}{}", uuid::Uuid::now_v7().simple());
    session.simple(&format!("CREATE DATABASE {name}"))?;
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| StorageError::Internal(format!("{TEST_SERVER_VARIABLE}: {e}")))?;
    url.set_path(&name);
    Ok(url.to_string())
}

/// Drops a scratch database made by [`create_database`], closing what is still connected.
pub fn drop_database(admin_url: &str, url: &str) -> Result<(), StorageError> {
    let name = database_of(url)?;
    admin_session(admin_url)?.simple(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
}

/// The bytes a scratch database takes on the server's disk.
pub fn database_size(admin_url: &str, url: &str) -> Result<u64, StorageError> {
    let name = database_of(url)?;
    let row = admin_session(admin_url)?
        .row("SELECT pg_database_size($1::text)", &[&name])?
        .ok_or_else(|| StorageError::Internal(format!("no database `{name}`")))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
}

/// Drops the scratch databases made more than [`STALE_AFTER`] ago that nothing is connected
/// to; one still in use refuses the drop, and is kept.
fn drop_stale(session: &super::session::Session) {
    let Ok(rows) = session.rows(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
        &[&PREFIX],
    ) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for name in rows.iter().map(|row| row.get::<_, String>(0)) {
        let made = name
            .strip_prefix(PREFIX)
            .and_then(|id| uuid::Uuid::try_parse(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|at| std::time::Duration::from_secs(at.to_unix().0));
        if made.is_some_and(|made| now.saturating_sub(made) > STALE_AFTER)
            && let Err(error) = session.simple(&format!("DROP DATABASE IF EXISTS {name}"))
        {
            tracing::debug!(%error, database = %name, "a stale scratch database is in use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(session: &super::super::session::Session, name: &str) -> bool {
        session
            .row("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .unwrap()
            .is_some()
    }

    /// A scratch database left by a run more than an hour ago is dropped; a fresh one (another
    /// test process may be using it) and any other database are kept.
    #[test]
    fn stale_scratch_databases_are_dropped_and_fresh_ones_kept() {
        let Some(server) = test_server() else {
            eprintln!("skipped: {TEST_SERVER_VARIABLE} is not set");
            return;
        };
        let session = admin_session(&server).unwrap();
        // A UUIDv7 of 2022: its first 48 bits are the milliseconds since 1970.
        let stale = format!("{PREFIX}01800000000070008000000000000000");
        session.simple(&format!("CREATE DATABASE {stale}")).unwrap();
        let fresh = create_database(&server).unwrap();
        drop_stale(&session);
        assert!(!exists(&session, &stale), "the stale database is dropped");
        assert!(
            exists(&session, &database_of(&fresh).unwrap()),
            "the fresh one is kept"
        );
        assert!(exists(&session, "postgres"));
        drop_database(&server, &fresh).unwrap();
        assert!(!exists(&session, &database_of(&fresh).unwrap()));
    }
}
