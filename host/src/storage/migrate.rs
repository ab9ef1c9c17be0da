//! Schema version of the file and the path from older versions to this one.
//!
//! Version 1 is the first layout. A future layout change adds a step to [`STEPS`]; the server
//! runs every step above the file's version, in order, in one durable transaction on start.

use redb::{Database, ReadableTable, WriteTransaction};

use super::StorageError;
use super::tables::{self, META};

pub const SCHEMA_VERSION: u32 = 1;
const VERSION_KEY: &str = "schema_version";

type Step = fn(&WriteTransaction) -> Result<(), StorageError>;

/// `STEPS[i]` upgrades a file from version `i` to `i + 1`. Version 0 is an empty file.
const STEPS: &[Step] = &[create_tables];

pub fn prepare(db: &Database) -> Result<(), StorageError> {
    let txn = db.begin_write()?;
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
