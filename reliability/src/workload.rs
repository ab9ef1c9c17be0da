//! The writes a round drives: many clients, each the owner of one customer organization,
//! creating organizations, inviting members, linking and accepting, creating and sharing
//! teams, and publishing policy versions, until the server is killed under them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::text;
use tenantry::domain::ids::{LinkId, OrgId, PolicyVersionId, ResourceId, ShareId, UserId};
use tokio::sync::Mutex;

use crate::verify::Ack;

pub use tenantry_e2e::rng::Rng;

pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// A client's home: an organization and its owner's token.
#[derive(Debug, Clone)]
pub struct Home {
    pub org: String,
    pub owner: String,
}

/// The organizations the clients act for, created once through the API (and durable, so they
/// outlive every kill).
pub struct Tenants {
    provider: String,
    homes: Vec<Home>,
    /// Active links acknowledged so far, per home index: what teams may be shared over.
    links: Mutex<Vec<Vec<String>>>,
}

impl Tenants {
    pub async fn create(base: &str, clients: usize) -> anyhow::Result<Self> {
        let api = Api::new(base);
        let operator = tenantry_e2e::OPERATOR_TOKEN;
        let sp = api
            .send(
                Method::POST,
                "/v1/orgs",
                operator,
                tenantry_e2e::org_body("crash-sp", "service_provider", "customer", false),
            )
            .await?;
        let provider = api.accept(&sp["owner_invitation_token"]).await?;
        let mut homes = Vec::new();
        for i in 0..clients {
            let body =
                tenantry_e2e::org_body(&format!("home-{i}"), "business_user", "customer", false);
            let org = api.send(Method::POST, "/v1/orgs", &provider, body).await?;
            let owner = api.accept(&org["owner_invitation_token"]).await?;
            homes.push(Home {
                org: text(&org["id"]),
                owner,
            });
        }
        Ok(Self {
            provider,
            links: Mutex::new(vec![Vec::new(); homes.len()]),
            homes,
        })
    }

    pub fn homes(&self) -> &[Home] {
        &self.homes
    }
}

pub struct Outcome {
    pub acked: Vec<Ack>,
    pub requests: usize,
    /// Requests that got no answer because the server died under them.
    pub interrupted: usize,
    /// 5xx answers other than 503: bugs.
    pub server_errors: usize,
    /// 4xx answers: a cap reached, a pair already linked, a policy's deny.
    pub refused: usize,
}

/// Runs every client until `run_for` has passed, calls `kill` while their requests are in
/// flight, lets each client see its request cut off, and returns what was acknowledged.
pub async fn drive(
    base: &str,
    tenants: &Tenants,
    round: u32,
    seed: u64,
    run_for: Duration,
    kill: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let stop = AtomicBool::new(false);
    let requests = AtomicUsize::new(0);
    let interrupted = AtomicUsize::new(0);
    let server_errors = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let acked = Mutex::new(Vec::new());
    let api = Api::new(base);
    {
        let clients = (0..tenants.homes.len()).map(|i| {
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (api, stop, requests, interrupted, server_errors, refused, acked) = (
                &api,
                &stop,
                &requests,
                &interrupted,
                &server_errors,
                &refused,
                &acked,
            );
            async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let tag = format!("r{round}-c{i}-{n}");
                    n += 1;
                    requests.fetch_add(1, Ordering::Relaxed);
                    match one_write(api, tenants, i, &tag, &mut rng).await {
                        Ok(mut acks) => acked.lock().await.append(&mut acks),
                        Err(Failure::Refused) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Failure::ServerError) => {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Failure::Unanswered) => {
                            interrupted.fetch_add(1, Ordering::Relaxed);
                            // The server is gone; wait for the round to end.
                            while !stop.load(Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                }
            }
        });
        let all = futures_join(clients.collect());
        tokio::pin!(all);
        tokio::select! {
            () = &mut all => {}
            () = tokio::time::sleep(run_for) => {}
        }
        kill()?;
        stop.store(true, Ordering::Relaxed);
        all.await;
    }
    Ok(Outcome {
        acked: acked.into_inner(),
        requests: requests.into_inner(),
        interrupted: interrupted.into_inner(),
        server_errors: server_errors.into_inner(),
        refused: refused.into_inner(),
    })
}

/// Polls every client future together on this task (they borrow the round's state).
async fn futures_join<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut set: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

enum Failure {
    /// The server answered with a refusal (a cap, a duplicate): nothing to check.
    Refused,
    /// No answer: the kill came first.
    Unanswered,
    /// A 5xx other than "try later": a bug the round reports.
    ServerError,
}

