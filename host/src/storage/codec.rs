//! How records are laid out in their tables: one schema-version byte, then JSON.
//!
//! JSON keeps records readable in a backup and tolerant of added fields; the leading
//! version byte lets [`super::migrate`] recognise and upgrade older layouts.

use serde::{Serialize, de::DeserializeOwned};

use super::StorageError;

/// The layout written by this build.
pub const RECORD_VERSION: u8 = 1;

pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StorageError> {
    let mut bytes = started(128);
    append(&mut bytes, record)?;
    Ok(bytes)
}

/// A record's bytes before its JSON: the layout-version byte, room for `capacity` more.
pub fn started(capacity: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(capacity + 1);
    bytes.push(RECORD_VERSION);
    bytes
}

/// Appends `value`'s JSON, for a record written a part at a time.
pub fn append<T: Serialize + ?Sized>(bytes: &mut Vec<u8>, value: &T) -> Result<(), StorageError> {
    serde_json::to_writer(bytes, value).map_err(|e| StorageError::Codec(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| StorageError::Codec(e.to_string()))
        }
        Some((version, _)) => Err(StorageError::Codec(format!(
            "record layout version {version} is not readable by this build (expects {RECORD_VERSION})"
        ))),
        None => Err(StorageError::Codec("empty record".into())),
    }
}
