//! Foreign keys: what the database itself refuses to leave pointing at nothing.
//!
//! The tables keep redb's shapes ([`super::schema`]), so the references SQL can state are the
//! ones a shape names by column: an index entry's record (`org_teams.id` is a team), the
//! organization or user a list hangs from (`org_teams.parent`), a membership's organization and
//! user. Every reference here is `ON DELETE CASCADE`: deleting an organization deletes its
//! memberships and its lists, as DESIGN's cascade says, and deleting a record deletes the index
//! entries naming it. The host performs the same cascade itself, children first
//! (`app::orgs::cascade_delete`), as it must on the embedded file, so in normal operation the
//! database finds nothing left to cascade; what the keys add is that a write leaving a dangling
//! reference (a bug, or a hand-made change in `psql`) is refused, and a row deleted by hand
//! takes its dependants with it.
//!
//! The keys are `DEFERRABLE INITIALLY DEFERRED`: checked at `COMMIT`, so a job may write an
//! index entry before its record, in either order. A violation then fails the batch's commit,
//! which is rolled back whole (no job of it was acknowledged).
//!
//! Not referenced, on purpose: what must outlive its organization (audit entries, decisions,
//! outbox events and the webhooks that deliver them, e-mail), lists keyed by a deadline or
//! a text key rather than a record, and a plan's owner (the operator's plans hang from no
//! organization).

use super::session::Session;
use crate::storage::StorageError;
use crate::storage::tables;
use redb::{MultimapTableHandle, TableHandle};

/// `(table, column, referenced record table)`; the referenced column is its `id`.
fn references() -> Vec<(String, &'static str, String)> {
    let (orgs, users) = (tables::ORGS.name(), tables::USERS.name());
    let mut references: Vec<(&str, &'static str, &str)> = vec![
        (tables::MEMBERSHIPS.name(), "parent", orgs),
        (tables::MEMBERSHIPS.name(), "id", users),
    ];
    let lists = [
        (tables::ORG_TEAMS, orgs, tables::TEAMS.name()),
        (tables::ORG_CHANNELS, orgs, tables::CHANNELS.name()),
        (tables::ORG_LINKS, orgs, tables::LINKS.name()),
        (tables::ORG_SHARES, orgs, tables::SHARES.name()),
        (
            tables::LINK_SHARES,
            tables::LINKS.name(),
            tables::SHARES.name(),
        ),
        (
            tables::ORG_REMOTE_SUPPORT,
            orgs,
            tables::REMOTE_SUPPORT.name(),
        ),
        (tables::ORG_INVITATIONS, orgs, tables::INVITATIONS.name()),
        (
            tables::ORG_CHANGE_REQUESTS,
            orgs,
            tables::CHANGE_REQUESTS.name(),
        ),
        (tables::PROVIDER_CUSTOMERS, orgs, orgs),
        (tables::USER_ORGS, users, orgs),
        (tables::USER_TOKENS, users, tables::TOKENS.name()),
        (tables::USER_INVITATIONS, users, tables::INVITATIONS.name()),
        (
            tables::REQUESTER_REMOTE_SUPPORT,
            users,
            tables::REMOTE_SUPPORT.name(),
        ),
        (tables::PLAN_ORGS, tables::PLANS.name(), orgs),
    ];
    for (list, parent, child) in &lists {
        references.push((list.name(), "parent", parent));
        references.push((list.name(), "id", child));
    }
    let unique = [
        (tables::ORG_BY_TENANT, orgs),
        (tables::TOKEN_BY_HASH, tables::TOKENS.name()),
        (tables::INVITATION_BY_HASH, tables::INVITATIONS.name()),
        (tables::USER_BY_EMAIL, users),
        (tables::LIVE_LINK_BY_PAIR, tables::LINKS.name()),
        (tables::PLAN_BY_NAME, tables::PLANS.name()),
    ];
    for (index, record) in &unique {
        references.push((index.name(), "id", record));
    }
    references.push((
        tables::WEBHOOK_DELIVERIES.name(),
        "parent",
        tables::WEBHOOKS.name(),
    ));
    references
        .into_iter()
        .map(|(table, column, referenced)| (table.to_owned(), column, referenced.to_owned()))
        .collect()
}

