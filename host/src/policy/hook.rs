//! The decision points (hooks) and the layers that answer them.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    Authorize,
    Link,
    Share,
    RemoteSupport,
}

impl Hook {
    pub const ALL: [Hook; 4] = [
        Hook::Authorize,
        Hook::Link,
        Hook::Share,
        Hook::RemoteSupport,
    ];

    /// Also the Rhai function name and the policy file stem.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Link => "link",
            Self::Share => "share",
            Self::RemoteSupport => "remote_support",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }
}

/// Who wrote a policy. Evaluated in this order; see `combine` for how answers merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Platform,
    ServiceProvider,
    Organization,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::ServiceProvider => "service_provider",
            Self::Organization => "organization",
        }
    }
}

/// `Hook::ALL[i] as usize == i`: tables indexed by a hook (`metrics.rs`) rely on it.
const _: () = {
    let mut i = 0;
    while i < Hook::ALL.len() {
        assert!(Hook::ALL[i] as usize == i);
        i += 1;
    }
};
