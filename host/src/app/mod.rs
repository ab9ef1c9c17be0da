//! Use cases: what an actor can do, each one transaction that authorizes through the policy
//! engine, checks the invariants it could break, writes, and journals.
//!
//! `App` is the handle the HTTP layer, the CLI and the tests hold: a `Clone` bundle of `Arc`s
//! built once by [`App::build`].

pub mod access;
pub mod actor;
pub mod artifact_files;
pub mod backup;
pub mod bulk;
pub mod change_requests;
pub mod decisions;
pub mod delivery_lease;
pub mod follow;
pub mod handovers;
pub mod health;
pub mod idempotency;
pub mod import;
pub mod invariants;
pub mod invitations;
pub mod journal;
pub mod links;
pub mod log_queue;
pub mod mail;
pub mod mail_delivery;
pub mod member_edit;
pub mod members;
pub mod orgs;
pub mod password_reset;
pub mod pins;
pub mod plans;
pub mod plugins;
pub mod policies;
pub mod policy_diff;
pub mod policy_jobs;
pub mod quotas;
pub mod rate_limit;
pub mod received;
pub mod recorder;
pub mod reload;
pub mod remote_support;
pub mod resources;
pub mod search;
pub mod server_key;
pub mod shares;
pub mod sign_in;
pub mod sweeper;
pub mod tokens;
pub mod upgrade;
pub mod webhook_delivery;
pub mod webhooks;
pub mod write;

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::clock::Clock;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::policy::PolicyEngine;
use crate::storage::Store;

/// The application: every use case, over one shared state. Cloned for every request and
/// every write closure, so a clone is one reference count, not one per field.
#[derive(Clone)]
pub struct App(Arc<Shared>);

impl std::ops::Deref for App {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every clone of [`App`] shares.
pub struct Shared {
    pub store: Store,
    pub policies: Arc<PolicyEngine>,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// Decisions and reads under a grant, on their way to the logs.
    recorder: recorder::Recorder,
    /// The platform policy files and their reload status.
    pub platform_files: reload::PlatformFiles,
    /// The files loaded plugins' code is mapped from.
    artifact_files: Arc<artifact_files::ArtifactFiles>,
    limiter: Arc<rate_limit::RateLimiter>,
    /// Tenants' fixture gates, previews, dry runs, plugin compilations and import PIN hashing.
    policy_jobs: policy_jobs::PolicyJobs,
    /// Plugin compilations: a lane of their own, so that a large component (a minute of CPU
    /// for a JavaScript plugin) never holds up other tenants' gates, previews and dry runs.
    plugin_compiles: policy_jobs::PolicyJobs,
    /// Authenticates compiled artifacts and seals one-time secrets at rest.
    pub server_key: server_key::ServerKey,
    /// Delivers webhooks: public addresses only unless allowed, no redirects, a timeout.
    pub webhook_client: reqwest::Client,
    /// Wrong PINs per organization in the current window.
    pin_attempts: pins::PinAttempts,
    /// Whether this server is the one delivering e-mail and webhooks on a shared store.
    delivery_lease: Arc<delivery_lease::DeliveryLease>,
    /// The SMTP client, when `[smtp]` names a server.
    mailer: Option<crate::mail::transport::Mailer>,
}

/// What [`App::build`] made.
pub struct Built {
    pub app: App,
    /// The operator token, when this start created it (shown once, then only its hash exists).
    pub new_operator_token: Option<Secret>,
}

impl App {
    /// Opens the store, loads the platform policies (refusing to start on a broken one), and
    /// makes sure an operator token exists.
    pub async fn build(settings: Settings) -> Result<Built> {
        let policies = Arc::new(PolicyEngine::new(settings.rhai, settings.wasm));
        let store = match &settings.database_url {
            Some(url) => Store::connect_with(
                url,
                settings.database_ca_file.as_deref(),
                settings.database_connections,
                settings.storage_cache_mib.saturating_mul(1 << 20),
            )?,
            None => Store::open(
                &settings.database_path(),
                settings.storage_cache_mib.saturating_mul(1 << 20),
            )?,
        };
        let recorder = recorder::Recorder::start(store.clone(), settings.decision_log_max_entries);
        let limiter = Arc::new(rate_limit::RateLimiter::new(
            settings.rate_limit,
            store.counters(),
        ));
        let pin_attempts = pins::PinAttempts::new(store.counters());
        let server_key = server_key::ServerKey::load_or_create(&settings.key_path())?;
        let policy_jobs = policy_jobs::PolicyJobs::start(
            settings.policy_work_threads,
            settings.quotas.policy_jobs_per_org,
        )?;
        let plugin_compiles = policy_jobs::PolicyJobs::start(1, 1)?;
        let webhook_client = crate::webhooks::destination::client(
            settings.webhooks.allowed(),
            std::time::Duration::from_secs(settings.webhooks.timeout_secs.max(1)),
        )
        .map_err(|e| Error::Setup(format!("cannot build the webhook client: {e}")))?;
        let mailer = settings.smtp.mailer().map_err(Error::Setup)?;
        let artifact_files = Arc::new(artifact_files::ArtifactFiles::new(settings.artifacts_dir()));
        let app = App(Arc::new(Shared {
            store,
            policies,
            clock: Clock::default(),
            platform_files: reload::PlatformFiles::new(settings.policies.clone()),
            settings: Arc::new(settings),
            recorder,
            artifact_files,
            limiter,
            policy_jobs,
            plugin_compiles,
            server_key,
            webhook_client,
            pin_attempts,
            delivery_lease: Arc::default(),
            mailer,
        }));
        // A weak reference: the engine is part of what the loader would otherwise keep alive.
        let loading = Arc::downgrade(&app.0);
        app.policies
            .plugins()
            .set_loader(Box::new(move |sha: &str| match loading.upgrade() {
                Some(shared) => App(shared)
                    .load_plugin_afresh(sha)
                    .map_err(|e| e.to_string()),
                None => Err("the server is shutting down".to_owned()),
            }));
        app.finish_upgrades().await?;
        app.sync_bindings()?;
        // Every bound plugin's file was checked against its stored artifact (or written) now;
        // the files of the others are written again if one is bound later.
        app.artifact_files.prune();
        if app.platform_files.built_in {
            tracing::info!(
                directory = %app.platform_files.dir.display(),
                "no platform policy directory: running on the policies built into this binary \
                 (`tenantry init` writes them out to edit and hot-reload)"
            );
        }
        app.sync_platform_files().await?;
        let new_operator_token = tokens::ensure_operator_token(&app).await?;
        Ok(Built {
            app,
            new_operator_token,
        })
    }

