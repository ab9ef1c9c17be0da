//! DESIGN's cascade, kept by the database itself: deleting an organization deletes its
//! memberships, teams, channels, invitations, remote-support requests and change requests.
//!
//! The host performs the same cascade itself, children first (`app::orgs::cascade_delete`),
//! as it must on the embedded file, so in normal operation the database finds nothing left to
//! delete; what this adds is that an organization deleted by hand (in `psql`) takes what is its
//! with it, and that a membership naming an organization that does not exist is refused.
//!
//! - A membership names its organization in a column (`parent`): a foreign key,
//!   `ON DELETE CASCADE`, `DEFERRABLE INITIALLY DEFERRED` (checked at `COMMIT`, so a job may
//!   write its records in any order; a violation fails the batch's commit, which is rolled back
//!   whole, no job of it acknowledged).
//! - The other records name their organization inside their body. A foreign key needs it as a
//!   stored column, computed on every write, and that cost 12% of the durable writes per second
//!   (BENCHMARKS.md). The organization's own lists already relate it to them (`org_teams`,
//!   `org_channels`, ...), indexed by organization, so a trigger on `orgs` deletes through
//!   them, at no cost to any write but an organization's deletion.
//!
//! Not cascaded, on purpose: what must outlive its organization (audit entries, decisions,
//! outbox events and the webhooks that deliver them; links and shares, which are ended and kept
//! for the other side).
//!
//! Not cleaned by the trigger, and left to the API's deletion: the index rows that point *at*
//! the organization or its records from elsewhere (a user's `user_orgs` and
//! `user_invitations`, `invitation_by_hash`, `org_by_tenant` and the search terms, the
//! provider's `provider_customers`, the deadline indexes). They are keyed by the other side,
//! so finding them from the organization would scan each table on every deletion; after a hand
//! deletion they name records that no longer exist. A deletion by hand is also not stamped in
//! `tenantry_changes`, so servers' record caches keep what they read until the tables are
//! written again. Hand edits are for a stopped deployment; `DELETE /v1/orgs/{id}` is the way to
//! delete an organization.
//!
//! A foreign-key violation is found at `COMMIT`, so it fails the whole write batch, the jobs
//! beside the faulty one included (none is acknowledged, each caller gets the error). The host
//! never writes such a membership (its use cases check the organization first); the key is a
//! backstop against a bug, where failing loudly is the point, not a path taken in operation.

use super::session::Session;
use crate::storage::StorageError;
use crate::storage::tables;
use redb::{MultimapTableHandle, TableHandle};

/// `(list, records)`: an organization's list of record ids, and the records.
fn owned_through_lists() -> [(&'static str, &'static str); 5] {
    [
        (tables::ORG_TEAMS.name(), tables::TEAMS.name()),
        (tables::ORG_CHANNELS.name(), tables::CHANNELS.name()),
        (tables::ORG_INVITATIONS.name(), tables::INVITATIONS.name()),
        (
            tables::ORG_REMOTE_SUPPORT.name(),
            tables::REMOTE_SUPPORT.name(),
        ),
        (
            tables::ORG_CHANGE_REQUESTS.name(),
            tables::CHANGE_REQUESTS.name(),
        ),
    ]
}

