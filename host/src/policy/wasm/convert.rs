//! From a plugin's verdict back to an [`Answer`]: anything a plugin returns that its hook does
//! not allow is `invalid_output`. (Inputs go the other way through the contracts' records,
//! `contract.rs` and `legacy.rs`, made from the typed input contract.)

use crate::policy::Hook;
use crate::policy::rhai_policy::PolicyFault;
use crate::policy::verdict::{Answer, Verdict};

/// A verdict as either contract returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawVerdict {
    Allow(String),
    Deny(String),
    Abstain,
    Grant { minutes: u32, reason: String },
    RequireApproval(String),
}

/// A plugin's verdict as an answer, checked against its hook and the output limit.
pub fn answer(hook: Hook, verdict: RawVerdict, max_output: usize) -> Result<Answer, PolicyFault> {
    let (verdict, reason, minutes) = match verdict {
        RawVerdict::Allow(r) => (Verdict::Allow, Some(r), None),
        RawVerdict::Deny(r) => (Verdict::Deny, Some(r), None),
        RawVerdict::Abstain => (Verdict::Abstain, None, None),
        RawVerdict::Grant { minutes, reason } => (Verdict::Grant, Some(reason), Some(minutes)),
        RawVerdict::RequireApproval(r) => (Verdict::RequireApproval, Some(r), None),
    };
    if reason.as_ref().is_some_and(|r| r.len() > max_output) {
        return Err(PolicyFault {
            kind: "output_too_large",
            message: format!("the reason is over {max_output} bytes"),
        });
    }
    if !verdict.valid_for(hook) {
        return Err(PolicyFault {
            kind: "invalid_output",
            message: format!(
                "`{}` is not a verdict of hook `{}`",
                verdict.name(),
                hook.name()
            ),
        });
    }
    if minutes == Some(0) {
        return Err(PolicyFault {
            kind: "invalid_output",
            message: "`grant` needs at least one minute".into(),
        });
    }
    Ok(Answer {
        verdict,
        reason: reason.filter(|r| !r.is_empty()),
        minutes,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_verdict() -> impl Strategy<Value = RawVerdict> {
        let text = ".{0,40}";
        prop_oneof![
            text.prop_map(RawVerdict::Allow),
            text.prop_map(RawVerdict::Deny),
            Just(RawVerdict::Abstain),
            (any::<u32>(), text)
                .prop_map(|(minutes, reason)| RawVerdict::Grant { minutes, reason }),
            text.prop_map(RawVerdict::RequireApproval),
        ]
    }

    proptest! {
        /// Whatever a plugin returns, the host keeps only verdicts its hook allows, within the
        /// output limit, and a grant of at least one minute.
        #[test]
        fn any_verdict_decodes_within_its_hook(verdict in any_verdict(), hook in 0..4usize) {
            let hook = [Hook::Authorize, Hook::Link, Hook::Share, Hook::RemoteSupport][hook];
            match answer(hook, verdict, 16) {
                Ok(a) => {
                    prop_assert!(a.verdict.valid_for(hook));
                    prop_assert!(a.reason.is_none_or(|r| r.len() <= 16));
                    prop_assert!(a.minutes != Some(0));
                }
                Err(fault) => prop_assert!(
                    fault.kind == "invalid_output" || fault.kind == "output_too_large",
                    "{}", fault.kind
                ),
            }
        }
    }
}
