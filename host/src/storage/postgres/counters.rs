//! Quotas and counted attempts in the database, shared by every server
//! ([`crate::storage::counters`]).
//!
//! Each draw or count is one statement, outside any transaction: an upsert whose conflict
//! branch computes the new state from the row it locked, so servers drawing from one bucket at
//! the same moment take turns on that row and never both get its last request. The clock is the
//! database's (`clock_timestamp()`), so servers whose clocks disagree share one refill rate and
//! one window. The tables are `UNLOGGED`: nothing here is worth a WAL flush, and a database crash
//! that empties them only refills the buckets.

use std::time::Duration;

use super::Postgres;
use super::session::Session;
use crate::storage::StorageError;
use crate::storage::counters::{Bucket, Counted, Counters, Drawn, Reset};

/// Schema version 2 to 3.
pub fn create_tables(session: &Session) -> Result<(), StorageError> {
    session.simple(
        r#"CREATE UNLOGGED TABLE IF NOT EXISTS tenantry_quotas (
               key text COLLATE "C" PRIMARY KEY,
               available double precision NOT NULL,
               granted double precision NOT NULL,
               touched bigint NOT NULL);
           CREATE UNLOGGED TABLE IF NOT EXISTS tenantry_counts (
               key text COLLATE "C" PRIMARY KEY,
               count bigint NOT NULL,
               admitted boolean NOT NULL,
               since bigint NOT NULL,
               touched bigint NOT NULL)"#,
    )
}

/// The database's clock in microseconds.
const NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

static DRAW: std::sync::LazyLock<String> = std::sync::LazyLock::new(draw_statement);
static COUNT: std::sync::LazyLock<String> = std::sync::LazyLock::new(count_statement);

fn draw_statement() -> String {
    let refilled = "LEAST($2::float8, q.available \
         + GREATEST(0, EXCLUDED.touched - q.touched)::float8 / 1000000 * $4::float8)";
    format!(
        "INSERT INTO tenantry_quotas AS q (key, available, granted, touched)
         SELECT $1, $2::float8 - LEAST($3::float8, floor($2::float8)),
                LEAST($3::float8, floor($2::float8)), {NOW}
         ON CONFLICT (key) DO UPDATE SET
             granted = LEAST($3::float8, floor({refilled})),
             available = {refilled} - LEAST($3::float8, floor({refilled})),
             touched = EXCLUDED.touched
         RETURNING granted, available"
    )
}

