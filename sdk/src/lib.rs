//! `tenantry-sdk`: write tenantry policy plugins in a few lines of Rust.
//!
//! # Core concepts
//! - A plugin implements [`Policy`] for any subset of the hooks (`authorize`, `link`, `share`,
//!   `remote_support`); the others answer [`abstain`].
//! - Inputs are typed ([`AuthorizeInput`], [`LinkInput`], [`ShareInput`],
//!   [`RemoteSupportInput`]): the same fields, with the same names, as a Rhai policy's input
//!   and a fixture's JSON (the JSON Schemas are in `policies/schema/`); closed sets are enums.
//! - `Config` is the plugin's typed configuration, given as JSON when the plugin is bound: one
//!   plugin serves many tenants. tenantry asks the plugin to check it at bind time, so a bad
//!   config is refused then (422) instead of failing every call.
//! - [`log`] writes lines that show up in the decision's trace and the decision log.
//! - [`plugin!`] exports the type as a WebAssembly component implementing the
//!   `tenantry:policy@0.2.0` world (`sdk/wit/policy.wit`), named and versioned after the
//!   plugin's crate.
//! - The same code runs natively: unit-test a plugin with `cargo test`, no wasm needed, with
//!   the `example` inputs as a starting point.
//!
//! # A complete plugin
//! ```
//! use serde::Deserialize;
//! use tenantry_sdk::{Hook, LinkInput, Policy, Verdict, allow, deny};
//!
//! #[derive(Deserialize, Default)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     /// Regions that may link with any other.
//!     #[serde(default)]
//!     open_regions: Vec<String>,
//! }
//!
//! pub struct SameRegion;
//!
//! impl Policy for SameRegion {
//!     type Config = Config;
//!     const HOOKS: &'static [Hook] = &[Hook::Link];
//!
//!     fn link(input: &LinkInput, config: &Config) -> Verdict {
//!         if input.from.region == input.to.region || config.open_regions.contains(&input.from.region) {
//!             allow("same region")
//!         } else {
//!             deny("links stay within a region")
//!         }
//!     }
//! }
//!
//! tenantry_sdk::plugin!(SameRegion);
//!
//! let mut input = LinkInput::example();
//! input.to.region = "eu".into();
//! assert_eq!(SameRegion::link(&input, &Config::default()), deny("links stay within a region"));
//! ```
//! Build it (crate type `cdylib`) as a capability-free component, which imports nothing but the
//! contract and is the fastest to run: `cargo build --release --target wasm32-unknown-unknown`,
//! then `tenantry plugin componentize in.wasm out.wasm`. A `wasm32-wasip2` build works as it
//! is, slower. Link a small stack (the `.cargo/config.toml` that `tenantry plugin new`
//! writes: `-zstack-size=65536`): the host scans a plugin's whole memory after every call, and
//! Rust's default 1 MiB stack makes every call scan 17 pages or more. Check it with `tenantry plugin check`, try it with `tenantry plugin run`, and
//! upload it with `POST /v1/plugins` (or `tenantry plugin upload`).

/// The raw bindings generated from the WIT contract. Plugin code should not need them.
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        default_bindings_module: "tenantry_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

mod examples;
pub mod log;

pub use bindings::tenantry::policy::types::{
    AccountType, Actor, AuthorizeInput, Grant, GrantAnswer, Hierarchy, Hook, LinkAction, LinkInput,
    LinkRef, LinkStatus, ManagedBy, Org, OrgStatus, PlanInput, PluginMetadata, Relation,
    RemoteSupportInput, Requester, ResourceKind, Role, Scope, ShareInput, SharedResource,
    SupportRequest, Verdict,
};

impl Role {
    /// `owner`, `admin` or `member`, as in the input's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl Scope {
    /// `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

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

/// A plugin without configuration: it accepts `{}` (or nothing) and refuses anything else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// A policy plugin. Implement the hooks you need and list them in `HOOKS`.
pub trait Policy {
    /// The binding's configuration, parsed from its JSON; an empty config (`{}`, `null` or
    /// nothing) is `Config::default()` when the type has no required fields.
    type Config: serde::de::DeserializeOwned + Default;

