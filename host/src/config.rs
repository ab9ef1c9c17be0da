//! Settings: embedded defaults, then a TOML file, then `TENANTRY_*` environment variables,
//! then command-line flags (the CLI applies those).
//!
//! Every setting has a variable: its TOML path in capitals, sections joined by `__`
//! (`TENANTRY_PENDING_LINK_HOURS`, `TENANTRY_WASM__FUEL`, `TENANTRY_RATE_LIMIT__PER_SECOND`). A
//! value is read as the setting's type (a list is comma-separated); a `TENANTRY_*` variable
//! that names no setting stops the server with its name, so a typo is not silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::rhai_policy::RhaiLimits;

/// A plugin upload's time limit unless configured (a JavaScript plugin compiles for about a
/// minute).
const DEFAULT_UPLOAD_TIMEOUT_SECS: u64 = 110;

/// `TENANTRY_*` variables that are not settings: the command line's own, and the test suite's
/// (CI exports them to every process it starts, the binaries under test included).
const NOT_SETTINGS: [&str; 8] = [
    "TENANTRY_TOKEN",
    "TENANTRY_SERVER",
    "TENANTRY_CONFIG",
    "TENANTRY_BLESS",
    "TENANTRY_BENCH_CACHE_MIB",
    crate::storage::postgres::scratch::TEST_SERVER_VARIABLE,
    crate::storage::postgres::scratch::TEST_BACKEND_VARIABLE,
    // The console's browser test fails instead of skipping (`tests/tests/e2e/console.rs`).
    "TENANTRY_REQUIRE_BROWSER",
];

