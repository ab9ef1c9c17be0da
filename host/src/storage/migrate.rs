//! Schema version of the file and the path from older versions to this one.
//!
//! Version 1 is the first layout. Version 2 adds the indexes of the trust model: invitations
//! by invitee, remote-support requests by requester, plugin components by the versions that
//! bind them, and the operator's ownership of plugins uploaded before ownership existed.
//! Version 3 adds the search indexes by provider, lowercase reference and contract terms,
//! organizations by plan, plan features on organizations and PINs per membership; its record
//! work is the application's (`app::upgrade`), asked for by a marker. Version 4 adds the
//! deadline indexes the sweeper reads (`records::layout_v4`). Version 5 keys the decision log's
//! bodies by time (`records::layout_v5`); the log lives in a file of its own, which is rekeyed
//! a page at a time at start, so the step here only marks the domain file, and an older build,
//! which would write bodies where this one no longer reads them, refuses it. A future layout change
//! adds a step to [`STEPS`]; the server runs every step above the file's version, in order, in
//! one durable transaction on start.

use redb::{Database, ReadableTable, WriteTransaction};

use super::StorageError;
use super::tables::{self, META};

pub const SCHEMA_VERSION: u32 = 5;

/// Set by the step to version 3: the records need work that only the domain knows (their
/// search terms, their plan's features, PINs moved from accounts to memberships), which the
/// application does once at start (`app::upgrade`, through `records::layout_v3`) and then
/// clears.
pub const PENDING_REINDEX: &str = "pending_reindex_v3";
pub(crate) const VERSION_KEY: &str = "schema_version";

type Step = fn(&WriteTransaction) -> Result<(), StorageError>;

/// `STEPS[i]` upgrades a file from version `i` to `i + 1`. Version 0 is an empty file.
const STEPS: &[Step] = &[
    create_tables,
    index_trust_model,
    ask_for_reindex,
    index_deadlines,
    key_decisions_by_time,
];

pub fn prepare(db: &Database) -> Result<(), StorageError> {
    let txn = db.begin_write()?;
    super::decision_log::refuse_as_domain(&txn.open_table(META)?)?;
    let found = read_version(&txn)?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::Internal(format!(
            "the data file has schema version {found}, newer than this build ({SCHEMA_VERSION}); use a newer tenantry"
        )));
    }
    for (from, step) in STEPS.iter().enumerate().skip(found as usize) {
        tracing::info!(from, to = from + 1, "migrating the data file");
        step(&txn)?;
    }
    // Tables added within a version are created here too, so reads never meet a missing table.
    create_tables(&txn)?;
    txn.open_table(META)?
        .insert(VERSION_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
    txn.commit()?;
    Ok(())
}

pub fn read_version(txn: &WriteTransaction) -> Result<u32, StorageError> {
    let meta = txn.open_table(META)?;
    let Some(bytes) = meta.get(VERSION_KEY)? else {
        return Ok(0);
    };
    let bytes: [u8; 4] = bytes
        .value()
        .try_into()
        .map_err(|_| StorageError::Codec("schema version is not 4 bytes".into()))?;
    Ok(u32::from_le_bytes(bytes))
}

fn create_tables(txn: &WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(META)?;
    for def in tables::ALL_KEYED {
        txn.open_table(*def)?;
    }
    for def in tables::ALL_RECORDS {
        txn.open_table(*def)?;
    }
    for def in tables::ALL_PAIR_RECORDS {
        txn.open_table(*def)?;
    }
    for def in tables::ALL_CHILDREN {
        txn.open_multimap_table(*def)?;
    }
    for def in tables::ALL_UNIQUE {
        txn.open_table(*def)?;
    }
    for def in tables::ALL_TERMS {
        txn.open_multimap_table(*def)?;
    }
    Ok(())
}

/// Version 4 to 5: the decision log's tables keyed by time, created here; the decisions a
/// domain file still holds move to the log's file at start and are rekeyed there, a page at a
/// time (`records::layout_v5`), not in this one transaction.
fn key_decisions_by_time(txn: &WriteTransaction) -> Result<(), StorageError> {
    create_tables(txn)
}

/// Version 3 to 4: the deadline indexes, filled from the links and remote-support requests.
fn index_deadlines(txn: &WriteTransaction) -> Result<(), StorageError> {
    create_tables(txn)?;
    let filed = super::Tx::new(txn).index_deadlines()?;
    tracing::info!(
        filed,
        "indexed the deadlines of links and remote-support requests"
    );
    Ok(())
}

/// Version 2 to 3: new tables (created by `prepare`), and the records' new indexes and fields,
/// filled by the application at start.
fn ask_for_reindex(txn: &WriteTransaction) -> Result<(), StorageError> {
    create_tables(txn)?;
    txn.open_table(META)?
        .insert(PENDING_REINDEX, [1_u8].as_slice())?;
    Ok(())
}

/// The fields version 2's indexes are built from, read from version 1 records.
#[derive(serde::Deserialize)]
struct InvitationV1 {
    user_id: uuid::Uuid,
}

#[derive(serde::Deserialize)]
struct RemoteSupportV1 {
    requester_id: uuid::Uuid,
}

#[derive(serde::Deserialize)]
struct PolicyVersionV1 {
    #[serde(default)]
    plugin: Option<String>,
}

