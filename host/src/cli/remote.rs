//! The commands that work with a running server (`--server`, `TENANTRY_TOKEN`): push a policy
//! version, list versions, roll back, preview and dry-run a candidate, upload and bind a
//! plugin. Each says what the server answered; `--format json` prints the answer itself.
//! Exit codes as everywhere: 0 ok (or allow), 1 an error, 2 a deny or failed fixtures.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::output::{self, DENIED, ERROR, Format, OK};
use crate::policy::Hook;

/// Where the server is and who asks.
pub struct Remote {
    pub server: String,
    pub token: String,
    pub format: Format,
    client: reqwest::Client,
}

/// Which layer a command is about.
#[derive(Debug, Clone)]
pub enum LayerTarget {
    /// An organization's own layer.
    Org(String),
    /// A provider's layer for all its customers.
    Customers(String),
    /// The platform layer (the operator).
    Platform,
}

impl LayerTarget {
    /// From `--org`, `--customers` and `--platform`: exactly one.
    pub fn from_args(
        org: Option<String>,
        customers: Option<String>,
        platform: bool,
    ) -> anyhow::Result<Self> {
        match (org, customers, platform) {
            (Some(o), None, false) => Ok(Self::Org(o)),
            (None, Some(p), false) => Ok(Self::Customers(p)),
            (None, None, true) => Ok(Self::Platform),
            _ => bail!(
                "name the layer: --org ORG (its own), --customers PROVIDER (a provider's, for its customers) or --platform"
            ),
        }
    }

    fn path(&self, hook: Hook) -> String {
        match self {
            Self::Org(o) => format!("/v1/orgs/{o}/policies/{}", hook.name()),
            Self::Customers(p) => format!("/v1/orgs/{p}/customer-policies/{}", hook.name()),
            Self::Platform => format!("/v1/platform/policies/{}", hook.name()),
        }
    }

    /// The organization a plugin upload for this layer belongs to.
    fn owner(&self) -> Option<&str> {
        match self {
            Self::Org(o) | Self::Customers(o) => Some(o),
            Self::Platform => None,
        }
    }
}

