//! Decision inputs as Rhai values, their recurring parts converted once per thread.
//!
//! Converting a decision's JSON input into Rhai values was a third of a one-rule Rhai decision
//! (a string allocated for each value, a key inserted for each field). Most of an input recurs
//! from one decision to the next: the organization acted on, the caller. So each part the
//! server builds from its own records ([`KEPT_PARTS`]: the caller, the organizations, the
//! link, the requester) is looked up in a small per-thread table of converted parts; a part
//! found there is copied (a copied map shares its strings, which are immutable, and its maps
//! are copied, so a policy that changes its input changes its own copy), and a part not found
//! is converted and kept, replacing what its slot held.
//!
//! A slot is picked by hashing only the start of a part (its first scalars in key order, up to
//! [`SLOT_KEY_BYTES`]: for an organization its type, its hierarchy, its id and a little past
//! it; for a caller its grant, its id and its standing), which costs a tenth of hashing the
//! whole part; the slot keeps the JSON it converted, compared with the part whole before its
//! conversion is used, so two parts that start alike cost a conversion, never another input's
//! values.
//!
//! What a timing could tell: a converted part is a pure function of its content, so the table
//! holds no values one tenant's decision could read from another's. What is left is timing: a
//! hit is a few microseconds faster than a miss. The parts kept carry an id the server
//! assigned within their first bytes (no client can make its part start like another tenant's,
//! so none can aim at another's slot), the parts a client writes (an action's `resource`, a support request) are
//! converted afresh, and only live decisions use the table: trials and what-if evaluations,
//! whose whole input the caller may write, convert afresh (`LayerInput`).

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
/// thread's table stays under about 2 MiB however large the server-built parts grow (an
/// organization's name, a plan with many features).
const MAX_PART_BYTES: usize = 4 * 1024;
/// Bytes of a part's first scalars (strings, and 8 for any other value) that pick its slot.
const SLOT_KEY_BYTES: usize = 64;
/// The input's parts that the server builds from its records, each with an id it assigned
/// within its first [`SLOT_KEY_BYTES`] (fields are in key order): the only ones kept.
const KEPT_PARTS: [&str; 7] = ["actor", "from", "link", "org", "peer", "requester", "to"];

thread_local! {
    static PARTS: RefCell<Vec<Option<(Value, Dynamic)>>> = RefCell::new(vec![None; SLOTS]);
    /// Parts copied out of the table on this thread, for the tests to see a hit.
    #[cfg(test)]
    static HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
            Value::Object(_) if KEPT_PARTS.contains(&key.as_str()) => part(value),
            _ => dynamic_of(value),
        };
        map.insert(key.as_str().into(), converted);
    }
    Dynamic::from_map(map)
}

/// One part of the input: copied from the table when the same content was converted on this
/// thread before.
fn part(value: &Value) -> Dynamic {
    let slot = slot_of(value);
    PARTS.with(|parts| {
        let mut parts = parts.borrow_mut();
        if let Some((json, converted)) = &parts[slot]
            && json == value
        {
            #[cfg(test)]
            HITS.with(|hits| hits.set(hits.get() + 1));
            return converted.clone();
        }
        let converted = dynamic_of(value);
        if keepable(value, &mut { MAX_PART_BYTES }) {
            parts[slot] = Some((value.clone(), converted.clone()));
        }
        converted
    })
}

/// Parts copied out of the table on this thread so far.
#[cfg(test)]
pub(super) fn hits() -> usize {
    HITS.with(std::cell::Cell::get)
}

/// The slot `value` is looked up and kept in.
fn slot_of(value: &Value) -> usize {
    let mut hasher = foldhash::fast::FixedState::with_seed(seed()).build_hasher();
    slot_key(value, &mut hasher, &mut { SLOT_KEY_BYTES });
    (hasher.finish() % SLOTS as u64) as usize
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

    /// Converts `input` and tells whether any part came from the table.
    fn convert_counting(input: &Value) -> (Value, bool) {
        let before = hits();
        let converted = converted_json(&convert(input));
        (converted, hits() > before)
    }

    #[test]
    fn a_recurring_part_converts_as_a_fresh_one_and_a_changed_part_is_not_mistaken_for_it() {
        let org = json!({"id": "a", "name": "Acme", "limits": [1, 2, null, true]});
        let input = json!({"action": "org.read", "org": org});
        assert_eq!(convert_counting(&input), (input.clone(), false));
        assert_eq!(
            convert_counting(&input),
            (input.clone(), true),
            "kept and reused"
        );
        assert_eq!(converted_json(&dynamic_of(&input)), input);
        // Each difference a content check must see: a value, a type, a key, one more field.
        for changed in [
            json!({"id": "a", "name": "Acme!", "limits": [1, 2, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1.0, 2, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1, 2, false, true]}),
            json!({"id": "a", "title": "Acme", "limits": [1, 2, null, true]}),
            json!({"id": "a", "name": "Acme", "limits": [1, 2, null, true], "x": 1}),
        ] {
            let changed = json!({"org": changed});
            assert_eq!(convert_counting(&changed), (changed.clone(), false));
            assert_eq!(convert_counting(&input).0, input);
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
        assert_eq!(convert_counting(&input), (input, true));
    }

    #[test]
    fn large_parts_and_parts_with_floats_are_converted_afresh_and_not_kept() {
        // 16 for the object, 4 for its key, 16 for the string: the rest is the string's bytes.
        let at_limit = json!({"org": {"text": "x".repeat(MAX_PART_BYTES - 36)}});
        let over_limit = json!({"org": {"text": "y".repeat(MAX_PART_BYTES - 35)}});
        for _ in 0..2 {
            assert_eq!(convert_counting(&over_limit), (over_limit.clone(), false));
        }
        let _ = convert(&at_limit);
        assert_eq!(convert_counting(&at_limit), (at_limit, true));
        let zero = json!({"org": {"z": 0.0}});
        let negative = json!({"org": {"z": -0.0}});
        assert_eq!(zero, negative, "JSON equality cannot tell them apart");
        let _kept_if_floats_were_kept = convert(&zero);
        let converted = convert(&negative);
        let map = converted.as_map_ref().unwrap();
        let z = map["org"].as_map_ref().unwrap()["z"].as_float().unwrap();
        assert!(z.is_sign_negative(), "-0.0 stays -0.0");
    }

    #[test]
    fn parts_a_client_writes_are_converted_afresh_and_not_kept() {
        for name in ["resource", "request", "plan", "anything"] {
            let input = json!({name: {"id": "same", "reason": "the same every time"}});
            for _ in 0..2 {
                assert_eq!(convert_counting(&input), (input.clone(), false), "{name}");
            }
        }
    }

    #[test]
    fn parts_that_start_alike_share_a_slot_and_are_never_mistaken_for_each_other() {
        let start = "x".repeat(SLOT_KEY_BYTES);
        let (one, two) = (json!({"a": start, "b": 1}), json!({"a": start, "b": 2}));
        assert_eq!(slot_of(&one), slot_of(&two));
        let (one, two) = (json!({"org": one}), json!({"org": two}));
        let _ = convert(&one);
        assert_eq!(convert_counting(&one), (one.clone(), true));
        assert_eq!(
            convert_counting(&two),
            (two.clone(), false),
            "not the kept one"
        );
        assert_eq!(convert_counting(&one), (one, false), "two took its slot");
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