/// Version 1 to 2: fills the indexes added by the trust model from the records they index.
fn index_trust_model(txn: &WriteTransaction) -> Result<(), StorageError> {
    create_tables(txn)?;
    let mut by_user = txn.open_multimap_table(tables::USER_INVITATIONS)?;
    for entry in txn.open_table(tables::INVITATIONS)?.iter()? {
        let (id, bytes) = entry?;
        let invitation: InvitationV1 = super::codec::decode(bytes.value())?;
        by_user.insert(invitation.user_id.as_u128(), id.value())?;
    }
    let mut by_requester = txn.open_multimap_table(tables::REQUESTER_REMOTE_SUPPORT)?;
    for entry in txn.open_table(tables::REMOTE_SUPPORT)?.iter()? {
        let (id, bytes) = entry?;
        let request: RemoteSupportV1 = super::codec::decode(bytes.value())?;
        by_requester.insert(request.requester_id.as_u128(), id.value())?;
    }
    let mut binding = txn.open_multimap_table(tables::PLUGIN_VERSIONS)?;
    for entry in txn.open_table(tables::POLICY_VERSIONS)?.iter()? {
        let (id, bytes) = entry?;
        let version: PolicyVersionV1 = super::codec::decode(bytes.value())?;
        if let Some(sha) = version.plugin {
            binding.insert(sha.as_str(), id.value())?;
        }
    }
    // Version 1 kept idempotent answers in clear, one-time secrets included, under keys that
    // version 2 no longer forms: they could never be replayed, only leaked.
    txn.delete_table(tables::IDEMPOTENCY)?;
    txn.open_table(tables::IDEMPOTENCY)?;
    // Uploads from before ownership belong to the platform: kept, and on nobody's quota.
    let mut owners = txn.open_multimap_table(tables::PLUGIN_OWNERS)?;
    let mut ownerships = txn.open_table(tables::PLUGIN_OWNERSHIPS)?;
    for entry in txn.open_table(tables::PLUGINS)?.iter()? {
        let (sha, bytes) = entry?;
        let sha = sha.value().to_owned();
        let mut record: serde_json::Value = super::codec::decode(bytes.value())?;
        if let Some(map) = record.as_object_mut() {
            map.insert("org_id".into(), serde_json::Value::Null);
        }
        owners.insert(sha.as_str(), 0)?;
        ownerships.insert(
            format!("platform:{sha}").as_str(),
            super::codec::encode(&record)?.as_slice(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableMultimapTable};
    use serde_json::json;

    use super::*;
    use crate::storage::codec::encode;

    /// A version 1 file holding an invitation, a remote-support request, a plugin and a
    /// version that binds it, as version 1 wrote them.
    fn version_one(path: &std::path::Path) -> Database {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        create_tables(&txn).unwrap();
        let user = uuid::Uuid::now_v7();
        txn.open_table(tables::INVITATIONS)
            .unwrap()
            .insert(
                1,
                encode(&json!({"id": uuid::Uuid::now_v7(), "user_id": user, "org_id": uuid::Uuid::now_v7()}))
                    .unwrap()
                    .as_slice(),
            )
            .unwrap();
        txn.open_table(tables::REMOTE_SUPPORT)
            .unwrap()
            .insert(
                2,
                encode(&json!({"requester_id": user})).unwrap().as_slice(),
            )
            .unwrap();
        txn.open_table(tables::POLICY_VERSIONS)
            .unwrap()
            .insert(3, encode(&json!({"plugin": "ab12"})).unwrap().as_slice())
            .unwrap();
        txn.open_table(tables::PLUGINS)
            .unwrap()
            .insert(
                "ab12",
                encode(&json!({"sha256": "ab12", "size": 7}))
                    .unwrap()
                    .as_slice(),
            )
            .unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(VERSION_KEY, 1_u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
        db
    }

    #[test]
    fn a_version_one_file_gets_the_trust_model_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let db = version_one(&dir.path().join("v1.redb"));
        prepare(&db).unwrap();
        let read = db.begin_read().unwrap();
        let by_user = read.open_multimap_table(tables::USER_INVITATIONS).unwrap();
        assert_eq!(by_user.iter().unwrap().count(), 1);
        let by_requester = read
            .open_multimap_table(tables::REQUESTER_REMOTE_SUPPORT)
            .unwrap();
        assert_eq!(by_requester.iter().unwrap().count(), 1);
        let refs = read.open_multimap_table(tables::PLUGIN_VERSIONS).unwrap();
        assert_eq!(refs.get("ab12").unwrap().count(), 1);
        let owners = read.open_multimap_table(tables::PLUGIN_OWNERS).unwrap();
        assert_eq!(
            owners.get("ab12").unwrap().next().unwrap().unwrap().value(),
            0
        );
        drop(read);
        // A second start changes nothing: the file is at version 2.
        prepare(&db).unwrap();
        let txn = db.begin_write().unwrap();
        assert_eq!(read_version(&txn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_three_file_gets_its_deadlines_indexed() {
        use crate::domain::clock::Timestamp;
        use crate::domain::ids::{LinkId, OrgId};
        use crate::domain::link::{Link, LinkStatus};
        use crate::storage::{Tx, View};

        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v3.redb")).unwrap();
        prepare(&db).unwrap();
        let pending = Link {
            id: LinkId::new(),
            from_org: OrgId::new(),
            to_org: OrgId::new(),
            status: LinkStatus::Pending,
            created_at: Timestamp(0),
            expires_at: Timestamp(1_000),
            history: Vec::new(),
        };
        // A version 3 file: the link, and no deadline index.
        let txn = db.begin_write().unwrap();
        Tx::new(&txn).insert_link(&pending).unwrap();
        txn.delete_multimap_table(tables::LINK_DEADLINES).unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(VERSION_KEY, 3_u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();

        prepare(&db).unwrap();
        let read = db.begin_read().unwrap();
        let due = View::read(&read).links_due(Timestamp(1_000), 10).unwrap();
        assert_eq!(due, vec![pending.id]);
    }
}
