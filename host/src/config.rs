//! Settings: embedded defaults, then a TOML file, then `TENANTRY_*` environment variables,
//! then command-line flags (the CLI applies those).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::rhai_policy::RhaiLimits;

/// A plugin upload's time limit unless configured (a JavaScript plugin compiles for about a
/// minute).
const DEFAULT_UPLOAD_TIMEOUT_SECS: u64 = 110;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub policies: PathBuf,
    /// Regions an organization may be placed in; the first is the default.
    pub regions: Vec<String>,
    /// Taken instead of generating one on first start. Never printed.
    pub operator_token: Option<String>,
    pub pending_link_hours: u64,
    pub remote_support_pending_hours: u64,
    pub json_body_limit: usize,
    pub csv_body_limit: usize,
    pub request_timeout_secs: u64,
    /// A plugin upload's answer waits for its compilation: a JavaScript plugin (SpiderMonkey,
    /// about 12,700 functions) compiles for about a minute on one core. Its body still has
    /// `request_timeout_secs` to arrive. Unset: 110 s, or less when the connections' idle
    /// timeout would drop the connection first (see [`Settings::upload_timeout_secs`]).
    pub plugin_upload_timeout_secs: Option<u64>,
    pub idempotency_hours: u64,
    /// How often expired links and remote-support requests are written down.
    pub sweep_interval_secs: u64,
    pub log_json: bool,
    /// The decision log keeps at most this many decisions...
    pub decision_log_max_entries: u64,
    /// ...and none older than this.
    pub decision_log_max_age_hours: u64,
    /// Outbox events older than this are pruned (consumers read them within this window).
    pub event_retention_hours: u64,
    pub rhai: RhaiLimits,
    pub wasm: crate::policy::wasm::WasmLimits,
    /// The most memory redb keeps as page cache.
    pub storage_cache_mib: usize,
    /// Requests per API token (`[rate_limit] per_second = 0` turns it off).
    pub rate_limit: crate::app::rate_limit::RateLimit,
    /// Open connections, header and idle timeouts.
    pub connections: crate::api::connections::ConnectionLimits,
    /// What one tenant may create and compute (`[quotas]`).
    pub quotas: crate::app::quotas::Quotas,
    /// Threads that run tenants' policy jobs (fixture gates, previews, dry runs, plugin
    /// compilation) at a low scheduling priority, apart from the threads serving requests.
    pub policy_work_threads: usize,
    /// The server's own secret (sealing one-time secrets at rest, authenticating compiled
    /// plugin artifacts). Kept outside the database so a copy of the file does not carry it;
    /// `DATA_DIR/server.key` when not set.
    pub key_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            policies: PathBuf::from("policies"),
            regions: vec!["default".to_owned()],
            operator_token: None,
            pending_link_hours: 14 * 24,
            remote_support_pending_hours: 24,
            json_body_limit: 256 * 1024,
            csv_body_limit: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            plugin_upload_timeout_secs: None,
            idempotency_hours: 24,
            sweep_interval_secs: 30,
            log_json: false,
            decision_log_max_entries: 1_000_000,
            decision_log_max_age_hours: 30 * 24,
            event_retention_hours: 30 * 24,
            rhai: RhaiLimits::default(),
            wasm: crate::policy::wasm::WasmLimits::default(),
            rate_limit: crate::app::rate_limit::RateLimit::default(),
            storage_cache_mib: 128,
            connections: crate::api::connections::ConnectionLimits::default(),
            quotas: crate::app::quotas::Quotas::default(),
            policy_work_threads: 1,
            key_file: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("policies", &self.policies)
            .field("regions", &self.regions)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tenantry.redb")
    }

    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.key"))
    }

    pub fn pending_link_ttl(&self) -> Duration {
        Duration::from_secs(self.pending_link_hours * 3600)
    }

    pub fn remote_support_pending_ttl(&self) -> Duration {
        Duration::from_secs(self.remote_support_pending_hours * 3600)
    }

    /// Defaults, overridden by the file (if any), overridden by `TENANTRY_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config `{}`: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config `{}`: {e}", path.display()))?
            }
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        settings.connections.check(settings.request_timeout_secs)?;
        settings.check_upload_timeout()?;
        Ok(settings)
    }

    /// How long a plugin upload's answer may take: longer than other requests', but no longer
    /// than a silent connection is kept (asked to close after `idle_timeout_secs`, dropped one
    /// period later).
    pub fn upload_timeout_secs(&self) -> u64 {
        let kept = self.connections.idle_timeout_secs.saturating_mul(2);
        self.plugin_upload_timeout_secs
            .unwrap_or_else(|| DEFAULT_UPLOAD_TIMEOUT_SECS.min(kept.saturating_sub(1)))
            .max(self.request_timeout_secs)
    }

    fn check_upload_timeout(&self) -> anyhow::Result<()> {
        let Some(upload) = self.plugin_upload_timeout_secs else {
            return Ok(());
        };
        let (request, kept) = (
            self.request_timeout_secs,
            self.connections.idle_timeout_secs.saturating_mul(2),
        );
        anyhow::ensure!(
            upload >= request && upload < kept,
            "`plugin_upload_timeout_secs` ({upload}) must be at least `request_timeout_secs` \
             ({request}) and below twice `connections.idle_timeout_secs` ({kept})"
        );
        Ok(())
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T> {
            value
                .parse()
                .map_err(|_| anyhow::anyhow!("`{name}` has an invalid value `{value}`"))
        }
        if let Some(v) = var("TENANTRY_LISTEN") {
            self.listen = parse("TENANTRY_LISTEN", &v)?;
        }
        if let Some(v) = var("TENANTRY_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("TENANTRY_POLICIES") {
            self.policies = v.into();
        }
        if let Some(v) = var("TENANTRY_REGIONS") {
            self.regions = v
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
        }
        if let Some(v) = var("TENANTRY_OPERATOR_TOKEN") {
            self.operator_token = Some(v);
        }
        if let Some(v) = var("TENANTRY_PENDING_LINK_HOURS") {
            self.pending_link_hours = parse("TENANTRY_PENDING_LINK_HOURS", &v)?;
        }
        if let Some(v) = var("TENANTRY_REMOTE_SUPPORT_PENDING_HOURS") {
            self.remote_support_pending_hours = parse("TENANTRY_REMOTE_SUPPORT_PENDING_HOURS", &v)?;
        }
        if let Some(v) = var("TENANTRY_LOG_JSON") {
            self.log_json = parse("TENANTRY_LOG_JSON", &v)?;
        }
        if self.regions.is_empty() {
            anyhow::bail!("at least one region must be configured");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_and_defaults() {
        let mut s: Settings =
            toml::from_str("regions = [\"eu\", \"us\"]\npending_link_hours = 5").unwrap();
        assert_eq!(s.pending_link_hours, 5);
        s.apply_env(|name| (name == "TENANTRY_PENDING_LINK_HOURS").then(|| "7".to_owned()))
            .unwrap();
        assert_eq!(s.pending_link_hours, 7);
        assert_eq!(s.regions, ["eu", "us"]);
        assert!(toml::from_str::<Settings>("unknown_key = 1").is_err());
        let secret = Settings {
            operator_token: Some("tnt_secret".into()),
            ..Settings::default()
        };
        assert!(!format!("{secret:?}").contains("tnt_secret"));
    }
}
