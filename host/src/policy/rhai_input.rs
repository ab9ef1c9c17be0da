//! Decision inputs as Rhai values, their recurring parts converted once per thread.
//!
//! Converting a decision's JSON input into Rhai values was a third of a one-rule Rhai decision
//! (a string allocated for each value, a key inserted for each field). Most of an input recurs
//! from one decision to the next: the organization acted on, the caller. So each object
//! directly under the input is looked up by its content in a small per-thread table of
//! converted parts; a part found there is copied (a copied map shares its strings, which are
//! immutable, and its maps are copied, so a policy that changes its input changes its own
//! copy), and a part not found is converted and kept, replacing what its slot held.
//!
//! A slot is picked by hashing only the start of a part (its first scalars, up to
//! [`SLOT_KEY_BYTES`]: for an organization or an actor, the fields up to its id), which costs a
//! tenth of hashing the whole part; the slot keeps the JSON it converted, compared with the part
//! whole before its conversion is used, so two parts that start alike cost a conversion, never
//! another input's values. A part that changed since it was kept (a renamed organization)
//! lands in the slot of its older self and replaces it.
//! A converted part is a pure function of its content, so the table holds nothing that one
//! tenant's decision could learn from another's beyond the microseconds a copy saves.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use rhai::{Dynamic, Map};
use serde_json::Value;

use super::rhai_policy::dynamic_of;

/// Parts kept per thread. A slot is chosen by hash; a part replaces whatever its slot held.
const SLOTS: usize = 256;
/// Parts larger than this (bytes of their strings and keys, plus 16 for each value) are
/// converted every time and not kept: a slot holds a part's JSON and its conversion, so a
/// thread's table stays under about 2 MiB whatever clients send (a what-if evaluation's
/// `input` may be anything up to the body limit), and a large part (an action's `resource`)
/// seldom recurs anyway.
const MAX_PART_BYTES: usize = 4 * 1024;
/// Bytes of a part's first scalars (strings, and 8 for any other value) that pick its slot.
const SLOT_KEY_BYTES: usize = 64;

thread_local! {
    static PARTS: RefCell<Vec<Option<(Value, Dynamic)>>> = RefCell::new(vec![None; SLOTS]);
}

/// The hash's seed, drawn once per process: parts chosen to collide in a slot and push out the
/// ones in use cannot be computed from outside.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(rand::random)
}

/// `input` as Rhai values, exactly as [`dynamic_of`] converts it.
pub fn convert(input: &Value) -> Dynamic {
    let Value::Object(fields) = input else {
        return dynamic_of(input);
    };
    let mut map = Map::new();
    for (key, value) in fields {
        let converted = match value {
            Value::Object(_) => part(value),
            _ => dynamic_of(value),
        };
        map.insert(key.as_str().into(), converted);
    }
    Dynamic::from_map(map)
}

/// One object of the input: copied from the table when the same content was converted on this
/// thread before.
fn part(value: &Value) -> Dynamic {
    let mut hasher = foldhash::fast::FixedState::with_seed(seed()).build_hasher();
    slot_key(value, &mut hasher, &mut { SLOT_KEY_BYTES });
    let slot = (hasher.finish() % SLOTS as u64) as usize;
    PARTS.with(|parts| {
        let mut parts = parts.borrow_mut();
        if let Some((json, converted)) = &parts[slot]
            && json == value
        {
            return converted.clone();
        }
        let converted = dynamic_of(value);
        if keepable(value, &mut { MAX_PART_BYTES }) {
            parts[slot] = Some((value.clone(), converted.clone()));
        }
        converted
    })
}

/// Feeds `value`'s first scalars, in order, to `hasher` until `budget` bytes of them are used.
fn slot_key(value: &Value, hasher: &mut impl Hasher, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => hasher.write_u8(1 + u8::from(*b)),
        Value::Number(n) => hasher.write_i64(n.as_i64().unwrap_or(i64::MIN)),
        Value::String(s) => {
            let taken = s.len().min(*budget);
            hasher.write(&s.as_bytes()[..taken]);
            *budget -= taken;
            return;
        }
        Value::Array(items) => {
            for item in items {
                slot_key(item, hasher, budget);
            }
            return;
        }
        Value::Object(fields) => {
            for item in fields.values() {
                slot_key(item, hasher, budget);
            }
            return;
        }
    }
    *budget = budget.saturating_sub(8);
}

