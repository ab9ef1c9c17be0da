//! A decision's input as its layers take it: for Wasm layers the typed input when the server
//! built one, else the JSON map (which the plugin host checks against the hook's contract);
//! for Rhai layers the JSON converted to Rhai values once per decision.

use rhai::Dynamic;

use super::input::PolicyInput;
use super::rhai_input;
use super::rhai_policy::dynamic_of;

/// Converted for Rhai by the first Rhai layer that runs (through the per-thread table of parts
/// for a live decision, whose input the server built; afresh for a trial or a single
/// evaluation, whose input its caller may have written: see `rhai_input`), and copied for each
/// Rhai layer after it (copying the converted map shares its strings; converting allocates each of them again).
/// Every Rhai layer gets a copy of its own: a policy may change its argument, and must never
/// change what the next layer (another tenant's) sees. The last Rhai layer takes the converted
/// value itself.
pub struct LayerInput<'a> {
    json: &'a serde_json::Value,
    /// The typed input a use case built, of which `json` is the JSON.
    typed: Option<&'a PolicyInput>,
    converted: Option<Dynamic>,
    /// Rhai layers still to take it.
    rhai_takers: usize,
    /// Whether the conversion may use the per-thread table of converted parts.
    live: bool,
}

impl<'a> LayerInput<'a> {
    /// For a trial or an evaluation of which `rhai_takers` layers are Rhai policies: its input
    /// is converted afresh.
    pub fn new(json: &'a serde_json::Value, rhai_takers: usize) -> Self {
        Self {
            json,
            typed: None,
            converted: None,
            rhai_takers,
            live: false,
        }
    }

    /// For a live decision, whose input the server built (`typed` when a use case built it,
    /// `json` then being its JSON: a `DecisionInput`): its recurring parts are taken from the
    /// per-thread table. The engine takes this only for an input a use case built.
    pub fn live(
        json: &'a serde_json::Value,
        typed: Option<&'a PolicyInput>,
        rhai_takers: usize,
    ) -> Self {
        Self {
            live: true,
            typed,
            ..Self::new(json, rhai_takers)
        }
    }

    /// The input as every layer sees it.
    pub fn json(&self) -> &'a serde_json::Value {
        self.json
    }

    /// The typed input a use case built: a Wasm layer takes it as it is instead of parsing
    /// [`json`](Self::json) back.
    pub fn typed(&self) -> Option<&'a PolicyInput> {
        self.typed
    }

    /// One Rhai layer's own copy.
    pub(super) fn take_for_rhai(&mut self) -> Dynamic {
        self.rhai_takers = self.rhai_takers.saturating_sub(1);
        let converted = self.converted.take().unwrap_or_else(|| {
            if self.live {
                rhai_input::convert(self.json)
            } else {
                dynamic_of(self.json)
            }
        });
        if self.rhai_takers == 0 {
            return converted;
        }
        self.converted = Some(converted.clone());
        converted
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_trial_converts_its_input_afresh() {
        let input = json!({"action": "org.read", "org": {"id": "0190f5c4", "name": "Acme"}});
        let before = rhai_input::hits();
        for _ in 0..2 {
            let _ = LayerInput::new(&input, 1).take_for_rhai();
        }
        assert_eq!(rhai_input::hits(), before, "a trial never reads the table");
        for _ in 0..2 {
            let _ = LayerInput::live(&input, None, 1).take_for_rhai();
        }
        assert_eq!(rhai_input::hits(), before + 1, "a live decision does");
    }
}