/// Schema version 4 to 5: the memberships' key and the trigger, where the engine supports them
/// ([`super::schema::where_supported`]).
pub fn add_cascade(session: &Session) -> Result<(), StorageError> {
    let (orgs, memberships) = (tables::ORGS.name(), tables::MEMBERSHIPS.name());
    super::schema::where_supported(session, "deferrable foreign keys", |session| {
        let dangling = session.execute(
            &format!(
                r#"DELETE FROM "{memberships}" m
                   WHERE NOT EXISTS (SELECT 1 FROM "{orgs}" o WHERE o.id = m.parent)"#
            ),
            &[],
        )?;
        if dangling > 0 {
            // Their users' lists of organizations name them too.
            let user_orgs = tables::USER_ORGS.name();
            session.execute(
                &format!(
                    r#"DELETE FROM "{user_orgs}" u
                       WHERE NOT EXISTS (SELECT 1 FROM "{orgs}" o WHERE o.id = u.id)"#
                ),
                &[],
            )?;
            tracing::warn!(
                dangling,
                "dropped memberships of organizations that do not exist"
            );
        }
        session.simple(&format!(
            r#"ALTER TABLE "{memberships}" ADD CONSTRAINT "{memberships}_parent_references_{orgs}"
                   FOREIGN KEY (parent) REFERENCES "{orgs}" (id)
                   ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"#
        ))
    })?;
    let deletes: String = owned_through_lists()
        .iter()
        .map(|(list, records)| {
            format!(
                r#"DELETE FROM "{records}" WHERE id IN
                       (SELECT id FROM "{list}" WHERE parent = OLD.id);
                   DELETE FROM "{list}" WHERE parent = OLD.id;"#
            )
        })
        .collect();
    super::schema::where_supported(session, "triggers", |session| {
        session.simple(&format!(
            r#"CREATE OR REPLACE FUNCTION tenantry_org_deleted() RETURNS trigger
               LANGUAGE plpgsql AS $$ BEGIN {deletes} RETURN OLD; END $$;
               DROP TRIGGER IF EXISTS tenantry_org_cascade ON "{orgs}";
               CREATE TRIGGER tenantry_org_cascade AFTER DELETE ON "{orgs}"
                   FOR EACH ROW EXECUTE FUNCTION tenantry_org_deleted()"#
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Postgres, scratch};
    use crate::storage::tables;
    use crate::storage::writer::Backend;
    use serde_json::json;

    fn count(db: &Postgres, sql: &str) -> i64 {
        let session = db.pool.get().unwrap();
        session.row(sql, &[]).unwrap().unwrap().get(0)
    }

    #[test]
    fn a_membership_of_no_organization_is_refused_and_a_deleted_organization_takes_its_own() {
        let Some(server) = scratch::test_server() else {
            eprintln!("skipped: {} is not set", scratch::TEST_SERVER_VARIABLE);
            return;
        };
        let url = scratch::create_database(&server).unwrap();
        let db = Postgres::connect(&url, None, 1, 1 << 20).unwrap();
        let write = |job: &mut dyn FnMut(&crate::storage::Tx<'_>) -> bool| {
            let mut batch = db.begin().unwrap();
            batch.job(job).unwrap();
            batch.commit()
        };

        // A membership of an organization that does not exist: refused when the batch commits,
        // and nothing of the batch stays.
        let refused = write(&mut |tx| {
            tx.put(tables::USERS, 2, &1u8).is_ok()
                && tx.put_pair(tables::MEMBERSHIPS, 1, 2, &1u8).is_ok()
        })
        .unwrap_err()
        .to_string();
        assert!(refused.contains("SQLSTATE 23503"), "{refused}");
        assert_eq!(count(&db, r#"SELECT count(*) FROM "users""#), 0);

        // The organization written after its member and its team, in one batch: checked at
        // commit.
        let team = json!({"id": uuid::Uuid::from_u128(9), "org_id": uuid::Uuid::from_u128(1), "name": "ops"});
        write(&mut |tx| {
            tx.put_pair(tables::MEMBERSHIPS, 1, 2, &1u8).is_ok()
                && tx.put(tables::USERS, 2, &1u8).is_ok()
                && tx.put(tables::TEAMS, 9, &team).is_ok()
                && tx.add_child(tables::ORG_TEAMS, 1, 9).is_ok()
                && tx
                    .put(tables::ORGS, 1, &json!({"tenant_id": "acme"}))
                    .is_ok()
        })
        .unwrap();
        for by_field in [
            r#"SELECT count(*) FROM "orgs_fields" WHERE tenant_id = 'acme'"#,
            r#"SELECT count(*) FROM "teams_fields" WHERE name = 'ops'"#,
        ] {
            assert_eq!(count(&db, by_field), 1, "the fields are a view's columns");
        }

        // An organization deleted by hand takes its team, its list and its memberships.
        let session = db.pool.get().unwrap();
        session.execute(r#"DELETE FROM "orgs""#, &[]).unwrap();
        drop(session);
        for table in ["teams", "org_teams", "memberships"] {
            assert_eq!(
                count(&db, &format!(r#"SELECT count(*) FROM "{table}""#)),
                0,
                "{table}"
            );
        }
        assert_eq!(
            count(&db, r#"SELECT count(*) FROM "users""#),
            1,
            "the user stays"
        );
    }
}
