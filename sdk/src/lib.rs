//! `tenantry-sdk`: write tenantry policy plugins in a few lines of Rust.
//!
//! # Core concepts
//! - A plugin implements [`Policy`] for any subset of the hooks (`authorize`, `link`, `share`,
//!   `remote_support`); the others answer [`abstain`].
//! - Inputs are typed ([`AuthorizeInput`], [`LinkInput`], [`ShareInput`],
//!   [`RemoteSupportInput`]) and mirror what Rhai policies see. `config` is the JSON given when
//!   the plugin was bound, so one plugin serves many tenants.
//! - [`plugin!`] exports the type as a WebAssembly component implementing the
//!   `tenantry:policy@0.1.0` world (`sdk/wit/policy.wit`).
//! - The same code runs natively: unit-test a plugin with `cargo test`, no wasm needed.
//!
//! # A complete plugin
//! ```
//! use tenantry_sdk::{Hook, LinkInput, Policy, Verdict, allow, deny};
//!
//! pub struct SameRegion;
//!
//! impl Policy for SameRegion {
//!     const HOOKS: &'static [Hook] = &[Hook::Link];
//!
//!     fn link(input: &LinkInput, _config: &str) -> Verdict {
//!         if input.from.region == input.to.region {
//!             allow("same region")
//!         } else {
//!             deny("links stay within a region")
//!         }
//!     }
//! }
//!
//! tenantry_sdk::plugin!(SameRegion);
//! ```
//! Build it (crate type `cdylib`) as a capability-free component, which imports nothing but the
//! contract and is the fastest to run (about 10 µs a call against 85 µs for a WASI build):
//! `cargo build --release --target wasm32-unknown-unknown`, then
//! `tenantry plugin componentize in.wasm out.wasm`. A `wasm32-wasip2` build works as it is,
//! slower. Upload the component with `POST /v1/plugins`.

/// The raw bindings generated from the WIT contract. Plugin code should not need them.
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        default_bindings_module: "tenantry_sdk::bindings",
    });
}

pub use bindings::tenantry::policy::types::{
    Actor, AuthorizeInput, GrantAnswer, Hook, LinkInput, Org, RemoteSupportInput, ShareInput,
    Verdict,
};

/// Allow, with the reason shown in traces and decision logs.
pub fn allow(reason: impl Into<String>) -> Verdict {
    Verdict::Allow(reason.into())
}

/// Deny, with the reason the caller sees in the 403.
pub fn deny(reason: impl Into<String>) -> Verdict {
    Verdict::Deny(reason.into())
}

/// No opinion: other layers decide.
pub fn abstain() -> Verdict {
    Verdict::Abstain
}

/// `remote_support` only: grant access for at most `minutes`.
pub fn grant(minutes: u32, reason: impl Into<String>) -> Verdict {
    Verdict::Grant(GrantAnswer {
        minutes,
        reason: reason.into(),
    })
}

/// `remote_support` only: the customer must approve.
pub fn require_approval(reason: impl Into<String>) -> Verdict {
    Verdict::RequireApproval(reason.into())
}

/// A policy plugin. Implement the hooks you need and list them in `HOOKS`.
pub trait Policy {
    /// The hooks this plugin implements; tenantry calls only these.
    const HOOKS: &'static [Hook];

    fn authorize(_input: &AuthorizeInput, _config: &str) -> Verdict {
        abstain()
    }

    fn link(_input: &LinkInput, _config: &str) -> Verdict {
        abstain()
    }

    fn share(_input: &ShareInput, _config: &str) -> Verdict {
        abstain()
    }

    fn remote_support(_input: &RemoteSupportInput, _config: &str) -> Verdict {
        abstain()
    }
}

/// Exports a [`Policy`] implementation as the plugin's component exports.
#[macro_export]
macro_rules! plugin {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __TenantryPluginExport;

        impl $crate::bindings::exports::tenantry::policy::hooks::Guest for __TenantryPluginExport {
            fn implemented() -> ::std::vec::Vec<$crate::Hook> {
                <$policy as $crate::Policy>::HOOKS.to_vec()
            }
            fn authorize(input: $crate::AuthorizeInput, config: ::std::string::String) -> $crate::Verdict {
                <$policy as $crate::Policy>::authorize(&input, &config)
            }
            fn link(input: $crate::LinkInput, config: ::std::string::String) -> $crate::Verdict {
                <$policy as $crate::Policy>::link(&input, &config)
            }
            fn share(input: $crate::ShareInput, config: ::std::string::String) -> $crate::Verdict {
                <$policy as $crate::Policy>::share(&input, &config)
            }
            fn remote_support(input: $crate::RemoteSupportInput, config: ::std::string::String) -> $crate::Verdict {
                <$policy as $crate::Policy>::remote_support(&input, &config)
            }
        }

        // Only a wasm build exports the hooks: their symbol names (`tenantry:policy/hooks@...`)
        // are not valid in a native linker's export list, and native builds are for tests.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__TenantryPluginExport with_types_in $crate::bindings);
    };
}
