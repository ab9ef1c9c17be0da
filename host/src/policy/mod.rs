//! Policies: hooks, layers, the Rhai sandbox, layer combination and fixtures.
//! Knows nothing of HTTP or storage: a decision is a pure function of input and versions.

pub mod breaker;
pub mod budget;
pub mod combine;
pub mod compiled;
pub mod decision_input;
pub mod engine;
pub mod explore;
pub mod fixtures;
pub mod hook;
pub mod input;
pub mod layer_input;
pub mod rhai_input;
pub mod rhai_policy;
pub mod stock;
pub mod verdict;
pub mod version;
pub mod wasm;

pub use combine::Decision;
pub use engine::{PolicyEngine, Subject};
pub use hook::{Hook, Layer};
