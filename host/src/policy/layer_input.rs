//! A decision's input as its layers take it: the JSON map for Wasm layers, and for Rhai layers
//! the same converted to Rhai values once per decision.

use rhai::Dynamic;

use super::rhai_input;

/// Converted for Rhai by the first Rhai layer that runs, and copied for each Rhai layer after
/// it (copying the converted map shares its strings; converting allocates each of them again).
/// Every Rhai layer gets a copy of its own: a policy may change its argument, and must never
/// change what the next layer (another tenant's) sees. The last Rhai layer takes the converted
/// value itself.
pub struct LayerInput<'a> {
    json: &'a serde_json::Value,
    converted: Option<Dynamic>,
    /// Rhai layers still to take it.
    rhai_takers: usize,
}

impl<'a> LayerInput<'a> {
    /// For a decision of which `rhai_takers` layers are Rhai policies.
    pub fn new(json: &'a serde_json::Value, rhai_takers: usize) -> Self {
        Self {
            json,
            converted: None,
            rhai_takers,
        }
    }

    /// The input as every layer sees it.
    pub fn json(&self) -> &'a serde_json::Value {
        self.json
    }

    /// One Rhai layer's own copy.
    pub(super) fn take_for_rhai(&mut self) -> Dynamic {
        self.rhai_takers = self.rhai_takers.saturating_sub(1);
        let converted = self
            .converted
            .take()
            .unwrap_or_else(|| rhai_input::convert(self.json));
        if self.rhai_takers == 0 {
            return converted;
        }
        self.converted = Some(converted.clone());
        converted
    }
}
