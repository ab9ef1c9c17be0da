//! Writes whose tenant policies are decided before the write transaction.
//!
//! Every write runs on the one group-commit writer thread, so anything slow inside a write
//! transaction delays every tenant's writes. Platform policies are the operator's own code and
//! run inline; a provider's or an organization's policy (Rhai or Wasm, up to its wall-clock
//! budget) must not. [`App::write`] therefore runs a use case's closure optimistically:
//!
//! 1. inside the transaction, a decision whose subject has no tenant layer bound is made at
//!    once; one that has a tenant layer is looked up among the decisions prepared for this
//!    request. A prepared decision is used only if its input is the same (its `now` within
//!    [`SKEW_MS`]) and the tenant layers bound now are the versions it was made with, so a
//!    decision is always a decision on what the transaction reads;
//! 2. a decision not prepared yet aborts the transaction (whatever the closure then does),
//!    is made outside it, on the request's own task, and the closure runs again with it.
//!
//! A decision is a pure function of its input and the policy versions (DESIGN §3), so a
//! decision made a moment before the transaction, on the same input and versions, is the
//! decision the transaction would have made. The closure runs at most [`MAX_ROUNDS`] times; a
//! request whose policy inputs keep changing under it (a hot organization's counts) is asked
//! to retry. Decisions made inside an attempt are logged only when the attempt is the one that
//! counts (committed or refused), not once per attempt.
//!
//! The decision being prepared is found through a thread-local set for the duration of one
//! job on the writer thread, so use cases call [`App::decide`] the same way everywhere.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::App;
use super::decisions::DecisionRecord;
use crate::domain::clock::Timestamp;
use crate::error::{Error, Result};
use crate::policy::combine::Decision;
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
    pub hook: Hook,
    pub subject: Subject,
    pub input: Value,
}

/// A decision made outside the transaction, for it.
#[derive(Debug, Clone)]
struct Prepared {
    hook: Hook,
    subject: Subject,
    input: Value,
    decision: Decision,
}

impl Prepared {
    fn fits(
        &self,
        hook: Hook,
        subject: Subject,
        input: &Value,
        tenant: &[(Layer, String)],
    ) -> bool {
        self.hook == hook
            && self.subject == subject
            && same_but_now(&self.input, input)
            && tenant_versions(&self.decision) == tenant
    }
}

/// The tenant layers a decision was made with, in layer order.
fn tenant_versions(decision: &Decision) -> Vec<(Layer, String)> {
    decision
        .layers
        .iter()
        .filter(|l| l.layer != Layer::Platform)
        .map(|l| (l.layer, l.version.clone()))
        .collect()
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
                    let Needed {
                        hook,
                        subject,
                        input,
                    } = *needed;
                    let decision = self.decide(hook, subject, input.clone());
                    let mut next = Vec::clone(&prepared);
                    next.push(Prepared {
                        hook,
                        subject,
                        input,
                        decision,
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

    /// Inside a write transaction, the decision for a subject with tenant layers: prepared, or
    /// marked as needed (and a stand-in deny returned, which the attempt's rollback discards).
    /// `None` outside a write transaction, or when only the platform layer applies.
    pub(super) fn decide_in_write(
        &self,
        hook: Hook,
        subject: Subject,
        input: &Value,
    ) -> Option<Decision> {
        SCOPE.with(|cell| {
            let mut scope = cell.borrow_mut();
            let scope = scope.as_mut()?;
            let tenant = self.policies.tenant_versions(hook, subject);
            if tenant.is_empty() {
                return None;
            }
            if let Some(p) = scope
                .prepared
                .iter()
                .find(|p| p.fits(hook, subject, input, &tenant))
            {
                return Some(p.decision.clone());
            }
            scope.needed.get_or_insert_with(|| Needed {
                hook,
                subject,
                input: input.clone(),
            });
            Some(Decision::stand_in(hook))
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
}