    /// The hooks this plugin implements; tenantry calls only these.
    const HOOKS: &'static [Hook];

    fn authorize(_input: &AuthorizeInput, _config: &Self::Config) -> Verdict {
        abstain()
    }

    fn link(_input: &LinkInput, _config: &Self::Config) -> Verdict {
        abstain()
    }

    fn share(_input: &ShareInput, _config: &Self::Config) -> Verdict {
        abstain()
    }

    fn remote_support(_input: &RemoteSupportInput, _config: &Self::Config) -> Verdict {
        abstain()
    }
}

/// Parses a binding's config for `P` (what `check-config` and every hook call do).
pub fn parse_config<C: serde::de::DeserializeOwned + Default>(text: &str) -> Result<C, String> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(C::default());
    }
    serde_json::from_str(text).map_err(|e| format!("config: {e}"))
}

/// Runs a hook with its parsed config; a config that no longer parses denies (it was checked
/// when bound, so this is a plugin bug worth seeing).
#[doc(hidden)]
pub fn __with_config<C: serde::de::DeserializeOwned + Default>(
    config: &str,
    hook: impl FnOnce(&C) -> Verdict,
) -> Verdict {
    match parse_config::<C>(config) {
        Ok(config) => hook(&config),
        Err(e) => deny(e),
    }
}

/// Exports a [`Policy`] implementation as the plugin's component exports. The plugin's name
/// and version are its crate's (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`).
#[macro_export]
macro_rules! plugin {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __TenantryPluginExport;

        impl $crate::bindings::exports::tenantry::policy::hooks::Guest for __TenantryPluginExport {
            fn metadata() -> $crate::PluginMetadata {
                $crate::PluginMetadata {
                    name: ::std::string::String::from(env!("CARGO_PKG_NAME")),
                    version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
                }
            }
            fn implemented() -> ::std::vec::Vec<$crate::Hook> {
                <$policy as $crate::Policy>::HOOKS.to_vec()
            }
            fn check_config(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                $crate::parse_config::<<$policy as $crate::Policy>::Config>(&config).map(|_| ())
            }
            fn authorize(input: $crate::AuthorizeInput, config: ::std::string::String) -> $crate::Verdict {
                $crate::__with_config(&config, |c| <$policy as $crate::Policy>::authorize(&input, c))
            }
            fn link(input: $crate::LinkInput, config: ::std::string::String) -> $crate::Verdict {
                $crate::__with_config(&config, |c| <$policy as $crate::Policy>::link(&input, c))
            }
            fn share(input: $crate::ShareInput, config: ::std::string::String) -> $crate::Verdict {
                $crate::__with_config(&config, |c| <$policy as $crate::Policy>::share(&input, c))
            }
            fn remote_support(input: $crate::RemoteSupportInput, config: ::std::string::String) -> $crate::Verdict {
                $crate::__with_config(&config, |c| <$policy as $crate::Policy>::remote_support(&input, c))
            }
        }

        // Only a wasm build exports the hooks: their symbol names (`tenantry:policy/hooks@...`)
        // are not valid in a native linker's export list, and native builds are for tests.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__TenantryPluginExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        limit: Option<u32>,
    }

    #[test]
    fn an_empty_config_is_the_default_and_a_wrong_one_is_named() {
        assert_eq!(parse_config::<Config>(""), Ok(Config::default()));
        assert_eq!(parse_config::<Config>("{}"), Ok(Config::default()));
        assert_eq!(
            parse_config::<Config>(r#"{"limit": 3}"#),
            Ok(Config { limit: Some(3) })
        );
        let err = parse_config::<Config>(r#"{"limitt": 3}"#).unwrap_err();
        assert!(err.contains("limitt"), "{err}");
        assert!(parse_config::<NoConfig>(r#"{"x": 1}"#).is_err());
    }
}
