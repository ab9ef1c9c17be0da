//! `tenantry-sdk`: the guest-side crate for tenantry policy plugins.
//!
//! The WIT contract (`sdk/wit/`, package `tenantry:policy@0.1.0`), the typed inputs, the
//! verdict constructors and the export macro arrive with the Wasm plugin work. Until then this
//! crate only reserves the name and its place in the workspace: plugins cannot be bound yet,
//! and the host evaluates Rhai policies only.