    /// Runs a small read (one record and the caller's right to it) in a snapshot shared with
    /// the other small reads waiting at the same moment ([`Store::read_together`]): on
    /// PostgreSQL one round trip serves a group of requests, which took authorized reads from
    /// 6,786–7,205 to 8,524–9,269 a second (BENCHMARKS.md). Only for reads bounded by one
    /// record or one page: the group's closures run one after another, so a long one would
    /// hold up the others.
    pub fn read_small<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App, &crate::storage::View<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let app = self.clone();
        // The read may run on another request's task (the one that leads the group): its
        // decisions are still recorded under this request's trace.
        let trace = crate::trace_context::current();
        self.store
            .read_together(move |view| crate::trace_context::carried(trace, || f(&app, view)))
    }

    /// Starts the background work of a serving process: the sweeper and the policy watcher.
    /// Dropping (aborting) the handles stops them.
    pub fn start_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(self.clone().run_sweeper()),
            tokio::spawn(self.clone().watch_platform_files()),
            tokio::spawn(self.clone().prune_decisions()),
            tokio::spawn(self.clone().prune_events()),
            tokio::spawn(self.clone().prune_idempotency()),
            tokio::spawn(self.clone().forget_idle_counters()),
            tokio::spawn(self.clone().deliver_webhooks()),
        ];
        if self.store.is_shared() {
            tasks.push(tokio::spawn(self.clone().follow_bindings()));
            tasks.push(tokio::spawn(self.clone().hold_delivery_lease()));
        }
        if let Some(mailer) = self.mailer.clone() {
            tasks.push(tokio::spawn(self.clone().deliver_mail(mailer)));
        }
        tasks
    }

    /// How many items a list answers when the caller does not say.
    pub const DEFAULT_PAGE: usize = 50;
    /// The most a caller can ask for in one page.
    pub const MAX_PAGE: usize = 500;
}

/// A whole list, small by construction (an organization's webhook endpoints, a provider's
/// e-mail templates, the delivery attempts kept).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "ItemsOf{T}")]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A page of a list, and the cursor that continues it.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `limit` and `cursor` as a list request gives them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<u128>,
}

impl<T> Page<T> {
    /// Builds a page from items sorted by `key`, already filtered to those after the cursor;
    /// takes up to `limit` and sets the cursor when more remain.
    pub fn from_sorted(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> u128) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items
                .last()
                .map(|i| uuid::Uuid::from_u128(key(i)).to_string())
        } else {
            None
        };
        Self { items, next_cursor }
    }
}
