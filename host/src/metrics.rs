//! Prometheus metrics: request counts and latencies, policy decisions by hook and verdict,
//! layer latencies and failures, platform reloads, quarantines, and what is degraded.
//!
//! One process-wide registry: metrics are recorded from the HTTP layer and the policy engine,
//! which share nothing else, and a process exposes one `/metrics` anyway. Every label value
//! comes from a closed set the host defines (hooks, layers, fault kinds, parts): never from a
//! client or a policy, so no tenant can grow the registry.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::policy::verdict::Verdict;
use crate::policy::{Decision, Hook};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    // Static names: counting a decision allocates nothing.
    hook: &'static str,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LayerErrorLabels {
    hook: &'static str,
    layer: &'static str,
    /// The fault's kind: `out_of_fuel`, `deadline`, `operation_limit`, `quarantined`, ...
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LayerLabels {
    hook: &'static str,
    /// `rhai` or `wasm`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartLabels {
    part: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    policy_errors: Family<LayerErrorLabels, Counter>,
    layer_latency: Family<LayerLabels, Histogram>,
    reloads: Family<ResultLabels, Counter>,
    quarantines: Counter,
    webhooks: Family<ResultLabels, Counter>,
    mail: Family<ResultLabels, Counter>,
    degraded: Family<PartLabels, Gauge>,
    write_jobs: Counter,
    write_batches: Counter,
    connections_open: Gauge,
    connections_refused: Counter,
    connections_idle: Counter,
    decisions_dropped: Counter,
    plugins_loaded: Gauge,
    plugin_loads: Counter,
    /// `decisions`' series by hook and verdict, and `layer_latency`'s by hook and kind, each
    /// taken from its family on first use and kept: a decision then counts itself without
    /// hashing its labels or locking the family (that was 3% of a one-layer Rhai decision).
    /// A series appears in `/metrics` once used, as before.
    decision_series: [OnceLock<Counter>; HOOKS * VERDICTS],
    layer_series: [OnceLock<Histogram>; HOOKS * KINDS],
}

const HOOKS: usize = Hook::ALL.len();
const VERDICTS: usize = Verdict::ALL.len();
/// `rhai` and `wasm`.
const KINDS: usize = crate::policy::compiled::KINDS.len();

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("tenantry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let decisions = Family::<DecisionLabels, Counter>::default();
        let policy_errors = Family::<LayerErrorLabels, Counter>::default();
        let layer_latency = Family::<LayerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_002, 2.0, 18))
        });
        let reloads = Family::<ResultLabels, Counter>::default();
        let quarantines = Counter::default();
        let webhooks = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by result (ok, retrying, failed, disabled)",
            webhooks.clone(),
        );
        let mail = Family::<ResultLabels, Counter>::default();
        registry.register(
            "mail_deliveries",
            "E-mail delivery attempts by result (sent, retrying, dropped)",
            mail.clone(),
        );
        let degraded = Family::<PartLabels, Gauge>::default();
        registry.register(
            "policy_layer_duration_seconds",
            "One policy layer's evaluation, by hook and kind (rhai, wasm)",
            layer_latency.clone(),
        );
        registry.register(
            "platform_policy_reloads",
            "Changes to a platform policy file, by result (ok, failed); counted once per change",
            reloads.clone(),
        );
        registry.register(
            "policy_quarantines",
            "Times a tenant policy was quarantined for an organization after failing in a row",
            quarantines.clone(),
        );
        registry.register(
            "degraded",
            "What is degraded now, by part (platform_policy: files not loading; \
             quarantined_policies: tenant policy versions skipped for some organization; \
             storage: 1 while writes do not reach the disk), as /readyz lists it",
            degraded.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "policy_decisions",
            "Policy decisions by hook and final verdict",
            decisions.clone(),
        );
        registry.register(
            "policy_layer_errors",
            "Policy layers that failed (counted as deny), by hook, layer and fault kind",
            policy_errors.clone(),
        );
        let write_jobs = Counter::default();
        let write_batches = Counter::default();
        registry.register(
            "storage_write_transactions",
            "Write transactions run by the group-commit writer",
            write_jobs.clone(),
        );
        registry.register(
            "storage_durable_batches",
            "Durable commits (one fsync each) made by the group-commit writer",
            write_batches.clone(),
        );
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        let connections_idle = Counter::default();
        registry.register(
            "http_connections_open",
            "HTTP connections being served",
            connections_open.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections answered 503 because the server held its maximum",
            connections_refused.clone(),
        );
        registry.register(
            "http_connections_idle_closed",
            "Connections asked to close after moving no bytes for the idle timeout",
            connections_idle.clone(),
        );
        let decisions_dropped = Counter::default();
        registry.register(
            "decision_log_dropped",
            "Decisions not logged because the recorder's queue was full",
            decisions_dropped.clone(),
        );
        let plugins_loaded = Gauge::default();
        let plugin_loads = Counter::default();
        registry.register(
            "wasm_plugins_loaded",
            "Wasm plugins loaded now (at most `[wasm] loaded_plugins`)",
            plugins_loaded.clone(),
        );
        registry.register(
            "wasm_plugin_loads",
            "Wasm plugins loaded by a call because they were not loaded (first calls, and calls \
             after the plugin was dropped as the least recently called)",
            plugin_loads.clone(),
        );
        Metrics {
            registry,
            plugins_loaded,
            plugin_loads,
            decisions_dropped,
            connections_open,
            connections_refused,
            connections_idle,
            requests,
            latency,
            decisions,
            policy_errors,
            layer_latency,
            reloads,
            quarantines,
            webhooks,
            mail,
            degraded,
            write_jobs,
            write_batches,
            decision_series: [const { OnceLock::new() }; HOOKS * VERDICTS],
            layer_series: [const { OnceLock::new() }; HOOKS * KINDS],
        }
    })
}

pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let m = metrics();
    m.requests
        .get_or_create(&RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        })
        .observe(seconds);
}

pub fn record_decision(decision: &Decision) {
    let m = metrics();
    let hook = decision.hook.name();
    let verdict = decision.answer.verdict;
    m.decision_series[decision.hook as usize * VERDICTS + verdict as usize]
        .get_or_init(|| {
            m.decisions
                .get_or_create(&DecisionLabels {
                    hook,
                    verdict: verdict.name(),
                })
                .clone()
        })
        .inc();
    for layer in decision.layers.iter().filter(|l| l.error.is_some()) {
        m.policy_errors
            .get_or_create(&LayerErrorLabels {
                hook,
                layer: layer.layer.name(),
                kind: layer.error_kind.unwrap_or("unknown"),
            })
            .inc();
    }
}

/// One layer's evaluation, of the policy kind `kind_index` (`CompiledPolicy::kind_index`),
/// took `seconds`.
pub fn record_layer(hook: Hook, kind_index: usize, seconds: f64) {
    let m = metrics();
    m.layer_series[hook as usize * KINDS + kind_index]
        .get_or_init(|| {
            m.layer_latency
                .get_or_create(&LayerLabels {
                    hook: hook.name(),
                    kind: crate::policy::compiled::KINDS[kind_index],
                })
                .clone()
        })
        .observe(seconds);
}

/// A platform policy file's change was loaded (`true`) or refused.
pub fn record_reload(ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics()
        .reloads
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// How a webhook delivery attempt ended: `ok`, `retrying` (a scheduled attempt failed),
/// `failed` (a manual redelivery failed) or `disabled` (the endpoint was disabled).
pub fn record_webhook(result: &'static str) {
    metrics()
        .webhooks
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// How an e-mail delivery attempt ended: `sent`, `retrying` (it is tried again later) or
/// `dropped` (refused for good, or out of attempts).
pub fn record_mail(result: &'static str) {
    metrics().mail.get_or_create(&ResultLabels { result }).inc();
}

pub fn record_quarantine() {
    metrics().quarantines.inc();
}

/// How many things of `part` are degraded now.
pub fn set_degraded(part: &'static str, count: usize) {
    metrics()
        .degraded
        .get_or_create(&PartLabels { part })
        .set(i64::try_from(count).unwrap_or(i64::MAX));
}

pub fn record_dropped_decision() {
    metrics().decisions_dropped.inc();
}

/// Decisions not logged since the process started (`tenantry_decision_log_dropped_total`).
pub fn decisions_dropped() -> u64 {
    metrics().decisions_dropped.get()
}

/// A plugin loaded because a call needed it.
pub fn record_plugin_load() {
    metrics().plugin_loads.inc();
}

/// How many plugins are loaded now.
pub fn set_plugins_loaded(count: usize) {
    metrics()
        .plugins_loaded
        .set(i64::try_from(count).unwrap_or(i64::MAX));
}

pub fn connection_opened() {
    metrics().connections_open.inc();
}

pub fn connection_closed() {
    metrics().connections_open.dec();
}

pub fn connection_refused() {
    metrics().connections_refused.inc();
}

pub fn connection_idle() {
    metrics().connections_idle.inc();
}

/// One durable batch of `jobs` write transactions.
pub fn record_batch(jobs: usize) {
    let m = metrics();
    m.write_jobs.inc_by(jobs as u64);
    m.write_batches.inc();
}

/// The text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &metrics().registry).is_err() {
        tracing::error!("metrics encoding failed");
    }
    out
}