/// Whether `value` may be kept: it fits in `budget` (bytes of its strings and keys, plus 16 for
/// each value) and holds no float. JSON equality takes `-0.0` for `0.0`, which Rhai tells
/// apart, so a part with a float (no input the server builds has one) is converted afresh each
/// time; and a part that holds no float never equals one that does.
fn keepable(value: &Value, budget: &mut usize) -> bool {
    if !take(budget, 16) {
        return false;
    }
    match value {
        Value::Null | Value::Bool(_) => true,
        Value::Number(n) => n.is_i64(),
        Value::String(s) => take(budget, s.len()),
        Value::Array(items) => items.iter().all(|item| keepable(item, budget)),
        Value::Object(fields) => fields
            .iter()
            .all(|(key, item)| take(budget, key.len()) && keepable(item, budget)),
    }
}

/// Takes `bytes` from `budget`; false when it has fewer left.
fn take(budget: &mut usize, bytes: usize) -> bool {
    match budget.checked_sub(bytes) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn converted_json(value: &Dynamic) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn a_recurring_part_converts_as_a_fresh_one_and_a_changed_part_is_not_mistaken_for_it() {
        let org = json!({"id": "a", "name": "Acme", "limits": [1, 2.5, null, true]});
        let first = convert(&json!({"action": "org.read", "org": org.clone()}));
        let again = convert(&json!({"action": "org.read", "org": org}));
        assert_eq!(converted_json(&first), converted_json(&again));
        assert_eq!(
            converted_json(&again),
            converted_json(&dynamic_of(
                &json!({"action": "org.read", "org": {"id": "a", "name": "Acme", "limits": [1, 2.5, null, true]}})
            ))
        );
        // Each difference a content check must see: a value, a type, a key, one more field.
        for changed in [
            json!({"id": "a", "name": "Acme!", "limits": [1, 2.5, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1.0, 2.5, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1, 2.5, false, true]}),
            json!({"id": "a", "title": "Acme", "limits": [1, 2.5, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1, 2.5, null, true], "x": 1}),
        ] {
            let input = json!({"org": changed});
            assert_eq!(converted_json(&convert(&input)), input);
        }
    }

    #[test]
    fn a_policy_that_changes_its_copy_leaves_the_kept_part_as_it_was() {
        let input = json!({"org": {"name": "Acme", "tags": ["a"]}});
        let mut first = convert(&input);
        {
            let mut map = first.write_lock::<Map>().unwrap();
            let mut org = map.get_mut("org").unwrap().write_lock::<Map>().unwrap();
            org.insert("name".into(), Dynamic::from("changed"));
        }
        assert_eq!(converted_json(&convert(&input)), input);
    }

    #[test]
    fn large_parts_and_parts_with_floats_are_converted_afresh_and_not_kept() {
        // 16 for the object, 4 for its key, 16 for the string: the rest is the string's bytes.
        let at_limit = json!({"text": "x".repeat(MAX_PART_BYTES - 36)});
        let over_limit = json!({"text": "x".repeat(MAX_PART_BYTES - 35)});
        assert!(keepable(&at_limit, &mut { MAX_PART_BYTES }));
        assert!(!keepable(&over_limit, &mut { MAX_PART_BYTES }));
        let zero = json!({"z": 0.0});
        let negative = json!({"z": -0.0});
        assert!(!keepable(&negative, &mut { MAX_PART_BYTES }));
        assert_eq!(zero, negative, "JSON equality cannot tell them apart");
        let _kept_if_floats_were_kept = convert(&json!({"p": zero}));
        let converted = convert(&json!({"p": negative}));
        let map = converted.as_map_ref().unwrap();
        let z = map["p"].as_map_ref().unwrap()["z"].as_float().unwrap();
        assert!(z.is_sign_negative(), "-0.0 stays -0.0");
    }

    #[test]
    fn parts_that_start_alike_share_a_slot_and_are_never_mistaken_for_each_other() {
        let start = "x".repeat(SLOT_KEY_BYTES);
        let (one, two) = (
            json!({"org": {"a": start, "b": 1}}),
            json!({"org": {"a": start, "b": 2}}),
        );
        for _ in 0..3 {
            assert_eq!(converted_json(&convert(&one)), one);
            assert_eq!(converted_json(&convert(&two)), two);
        }
    }

    #[test]
    fn a_slot_taken_by_another_part_is_converted_again() {
        // More distinct parts than slots: every one still converts to itself.
        for i in 0..(SLOTS * 2) {
            let input = json!({"org": {"n": i}});
            assert_eq!(converted_json(&convert(&input)), input);
        }
    }
}
