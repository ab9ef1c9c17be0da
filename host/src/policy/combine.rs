//! How the layers' answers become one decision (DESIGN §3, the IAM/Cedar rule):
//! any deny wins; otherwise any allow allows; otherwise deny ("no policy allowed it").
//! For `remote_support`: deny > require_approval > grant, granting the minimum of the minutes.

use serde::{Deserialize, Serialize};

use super::hook::{Hook, Layer};
use super::verdict::{Answer, Verdict};

pub const NO_POLICY_ALLOWED: &str = "no policy allowed it";

/// One layer's part in a decision.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LayerOutcome {
    pub layer: Layer,
    /// Which version answered, e.g. `authorize.rhai@1f2e3d4c5b6a`.
    pub version: String,
    pub answer: Answer,
    /// Set when the policy failed; the answer is then a deny (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure's kind (`out_of_fuel`, `deadline`, ...), one of the host's own names: what
    /// the metrics count by. Not kept in the log, where `error` starts with it.
    #[serde(skip)]
    pub error_kind: Option<&'static str>,
    pub micros: u64,
    /// Fuel a plugin's call used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Lines a plugin logged during the call (`level: message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub hook: Hook,
    pub answer: Answer,
    /// The layer whose answer decided (None when nothing allowed).
    pub deciding_layer: Option<Layer>,
    pub layers: Vec<LayerOutcome>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self.answer.verdict, Verdict::Allow | Verdict::Grant)
    }

    pub fn reason(&self) -> &str {
        self.answer.reason.as_deref().unwrap_or(NO_POLICY_ALLOWED)
    }

    /// What a write transaction sees for a decision it must first have made outside the
    /// writer (`app::write`): a deny, and the attempt is rolled back whatever it does with it.
    pub fn stand_in(hook: Hook) -> Self {
        Self {
            hook,
            answer: Answer::deny("decided before the write"),
            deciding_layer: None,
            layers: Vec::new(),
        }
    }
}

pub fn combine(hook: Hook, layers: Vec<LayerOutcome>) -> Decision {
    let first = |v: Verdict| layers.iter().find(|l| l.answer.verdict == v);
    let (answer, deciding_layer) = if let Some(deny) = first(Verdict::Deny) {
        (deny.answer.clone(), Some(deny.layer))
    } else if hook == Hook::RemoteSupport {
        if let Some(wait) = first(Verdict::RequireApproval) {
            (wait.answer.clone(), Some(wait.layer))
        } else {
            let grants: Vec<&LayerOutcome> = layers
                .iter()
                .filter(|l| l.answer.verdict == Verdict::Grant)
                .collect();
            let tightest = grants
                .iter()
                .min_by_key(|l| l.answer.minutes.unwrap_or(u32::MAX));
            match tightest {
                Some(l) => (l.answer.clone(), Some(l.layer)),
                None => (Answer::deny(NO_POLICY_ALLOWED), None),
            }
        }
    } else if let Some(allow) = first(Verdict::Allow) {
        (allow.answer.clone(), Some(allow.layer))
    } else {
        (Answer::deny(NO_POLICY_ALLOWED), None)
    };
    Decision {
        hook,
        answer,
        deciding_layer,
        layers,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn outcome(layer: Layer, verdict: Verdict, minutes: Option<u32>) -> LayerOutcome {
        LayerOutcome {
            error_kind: None,
            layer,
            version: "test".into(),
            answer: Answer {
                verdict,
                reason: Some(format!("{} says {}", layer.name(), verdict.name())),
                minutes,
            },
            error: None,
            micros: 0,
            fuel: None,
            logs: Vec::new(),
        }
    }

    const LAYERS: [Layer; 3] = [Layer::Platform, Layer::ServiceProvider, Layer::Organization];

    fn access_verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Allow),
            Just(Verdict::Deny),
            Just(Verdict::Abstain)
        ]
    }

    fn support_verdict() -> impl Strategy<Value = (Verdict, u32)> {
        (
            prop_oneof![
                Just(Verdict::Grant),
                Just(Verdict::Deny),
                Just(Verdict::Abstain),
                Just(Verdict::RequireApproval)
            ],
            1u32..1000,
        )
    }

    proptest! {
        #[test]
        fn any_deny_wins_and_otherwise_allow_needs_an_allow(verdicts in prop::collection::vec(access_verdict(), 1..=3)) {
            let layers: Vec<_> = verdicts.iter().zip(LAYERS).map(|(v, l)| outcome(l, *v, None)).collect();
            let d = combine(Hook::Authorize, layers);
            let expected = if verdicts.contains(&Verdict::Deny) {
                Verdict::Deny
            } else if verdicts.contains(&Verdict::Allow) {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            prop_assert_eq!(d.answer.verdict, expected);
            if verdicts.iter().all(|v| *v == Verdict::Abstain) {
                prop_assert_eq!(d.reason(), NO_POLICY_ALLOWED);
            }
        }

        #[test]
        fn a_platform_deny_is_never_overridden(tenant in prop::collection::vec(access_verdict(), 0..=2)) {
            let mut layers = vec![outcome(Layer::Platform, Verdict::Deny, None)];
            layers.extend(tenant.iter().zip(&LAYERS[1..]).map(|(v, l)| outcome(*l, *v, None)));
            let d = combine(Hook::Link, layers);
            prop_assert_eq!(d.answer.verdict, Verdict::Deny);
            prop_assert_eq!(d.deciding_layer, Some(Layer::Platform));
        }

        #[test]
        fn remote_support_order_and_minimum_minutes(answers in prop::collection::vec(support_verdict(), 1..=3)) {
            let layers: Vec<_> = answers.iter().zip(LAYERS).map(|((v, m), l)| outcome(l, *v, Some(*m))).collect();
            let d = combine(Hook::RemoteSupport, layers);
            let verdicts: Vec<Verdict> = answers.iter().map(|(v, _)| *v).collect();
            if verdicts.contains(&Verdict::Deny) {
                prop_assert_eq!(d.answer.verdict, Verdict::Deny);
            } else if verdicts.contains(&Verdict::RequireApproval) {
                prop_assert_eq!(d.answer.verdict, Verdict::RequireApproval);
            } else if verdicts.contains(&Verdict::Grant) {
                let least = answers.iter().filter(|(v, _)| *v == Verdict::Grant).map(|(_, m)| *m).min();
                prop_assert_eq!(d.answer.verdict, Verdict::Grant);
                prop_assert_eq!(d.answer.minutes, least);
            } else {
                prop_assert_eq!(d.answer.verdict, Verdict::Deny);
            }
        }
    }
}