fn count_statement() -> String {
    // The count this attempt starts from: zero once the window (or the quiet) has passed.
    let reset = "(CASE WHEN $4::boolean THEN c.touched ELSE c.since END) \
                 <= EXCLUDED.touched - $3::bigint";
    let base = format!("(CASE WHEN {reset} THEN 0 ELSE c.count END)");
    format!(
        "INSERT INTO tenantry_counts AS c (key, count, admitted, since, touched)
         SELECT $1, LEAST(1, $2::bigint), $2::bigint > 0, t, t FROM (SELECT {NOW} AS t) now
         ON CONFLICT (key) DO UPDATE SET
             count = {base} + CASE WHEN {base} < $2::bigint THEN 1 ELSE 0 END,
             admitted = {base} < $2::bigint,
             since = CASE WHEN {reset} THEN EXCLUDED.since ELSE c.since END,
             touched = EXCLUDED.touched
         RETURNING admitted, count, since, since + $3::bigint - touched"
    )
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Postgres {
    /// Runs one statement on a pooled connection, outside any transaction.
    fn counting<T>(
        &self,
        run: impl FnOnce(&Session) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.waiting(|| {
            let session = self.pool.get()?;
            run(&session)
        })
    }
}

impl Counters for Postgres {
    fn draw(&self, key: &str, bucket: Bucket, want: u32) -> Result<Drawn, StorageError> {
        self.counting(|session| {
            let row = session
                .row(
                    &DRAW,
                    &[&key, &bucket.burst, &f64::from(want), &bucket.per_second],
                )?
                .ok_or_else(|| StorageError::Internal("a quota draw answered nothing".into()))?;
            let granted: f64 = row.try_get(0)?;
            Ok(Drawn {
                granted: granted.max(0.0) as u32,
                available: row.try_get(1)?,
            })
        })
    }

    fn count_up(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        reset: Reset,
    ) -> Result<Counted, StorageError> {
        self.counting(|session| {
            let row = session
                .row(
                    &COUNT,
                    &[
                        &key,
                        &i64::from(limit),
                        &micros(window),
                        &(reset == Reset::Quiet),
                    ],
                )?
                .ok_or_else(|| StorageError::Internal("a count answered nothing".into()))?;
            let count: i64 = row.try_get(1)?;
            let left: i64 = row.try_get(3)?;
            Ok(Counted {
                admitted: row.try_get(0)?,
                count: u32::try_from(count).unwrap_or(u32::MAX),
                since: row.try_get(2)?,
                left: Duration::from_micros(u64::try_from(left).unwrap_or(0)),
            })
        })
    }

    fn count_down(&self, key: &str, since: i64) -> Result<(), StorageError> {
        self.counting(|session| {
            session.execute(
                "UPDATE tenantry_counts SET count = count - 1 \
                 WHERE key = $1 AND since = $2 AND count > 0",
                &[&key, &since],
            )?;
            Ok(())
        })
    }

    fn forget_idle(&self, idle: Duration) -> Result<usize, StorageError> {
        self.counting(|session| {
            let mut forgotten = 0;
            for table in ["tenantry_quotas", "tenantry_counts"] {
                forgotten += session.execute(
                    &format!("DELETE FROM {table} WHERE touched < {NOW} - $1::bigint"),
                    &[&micros(idle)],
                )?;
            }
            Ok(usize::try_from(forgotten).unwrap_or(usize::MAX))
        })
    }

    fn is_shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::postgres::scratch;

    /// Two servers' handles on one new database, or `None` (said on stderr) without one.
    fn two_servers() -> Option<(Postgres, Postgres)> {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return None;
        };
        let url = scratch::create_database(&server).unwrap();
        let open = || Postgres::connect(&url, None, 2, 1 << 20).unwrap();
        Some((open(), open()))
    }

    #[test]
    fn servers_draw_from_one_bucket_and_count_in_one_window() {
        let Some((a, b)) = two_servers() else {
            return;
        };
        let bucket = Bucket {
            per_second: 0.001,
            burst: 5.0,
        };
        assert_eq!(a.draw("k", bucket, 3).unwrap().granted, 3);
        assert_eq!(b.draw("k", bucket, 3).unwrap().granted, 2, "what a left");
        let empty = a.draw("k", bucket, 1).unwrap();
        assert_eq!(empty.granted, 0);
        assert!(empty.wait(bucket) > Duration::from_secs(900));

        let window = Duration::from_secs(60);
        let first = a.count_up("c", 2, window, Reset::Window).unwrap();
        assert!(first.admitted && first.count == 1);
        assert!(b.count_up("c", 2, window, Reset::Window).unwrap().admitted);
        let refused = a.count_up("c", 2, window, Reset::Window).unwrap();
        assert!(!refused.admitted && refused.left > Duration::from_secs(59));
        b.count_down("c", first.since).unwrap();
        assert!(a.count_up("c", 2, window, Reset::Window).unwrap().admitted);

        let short = Duration::from_millis(20);
        assert!(a.count_up("q", 1, short, Reset::Quiet).unwrap().admitted);
        assert!(!b.count_up("q", 1, short, Reset::Quiet).unwrap().admitted);
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.count_up("q", 1, short, Reset::Quiet).unwrap().admitted);
        assert_eq!(a.forget_idle(Duration::ZERO).unwrap(), 3);
    }
}