async fn one_write(
    api: &Api,
    tenants: &Tenants,
    me: usize,
    tag: &str,
    rng: &mut Rng,
) -> Result<Vec<Ack>, Failure> {
    let home = &tenants.homes[me];
    match rng.below(100) {
        0..30 => {
            let body = tenantry_e2e::org_body(tag, "business_user", "service_provider", false);
            let org = api
                .write(Method::POST, "/v1/orgs", &tenants.provider, body)
                .await?;
            Ok(vec![Ack::Org(OrgId::from_key(id(&org["id"])))])
        }
        30..50 => {
            let body = json!({"name": format!("Member {tag}"), "email": format!("{tag}@crash.example"), "role": "member"});
            let member = api
                .write(
                    Method::POST,
                    &format!("/v1/orgs/{}/members", home.org),
                    &home.owner,
                    body,
                )
                .await?;
            Ok(vec![Ack::Membership(
                OrgId::from_key(key(&home.org)),
                UserId::from_key(id(&member["user_id"])),
            )])
        }
        50..70 => {
            let peer_index = rng.below(tenants.homes.len() as u64) as usize;
            let peer = &tenants.homes[peer_index];
            if peer_index == me {
                return Err(Failure::Refused);
            }
            let link = api
                .write(
                    Method::POST,
                    &format!("/v1/orgs/{}/links", home.org),
                    &home.owner,
                    json!({"target_org_id": peer.org}),
                )
                .await?;
            let link_id = text(&link["id"]);
            let link_key = LinkId::from_key(id(&link["id"]));
            let mut acks = vec![Ack::Link(link_key)];
            let accepted = api
                .write(
                    Method::POST,
                    &format!("/v1/orgs/{}/links/{link_id}/accept", peer.org),
                    &peer.owner,
                    Value::Null,
                )
                .await;
            match accepted {
                Ok(_) => {
                    acks.push(Ack::LinkActive(link_key));
                    tenants.links.lock().await[me].push(link_id);
                    Ok(acks)
                }
                // The invitation was acknowledged either way; a cut-off accept's fate is
                // unknown, so only the invitation is checked.
                Err(_) => Ok(acks),
            }
        }
        70..85 => {
            let team = api
                .write(
                    Method::POST,
                    &format!("/v1/orgs/{}/teams", home.org),
                    &home.owner,
                    json!({"name": format!("Team {tag}")}),
                )
                .await?;
            let mut acks = vec![Ack::Team(ResourceId::from_key(id(&team["id"])))];
            let link = {
                let links = tenants.links.lock().await;
                let mine = &links[me];
                (!mine.is_empty()).then(|| mine[rng.below(mine.len() as u64) as usize].clone())
            };
            if let Some(link) = link {
                let body = json!({"link_id": link, "resource": {"kind": "team", "id": team["id"]}});
                if let Ok(share) = api
                    .write(
                        Method::POST,
                        &format!("/v1/orgs/{}/shares", home.org),
                        &home.owner,
                        body,
                    )
                    .await
                {
                    acks.push(Ack::Share(ShareId::from_key(id(&share["id"]))));
                }
            }
            Ok(acks)
        }
        _ => {
            let source = format!("fn authorize(input) {{ abstain() }} // {tag}");
            let version = api
                .put_rhai(
                    &format!("/v1/orgs/{}/policies/authorize", home.org),
                    &home.owner,
                    source,
                )
                .await?;
            let number = version["number"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok());
            Ok(vec![Ack::PolicyVersion(
                OrgId::from_key(key(&home.org)),
                PolicyVersionId::from_key(id(&version["id"])),
                // A success without the version's number is a bug the round reports.
                number.ok_or(Failure::ServerError)?,
            )])
        }
    }
}

struct Api {
    base: String,
    client: Client,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// For set-up: any failure is an error, with the server's answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body = response.json::<Value>().await?;
        if !status.is_success() {
            anyhow::bail!("set-up request {path} answered {status}: {body}");
        }
        Ok(body)
    }

    async fn accept(&self, invitation: &Value) -> anyhow::Result<String> {
        let answer = self
            .client
            .post(format!("{}/v1/invitations/accept", self.base))
            .json(&json!({"token": invitation}))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        Ok(text(&answer["api_token"]))
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<Value, Failure> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if !body.is_null() {
            request = request.json(&body);
        }
        answer(request).await
    }

    async fn put_rhai(&self, path: &str, token: &str, source: String) -> Result<Value, Failure> {
        let request = self
            .client
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "text/x-rhai")
            .body(source);
        answer(request).await
    }
}

/// A success's body; a refusal; or no (complete) answer at all.
async fn answer(request: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let response = request.send().await.map_err(|_| Failure::Unanswered)?;
    let status = response.status();
    let body = response
        .json::<Value>()
        .await
        .map_err(|_| Failure::Unanswered);
    if status.is_success() {
        body
    } else if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        eprintln!("server error {status}: {:?}", body.ok());
        Err(Failure::ServerError)
    } else {
        Err(Failure::Refused)
    }
}

fn id(value: &Value) -> u128 {
    key(value.as_str().unwrap_or_default())
}

/// The storage key of an id; 0 (never a real id) when it is not one, so the check reports it.
fn key(id: &str) -> u128 {
    uuid::Uuid::parse_str(id).map_or(0, |u| u.as_u128())
}
