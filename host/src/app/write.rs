//! Writes whose tenant policies are decided before the write transaction.
//!
//! Every write runs on the one group-commit writer thread, so anything slow inside a write
//! transaction delays every tenant's writes. Platform policies are the operator's own code and
//! run inline; a provider's or an organization's policy (Rhai or Wasm, up to its wall-clock
//! budget) must not. [`App::write`] therefore runs a use case's closure optimistically:
//!
//! 1. inside the transaction, a decision is first looked up among the decisions prepared for
//!    this request. A prepared decision is used only if its input is the same (its `now` within
//!    [`SKEW_MS`]) and every layer bound now, the platform's included, is the version it was
//!    made with, so a decision is always a decision on what the transaction reads;
//! 2. a decision not prepared whose subject has no tenant layer is made at once;
//! 3. one that has a tenant layer aborts the attempt (whatever the closure then does), is made
//!    outside it, on the request's own task, and the closure runs again with it.
//!
//! A decision is a pure function of its input and the policy versions (DESIGN §3), so a
//! decision made a moment before the transaction, on the same input and versions, is the
//! decision the transaction would have made. The closure runs at most [`MAX_ROUNDS`] times; a
//! request whose policy inputs keep changing under it (a hot organization's counts) is asked
//! to retry. A decision is logged by the attempt that counts (committed or refused), whether
//! it made the decision or used a prepared one (then with the input it was made on): once,
//! and a prepared decision that no attempt used only if one of its layers failed (the log
//! keeps every failure).
//!
//! The decisions prepared are found through a thread-local set for the duration of one job on
//! the writer thread, so use cases call [`App::decide`] the same way everywhere.
//!
//! Deciding every question ahead of the first attempt (the closure run on the request's task
//! against a read snapshot up to its first write) was built and measured: it took a fifth of a
//! creation off the writer thread, but ran the closure's reads twice and made creations no
//! faster on two cores shared with the load generator (BENCHMARKS.md, 2026-12-07).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::App;
use super::decisions::DecisionRecord;
use crate::domain::clock::Timestamp;
use crate::error::{Error, Result};
use crate::policy::combine::Decision;
use crate::policy::decision_input::DecisionInput;
use crate::policy::{Hook, Layer, Subject};
use crate::storage::Tx;

/// How far apart the `now` of a prepared decision and of the transaction's input may be: the
/// request timeout (30 s), so a decision made at any moment of its request stands for it, as
/// it would had the request been written at that moment. A busy writer never makes a prepared
/// decision stale.
pub const SKEW_MS: i64 = 30_000;
/// How many times one request's closure may run.
pub const MAX_ROUNDS: usize = 8;

/// A decision a write transaction asked for and did not have.
#[derive(Debug, Clone)]
pub struct Needed {
    pub subject: Subject,
    pub input: DecisionInput,
}

/// A decision made outside the transaction, for it.
#[derive(Debug, Clone)]
struct Prepared {
    hook: Hook,
    subject: Subject,
    input: Value,
    decision: Decision,
    /// Logged when it was made: a layer failed, and the log keeps every failure whether or
    /// not an attempt then uses the decision.
    logged: bool,
}

impl Prepared {
    fn fits(&self, hook: Hook, subject: Subject, input: &Value, bound: &[(Layer, String)]) -> bool {
        self.hook == hook
            && self.subject == subject
            && same_but_now(&self.input, input)
            && self.decision.layers.len() == bound.len()
            && self
                .decision
                .layers
                .iter()
                .zip(bound)
                .all(|(made, (layer, version))| made.layer == *layer && made.version == *version)
    }
}

/// Equal inputs, except that their top-level `now` may differ by up to [`SKEW_MS`].
fn same_but_now(a: &Value, b: &Value) -> bool {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return a == b;
    };
    if a.len() != b.len() {
        return false;
    }
    a.iter()
        .all(|(key, value)| match (key.as_str(), b.get(key)) {
            ("now", Some(other)) => match (time_of(value), time_of(other)) {
                (Some(x), Some(y)) => (x.0 - y.0).abs() <= SKEW_MS,
                _ => value == other,
            },
            (_, Some(other)) => value == other,
            (_, None) => false,
        })
}

fn time_of(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(Timestamp::parse)
}

