//! Decisions: every policy decision is recorded (hook, input, each layer's answer, the final
//! answer, versions, latency, error kinds), kept within a count and age bound, and can be
//! listed per organization, dry-run with a candidate, and replayed against a candidate.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::App;
use super::actor::Actor;
use super::write::InWrite;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{DecisionId, OrgId};
use crate::error::{Error, Result};
use crate::policy::budget::CpuBudget;
use crate::policy::combine::Decision;
use crate::policy::decision_input::DecisionInput;
use crate::policy::engine::{Candidate, Subject};
use crate::policy::input::PolicyInput;
use crate::policy::verdict::{Answer, Verdict};
use crate::policy::{Hook, Layer};
pub use crate::storage::records::decisions::DecisionRecord;

/// Filters of `GET /v1/orgs/{org}/decisions`.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub hook: Option<Hook>,
    pub verdict: Option<Verdict>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl DecisionFilter {
    fn keeps(&self, record: &DecisionRecord) -> bool {
        self.hook.is_none_or(|h| h == record.hook)
            && self
                .verdict
                .is_none_or(|v| v == record.decision.answer.verdict)
            && self.since.is_none_or(|t| record.at >= t)
            && self.until.is_none_or(|t| record.at < t)
    }
}

/// How many of the newest records [`App::latest_decisions`] looks at.
const LATEST_SCAN: usize = 2_000;

/// How many records one list call looks at before answering with a cursor to continue.
const SCAN_LIMIT: usize = 50_000;
/// How many recorded decisions a preview replays.
pub const PREVIEW_LIMIT: usize = 1_000;
/// How many old records one pruning transaction removes.
const PRUNE_BATCH: usize = 10_000;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DecisionPage {
    pub items: Vec<DecisionRecord>,
    pub next_cursor: Option<String>,
}

/// A candidate policy for a dry run or a preview.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateBody {
    pub layer: Layer,
    /// Rhai source; or give `plugin` (an uploaded plugin's SHA-256) and its `config`.
    pub source: Option<String>,
    pub plugin: Option<String>,
    pub config: Option<Value>,
}

/// A candidate for a preview: Rhai `source`, or an uploaded `plugin` with its `config`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"source": "fn authorize(input) { allow(\"reviewed\") }"}))]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    pub source: Option<String>,
    pub plugin: Option<String>,
    pub config: Option<Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"hook": "authorize", "org": "0192f1a4-7c3e-7b1a-9c55-2f0e8d6b4a10", "action": "team.create"}))]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    pub hook: Hook,
    /// The hook's input; or leave it out and give `org` + `action` (and `resource`) to have
    /// the server build the `authorize` input for the caller, as a real request would.
    pub input: Option<Value>,
    pub org: Option<OrgId>,
    pub action: Option<String>,
    pub resource: Option<Value>,
    pub candidate: Option<CandidateBody>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub decision_id: DecisionId,
    pub at: Timestamp,
    pub input: Value,
    pub old: Answer,
    pub new: Answer,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Preview {
    pub evaluated: usize,
    pub changed: usize,
    pub changes: Vec<Change>,
    /// False when the preview's CPU budget ran out before every recorded decision was
    /// replayed (`evaluated` says how many were).
    pub complete: bool,
}

fn error_kinds(decision: &Decision) -> Vec<String> {
    decision
        .layers
        .iter()
        .filter_map(|l| {
            l.error
                .as_ref()
                .map(|e| e.split(':').next().unwrap_or_default().to_owned())
        })
        .collect()
}

fn same(a: &Answer, b: &Answer) -> bool {
    a.verdict == b.verdict && a.minutes == b.minutes
}

impl App {
    /// Decides a typed input (the usual way: the use cases build [`PolicyInput`]s).
    pub fn ask(&self, subject: Subject, input: impl Into<PolicyInput>) -> Decision {
        self.decide_input(subject, DecisionInput::built(input.into()))
    }

    /// Decides JSON for `hook`, as [`ask`](Self::ask) decides a typed input (a Wasm layer then
    /// parses it against the hook's contract).
    pub fn decide(&self, hook: Hook, subject: Subject, input: Value) -> Decision {
        self.decide_input(subject, DecisionInput::json_only(hook, input))
    }

    /// Decides and logs the decision (inside a write attempt, holds it for the log until the
    /// attempt is known to count). Takes the input by value: its JSON moves into the log
    /// record instead of being copied.
    ///
    /// Inside a write transaction, a decision prepared before it is used, and a subject's
    /// tenant layers are never run here ([`super::write`]).
    pub fn decide_input(&self, subject: Subject, input: DecisionInput) -> Decision {
        let hook = input.hook();
        let (decision, input) = match self.decide_in_write(subject, &input) {
            InWrite::Decide => (
                self.policies.decide_input(subject, &input),
                input.into_json(),
            ),
            InWrite::Prepared {
                decision,
                made_on: Some(made_on),
            } => (decision, made_on),
            InWrite::Prepared {
                decision,
                made_on: None,
            }
            | InWrite::StandIn(decision) => return decision,
        };
        self.log_decision(hook, subject, input, &decision);
        decision
    }

