//! How records are laid out in their tables: one schema-version byte, then JSON.
//!
//! JSON keeps records readable in a backup and tolerant of added fields; the leading
//! version byte lets [`super::migrate`] recognise and upgrade older layouts.

use serde::{Serialize, de::DeserializeOwned};

use super::StorageError;

/// The layout written by this build.
pub const RECORD_VERSION: u8 = 1;

pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StorageError> {
    let mut bytes = Vec::with_capacity(128);
    bytes.push(RECORD_VERSION);
    serde_json::to_writer(&mut bytes, record).map_err(|e| StorageError::Codec(e.to_string()))?;
    Ok(bytes)
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