struct Scope {
    prepared: Arc<Vec<Prepared>>,
    needed: Option<Needed>,
    /// Decisions made inside this attempt, logged only if it is the attempt that counts.
    held: Vec<DecisionRecord>,
}

/// How [`App::decide`] answers inside a write attempt.
pub(super) enum InWrite {
    /// Outside an attempt, or a platform-only decision not prepared: decide now.
    Decide,
    /// Made before the attempt, on the same input (but for `now`) and versions: log it with
    /// the input it was made on, unless it was logged when made (`made_on` is then `None`).
    Prepared {
        decision: Decision,
        made_on: Option<Value>,
    },
    /// A stand-in while the real decision is made outside the attempt: nothing to log.
    StandIn(Decision),
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Clears the scope however the job ends (a panic is caught and rolled back by the writer).
struct ScopeGuard;

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        SCOPE.with(|s| s.borrow_mut().take());
    }
}

fn in_scope<T>(
    prepared: Arc<Vec<Prepared>>,
    held: &Mutex<Vec<DecisionRecord>>,
    job: impl FnOnce() -> Result<T>,
) -> Result<T> {
    SCOPE.with(|s| {
        *s.borrow_mut() = Some(Scope {
            prepared,
            needed: None,
            held: Vec::new(),
        });
    });
    let guard = ScopeGuard;
    let outcome = job();
    let scope = SCOPE.with(|s| s.borrow_mut().take());
    drop(guard);
    let Some(scope) = scope else {
        return outcome;
    };
    match scope.needed {
        // Whatever the closure made of the stand-in answer, this attempt is rolled back, and
        // its decisions are made again by the next one.
        Some(needed) => Err(Error::DecisionNeeded(Box::new(needed))),
        None => {
            *held.lock().unwrap_or_else(|e| e.into_inner()) = scope.held;
            outcome
        }
    }
}

/// Inside a write attempt, keeps `record` for the decision log until the attempt is known to
/// count; outside one, hands it back.
pub(super) fn hold(record: DecisionRecord) -> Option<DecisionRecord> {
    SCOPE.with(|cell| match cell.borrow_mut().as_mut() {
        Some(scope) => {
            scope.held.push(record);
            None
        }
        None => Some(record),
    })
}

