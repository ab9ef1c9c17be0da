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

/// The instants written in RFC 3339 and read back as themselves: 0000-01-01T00:00:00.000Z to
/// 9999-12-31T23:59:59.999Z, in milliseconds (the unit test reads both ends back, and one
/// millisecond past each not).
const WRITTEN_AS_A_TIME: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

#[derive(Debug, Clone)]
pub struct DecisionInput {
    hook: Hook,
    json: Value,
    typed: Option<PolicyInput>,
}

impl DecisionInput {
    /// An input a use case built, with its JSON.
    ///
    /// Every field of a `PolicyInput` reads back from its JSON as itself but one: a `now`
    /// outside the years 0000–9999 is written as its milliseconds, which no contract reads as
    /// a time. Such an input keeps no typed part, so a Wasm layer parses its JSON and refuses
    /// it as every other layer sees it.
    pub fn built(typed: PolicyInput) -> Self {
        let json = typed.to_value();
        let now_reads_back = WRITTEN_AS_A_TIME.contains(&typed.now().0);
        // Checked over every input the test suites build: it reads back as itself, so a plugin
        // is given what parsing the JSON would have given it.
        debug_assert!(
            !now_reads_back || PolicyInput::parse(typed.hook(), &json).as_ref() == Ok(&typed)
        );
        Self {
            hook: typed.hook(),
            json,
            typed: now_reads_back.then_some(typed),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::Timestamp;
    use crate::policy::input::AuthorizeInput;

    fn at(now: Timestamp) -> DecisionInput {
        let mut input = AuthorizeInput::example("org.read", Value::Null);
        input.now = now;
        DecisionInput::built(input.into())
    }

    /// The last instant written as a time keeps its typed part; the next one, written as its
    /// milliseconds, does not, and a Wasm layer would parse (and refuse) what the log keeps.
    #[test]
    fn a_now_that_does_not_read_back_leaves_no_typed_input() {
        let last = Timestamp::parse("9999-12-31T23:59:59.999Z").unwrap();
        let built = at(last);
        assert_eq!(built.typed().map(PolicyInput::now), Some(last));
        assert_eq!(
            PolicyInput::parse(Hook::Authorize, built.json()).as_ref(),
            Ok(built.typed().unwrap())
        );
        let past = at(Timestamp(last.0 + 1));
        assert!(past.typed().is_none(), "{}", past.json()["now"]);
        assert!(PolicyInput::parse(Hook::Authorize, past.json()).is_err());
        let first = Timestamp::parse("0000-01-01T00:00:00Z").unwrap();
        assert!(at(first).typed().is_some());
        let before = at(Timestamp(first.0 - 1));
        assert!(before.typed().is_none(), "{}", before.json()["now"]);
        assert!(PolicyInput::parse(Hook::Authorize, before.json()).is_err());
    }
}
