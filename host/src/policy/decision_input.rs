//! What a live decision is asked on: the JSON every Rhai layer and the decision log see, and,
//! when a use case built it, the typed input that JSON was made from.
//!
//! A plugin's record is made from the typed input, so a Wasm layer does not parse the JSON
//! back into the same [`PolicyInput`] (it was a twelfth of a plugin call: BENCHMARKS.md, "The
//! plugin's stack, and its input not parsed back"). The two must never disagree, or a plugin
//! would decide on something other than what the other layers saw and the log keeps: the
//! fields are private and the JSON of a built input is only ever made from it here.

use serde_json::Value;

use super::Hook;
use super::input::PolicyInput;

#[derive(Debug, Clone)]
pub struct DecisionInput {
    hook: Hook,
    json: Value,
    typed: Option<PolicyInput>,
}

impl DecisionInput {
    /// An input a use case built, with its JSON.
    pub fn built(typed: PolicyInput) -> Self {
        let json = typed.to_value();
        // Checked over every input the test suites build: it reads back as itself, so a plugin
        // is given what parsing the JSON would have given it.
        debug_assert_eq!(PolicyInput::parse(typed.hook(), &json).as_ref(), Ok(&typed));
        Self {
            hook: typed.hook(),
            json,
            typed: Some(typed),
        }
    }

    /// JSON alone, for `hook` (a Wasm layer checks it against the hook's contract).
    pub fn json_only(hook: Hook, json: Value) -> Self {
        Self {
            hook,
            json,
            typed: None,
        }
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// What every layer sees and the log keeps.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The typed input the JSON was made from, when a use case built it.
    pub fn typed(&self) -> Option<&PolicyInput> {
        self.typed.as_ref()
    }

    /// The JSON, for the log.
    pub fn into_json(self) -> Value {
        self.json
    }
}
