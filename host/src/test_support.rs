//! Strategies shared by the property tests of several modules.

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, a few levels deep, with keys the inputs use mixed with random ones, so
/// generated documents sometimes look like real inputs and often like garbage.
pub fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("action".to_owned()),
        Just("actor".to_owned()),
        Just("org".to_owned()),
        Just("verdict".to_owned()),
        Just("reason".to_owned()),
        Just("minutes".to_owned()),
        Just("id".to_owned()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("allow"),
            Just("deny"),
            Just("grant"),
            Just("abstain"),
            Just("require_approval")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
