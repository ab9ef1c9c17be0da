//! What one layer answers.

use serde::{Deserialize, Serialize};

use super::hook::Hook;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
    Abstain,
    Grant,
    RequireApproval,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Self::Allow,
        Self::Deny,
        Self::Abstain,
        Self::Grant,
        Self::RequireApproval,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Abstain => "abstain",
            Self::Grant => "grant",
            Self::RequireApproval => "require_approval",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// `grant` and `require_approval` answer only `remote_support`; `allow` answers the others.
    pub fn valid_for(self, hook: Hook) -> bool {
        match self {
            Self::Deny | Self::Abstain => true,
            Self::Allow => hook != Hook::RemoteSupport,
            Self::Grant | Self::RequireApproval => hook == Hook::RemoteSupport,
        }
    }
}

/// A layer's answer: the verdict, its reason, and for `grant` the minutes granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Answer {
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

impl Answer {
    pub fn deny(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Deny,
            reason: Some(reason.into()),
            minutes: None,
        }
    }
}

/// `Verdict::ALL[i] as usize == i`: tables indexed by a verdict (`metrics.rs`, the verdict names scripts get) rely on it.
const _: () = {
    let mut i = 0;
    while i < Verdict::ALL.len() {
        assert!(Verdict::ALL[i] as usize == i);
        i += 1;
    }
};