    /// Hands `decision`, made on `input`, to the log: at once, or held by the write attempt
    /// running on this thread until it is known to count.
    pub(super) fn log_decision(
        &self,
        hook: Hook,
        subject: Subject,
        input: Value,
        decision: &Decision,
    ) {
        let micros = decision.layers.iter().map(|l| l.micros).sum();
        let record = DecisionRecord {
            id: DecisionId::new(),
            at: self.clock.now(),
            org_id: subject.org,
            hook,
            input,
            error_kinds: error_kinds(decision),
            decision: decision.clone(),
            micros,
            trace_id: None,
        };
        if let Some(record) = super::write::hold(record) {
            self.record_decision(record);
        }
    }

    /// Hands a decision to the log's recorder.
    pub(super) fn record_decision(&self, mut record: DecisionRecord) {
        // On the request's task (decisions made inside a write are handed back to it).
        record.trace_id = record.trace_id.or_else(crate::trace_context::current);
        self.recorder.decision(record);
    }

    pub fn list_decisions(
        &self,
        actor: Actor,
        org: OrgId,
        filter: &DecisionFilter,
        limit: usize,
        after: Option<u128>,
    ) -> Result<DecisionPage> {
        self.store.read(|view| {
            self.access(view, actor, org, "decision.read", Value::Null)?;
            Ok(())
        })?;
        self.store.decision_log().read(|view| {
            let mut items = Vec::new();
            let mut cursor = after;
            let mut scanned = 0;
            loop {
                let batch = view.decisions_of(org, cursor, 1_000)?;
                let Some(last) = batch.last() else {
                    return Ok(DecisionPage {
                        items,
                        next_cursor: None,
                    });
                };
                cursor = Some(last.id.key());
                scanned += batch.len();
                for record in batch {
                    if !filter.keeps(&record) {
                        continue;
                    }
                    if items.len() == limit {
                        let next = items.last().map(|r: &DecisionRecord| r.id.0.to_string());
                        return Ok(DecisionPage {
                            items,
                            next_cursor: next,
                        });
                    }
                    items.push(record);
                }
                if scanned >= SCAN_LIMIT {
                    let next = cursor.map(|c| uuid::Uuid::from_u128(c).to_string());
                    return Ok(DecisionPage {
                        items,
                        next_cursor: next,
                    });
                }
            }
        })
    }

    /// The newest `limit` decisions about `org` that `filter` keeps, newest first, among its
    /// newest [`LATEST_SCAN`] (what a person watching the log wants; the API pages from the
    /// oldest with a cursor).
    pub fn latest_decisions(
        &self,
        actor: Actor,
        org: OrgId,
        filter: &DecisionFilter,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>> {
        self.store.read(|view| {
            self.access(view, actor, org, "decision.read", Value::Null)?;
            Ok(())
        })?;
        self.store.decision_log().read(|view| {
            Ok(view
                .newest_decisions(org, LATEST_SCAN)?
                .into_iter()
                .filter(|record| filter.keeps(record))
                .take(limit)
                .collect())
        })
    }

    /// Keeps the log within `decision_log_max_entries` and `decision_log_max_age_hours`.
    /// Returns how many records it removed.
    pub async fn prune_decisions_once(&self) -> Result<usize> {
        let max = self.settings.decision_log_max_entries;
        let oldest_kept = Timestamp(
            self.clock.now().0
                - i64::try_from(self.settings.decision_log_max_age_hours * 3_600_000)
                    .unwrap_or(i64::MAX),
        );
        let mut removed = 0;
        loop {
            let batch = self
                .store
                .decision_log()
                .write(move |tx| Ok(tx.trim_decisions(max, Some(oldest_kept), PRUNE_BATCH)?))
                .await?;
            removed += batch;
            if batch < PRUNE_BATCH {
                return Ok(removed);
            }
        }
    }

    /// Prunes every few seconds until the task is dropped. (The count bound is also kept by
    /// the recorder as it writes; this pass enforces the age bound and any excess left after a
    /// restart with a lower bound.)
    pub async fn prune_decisions(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Err(e) = self.prune_decisions_once().await {
                tracing::error!(error = %e, "pruning the decision log failed");
            }
        }
    }

    /// A candidate compiled (or a plugin bound with its config) exactly as an upload would be.
    pub(super) fn candidate(&self, hook: Hook, body: &CandidateBody) -> Result<Candidate> {
        let upload = super::policies::VersionBody {
            source: body.source.clone(),
            plugin: body.plugin.clone(),
            config: body.config.clone(),
            fixtures: Vec::new(),
        };
        let policy = self.compile_upload(hook, &upload)?;
        Ok(Candidate {
            layer: body.layer,
            policy: Arc::new(policy),
        })
    }

