//! The tenant isolation matrix: every route of the route table, asked by every kind of caller.
//!
//! For callers outside the victim organization the rule is exact: every answer about the victim
//! must be the answer about an organization that does not exist (same status, same body once
//! ids are masked), never a success, never naming the victim, and nothing may change. For the
//! victim's own members, its provider and grant holders, a table states the expected status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::api::routes::table;
use tenantry::app::invariants;
use tenantry_e2e::TestServer;

/// The ids a route's path parameters are filled with.
#[derive(Debug, Clone)]
struct Ids(BTreeMap<&'static str, String>);

impl Ids {
    fn path(&self, template: &str) -> String {
        let mut path = template.to_owned();
        for (name, id) in &self.0 {
            path = path.replace(&format!("{{{name}}}"), id);
        }
        path
    }

    /// The same shape with fresh ids that name nothing.
    fn phantom(&self) -> Self {
        Self(
            self.0
                .iter()
                .map(|(k, v)| {
                    let fresh = if *k == "hook" {
                        v.clone()
                    } else {
                        uuid::Uuid::now_v7().to_string()
                    };
                    (*k, fresh)
                })
                .collect(),
        )
    }

    fn mask(&self, text: &str) -> String {
        assert!(
            self.0.values().all(|id| !id.is_empty()),
            "every id was created: {self:?}"
        );
        self.0
            .iter()
            .filter(|(k, _)| **k != "hook")
            .fold(text.to_owned(), |t, (_, id)| t.replace(id.as_str(), "<id>"))
    }
}

/// A plausible body for each writing route, so a request gets past parsing to the access check.
fn body(method: &str, path: &str, ids: &Ids) -> Option<(String, &'static str)> {
    // Names and emails differ per call, so a repeated write is not refused as a duplicate.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let json = |v: Value| Some((v.to_string(), "application/json"));
    let org = &ids.0["org"];
    match (method, path) {
        ("patch", "/v1/orgs/{org}") => json(json!({"name": "Renamed"})),
        ("post", "/v1/orgs/{org}/managed-by") => {
            json(json!({"managed_by": "service_provider", "demote_owner_to": "admin"}))
        }
        ("put", "/v1/orgs/{org}/plan") => json(json!({"plan_id": null})),
        ("post", "/v1/orgs/{org}/members") => {
            json(json!({"name": "Eve", "email": format!("eve{n}@evil.example"), "role": "member"}))
        }
        ("patch", "/v1/orgs/{org}/members/{user}") => json(json!({"role": "admin"})),
        ("post", "/v1/orgs/{org}/members/import") => Some((
            format!("name,email,role\nEve,eve{n}@evil.example,member\n"),
            "text/csv",
        )),
        ("post" | "patch", p) if p.contains("/teams") => json(json!({"name": format!("Evil {n}")})),
        ("post", p) if p.contains("/channels") => {
            json(json!({"name": format!("Evil {n}"), "kind": "chat"}))
        }
        ("patch", p) if p.contains("/channels") => json(json!({"name": format!("Evil {n}")})),
        ("post", "/v1/orgs/{org}/links") => json(json!({"target_org_id": ids.0["peer"]})),
        ("post", "/v1/orgs/{org}/shares") => json(
            json!({"link_id": ids.0["link"], "resource": {"kind": "team", "id": ids.0["team"]}}),
        ),
        ("post", "/v1/orgs/{org}/remote-support") => {
            json(json!({"reason": "evil", "minutes": 30, "scope": "admin"}))
        }
        ("put", p) if p.contains("policies/{hook}") => Some((
            "fn authorize(input) { allow(\"evil\") }".into(),
            "text/x-rhai",
        )),
        ("post", p) if p.ends_with("/rollback") => json(json!({"version": 1})),
        ("post", p) if p.ends_with("/preview") => {
            json(json!({"candidate": "fn authorize(input) { abstain() }"}))
        }
        ("post", p) if p.ends_with("/diff") => {
            json(json!({"source": "fn authorize(input) { abstain() }", "cases": 10}))
        }
        ("post", "/v1/decisions/evaluate") => {
            json(json!({"hook": "authorize", "org": org, "action": "org.read"}))
        }
        ("post", "/v1/orgs/{org}/ownership") => json(json!({"user_id": ids.0["user"]})),
        ("post", "/v1/orgs/{org}/move") => json(json!({"service_provider_id": ids.0["peer"]})),
        ("post", "/v1/orgs/{org}/pins/verify") => {
            json(json!({"user_id": ids.0["user"], "pin": "1234"}))
        }
        ("put", p) if p.ends_with("/pin") => json(json!({"pin": "1234"})),
        _ => None,
    }
}

async fn ask(
    s: &TestServer,
    method: &str,
    template: &str,
    ids: &Ids,
    token: Option<&str>,
) -> (StatusCode, String) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = s.request(method.clone(), &ids.path(template));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some((text, media)) = body(method.as_str().to_lowercase().as_str(), template, ids) {
        request = request.header("content-type", media).body(text);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Record counts of every table a request could change (the decision log grows with every
/// decision, refusals included, so it is left out).
fn domain_counts(s: &TestServer) -> Vec<(String, u64)> {
    let now = s.clock().now();
    let report = s
        .app()
        .store
        .read(|view| invariants::check(view, now))
        .unwrap();
    report
        .counts
        .into_iter()
        .filter(|(table, _)| !tenantry::storage::decision_log::holds(table))
        .collect()
}

struct World {
    ids: Ids,
    /// Names that must never appear in an answer to an outsider.
    secrets: Vec<String>,
    callers: BTreeMap<&'static str, Option<String>>,
}

async fn world(s: &TestServer) -> World {
    let (provider, provider_owner) = s.provider("telco").await;
    let (_, provider_member) = s.member(&provider, &provider_owner, "Eng", "member").await;
    let (_, provider_reader) = s
        .member(&provider, &provider_owner, "Reader", "member")
        .await;
    let (victim, owner) = s.customer(&provider_owner, "victim", true).await;
    let (_, admin) = s.member(&victim, &owner, "Vera", "admin").await;
    let (_, member) = s.member(&victim, &owner, "Max", "member").await;
    // The member whose role and membership the routes with `{user}` change.
    let (target, _) = s.member(&victim, &owner, "Mia", "member").await;
    let (peer, peer_owner) = s.customer(&provider_owner, "partner", true).await;
    let team = s
        .post(
            &format!("/v1/orgs/{victim}/teams"),
            &owner,
            json!({"name": "Secret team"}),
        )
        .await
        .id();
    let channel = s
        .post(
            &format!("/v1/orgs/{victim}/channels"),
            &owner,
            json!({"name": "Secret channel", "kind": "chat"}),
        )
        .await
        .id();
    let link = s
        .post(
            &format!("/v1/orgs/{victim}/links"),
            &owner,
            json!({"target_org_id": peer}),
        )
        .await
        .id();
    s.post_empty(&format!("/v1/orgs/{peer}/links/{link}/accept"), &peer_owner)
        .await;
    let share = s
        .post(
            &format!("/v1/orgs/{victim}/shares"),
            &owner,
            json!({"link_id": link, "resource": {"kind": "team", "id": team}}),
        )
        .await
        .id();
    let support = |who: &str, scope: &str| {
        let who = who.to_owned();
        let scope = scope.to_owned();
        let path = format!("/v1/orgs/{victim}/remote-support");
        async move {
            s.post(
                &path,
                &who,
                json!({"reason": "ticket", "minutes": 30, "scope": scope}),
            )
            .await
            .id()
        }
    };
    let request = support(&provider_member, "admin").await;
    let read_request = support(&provider_reader, "read").await;
    for id in [&request, &read_request] {
        let approved = s
            .post_empty(
                &format!("/v1/orgs/{victim}/remote-support/{id}/approve"),
                &owner,
            )
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    }
    let version = s
        .put_rhai(
            &format!("/v1/orgs/{victim}/policies/authorize"),
            &owner,
            "fn authorize(input) { abstain() }",
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED);
    let token = s
        .post("/v1/tokens", &owner, json!({"name": "ci"}))
        .await
        .id();
    s.post(
        &format!("/v1/orgs/{victim}/members"),
        &owner,
        json!({"name": "Pending Pat", "email": "pat@victim.example", "role": "member"}),
    )
    .await;
    let invitation = s
        .get(&format!("/v1/orgs/{victim}/invitations"), &owner)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "pat@victim.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = s.post("/v1/tokens", &member, json!({"name": "old"})).await;
    s.delete(&format!("/v1/tokens/{}", revoked.id()), &member)
        .await;

    let (_, rival_owner) = s.provider("rival").await;
    let (outsider_org, outsider_owner) = s.customer(&rival_owner, "intruder", true).await;
    let (_, outsider_admin) = s
        .member(&outsider_org, &outsider_owner, "Ivan", "admin")
        .await;
    let (_, outsider_member) = s
        .member(&outsider_org, &outsider_owner, "Ida", "member")
        .await;

    let ids = Ids(BTreeMap::from([
        ("org", victim.clone()),
        ("hook", "authorize".to_owned()),
        ("user", target),
        ("team", team),
        ("channel", channel),
        ("link", link),
        ("share", share),
        ("request", request),
        ("token", token),
        ("peer", peer),
        ("invitation", invitation),
    ]));
    let callers = BTreeMap::from([
        ("anonymous", None),
        (
            "revoked token",
            Some(revoked.body["token"].as_str().unwrap().to_owned()),
        ),
        ("other org owner", Some(outsider_owner)),
        ("other org admin", Some(outsider_admin)),
        ("other org member", Some(outsider_member)),
        ("other provider owner", Some(rival_owner)),
        ("member", Some(member)),
        ("admin", Some(admin)),
        ("owner", Some(owner)),
        ("provider owner, no grant", Some(provider_owner)),
        ("provider member, read grant", Some(provider_reader)),
        ("provider member, admin grant", Some(provider_member)),
        ("operator", Some(s.operator.clone())),
    ]);
    World {
        ids,
        secrets: vec![
            "victim".into(),
            "Secret".into(),
            "Vera".into(),
            "Max".into(),
        ],
        callers,
    }
}

const OUTSIDERS: [&str; 4] = [
    "other org owner",
    "other org admin",
    "other org member",
    "other provider owner",
];

/// Every route that names an organization, a token, or takes an organization in its body.
fn scoped_routes() -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .map(|(doc, _)| (doc.method, doc.path))
        .filter(|(_, path)| {
            path.contains("{org}") || path.contains("{token}") || *path == "/v1/decisions/evaluate"
        })
        .collect()
}

#[tokio::test]
async fn outsiders_learn_nothing_and_change_nothing_on_any_route() {
    let s = TestServer::spawn().await.unwrap();
    let w = world(&s).await;
    let phantom = w.ids.phantom();
    let before = domain_counts(&s);
    let routes = scoped_routes();
    assert!(
        routes.len() >= 40,
        "the route table has {} scoped routes",
        routes.len()
    );
    let mut cells = 0;
    let mut failures = Vec::new();
    // Reads first, then writes, deletes last: an outsider's delete that wrongly succeeded must
    // not hide a later cell.
    let order = |m: &str| match m {
        "get" => 0,
        "delete" => 2,
        _ => 1,
    };
    let mut routes = routes;
    routes.sort_by_key(|(m, _)| order(m));
    for (method, path) in &routes {
        for caller in OUTSIDERS {
            let token = w.callers[caller].as_deref();
            let (real_status, real_body) = ask(&s, method, path, &w.ids, token).await;
            let (ghost_status, ghost_body) = ask(&s, method, path, &phantom, token).await;
            cells += 1;
            let cell = format!("{} {path} as {caller}", method.to_uppercase());
            if real_status.is_success() {
                failures.push(format!("{cell}: {real_status} {real_body}"));
            }
            if (real_status, w.ids.mask(&real_body)) != (ghost_status, phantom.mask(&ghost_body)) {
                failures.push(format!(
                    "{cell}: {real_status} {real_body} differs from a missing organization's {ghost_status} {ghost_body}"
                ));
            }
            if let Some(secret) = w.secrets.iter().find(|n| real_body.contains(n.as_str())) {
                failures.push(format!("{cell}: the answer names `{secret}`: {real_body}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells leak:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(domain_counts(&s), before, "outsiders changed nothing");
}

#[tokio::test]
async fn without_a_valid_token_every_authenticated_route_is_401() {
    let s = TestServer::spawn().await.unwrap();
    let w = world(&s).await;
    let mut failures = Vec::new();
    for (doc, _) in table().into_iter().filter(|(doc, _)| doc.auth) {
        for caller in ["anonymous", "revoked token"] {
            let (status, body) = ask(
                &s,
                doc.method,
                doc.path,
                &w.ids,
                w.callers[caller].as_deref(),
            )
            .await;
            if status != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{} {} as {caller}: {status} {body}",
                    doc.method, doc.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Expected statuses inside the tenant, one row per route, one column per caller in
/// [`INSIDERS`] order.
const INSIDERS: [&str; 7] = [
    "member",
    "admin",
    "owner",
    "provider owner, no grant",
    "provider member, read grant",
    "provider member, admin grant",
    "operator",
];

#[tokio::test]
async fn insiders_get_what_their_role_and_grant_allow() {
    let s = TestServer::spawn().await.unwrap();
    let w = world(&s).await;
    let rows: [(&str, &str, [u16; 7]); 12] = [
        ("get", "/v1/orgs/{org}", [200, 200, 200, 200, 200, 200, 200]),
        (
            "get",
            "/v1/orgs/{org}/members",
            [200, 200, 200, 403, 200, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/teams",
            [200, 200, 200, 403, 200, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/links",
            [200, 200, 200, 403, 200, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/shares",
            [200, 200, 200, 403, 200, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/audit",
            [403, 200, 200, 200, 403, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/decisions",
            [403, 200, 200, 200, 403, 200, 200],
        ),
        (
            "get",
            "/v1/orgs/{org}/policies/{hook}/versions",
            [403, 200, 200, 200, 403, 403, 200],
        ),
        // Nothing done under a grant outlasts it: no invitation, so no new credential.
        (
            "post",
            "/v1/orgs/{org}/members",
            [403, 201, 201, 403, 403, 403, 201],
        ),
        (
            "patch",
            "/v1/orgs/{org}/members/{user}",
            [403, 403, 200, 403, 403, 403, 200],
        ),
        (
            "post",
            "/v1/orgs/{org}/teams",
            [403, 201, 201, 403, 403, 201, 201],
        ),
        (
            "put",
            "/v1/orgs/{org}/policies/{hook}",
            [403, 201, 201, 403, 403, 403, 201],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, expected) in rows {
        for (caller, want) in INSIDERS.iter().zip(expected) {
            let (status, body) = ask(&s, method, path, &w.ids, w.callers[caller].as_deref()).await;
            if status.as_u16() != want {
                failures.push(format!(
                    "{method} {path} as {caller}: want {want}, got {status} {body}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An expired grant is no grant.
    s.clock().advance(std::time::Duration::from_secs(31 * 60));
    let (status, _) = ask(
        &s,
        "get",
        "/v1/orgs/{org}/members",
        &w.ids,
        w.callers["provider member, read grant"].as_deref(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
