//! Test harness: starts the real tenantry server (real redb file in a temporary directory, or a
//! new PostgreSQL database, see [`Backend`]; the repository's `policies/`; a real TCP listener
//! on port 0) and talks to it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod memory;
pub mod plugins;
pub mod receiver;
pub mod rng;
pub mod smtp_sink;
pub mod tcp_proxy;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::{App, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The backend every test server of this run keeps its data in: the same test bodies run on
/// each (`.ci/run` runs the suite once per backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded redb file (the default).
    Embedded,
    /// A new database per test server on the PostgreSQL server `TENANTRY_TEST_POSTGRES` names,
    /// chosen with `TENANTRY_TEST_BACKEND=postgres`.
    Postgres,
}

/// Chooses the backend of this run.
pub const BACKEND_VARIABLE: &str = tenantry::storage::postgres::scratch::TEST_BACKEND_VARIABLE;

impl Backend {
    pub fn of_this_run() -> Self {
        match std::env::var(BACKEND_VARIABLE).as_deref() {
            Ok("postgres") => Self::Postgres,
            Ok("embedded") | Err(_) => Self::Embedded,
            Ok(other) => panic!("{BACKEND_VARIABLE}={other}: expected `embedded` or `postgres`"),
        }
    }

    /// A new database for one server (and the servers started beside it), or `None` for the
    /// embedded file. A PostgreSQL run without a server fails: it never passes by skipping.
    fn new_database() -> Option<String> {
        match Self::of_this_run() {
            Self::Embedded => None,
            Self::Postgres => {
                let server = tenantry::storage::postgres::scratch::test_server().unwrap_or_else(|| {
                    panic!(
                        "{BACKEND_VARIABLE}=postgres needs a PostgreSQL server in {}; `.ci/postgres start DIR` starts one",
                        tenantry::storage::postgres::scratch::TEST_SERVER_VARIABLE
                    )
                });
                Some(tenantry::storage::postgres::scratch::create_database(&server).unwrap())
            }
        }
    }
}

/// For the few tests about the embedded file itself (its backup route, its bytes on disk):
/// says they do not apply on PostgreSQL, where `pg_dump` backs up and the file does not exist.
pub fn only_on_the_embedded_file(what: &str) -> bool {
    let embedded = Backend::of_this_run() == Backend::Embedded;
    if !embedded {
        eprintln!("not on PostgreSQL: {what} is about the embedded file");
    }
    embedded
}

pub struct TestServer {
    pub base: String,
    /// The PostgreSQL database this server keeps its data in, on a PostgreSQL run.
    pub database: Option<String>,
    /// The platform policy directory this server loads and watches.
    pub policies: PathBuf,
    tweak: Tweak,
    pub operator: String,
    /// The running server's handle, for moving its clock. None only during a restart.
    app: Option<App>,
    pub data: tempfile::TempDir,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A response: status and JSON body (Null when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The problem+json `detail`, or the title.
    pub fn detail(&self) -> String {
        self.body["detail"]
            .as_str()
            .or(self.body["title"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// Copies the shipped `policies/` (with its fixtures) to `to`, for a server or a benchmark
/// that rewrites the files.
pub fn copy_policies(to: &std::path::Path) -> anyhow::Result<()> {
    let from = policies_dir();
    std::fs::create_dir_all(to.join("tests"))?;
    for dir in [from.clone(), from.join("tests")] {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.strip_prefix(&from)?))?;
            }
        }
    }
    Ok(())
}

pub const OPERATOR_TOKEN: &str = "tnt_operator_token_for_end_to_end_tests_0123456789";

fn settings(
    data: &std::path::Path,
    policies: &std::path::Path,
    database: Option<&str>,
) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        data_dir: data.to_path_buf(),
        database_url: database.map(str::to_owned),
        policies: policies.to_path_buf(),
        regions: vec!["eu-central".into(), "us-east".into()],
        operator_token: Some(OPERATOR_TOKEN.into()),
        ..Settings::default()
    }
}

/// Adjusts the settings a test server starts with.
/// How a test changes the settings of its server (kept for its restarts).
pub type Tweak = std::sync::Arc<dyn Fn(&mut Settings) + Send + Sync>;