/// Schema version 3 to 4: drops what already points at nothing (left by an earlier build,
/// counted in the log), then adds every key, with an index on each `id` column that is not
/// already first in its primary key, so a cascade finds the rows to delete without a scan. An
/// engine that refuses deferrable keys (CockroachDB) gets none, said in the log: the host keeps
/// every reference by itself, as on the embedded file.
pub fn add_foreign_keys(session: &Session) -> Result<(), StorageError> {
    session.simple("SAVEPOINT tenantry_references")?;
    match add_all(session) {
        Ok(()) => session.simple("RELEASE SAVEPOINT tenantry_references"),
        Err(StorageError::Internal(why)) if why.contains(UNSUPPORTED_FEATURE) => {
            tracing::warn!(%why, "the database takes no deferrable foreign keys; none are added");
            session.simple("ROLLBACK TO SAVEPOINT tenantry_references")
        }
        Err(other) => Err(other),
    }
}

/// SQLSTATE `feature_not_supported`, as the session's errors name it.
const UNSUPPORTED_FEATURE: &str = "SQLSTATE 0A000";

fn add_all(session: &Session) -> Result<(), StorageError> {
    for (table, column, referenced) in references() {
        let dangling = session.execute(
            &format!(
                r#"DELETE FROM "{table}" t WHERE NOT EXISTS
                   (SELECT 1 FROM "{referenced}" r WHERE r.id = t.{column})"#
            ),
            &[],
        )?;
        if dangling > 0 {
            tracing::warn!(
                table,
                column,
                referenced,
                dangling,
                "dropped rows that referred to nothing"
            );
        }
        if column == "id" {
            session.simple(&format!(
                r#"CREATE INDEX IF NOT EXISTS "{table}_by_id" ON "{table}" (id)"#
            ))?;
        }
        session.simple(&format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{table}_{column}_references_{referenced}"
                   FOREIGN KEY ({column}) REFERENCES "{referenced}" (id)
                   ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"#
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Postgres, scratch};
    use crate::storage::tables;
    use crate::storage::writer::Backend;
    use redb::{MultimapTableHandle, TableHandle};

    fn count(db: &Postgres, table: &str) -> i64 {
        let session = db.pool.get().unwrap();
        let row = session
            .row(&format!(r#"SELECT count(*) FROM "{table}""#), &[])
            .unwrap()
            .unwrap();
        row.get(0)
    }

    #[test]
    fn a_reference_to_nothing_is_refused_and_a_deleted_organization_takes_its_members() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return;
        };
        let url = scratch::create_database(&server).unwrap();
        let db = Postgres::connect(&url, None, 1, 1 << 20).unwrap();
        let memberships = tables::MEMBERSHIPS.name();

        // A membership of a user that does not exist: refused when the batch commits.
        let mut batch = db.begin().unwrap();
        batch
            .job(&mut |tx| {
                tx.put(tables::ORGS, 1, &1u8).is_ok()
                    && tx.put_pair(tables::MEMBERSHIPS, 1, 2, &1u8).is_ok()
            })
            .unwrap();
        let refused = batch.commit().unwrap_err().to_string();
        assert!(refused.contains("SQLSTATE 23503"), "{refused}");
        assert_eq!(
            count(&db, tables::ORGS.name()),
            0,
            "nothing of the batch stays"
        );

        // The membership's record after its index entry, in one batch: checked at commit.
        let mut batch = db.begin().unwrap();
        batch
            .job(&mut |tx| {
                tx.put_pair(tables::MEMBERSHIPS, 1, 2, &1u8).is_ok()
                    && tx.add_child(tables::USER_ORGS, 2, 1).is_ok()
                    && tx.put(tables::USERS, 2, &1u8).is_ok()
                    && tx.put(tables::ORGS, 1, &1u8).is_ok()
            })
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(count(&db, memberships), 1);

        // An organization deleted by hand takes its memberships and its lists with it.
        db.pool
            .get()
            .unwrap()
            .execute(r#"DELETE FROM "orgs""#, &[])
            .unwrap();
        assert_eq!(count(&db, memberships), 0);
        assert_eq!(count(&db, tables::USER_ORGS.name()), 0);
        assert_eq!(count(&db, tables::USERS.name()), 1, "the user stays");
    }
}
