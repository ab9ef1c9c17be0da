//! Records that nearly every request reads again (the token it presents, the organization it
//! acts on, the caller's membership there) decoded once per thread while their bytes stay the
//! same.
//!
//! Decoding an organization's JSON cost about 9,900 instructions, and an authorized read decoded
//! three such records: 11% of its instructions (`callgrind` of `tenantry-bench
//! instructions-case read`), and the same decodes ran on the group-commit writer thread for
//! every write, where they hold up every other write. A slot is chosen by a hash of the record's
//! type and bytes; it keeps the bytes it decoded, compared whole (and the type checked) before
//! its value is used, so a collision costs a decode, never another record's value. A record
//! that changed has other bytes, so nothing is ever stale, and nothing needs invalidating.
//!
//! What a slot holds is a pure function of bytes the reading thread has just read itself, so one
//! tenant's reads can teach another nothing beyond the microseconds a clone saves (a deleted
//! record's bytes and value, a token digest among them, stay in memory until their slot is
//! reused, reachable only by reading the same bytes again). The table is bounded whatever the
//! records: [`SLOTS`] slots of records up to [`MAX_BYTES`] (larger ones are decoded every
//! time), so at most 256 KiB of kept bytes per thread plus their decoded values, a few times
//! that for a record made of many short strings.
//!
//! Only the reads made for the request itself go through it ([`super::View::recurring_org`],
//! [`super::View::recurring_membership`], the token): a loop over many organizations would pay
//! a copy per miss and push out what the next request reuses.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use super::{StorageError, codec};

/// Slots per thread.
const SLOTS: usize = 128;

/// Records larger than this are decoded every time and not kept (an organization is about
/// 600 bytes, a membership and a token about 300).
const MAX_BYTES: usize = 2 * 1024;

struct Slot {
    bytes: Vec<u8>,
    decoded: Box<dyn Any>,
}

thread_local! {
    static TABLE: RefCell<Vec<Option<Slot>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
}

/// Drawn once per process, so records made to collide and push out the ones in use cannot be
/// computed from outside.
fn hash_state() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// `bytes` decoded as [`codec::decode`] decodes them.
pub fn decode<T: DeserializeOwned + Clone + 'static>(bytes: &[u8]) -> Result<T, StorageError> {
    if bytes.len() > MAX_BYTES {
        return codec::decode(bytes);
    }
    let mut hasher = hash_state().build_hasher();
    TypeId::of::<T>().hash(&mut hasher);
    hasher.write(bytes);
    let index = (hasher.finish() % SLOTS as u64) as usize;
    let kept = TABLE.with_borrow(|slots| match &slots[index] {
        Some(slot) if slot.bytes == bytes => slot.decoded.downcast_ref::<T>().cloned(),
        _ => None,
    });
    if let Some(value) = kept {
        return Ok(value);
    }
    let value: T = codec::decode(bytes)?;
    TABLE.with_borrow_mut(|slots| {
        slots[index] = Some(Slot {
            bytes: bytes.to_vec(),
            decoded: Box::new(value.clone()),
        });
    });
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Named {
        name: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Other {
        name: String,
    }

    fn bytes_of(name: &str) -> Vec<u8> {
        codec::encode(&Named { name: name.into() }).unwrap()
    }

    #[test]
    fn a_kept_record_decodes_as_a_fresh_one_and_changed_bytes_are_decoded_again() {
        let first = bytes_of("first");
        for _ in 0..3 {
            assert_eq!(decode::<Named>(&first).unwrap().name, "first");
        }
        assert_eq!(decode::<Named>(&bytes_of("second")).unwrap().name, "second");
        assert_eq!(decode::<Named>(&first).unwrap().name, "first");
    }

    #[test]
    fn the_same_bytes_read_as_another_type_are_that_type() {
        let bytes = bytes_of("either");
        assert_eq!(decode::<Named>(&bytes).unwrap().name, "either");
        assert_eq!(decode::<Other>(&bytes).unwrap().name, "either");
        assert_eq!(decode::<Named>(&bytes).unwrap().name, "either");
    }

    #[test]
    fn every_slot_taken_by_other_records_still_answers_each_one_right() {
        let names: Vec<String> = (0..4 * SLOTS).map(|i| format!("record {i}")).collect();
        for _ in 0..2 {
            for name in &names {
                assert_eq!(&decode::<Named>(&bytes_of(name)).unwrap().name, name);
            }
        }
    }

    fn is_kept(bytes: &[u8]) -> bool {
        TABLE.with_borrow(|slots| slots.iter().flatten().any(|slot| slot.bytes == bytes))
    }

    #[test]
    fn records_are_kept_up_to_the_size_limit_and_not_one_byte_past_it() {
        // The version byte and `{"name":""}` around the name.
        let name_len = MAX_BYTES - 12;
        let at_limit = bytes_of(&"x".repeat(name_len));
        assert_eq!(at_limit.len(), MAX_BYTES);
        assert_eq!(decode::<Named>(&at_limit).unwrap().name.len(), name_len);
        assert!(is_kept(&at_limit));
        let past_limit = bytes_of(&"x".repeat(name_len + 1));
        assert_eq!(
            decode::<Named>(&past_limit).unwrap().name.len(),
            name_len + 1
        );
        assert!(!is_kept(&past_limit));
    }

    #[test]
    fn unreadable_records_are_not_kept() {
        let unreadable = b"\x01{\"name\": 1}";
        assert!(decode::<Named>(unreadable).is_err());
        assert!(!is_kept(unreadable));
        assert!(decode::<Named>(unreadable).is_err());
    }
}