    /// A dry run: the trace of one decision, optionally with a candidate in place of a layer.
    /// Nothing is recorded. It runs as a policy job of the organization (or the caller).
    pub async fn evaluate(&self, actor: Actor, body: EvaluateBody) -> Result<Decision> {
        let (subject, built) = match body.org {
            None => {
                self.authorize_global(actor, "policy.evaluate", json!({"hook": body.hook}))?;
                (Subject::default(), None)
            }
            Some(org) => self.store.read(|view| {
                let access = self.access(
                    view,
                    actor,
                    org,
                    "policy.evaluate",
                    json!({"hook": body.hook}),
                )?;
                let layer_owner_ok = match body.candidate.as_ref().map(|c| c.layer) {
                    Some(Layer::Platform) => actor.is_operator(),
                    Some(Layer::ServiceProvider) => {
                        actor.is_operator()
                            || matches!(
                                access.provider_role,
                                Some(
                                    crate::domain::member::Role::Owner
                                        | crate::domain::member::Role::Admin
                                )
                            )
                    }
                    _ => true,
                };
                if !layer_owner_ok {
                    return Err(Error::Forbidden {
                        reason: "a candidate may only stand in for a layer the caller owns".into(),
                        layer: "platform".into(),
                    });
                }
                let built = match (&body.input, &body.action) {
                    (None, Some(action)) if body.hook == Hook::Authorize => Some(
                        PolicyInput::from(access.policy_input(
                            action,
                            body.resource.clone().unwrap_or(Value::Null),
                            self.clock.now(),
                        ))
                        .to_value(),
                    ),
                    _ => None,
                };
                Ok((access.subject(), built))
            })?,
        };
        if body.org.is_none()
            && body
                .candidate
                .as_ref()
                .is_some_and(|c| c.layer != Layer::Platform)
        {
            return Err(Error::field(
                "evaluation is invalid",
                "org",
                "a tenant-layer candidate needs the organization",
            ));
        }
        let input = match (built, &body.input) {
            (Some(input), _) => input,
            (None, Some(input)) => {
                PolicyInput::parse(body.hook, input).map_err(|e| {
                    Error::field(
                        "evaluation is invalid",
                        &e.path_under("input"),
                        format!(
                            "{} (the `{}` input's schema: GET /v1/policy-schemas/{})",
                            e.message,
                            body.hook.name(),
                            body.hook.name()
                        ),
                    )
                })?;
                input.clone()
            }
            (None, None) => {
                return Err(Error::field(
                    "evaluation is invalid",
                    "input",
                    "give `input`, or `org` and `action` for the `authorize` hook",
                ));
            }
        };
        let candidate = body
            .candidate
            .as_ref()
            .map(|c| self.candidate(body.hook, c))
            .transpose()?;
        let tenant = match (body.org, actor.user_id) {
            (Some(org), _) => org.to_string(),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => "platform".to_owned(),
        };
        let (policies, hook) = (Arc::clone(&self.policies), body.hook);
        self.policy_jobs
            .run(&tenant, &actor.principal(), move || {
                policies.decide_with(hook, subject, &input, candidate.as_ref())
            })
            .await
    }

    /// Replays the organization's last recorded decisions for `hook` with `source` as its
    /// own layer, and reports the ones whose answer changes. It runs as a policy job of the
    /// organization, within the job CPU budget. The decisions made before it was asked are
    /// among them: the log is written moments after each decision, so it waits for that.
    pub async fn preview(
        &self,
        actor: Actor,
        org: OrgId,
        hook: Hook,
        body: PreviewBody,
    ) -> Result<Preview> {
        // Authorized first: a caller who may not preview neither waits on nor reads the log.
        let subject = self.store.read(|view| {
            let access = self.access(view, actor, org, "policy.preview", json!({"hook": hook}))?;
            Ok(access.subject())
        })?;
        self.recorder.settled().await;
        let records = self.store.decision_log().read(|view| {
            let mut records = Vec::new();
            let mut scanned = 0;
            for r in view.newest_decisions(org, SCAN_LIMIT)? {
                scanned += 1;
                if r.hook == hook {
                    records.push(r);
                }
                if records.len() >= PREVIEW_LIMIT || scanned >= SCAN_LIMIT {
                    break;
                }
            }
            Ok(records)
        })?;
        let candidate = self.candidate(
            hook,
            &CandidateBody {
                layer: Layer::Organization,
                source: body.source,
                plugin: body.plugin,
                config: body.config,
            },
        )?;
        let policies = Arc::clone(&self.policies);
        let budget = Duration::from_millis(self.settings.quotas.policy_job_cpu_ms);
        self.policy_jobs
            .run(&org.to_string(), &actor.principal(), move || {
                let budget = CpuBudget::start(budget);
                let mut changes = Vec::new();
                let mut evaluated = 0;
                for r in &records {
                    if budget.exceeded() {
                        break;
                    }
                    evaluated += 1;
                    let new = policies.decide_with(hook, subject, &r.input, Some(&candidate));
                    if !same(&r.decision.answer, &new.answer) {
                        changes.push(Change {
                            decision_id: r.id,
                            at: r.at,
                            input: r.input.clone(),
                            old: r.decision.answer.clone(),
                            new: new.answer,
                        });
                    }
                }
                Preview {
                    evaluated,
                    changed: changes.len(),
                    changes,
                    complete: evaluated == records.len(),
                }
            })
            .await
    }
}
