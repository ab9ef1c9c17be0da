//! Policy diff on the server: where would an organization's decisions change if a candidate
//! took its layer? Preview replays the decisions it made; this explores the inputs it could
//! be given ([`crate::policy::explore`]), each decided by every layer (the platform's, the
//! provider's, the organization's) exactly as a request would be, once with the layer as bound
//! and once with the candidate in its place.
//!
//! It is a policy job of the organization: it runs on the policy threads, within the
//! organization's share of them and the job CPU budget, so one tenant's diff cannot take the
//! decisions or the writer from the others.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::actor::Actor;
use super::decisions::CandidateBody;
use super::policies::{Target, active_version};
use crate::domain::ids::OrgId;
use crate::error::{Error, Result};
use crate::policy::budget::CpuBudget;
use crate::policy::explore::{self, DiffOptions, DiffReport, Literals};
use crate::policy::version::PolicyVersion;
use crate::policy::{Hook, Layer};

/// Inputs a diff evaluates unless asked otherwise, and at most.
pub const DEFAULT_CASES: usize = 20_000;
pub const MAX_CASES: usize = 100_000;

/// A candidate for the organization's layer and how far to explore.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"source": "fn authorize(input) { allow(\"reviewed\") }", "cases": 200, "seed": 7}))]
#[serde(deny_unknown_fields)]
pub struct DiffBody {
    pub source: Option<String>,
    pub plugin: Option<String>,
    pub config: Option<Value>,
    /// Inputs evaluated at most (1 to [`MAX_CASES`]).
    pub cases: Option<usize>,
    /// The same seed explores the same inputs.
    pub seed: Option<u64>,
}

impl App {
    /// Explores where `org`'s decisions at `hook` differ between its layer as bound and the
    /// candidate. Authorized as `policy.preview`: both try a candidate without binding it.
    pub async fn diff_policy(
        &self,
        actor: Actor,
        org: OrgId,
        hook: Hook,
        body: DiffBody,
    ) -> Result<DiffReport> {
        let cases = body.cases.unwrap_or(DEFAULT_CASES);
        if !(1..=MAX_CASES).contains(&cases) {
            return Err(Error::field(
                "diff is invalid",
                "cases",
                format!("from 1 to {MAX_CASES}"),
            ));
        }
        let (subject, bound) = self.store.read(|view| {
            let access = self.access(view, actor, org, "policy.preview", json!({"hook": hook}))?;
            let bound = active_version(view, &Target::Org(org).key(hook))?.map(|(_, v)| v);
            Ok((access.subject(), bound))
        })?;
        let candidate = self.candidate(
            hook,
            &CandidateBody {
                layer: Layer::Organization,
                source: body.source.clone(),
                plugin: body.plugin.clone(),
                config: body.config.clone(),
            },
        )?;
        let app = self.clone();
        let policies = Arc::clone(&self.policies);
        let budget = Duration::from_millis(self.settings.quotas.policy_job_cpu_ms);
        let options = DiffOptions {
            cases,
            seed: body.seed.unwrap_or(1),
            ..DiffOptions::default()
        };
        self.policy_jobs
            .run(&org.to_string(), &actor.principal(), move || {
                // Reading and scanning the components (12 MB for a JavaScript plugin) is the
                // job's work too, not the request task's.
                let literals = app.diff_literals(&body, bound.as_ref())?;
                let decide = |input: &Value, with: Option<&crate::policy::engine::Candidate>| {
                    policies
                        .decide_with(hook, subject, input, with)
                        .answer
                        .into()
                };
                Ok(explore::diff_by(
                    hook,
                    &|input| decide(input, None),
                    &|input| decide(input, Some(&candidate)),
                    literals,
                    options,
                    &CpuBudget::start(budget),
                ))
            })
            .await?
    }

    /// What both versions mention: the values their comparisons are likely made against.
    fn diff_literals(&self, body: &DiffBody, bound: Option<&PolicyVersion>) -> Result<Literals> {
        let mut literals = match (&body.source, &body.plugin) {
            (Some(source), _) => Literals::of_source(source),
            (None, Some(sha)) => Literals::of_plugin(
                self.plugin_component(sha)?.as_deref(),
                &body
                    .config
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default(),
            ),
            (None, None) => Literals::default(),
        };
        if let Some(version) = bound {
            literals.extend(match &version.plugin {
                None => Literals::of_source(&version.source),
                Some(sha) => {
                    Literals::of_plugin(self.plugin_component(sha)?.as_deref(), &version.source)
                }
            });
        }
        Ok(literals)
    }
}
