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
//! The content hash only finds a candidate: the slot keeps the JSON it converted, compared with
//! the part whole before its conversion is used, so a collision costs a conversion, never
//! another input's values.
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

thread_local! {
    static PARTS: RefCell<Vec<Option<(u64, Value, Dynamic)>>> = RefCell::new(vec![None; SLOTS]);
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
    let mut budget = MAX_PART_BYTES;
    if !hash(value, &mut hasher, &mut budget) {
        return dynamic_of(value);
    }
    let key = hasher.finish();
    let slot = (key % SLOTS as u64) as usize;
    PARTS.with(|parts| {
        let mut parts = parts.borrow_mut();
        if let Some((kept, json, converted)) = &parts[slot]
            && *kept == key
            && json == value
        {
            return converted.clone();
        }
        let converted = dynamic_of(value);
        parts[slot] = Some((key, value.clone(), converted.clone()));
        converted
    })
}

/// Feeds `value` to `hasher` while it fits in `budget`; false when it does not, or when it
/// holds a float: JSON equality takes `-0.0` for `0.0`, which Rhai tells apart, so parts with
/// floats (no input the server builds has one) are always converted afresh.
fn hash(value: &Value, hasher: &mut impl Hasher, budget: &mut usize) -> bool {
    let Some(left) = budget.checked_sub(16) else {
        return false;
    };
    *budget = left;
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            hasher.write_u8(u8::from(*b));
        }
        Value::Number(n) => {
            let Some(i) = n.as_i64() else {
                return false;
            };
            hasher.write_u8(2);
            hasher.write_i64(i);
        }
        Value::String(s) => {
            let Some(left) = budget.checked_sub(s.len()) else {
                return false;
            };
            *budget = left;
            hasher.write_u8(3);
            hasher.write(s.as_bytes());
            hasher.write_usize(s.len());
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            for item in items {
                if !hash(item, hasher, budget) {
                    return false;
                }
            }
        }
        Value::Object(fields) => {
            hasher.write_u8(5);
            hasher.write_usize(fields.len());
            for (key, item) in fields {
                let Some(left) = budget.checked_sub(key.len()) else {
                    return false;
                };
                *budget = left;
                hasher.write(key.as_bytes());
                hasher.write_usize(key.len());
                if !hash(item, hasher, budget) {
                    return false;
                }
            }
        }
    }
    true
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
        let large = json!({"text": "x".repeat(MAX_PART_BYTES)});
        assert!(!hash(&large, &mut std::hash::DefaultHasher::new(), &mut {
            MAX_PART_BYTES
        }));
        let zero = json!({"z": 0.0});
        let negative = json!({"z": -0.0});
        assert!(!hash(
            &negative,
            &mut std::hash::DefaultHasher::new(),
            &mut { MAX_PART_BYTES }
        ));
        assert_eq!(zero, negative, "JSON equality cannot tell them apart");
        let _kept_if_floats_were_kept = convert(&json!({"p": zero}));
        let converted = convert(&json!({"p": negative}));
        let map = converted.as_map_ref().unwrap();
        let z = map["p"].as_map_ref().unwrap()["z"].as_float().unwrap();
        assert!(z.is_sign_negative(), "-0.0 stays -0.0");
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