impl App {
    /// Runs a use case's write closure in a write transaction, deciding its tenant policies
    /// outside the writer (module docs). The closure may run more than once, so it is cloned
    /// for each run; only the last run's effects are committed.
    pub async fn write<T, F>(&self, op: F) -> Result<T>
    where
        F: FnOnce(&Tx<'_>) -> Result<T> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let mut prepared: Arc<Vec<Prepared>> = Arc::default();
        for _ in 0..MAX_ROUNDS {
            let attempt = op.clone();
            let ready = Arc::clone(&prepared);
            let held = Arc::new(Mutex::new(Vec::new()));
            let holding = Arc::clone(&held);
            let outcome = self
                .store
                .write(move |tx| in_scope(ready, &holding, || attempt(tx)))
                .await;
            for record in std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner())) {
                self.record_decision(record);
            }
            match outcome {
                Err(Error::DecisionNeeded(needed)) => {
                    let Needed { subject, input } = *needed;
                    let decision = self.policies.decide_input(subject, &input);
                    let (hook, input) = (input.hook(), input.into_json());
                    // Logged by the attempt that uses it, with the input it was made on; a
                    // failure is logged now, used or not.
                    let logged = decision.layers.iter().any(|l| l.error.is_some());
                    if logged {
                        self.log_decision(hook, subject, input.clone(), &decision);
                    }
                    let mut next = Vec::clone(&prepared);
                    next.push(Prepared {
                        hook,
                        subject,
                        input,
                        decision,
                        logged,
                    });
                    prepared = Arc::new(next);
                }
                other => return other,
            }
        }
        Err(Error::Conflict(
            "the policy inputs of this request kept changing while it was written; retry it".into(),
        ))
    }

    /// Inside a write attempt, the decision prepared for it; else, for a subject with tenant
    /// layers, a stand-in deny marking the decision as needed (the attempt's rollback discards
    /// whatever the closure makes of it). [`InWrite::Decide`] outside an attempt, and for a
    /// platform-only decision not prepared.
    pub(super) fn decide_in_write(&self, subject: Subject, asked: &DecisionInput) -> InWrite {
        let (hook, input) = (asked.hook(), asked.json());
        SCOPE.with(|cell| {
            let mut scope = cell.borrow_mut();
            let Some(scope) = scope.as_mut() else {
                return InWrite::Decide;
            };
            if !scope.prepared.is_empty() {
                let bound = self.policies.bound_versions(hook, subject);
                if let Some(p) = scope
                    .prepared
                    .iter()
                    .find(|p| p.fits(hook, subject, input, &bound))
                {
                    return InWrite::Prepared {
                        decision: p.decision.clone(),
                        made_on: (!p.logged).then(|| p.input.clone()),
                    };
                }
            }
            if !self.policies.has_tenant_layers(hook, subject) {
                return InWrite::Decide;
            }
            scope.needed.get_or_insert_with(|| Needed {
                subject,
                input: asked.clone(),
            });
            InWrite::StandIn(Decision::stand_in(hook))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inputs_match_but_for_a_close_enough_now() {
        let at = |ms: i64| json!(Timestamp(ms));
        let input = |action: &str, ms: i64, org: &str| json!({"action": action, "now": at(ms), "org": {"id": org}});
        let a = input("team.create", 1_000_000, "x");
        assert!(same_but_now(
            &a,
            &input("team.create", 1_000_000 + SKEW_MS, "x")
        ));
        assert!(!same_but_now(
            &a,
            &input("team.create", 1_000_001 + SKEW_MS, "x")
        ));
        assert!(!same_but_now(&a, &input("team.delete", 1_000_000, "x")));
        assert!(!same_but_now(&a, &input("team.create", 1_000_000, "y")));
        assert!(!same_but_now(
            &a,
            &json!({"action": "team.create", "now": at(1_000_000)})
        ));
    }

    #[test]
    fn a_prepared_decision_stands_only_for_the_layers_and_versions_bound_now() {
        use crate::domain::ids::OrgId;
        use crate::policy::combine::LayerOutcome;
        use crate::policy::verdict::Answer;

        let outcome = |layer: Layer, version: &str| LayerOutcome {
            layer,
            version: version.into(),
            answer: Answer::deny("no"),
            error: None,
            error_kind: None,
            micros: 1,
            fuel: None,
            logs: Vec::new(),
        };
        let subject = Subject {
            provider: None,
            org: Some(OrgId::new()),
        };
        let input = json!({"action": "team.create", "now": json!(Timestamp(1_000))});
        let mut decision = Decision::stand_in(Hook::Authorize);
        decision.layers = vec![
            outcome(Layer::Platform, "authorize v1"),
            outcome(Layer::Organization, "acme v3"),
        ];
        let prepared = Prepared {
            hook: Hook::Authorize,
            subject,
            input: input.clone(),
            decision,
            logged: false,
        };
        let bound = |layers: &[(Layer, &str)]| -> Vec<(Layer, String)> {
            layers.iter().map(|(l, v)| (*l, (*v).to_owned())).collect()
        };
        let now = bound(&[
            (Layer::Platform, "authorize v1"),
            (Layer::Organization, "acme v3"),
        ]);
        assert!(prepared.fits(Hook::Authorize, subject, &input, &now));
        for changed in [
            // The operator's file was reloaded in between.
            bound(&[
                (Layer::Platform, "authorize v2"),
                (Layer::Organization, "acme v3"),
            ]),
            // The organization unbound its layer, or bound another version.
            bound(&[(Layer::Platform, "authorize v1")]),
            bound(&[
                (Layer::Platform, "authorize v1"),
                (Layer::Organization, "acme v4"),
            ]),
            // Its provider bound a layer for its customers.
            bound(&[
                (Layer::Platform, "authorize v1"),
                (Layer::ServiceProvider, "telco v1"),
                (Layer::Organization, "acme v3"),
            ]),
        ] {
            assert!(
                !prepared.fits(Hook::Authorize, subject, &input, &changed),
                "{changed:?}"
            );
        }
        let other = Subject {
            provider: None,
            org: Some(OrgId::new()),
        };
        assert!(!prepared.fits(Hook::Authorize, other, &input, &now));
        assert!(!prepared.fits(Hook::Link, subject, &input, &now));
        let changed_input = json!({"action": "team.delete", "now": json!(Timestamp(1_000))});
        assert!(!prepared.fits(Hook::Authorize, subject, &changed_input, &now));
    }
}