#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory of the database file (`tenantry.redb`), the decision log's file beside it
    /// (`tenantry.decisions.redb`) and, by default, `server.key`.
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:port/database`: keep the data in PostgreSQL instead of
    /// the embedded file, so several servers can share it. Never printed with its password.
    pub database_url: Option<String>,
    /// The most connections this server opens to PostgreSQL for reads (the writer has one more).
    pub database_connections: usize,
    /// PEM certificates of a private CA that signed the database server's certificate, trusted
    /// besides Mozilla's roots. TLS itself is the URL's `sslmode` (`require` in production).
    pub database_ca_file: Option<PathBuf>,
    /// Directory of the platform policies (`{hook}.rhai`, `tests/{hook}.json`), hot-reloaded;
    /// when it does not exist, the policies built into the binary are used.
    pub policies: PathBuf,
    /// Regions an organization may be placed in; the first is the default.
    pub regions: Vec<String>,
    /// Taken instead of generating one on first start. Never printed.
    pub operator_token: Option<String>,
    /// Hours a link invitation waits for its answer before it expires.
    pub pending_link_hours: u64,
    /// Hours a remote-support request waits for the customer's approval before it expires.
    pub remote_support_pending_hours: u64,
    /// Bytes of a JSON request body.
    pub json_body_limit: usize,
    /// Bytes of a CSV import.
    pub csv_body_limit: usize,
    /// Seconds a request may take, body included (408 after).
    pub request_timeout_secs: u64,
    /// A plugin upload's answer waits for its compilation: a JavaScript plugin (SpiderMonkey,
    /// about 12,700 functions) compiles for about a minute on one core. Its body still has
    /// `request_timeout_secs` to arrive. Unset: 110 s, or less when the connections' idle
    /// timeout would drop the connection first (see [`Settings::upload_timeout_secs`]).
    pub plugin_upload_timeout_secs: Option<u64>,
    /// Hours an `Idempotency-Key` and its answer are kept.
    pub idempotency_hours: u64,
    /// How often expired links and remote-support requests are written down.
    pub sweep_interval_secs: u64,
    /// Log JSON lines instead of human-readable text.
    pub log_json: bool,
    /// The decision log keeps at most this many decisions...
    pub decision_log_max_entries: u64,
    /// ...and none older than this.
    pub decision_log_max_age_hours: u64,
    /// Outbox events older than this are pruned (consumers read them within this window).
    pub event_retention_hours: u64,
    /// What one Rhai policy evaluation may use.
    pub rhai: RhaiLimits,
    /// What one Wasm plugin call may use, and what an upload may be.
    pub wasm: crate::policy::wasm::WasmLimits,
    /// The most memory the store keeps as cache: redb's page cache, or on PostgreSQL the
    /// records this server read, kept until another write changes their table.
    pub storage_cache_mib: usize,
    /// Requests per API token (`[rate_limit] per_second = 0` turns it off).
    pub rate_limit: crate::app::rate_limit::RateLimit,
    /// Open connections, header and idle timeouts.
    pub connections: crate::api::connections::ConnectionLimits,
    /// What one tenant may create and compute (`[quotas]`).
    pub quotas: crate::app::quotas::Quotas,
    /// Where webhook deliveries may go and how they are paced (`[webhooks]`).
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Where e-mail goes (`[smtp]`); without it invitation tokens are answered to the inviter.
    pub smtp: crate::mail::MailSettings,
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
            database_url: None,
            database_connections: 16,
            database_ca_file: None,
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
            webhooks: crate::webhooks::WebhookSettings::default(),
            smtp: crate::mail::MailSettings::default(),
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
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(crate::storage::postgres::redacted),
            )
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

    /// Threads of the server's async runtime. On the embedded store, one per core: a read is
    /// CPU and page cache, never a wait. On PostgreSQL a read waits on the network with its
    /// thread (the storage seam is synchronous), so there is one more thread per read
    /// connection: every connection can be waited on while the cores keep serving. Measured on
    /// 2 cores: 6,164 authorized reads/s with 17 threads, 4,698/s with 2 threads handing their
    /// tasks over before each wait (`block_in_place`), 2,901/s with 2 threads simply waiting.
    pub fn worker_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        match self.database_url {
            Some(_) => cores + self.database_connections,
            None => cores,
        }
    }

    /// Where the data lives, for logs: the file, or the database URL without its password.
    pub fn database_label(&self) -> String {
        match &self.database_url {
            Some(url) => crate::storage::postgres::redacted(url),
            None => self.database_path().display().to_string(),
        }
    }

    /// Where loaded plugins' compiled artifacts are mapped from (`app::artifact_files`).
    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_dir.join("plugin-artifacts")
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
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config `{}`: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config `{}`: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        overlay_environment(&mut table, std::env::vars_os())?;
        let settings = Self::from_table(table)?;
        settings.connections.check(settings.request_timeout_secs)?;
        settings.check_upload_timeout()?;
        Ok(settings)
    }

    fn from_table(table: toml::Table) -> anyhow::Result<Self> {
        let settings = Self::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        anyhow::ensure!(
            !settings.regions.is_empty(),
            "at least one region must be configured"
        );
        anyhow::ensure!(
            settings.wasm.loaded_plugins >= 1,
            "`wasm.loaded_plugins` is 0; it must be at least 1 (every plugin call needs its \
             plugin loaded)"
        );
        Ok(settings)
    }

    /// The defaults with every optional setting given a value: the shape of every setting,
    /// which the environment's values are read against.
    fn every_setting() -> Self {
        Self {
            operator_token: Some(String::new()),
            plugin_upload_timeout_secs: Some(0),
            key_file: Some(PathBuf::new()),
            database_url: Some(String::new()),
            database_ca_file: Some(PathBuf::new()),
            smtp: crate::mail::MailSettings {
                url: Some(String::new()),
                accept_url: Some(String::new()),
                ..crate::mail::MailSettings::default()
            },
            ..Self::default()
        }
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
}

impl Settings {
    /// A settings file with every setting at its default, commented out, each with what it
    /// does and its environment variable (`tenantry init` writes it).
    pub fn commented_file() -> String {
        let schema = schemars::schema_for!(Settings).to_value();
        let defaults = toml::Table::try_from(Settings::default()).unwrap_or_default();
        let shape = toml::Table::try_from(Settings::every_setting()).unwrap_or_default();
        let mut out = String::from(
            "# tenantry settings: every setting at its default, commented out. Uncomment and change\n\
             # what you need; `tenantry serve --config tenantry.toml` reads this file. Each setting\n\
             # also has an environment variable (shown), which overrides the file.\n",
        );
        let (scalars, sections): (Vec<_>, Vec<_>) = shape.iter().partition(|(_, v)| !v.is_table());
        for (key, example) in scalars {
            let about = &schema["properties"][key];
            write_setting(&mut out, &[key], about, defaults.get(key), example);
        }
        for (section, fields) in sections {
            let about = &schema["properties"][section];
            out.push('\n');
            for line in description(about).lines() {
                out.push_str(&format!("# {line}\n"));
            }
            out.push_str(&format!("[{section}]\n"));
            let fields_about = about["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .map(|name| &schema["$defs"][name]["properties"]);
            let (Some(fields), Some(fields_about)) = (fields.as_table(), fields_about) else {
                continue;
            };
            let section_defaults = defaults.get(section).and_then(toml::Value::as_table);
            for (key, example) in fields {
                let default = section_defaults.and_then(|d| d.get(key));
                write_setting(
                    &mut out,
                    &[section, key],
                    &fields_about[key],
                    default,
                    example,
                );
            }
        }
        out
    }
}

fn description(about: &serde_json::Value) -> &str {
    about["description"].as_str().unwrap_or_default()
}

/// One setting of [`Settings::commented_file`]: what it does, its variable, its default.
fn write_setting(
    out: &mut String,
    path: &[&String],
    about: &serde_json::Value,
    default: Option<&toml::Value>,
    example: &toml::Value,
) {
    out.push('\n');
    for line in description(about).lines() {
        out.push_str(&format!("# {line}\n"));
    }
    let variable: Vec<String> = path.iter().map(|p| p.to_ascii_uppercase()).collect();
    out.push_str(&format!(
        "# environment: TENANTRY_{}\n",
        variable.join("__")
    ));
    let key = path.last().map_or("", |k| k.as_str());
    match default {
        Some(value) => out.push_str(&format!("# {key} = {value}\n")),
        None => out.push_str(&format!(
            "# not set by default; for example:\n# {key} = {example}\n"
        )),
    }
}

/// Writes each `TENANTRY_*` variable into `table` at its setting's path, as its type.
fn overlay_environment(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<()> {
    let shape = toml::Table::try_from(Settings::every_setting())?;
    for (name, value) in vars {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            match name.to_str() {
                Some(n) if n.starts_with("TENANTRY_") => {
                    anyhow::bail!("`{n}` is not valid UTF-8")
                }
                _ => continue,
            }
        };
        let (name, value) = (name.to_owned(), value.to_owned());
        let Some(rest) = name.strip_prefix("TENANTRY_") else {
            continue;
        };
        if NOT_SETTINGS.contains(&name.as_str()) {
            continue;
        }
        let path: Vec<String> = rest
            .to_ascii_lowercase()
            .split("__")
            .map(str::to_owned)
            .collect();
        let Some(example) = lookup(&shape, &path) else {
            anyhow::bail!(
                "`{name}` is not a setting: a setting's variable is its TOML path in capitals, \
                 sections joined by `__` (`TENANTRY_WASM__FUEL`); `tenantry init` writes them all"
            );
        };
        let typed = typed_like(example, &value)
            .ok_or_else(|| anyhow::anyhow!("`{name}` has an invalid value `{value}`"))?;
        insert(table, &path, typed);
    }
    Ok(())
}

fn lookup<'a>(table: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, sections) = path.split_last()?;
    let mut here = table;
    for section in sections {
        here = here.get(section)?.as_table()?;
    }
    here.get(last).filter(|v| !v.is_table())
}

/// `value` read as the type of `example`; a list is comma-separated.
fn typed_like(example: &toml::Value, value: &str) -> Option<toml::Value> {
    use toml::Value;
    Some(match example {
        Value::String(_) => Value::String(value.to_owned()),
        Value::Integer(_) => Value::Integer(value.trim().parse().ok()?),
        Value::Float(_) => Value::Float(value.trim().parse().ok()?),
        Value::Boolean(_) => Value::Boolean(value.trim().parse().ok()?),
        Value::Array(items) => {
            let item = items
                .first()
                .cloned()
                .unwrap_or(Value::String(String::new()));
            Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| typed_like(&item, v))
                    .collect::<Option<_>>()?,
            )
        }
        Value::Datetime(_) | Value::Table(_) => return None,
    })
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, sections)) = path.split_last() else {
        return;
    };
    let mut here = table;
    for section in sections {
        let entry = here
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        here = next;
    }
    here.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(file: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut table: toml::Table = toml::from_str(file)?;
        overlay_environment(
            &mut table,
            vars.iter().map(|(k, v)| ((*k).into(), (*v).into())),
        )?;
        Settings::from_table(table)
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let s = with_env(
            "regions = [\"eu\", \"us\"]\npending_link_hours = 5\n[wasm]\nfuel = 9",
            &[
                ("TENANTRY_PENDING_LINK_HOURS", "7"),
                ("TENANTRY_WASM__DEADLINE_MS", "250"),
                ("TENANTRY_RATE_LIMIT__PER_SECOND", "0"),
                ("TENANTRY_OPERATOR_TOKEN", "1234"),
                ("TENANTRY_LOG_JSON", "true"),
                ("TENANTRY_TOKEN", "not a setting, the CLI's"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(s.pending_link_hours, 7);
        assert_eq!(s.regions, ["eu", "us"]);
        assert_eq!((s.wasm.fuel, s.wasm.deadline_ms), (9, 250));
        assert_eq!(s.rate_limit.per_second, 0);
        assert_eq!(s.operator_token.as_deref(), Some("1234"));
        assert!(s.log_json);
        let regions = with_env("", &[("TENANTRY_REGIONS", "eu-central, us-east")]).unwrap();
        assert_eq!(regions.regions, ["eu-central", "us-east"]);
        assert!(toml::from_str::<Settings>("unknown_key = 1").is_err());
        let secret = Settings {
            operator_token: Some("tnt_secret".into()),
            ..Settings::default()
        };
        assert!(!format!("{secret:?}").contains("tnt_secret"));
    }

    #[test]
    fn a_variable_that_is_no_setting_or_has_a_bad_value_is_named() {
        let typo = with_env("", &[("TENANTRY_WASM__FUELL", "1")]).unwrap_err();
        assert!(
            typo.to_string()
                .contains("`TENANTRY_WASM__FUELL` is not a setting"),
            "{typo}"
        );
        let bad = with_env("", &[("TENANTRY_QUOTAS__PLUGINS_PER_ORG", "many")]).unwrap_err();
        assert!(
            bad.to_string()
                .contains("`TENANTRY_QUOTAS__PLUGINS_PER_ORG` has an invalid value"),
            "{bad}"
        );
        let none = with_env("", &[("TENANTRY_REGIONS", " , ")]).unwrap_err();
        assert!(none.to_string().contains("at least one region"), "{none}");
    }

    #[test]
    fn the_loaded_plugins_budget_is_at_least_one() {
        let zero = with_env("[wasm]\nloaded_plugins = 0", &[]).unwrap_err();
        assert!(
            zero.to_string()
                .contains("`wasm.loaded_plugins` is 0; it must be at least 1"),
            "{zero}"
        );
        let one = with_env("", &[("TENANTRY_WASM__LOADED_PLUGINS", "1")]).unwrap();
        assert_eq!(one.wasm.loaded_plugins, 1);
    }

    #[test]
    fn the_commented_file_reads_as_the_defaults_and_every_line_of_it_is_a_setting() {
        let file = Settings::commented_file();
        let as_is: Settings = toml::from_str(&file).unwrap();
        assert_eq!(
            serde_json::to_value(as_is).unwrap(),
            serde_json::to_value(Settings::default()).unwrap()
        );
        assert!(file.contains("# environment: TENANTRY_WASM__FUEL\n# fuel = 50000000\n"));
        assert!(
            file.contains("# Instructions (wasmtime fuel) per call."),
            "{file}"
        );
        let is_setting = |line: &str| {
            line.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        };
        let uncommented: String = file
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(setting) if is_setting(setting) => format!("{setting}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let every: Settings = toml::from_str(&uncommented).unwrap();
        assert_eq!(every.operator_token.as_deref(), Some(""));
        for key in [
            "listen",
            "fuel",
            "per_second",
            "max_open",
            "plugins_per_org",
        ] {
            assert!(
                !uncommented.contains(&format!("# {key} =")),
                "{key} stayed commented"
            );
        }
    }

    #[test]
    fn the_database_url_is_read_from_its_variable() {
        let mut table = toml::Table::new();
        overlay_environment(
            &mut table,
            [(
                "TENANTRY_DATABASE_URL".into(),
                "postgres://tenantry:secret@db/tenantry".into(),
            )],
        )
        .unwrap();
        assert_eq!(
            table["database_url"].as_str(),
            Some("postgres://tenantry:secret@db/tenantry")
        );
    }

    #[test]
    fn every_setting_has_a_variable() {
        // Each setting, optional ones included, has a path in the shape the variables are read
        // against; a new optional setting left out of `every_setting` fails here.
        fn paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
            match value.as_object() {
                Some(map) => {
                    for (k, v) in map {
                        paths(v, &format!("{prefix}{k}."), out);
                    }
                }
                None => out.push(prefix.trim_end_matches('.').to_owned()),
            }
        }
        let (mut all, mut shaped) = (Vec::new(), Vec::new());
        paths(
            &serde_json::to_value(Settings::default()).unwrap(),
            "",
            &mut all,
        );
        let shape = toml::Table::try_from(Settings::every_setting()).unwrap();
        paths(&serde_json::to_value(shape).unwrap(), "", &mut shaped);
        all.sort();
        shaped.sort();
        assert_eq!(all, shaped);
    }
}