/// What the server answered.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Remote {
    pub fn new(server: &str, token: &str, format: Format) -> Self {
        Self {
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            format,
            client: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.server);
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    async fn json(&self, method: Method, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.send(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// Prints the answer (the problem when it failed) and says its exit code: `ok` decides
    /// what a success is worth (OK, or DENIED for a decision that does not allow).
    fn finish(
        &self,
        answer: &Answer,
        out: &mut dyn Write,
        summary: impl FnOnce(&Value) -> String,
        ok: impl FnOnce(&Value) -> i32,
    ) -> anyhow::Result<i32> {
        if self.format == Format::Json {
            output::json(out, &answer.body)?;
        }
        if answer.status.is_success() {
            if self.format == Format::Text {
                writeln!(out, "{}", summary(&answer.body))?;
            }
            return Ok(ok(&answer.body));
        }
        if self.format == Format::Text {
            writeln!(out, "{}", problem_text(answer))?;
        }
        let failed_fixtures = answer.status == StatusCode::UNPROCESSABLE_ENTITY
            && answer.body["title"] == "policy version failed its fixtures";
        Ok(if failed_fixtures { DENIED } else { ERROR })
    }

    /// Uploads a component for `owner` (an organization, or none for the operator); its
    /// SHA-256.
    async fn upload_component(&self, file: &Path, owner: Option<&str>) -> anyhow::Result<String> {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
        let path = match owner {
            Some(org) => format!("/v1/plugins?org={org}"),
            None => "/v1/plugins".to_owned(),
        };
        let answer = self
            .send(Method::POST, &path, Some(("application/wasm", bytes)))
            .await?;
        if !answer.status.is_success() {
            bail!(
                "the upload of `{}` failed: {}",
                file.display(),
                problem_text(&answer)
            );
        }
        answer.body["sha256"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the server answered an upload without its sha256"))
    }

    /// The body naming a policy from a local file: `.rhai` source, a `.wasm` component
    /// (uploaded first) with `config`, or an upload `.json` (its `plugin` uploaded first when it
    /// names a file).
    async fn policy_body(
        &self,
        file: &Path,
        owner: Option<&str>,
        config: Option<Value>,
    ) -> anyhow::Result<Value> {
        let extension = file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        match extension {
            "rhai" => Ok(json!({"source": read_text(file)?})),
            "wasm" => {
                let sha = self.upload_component(file, owner).await?;
                Ok(json!({"plugin": sha, "config": config}))
            }
            "json" => {
                let mut body: Value = serde_json::from_str(&read_text(file)?)
                    .with_context(|| format!("`{}` is not JSON", file.display()))?;
                if let Some(plugin) = body["plugin"].as_str() {
                    let component = file.parent().unwrap_or(Path::new(".")).join(plugin);
                    if component.is_file() {
                        body["plugin"] = json!(self.upload_component(&component, owner).await?);
                    }
                }
                if let Some(config) = config {
                    body["config"] = config;
                }
                Ok(body)
            }
            _ => bail!(
                "`{}`: give a `.rhai` policy, a `.wasm` plugin, or a `.json` version to upload",
                file.display()
            ),
        }
    }

    /// `policy push`: a new version of `hook` at `target`.
    pub async fn push(
        &self,
        file: &Path,
        hook: Hook,
        target: &LayerTarget,
        config: Option<Value>,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let body = self.policy_body(file, target.owner(), config).await?;
        let answer = self.json(Method::PUT, &target.path(hook), &body).await?;
        self.finish(
            &answer,
            out,
            |v| {
                format!(
                    "{} v{} active ({})",
                    hook.name(),
                    v["number"],
                    v["sha256"].as_str().unwrap_or_default()
                )
            },
            |_| OK,
        )
    }

    /// `plugin bind`: binds an uploaded plugin (by SHA-256, or a component file uploaded first).
    pub async fn bind(
        &self,
        plugin: &str,
        hook: Hook,
        target: &LayerTarget,
        config: Option<Value>,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let file = Path::new(plugin);
        let sha = if file.is_file() {
            self.upload_component(file, target.owner()).await?
        } else {
            plugin.to_owned()
        };
        let body = json!({"plugin": sha, "config": config});
        let answer = self.json(Method::PUT, &target.path(hook), &body).await?;
        self.finish(
            &answer,
            out,
            |v| format!("{} v{} active: plugin {sha}", hook.name(), v["number"]),
            |_| OK,
        )
    }

    /// `plugin upload`: stores a component for an organization (or the operator).
    pub async fn upload(
        &self,
        file: &Path,
        org: Option<&str>,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
        let path = match org {
            Some(org) => format!("/v1/plugins?org={org}"),
            None => "/v1/plugins".to_owned(),
        };
        let answer = self
            .send(Method::POST, &path, Some(("application/wasm", bytes)))
            .await?;
        self.finish(
            &answer,
            out,
            |v| {
                format!(
                    "{} ({} bytes, hooks: {})",
                    v["sha256"].as_str().unwrap_or_default(),
                    v["size"],
                    v["hooks"]
                )
            },
            |_| OK,
        )
    }

    /// `policy versions`.
    pub async fn versions(
        &self,
        hook: Hook,
        target: &LayerTarget,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let answer = self
            .send(
                Method::GET,
                &format!("{}/versions", target.path(hook)),
                None,
            )
            .await?;
        self.finish(
            &answer,
            out,
            |v| {
                v["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| {
                                format!(
                                    "v{}{} {} {}",
                                    i["number"],
                                    if i["active"] == true { " (active)" } else { "" },
                                    i["sha256"].as_str().unwrap_or_default(),
                                    i["created_at"].as_str().unwrap_or_default()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            },
            |_| OK,
        )
    }

    /// `policy rollback`: makes version `number` active again.
    pub async fn rollback(
        &self,
        hook: Hook,
        target: &LayerTarget,
        number: u32,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let answer = self
            .json(
                Method::POST,
                &format!("{}/rollback", target.path(hook)),
                &json!({"version": number}),
            )
            .await?;
        self.finish(
            &answer,
            out,
            |v| format!("{} v{} active", hook.name(), v["number"]),
            |_| OK,
        )
    }

    /// `policy preview`: replays `org`'s recorded decisions with a candidate.
    pub async fn preview(
        &self,
        file: &Path,
        hook: Hook,
        org: &str,
        config: Option<Value>,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let mut body = self.policy_body(file, Some(org), config).await?;
        if let Some(map) = body.as_object_mut() {
            map.remove("fixtures");
        }
        let answer = self
            .json(
                Method::POST,
                &format!("/v1/orgs/{org}/policies/{}/preview", hook.name()),
                &body,
            )
            .await?;
        self.finish(
            &answer,
            out,
            |v| {
                let mut text = format!(
                    "{} recorded decisions replayed, {} would change{}",
                    v["evaluated"],
                    v["changed"],
                    if v["complete"] == false {
                        " (budget ran out)"
                    } else {
                        ""
                    }
                );
                for change in v["changes"].as_array().into_iter().flatten().take(20) {
                    text.push_str(&format!(
                        "\n  {} {}: {} -> {}",
                        change["at"].as_str().unwrap_or_default(),
                        change["decision_id"].as_str().unwrap_or_default(),
                        change["old"]["verdict"].as_str().unwrap_or_default(),
                        change["new"]["verdict"].as_str().unwrap_or_default()
                    ));
                }
                text
            },
            |_| OK,
        )
    }

    /// `policy eval --org`: a dry run on the server, optionally with a candidate in a layer.
    pub async fn eval(
        &self,
        request: &EvalRequest<'_>,
        out: &mut dyn Write,
    ) -> anyhow::Result<i32> {
        let mut body = json!({"hook": request.hook, "org": request.org});
        match (request.input, request.action) {
            (Some(file), _) => {
                body["input"] = serde_json::from_str(&read_text(file)?)
                    .with_context(|| format!("`{}` is not JSON", file.display()))?;
            }
            (None, Some(action)) => {
                body["action"] = json!(action);
                body["resource"] = request.resource.clone().unwrap_or(Value::Null);
            }
            (None, None) => bail!("give --input FILE, or --action (and --resource) for authorize"),
        }
        if let Some(file) = request.candidate {
            let mut candidate = self
                .policy_body(file, Some(request.org), request.config.clone())
                .await?;
            candidate["layer"] = json!("organization");
            if let Some(map) = candidate.as_object_mut() {
                map.remove("fixtures");
            }
            body["candidate"] = candidate;
        }
        let answer = self
            .json(Method::POST, "/v1/decisions/evaluate", &body)
            .await?;
        if self.format == Format::Text && answer.status.is_success() {
            output::json(out, &answer.body)?;
            return Ok(decision_code(&answer.body));
        }
        self.finish(&answer, out, |_| String::new(), decision_code)
    }
}

/// What `policy eval --org` asks.
pub struct EvalRequest<'a> {
    pub hook: Hook,
    pub org: &'a str,
    pub input: Option<&'a Path>,
    pub action: Option<&'a str>,
    pub resource: Option<Value>,
    /// A candidate in the organization's layer.
    pub candidate: Option<&'a Path>,
    pub config: Option<Value>,
}

fn decision_code(decision: &Value) -> i32 {
    match decision["answer"]["verdict"].as_str() {
        Some("allow" | "grant") => OK,
        _ => DENIED,
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// A problem+json answer as one readable paragraph.
fn problem_text(answer: &Answer) -> String {
    let body = &answer.body;
    let mut text = format!(
        "{} {}",
        answer.status.as_u16(),
        body["title"].as_str().unwrap_or("error")
    );
    if let Some(detail) = body["detail"].as_str() {
        text.push_str(&format!(": {detail}"));
    }
    for e in body["errors"].as_array().into_iter().flatten() {
        match (e["field"].as_str(), e["case"].as_str()) {
            (Some(field), _) => text.push_str(&format!(
                "\n  {field}: {}",
                e["reason"].as_str().unwrap_or_default()
            )),
            (None, Some(case)) => text.push_str(&format!(
                "\n  FAIL {case}: expected `{}`, got `{}` ({})",
                e["expected"].as_str().unwrap_or_default(),
                e["got"].as_str().unwrap_or_default(),
                e["reason"].as_str().unwrap_or_default()
            )),
            _ => text.push_str(&format!("\n  {e}")),
        }
    }
    text
}