/// A per-token quota no load reaches: the limiter still runs (and its cost is measured) but
/// never refuses, for tests and measurements where one token drives the whole load.
pub fn unthrottled(settings: &mut Settings) {
    settings.rate_limit = tenantry::app::rate_limit::RateLimit {
        per_second: u32::MAX,
        burst: u32::MAX,
    };
}

async fn start(
    data: &std::path::Path,
    policies: &std::path::Path,
    database: Option<&str>,
    tweak: Tweak,
) -> anyhow::Result<(String, App, oneshot::Sender<()>, JoinHandle<()>)> {
    // A restart may find the previous server's file still being closed; wait for it.
    let mut attempt = 0;
    let built = loop {
        let mut settings = settings(data, policies, database);
        tweak(&mut settings);
        match App::build(settings).await {
            Ok(built) => break built,
            Err(e) if attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if attempt == 50 {
                    anyhow::bail!("server did not start: {e}");
                }
            }
            Err(e) => anyhow::bail!("server did not start: {e}"),
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let app = built.app.clone();
    let task = tokio::spawn(async move {
        let _ = tenantry::api::serve(built.app, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok((base, app, stop, task))
}

impl TestServer {
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(policies_dir(), |_| {}).await
    }

    /// A server on its own copy of the platform policies, which the test may rewrite.
    pub async fn spawn_with_own_policies(
        tweak: impl Fn(&mut Settings) + Send + Sync + 'static,
    ) -> anyhow::Result<(Self, tempfile::TempDir)> {
        let copy = tempfile::tempdir()?;
        copy_policies(copy.path())?;
        let server = Self::spawn_with(copy.path().to_path_buf(), tweak).await?;
        Ok((server, copy))
    }

    pub async fn spawn_with(
        policies: PathBuf,
        tweak: impl Fn(&mut Settings) + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        Self::start_on(tempfile::tempdir()?, policies, std::sync::Arc::new(tweak)).await
    }

    /// A server on a data directory that already holds a database (a restored backup).
    pub async fn spawn_on(data: tempfile::TempDir) -> anyhow::Result<Self> {
        Self::start_on(data, policies_dir(), std::sync::Arc::new(|_| {})).await
    }

    async fn start_on(
        data: tempfile::TempDir,
        policies: PathBuf,
        tweak: Tweak,
    ) -> anyhow::Result<Self> {
        Self::start_with_database(data, policies, Backend::new_database(), tweak).await
    }

    async fn start_with_database(
        data: tempfile::TempDir,
        policies: PathBuf,
        database: Option<String>,
        tweak: Tweak,
    ) -> anyhow::Result<Self> {
        let (base, app, stop, task) =
            start(data.path(), &policies, database.as_deref(), tweak.clone()).await?;
        Ok(Self {
            base,
            database,
            policies,
            tweak,
            operator: OPERATOR_TOKEN.into(),
            app: Some(app),
            data,
            client: client(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// A server on the PostgreSQL database at `url` (a database the test made, or reached
    /// through a proxy it controls).
    pub async fn spawn_on_database(url: String) -> anyhow::Result<Self> {
        Self::start_with_database(
            tempfile::tempdir()?,
            policies_dir(),
            Some(url),
            std::sync::Arc::new(|_: &mut Settings| {}),
        )
        .await
    }

    /// A customer of the provider `sp` owns, placed in `region`: (org id, owner token).
    pub async fn customer_in(&self, sp: &str, slug: &str, region: &str) -> (String, String) {
        let mut body = org_body(slug, "business_user", "customer", true);
        body["region"] = json!(region);
        let created = self.create_org(sp, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let owner = self
            .accept(created.body["owner_invitation_token"].as_str().unwrap())
            .await;
        (created.id(), owner)
    }

    /// A provider's customer `hub` and `n` other customers that each asked it for a link:
    /// (hub id, hub owner token, the pending link ids).
    pub async fn hub_with_link_requests(&self, n: usize) -> (String, String, Vec<String>) {
        let (_, sp) = self.provider("telco").await;
        let (hub, hub_owner) = self.customer(&sp, "hub", true).await;
        let mut links = Vec::with_capacity(n);
        for i in 0..n {
            let (spoke, spoke_owner) = self.customer(&sp, &format!("spoke-{i}"), true).await;
            let link = self
                .post(
                    &format!("/v1/orgs/{spoke}/links"),
                    &spoke_owner,
                    json!({"target_org_id": hub}),
                )
                .await;
            assert_eq!(link.status, StatusCode::CREATED, "{:?}", link.body);
            links.push(link.id());
        }
        (hub, hub_owner, links)
    }

    /// Another server on this one's PostgreSQL database, with the same server key, as a
    /// deployment of several servers runs them. `None` on the embedded file, which one
    /// process holds.
    pub async fn spawn_beside(&self) -> anyhow::Result<Option<Self>> {
        let Some(database) = self.database.clone() else {
            return Ok(None);
        };
        let key = self.data.path().join("server.key");
        let tweak = self.tweak.clone();
        let tweak: Tweak = std::sync::Arc::new(move |settings: &mut Settings| {
            tweak(settings);
            settings.key_file = Some(key.clone());
        });
        let beside = Self::start_with_database(
            tempfile::tempdir()?,
            self.policies.clone(),
            Some(database),
            tweak,
        )
        .await?;
        Ok(Some(beside))
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(self) -> anyhow::Result<Self> {
        self.stop().await?.start().await
    }

    /// Stops the server gracefully and releases its database file, keeping the data directory
    /// for [`Stopped::start`]: a test may change the file in between, as someone with access
    /// to the disk could.
    pub async fn stop(mut self) -> anyhow::Result<Stopped> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await?;
        }
        // The last handle on the database goes, so the file can be opened again.
        self.app = None;
        Ok(Stopped { server: self })
    }

    /// The server's clock; tests move it instead of sleeping.
    pub fn clock(&self) -> &tenantry::domain::clock::Clock {
        &self.app.as_ref().unwrap().clock
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().unwrap()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let response = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e:?}"));
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        });
        Answer {
            status,
            body,
            content_type,
            headers,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// The decisions in `org`'s log (its newest 500) that `keep` picks, once `enough` holds
    /// for them: the recorder writes a decision moments after it is made, so a test that just
    /// caused one polls for it, up to 4 s, then answers what is written.
    pub async fn logged_decisions(
        &self,
        org: &str,
        token: &str,
        keep: impl Fn(&Value) -> bool,
        enough: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut kept = Vec::new();
        for _ in 0..200 {
            let log = self
                .get(&format!("/v1/orgs/{org}/decisions?limit=500"), token)
                .await;
            assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
            kept = log.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| keep(d))
                .cloned()
                .collect();
            if enough(&kept) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kept
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Uploads a plugin component (`POST /v1/plugins`) for the caller's organization.
    pub async fn upload_plugin(&self, token: &str, component: Vec<u8>) -> Answer {
        self.send(
            self.request(Method::POST, "/v1/plugins")
                .bearer_auth(token)
                .header("content-type", "application/wasm")
                .body(component),
        )
        .await
    }

    /// Binds the plugin `sha` with `config` as the provider `sp_org`'s layer of `hook` for its
    /// customers (`PUT /v1/orgs/{sp_org}/customer-policies/{hook}`), which must succeed.
    pub async fn bind_customer_plugin(
        &self,
        sp_org: &str,
        sp: &str,
        hook: &str,
        sha: &str,
        config: serde_json::Value,
    ) {
        let bound = self
            .put(
                &format!("/v1/orgs/{sp_org}/customer-policies/{hook}"),
                sp,
                serde_json::json!({"plugin": sha, "config": config}),
            )
            .await;
        assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    }

    /// Uploads Rhai source as `text/x-rhai`.
    pub async fn put_rhai(&self, path: &str, token: &str, source: &str) -> Answer {
        self.send(
            self.request(Method::PUT, path)
                .bearer_auth(token)
                .header("content-type", "text/x-rhai")
                .body(source.to_owned()),
        )
        .await
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> Answer {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates an organization as `token`; returns the answer (asserting 201).
    pub async fn create_org(&self, token: &str, body: Value) -> Answer {
        let a = self.post("/v1/orgs", token, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "create org: {:?}", a.body);
        a
    }

    /// Accepts an invitation; returns the new API token.
    pub async fn accept(&self, invitation: &str) -> String {
        let a = self
            .call(
                Method::POST,
                "/v1/invitations/accept",
                None,
                Some(json!({"token": invitation})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "accept: {:?}", a.body);
        a.body["api_token"].as_str().unwrap_or_default().to_owned()
    }

    /// A service provider created by the operator, with an owner who accepted: (org id, owner token).
    pub async fn provider(&self, slug: &str) -> (String, String) {
        let a = self
            .create_org(
                &self.operator.clone(),
                org_body(slug, "service_provider", "customer", true),
            )
            .await;
        let token = self
            .accept(
                a.body["owner_invitation_token"]
                    .as_str()
                    .unwrap_or_default(),
            )
            .await;
        (a.id(), token)
    }

    /// Puts `provider` on a platform plan with `features` (and room to spare), so it may sell
    /// them on to its customers.
    pub async fn sell_features(&self, provider: &str, features: &[&str]) {
        let plan = self
            .post(
                "/v1/plans",
                &self.operator.clone(),
                json!({"name": format!("Reseller {provider}"), "features": features, "limits": {"max_members": 50_000, "max_teams": 1_000, "max_active_links": 1_000, "max_remote_support_minutes": 480}}),
            )
            .await;
        assert_eq!(plan.status, StatusCode::CREATED, "plan: {:?}", plan.body);
        let assigned = self
            .put(
                &format!("/v1/orgs/{provider}/plan"),
                &self.operator.clone(),
                json!({"plan_id": plan.id()}),
            )
            .await;
        assert_eq!(
            assigned.status,
            StatusCode::OK,
            "assign: {:?}",
            assigned.body
        );
    }

    /// A customer of the provider `admin_token` administers, with an owner who accepted.
    pub async fn customer(
        &self,
        admin_token: &str,
        slug: &str,
        approval: bool,
    ) -> (String, String) {
        let a = self
            .create_org(
                admin_token,
                org_body(slug, "business_user", "customer", approval),
            )
            .await;
        let token = self
            .accept(
                a.body["owner_invitation_token"]
                    .as_str()
                    .unwrap_or_default(),
            )
            .await;
        (a.id(), token)
    }

    /// Links `a` to `b` (invited by `a`, accepted by `b`); returns the active link's id.
    pub async fn linked(&self, a: &str, a_owner: &str, b: &str, b_owner: &str) -> String {
        let link = self
            .post(
                &format!("/v1/orgs/{a}/links"),
                a_owner,
                json!({"target_org_id": b}),
            )
            .await;
        assert_eq!(link.status, StatusCode::CREATED, "link: {:?}", link.body);
        let accepted = self
            .post_empty(&format!("/v1/orgs/{b}/links/{}/accept", link.id()), b_owner)
            .await;
        assert_eq!(
            accepted.body["status"], "active",
            "accept: {:?}",
            accepted.body
        );
        link.id()
    }

    /// Invites a portal member with `role` and accepts: (user id, token).
    pub async fn member(
        &self,
        org: &str,
        inviter: &str,
        name: &str,
        role: &str,
    ) -> (String, String) {
        let email = format!("{}@{}.example", name.to_lowercase(), &org[..8]);
        let a = self
            .post(
                &format!("/v1/orgs/{org}/members"),
                inviter,
                json!({"name": name, "email": email, "role": role}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "invite: {:?}", a.body);
        let token = self
            .accept(a.body["invitation_token"].as_str().unwrap_or_default())
            .await;
        (
            a.body["user_id"].as_str().unwrap_or_default().to_owned(),
            token,
        )
    }
}

/// A test server between [`TestServer::stop`] and [`Stopped::start`].
pub struct Stopped {
    server: TestServer,
}

impl Stopped {
    /// The data directory holding the stopped server's database file.
    pub fn data(&self) -> &std::path::Path {
        self.server.data.path()
    }

    /// Where the stopped server's data is, as `tenantry migrate-store` takes it: its
    /// PostgreSQL URL, or the path of its database file.
    pub fn place(&self) -> String {
        match &self.server.database {
            Some(url) => url.clone(),
            None => self.data().join("tenantry.redb").display().to_string(),
        }
    }

    /// Opens the stopped server's database file directly, as someone with the disk could;
    /// waits for the file to be released by the stopped server's last tasks.
    pub async fn open_store(&self) -> anyhow::Result<tenantry::storage::Store> {
        if let Some(url) = &self.server.database {
            return Ok(tenantry::storage::Store::connect(url, 4)?);
        }
        let path = self.data().join("tenantry.redb");
        let mut attempt = 0;
        loop {
            match tenantry::storage::Store::open(&path, 16 << 20) {
                Ok(store) => return Ok(store),
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if attempt == 50 {
                        anyhow::bail!("the database file stayed open: {e}");
                    }
                }
                Err(e) => anyhow::bail!("cannot open the database file: {e}"),
            }
        }
    }

    /// Starts a new server on the same data directory and policies.
    pub async fn start(self) -> anyhow::Result<TestServer> {
        let mut server = self.server;
        let (base, app, stop, task) = start(
            server.data.path(),
            &server.policies,
            server.database.as_deref(),
            server.tweak.clone(),
        )
        .await?;
        server.base = base;
        server.app = Some(app);
        server.stop = Some(stop);
        server.task = Some(task);
        Ok(server)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The servers a race is spread over: one on the embedded file (one process holds it), two on
/// one PostgreSQL database (so the race also runs across servers). Request `i` goes to
/// `servers[i % servers.len()]`.
pub async fn racing_servers() -> Vec<TestServer> {
    let first = TestServer::spawn().await.unwrap();
    let beside = first.spawn_beside().await.unwrap();
    let mut servers = vec![first];
    servers.extend(beside);
    servers
}

/// Sends every request at once and counts the answers by status: `{200: 10, 403: 190}`.
pub async fn race(
    requests: impl IntoIterator<Item = reqwest::RequestBuilder>,
) -> std::collections::BTreeMap<u16, usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for request in requests {
        tasks.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    let mut tally = std::collections::BTreeMap::new();
    for status in tasks.join_all().await {
        *tally
            .entry(status.unwrap_or_else(|e| panic!("request failed: {e}")))
            .or_default() += 1;
    }
    tally
}

/// A valid create body.
/// A complete `authorize` input (for fixtures and dry runs): `action` on `acme` by its owner.
pub fn authorize_input(action: &str, resource: Value) -> Value {
    serde_json::to_value(tenantry::policy::input::AuthorizeInput::example(
        action, resource,
    ))
    .unwrap_or_default()
}

/// The organization as policies see it (the input contract), from its API answer.
pub fn org_input(org: &Value) -> Value {
    let fields = [
        "id",
        "tenant_id",
        "name",
        "status",
        "account_type",
        "hierarchy",
        "managed_by",
        "remote_support_requires_approval",
        "service_provider_id",
        "region",
        "plan_features",
    ];
    fields
        .iter()
        .map(|f| ((*f).to_owned(), org[*f].clone()))
        .collect()
}

pub fn org_body(slug: &str, account_type: &str, managed_by: &str, approval: bool) -> Value {
    let mut body = json!({
        "name": format!("{slug} Inc"),
        "tenant_id": slug,
        "account_type": account_type,
        "managed_by": managed_by,
        "remote_support_requires_approval": approval,
        "country": "DE",
        "currency": "EUR",
        "region": "eu-central",
    });
    if managed_by == "customer" {
        body["owner"] =
            json!({"name": format!("Owner of {slug}"), "email": format!("owner@{slug}.example")});
    }
    body
}

/// A client that does not keep a connection idle for longer than the server does: the server
/// closes a keep-alive connection that sends no request headers within
/// `header_read_timeout_secs` (10 s), and a request sent on it at that moment fails. On a
/// loaded machine a test can sit that long between two requests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}
