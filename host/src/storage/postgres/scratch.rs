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

/// Creates a new, empty database on the server at `admin_url` and answers a URL to it.
pub fn create_database(admin_url: &str) -> Result<String, StorageError> {
    let name = format!("tenantry_{}", uuid::Uuid::now_v7().simple());
    let config = tokio_postgres::Config::from_str(admin_url)
        .map_err(|e| StorageError::Internal(format!("{TEST_SERVER_VARIABLE}: {e}")))?;
    let tls = pool::tls(None).map_err(StorageError::Internal)?;
    let session = pool::open(&config, &tls).map_err(|e| {
        StorageError::Internal(format!(
            "cannot connect to {} ({TEST_SERVER_VARIABLE}): {e}",
            super::redacted(admin_url)
        ))
    })?;
    session.simple(&format!("CREATE DATABASE {name}"))?;
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| StorageError::Internal(format!("{TEST_SERVER_VARIABLE}: {e}")))?;
    url.set_path(&name);
    Ok(url.to_string())
}
