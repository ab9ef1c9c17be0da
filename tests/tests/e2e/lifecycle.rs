//! Organization life cycle: managed-by switches, plans, deletion with cascade, bulk import,
//! idempotent creation, and the invariants under concurrent requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_e2e::{TestServer, org_body};

#[tokio::test]
async fn managed_by_switches_both_ways_with_owner_hand_over() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let created = s
        .create_org(
            &sp,
            org_body("managed", "home_user", "service_provider", false),
        )
        .await;
    let org = created.id();
    assert!(created.body.get("owner_invitation_token").is_none());

    let missing = s
        .post(
            &format!("/v1/orgs/{org}/managed-by"),
            &sp,
            json!({"managed_by": "customer"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let switched = s.post(&format!("/v1/orgs/{org}/managed-by"), &sp, json!({"managed_by": "customer", "owner": {"name": "New Owner", "email": "new@managed.example"}})).await;
    assert_eq!(
        switched.body["managed_by"], "customer",
        "{:?}",
        switched.body
    );
    let owner = s
        .accept(switched.body["owner_invitation_token"].as_str().unwrap())
        .await;
    let members = s.get(&format!("/v1/orgs/{org}/members"), &owner).await;
    assert_eq!(members.body["items"][0]["role"], "owner");

    let no_demotion = s
        .post(
            &format!("/v1/orgs/{org}/managed-by"),
            &sp,
            json!({"managed_by": "service_provider"}),
        )
        .await;
    assert_eq!(no_demotion.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Taking a customer back demotes its owner: the owner consents first.
    let back = s
        .post(
            &format!("/v1/orgs/{org}/managed-by"),
            &sp,
            json!({"managed_by": "service_provider", "demote_owner_to": "admin"}),
        )
        .await;
    assert_eq!(back.status, StatusCode::ACCEPTED, "{:?}", back.body);
    assert_eq!(back.body["managed_by"], "customer");
    let request = back.body["pending_changes"][0]["id"].as_str().unwrap();
    let accepted = s
        .post_empty(
            &format!("/v1/orgs/{org}/change-requests/{request}/accept"),
            &owner,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}"), &sp).await.body["managed_by"],
        "service_provider"
    );
    let members = s.get(&format!("/v1/orgs/{org}/members"), &owner).await;
    assert_eq!(members.body["items"][0]["role"], "admin");
}

#[tokio::test]
async fn plans_limit_organizations_at_once() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (a, owner) = s.customer(&sp, "alpha", true).await;
    let tiny = s.post("/v1/plans", &sp, json!({"name": "Tiny", "owner_org_id": sp_org, "limits": {"max_members": 2, "max_teams": 1, "max_active_links": 1, "max_remote_support_minutes": 15}})).await;
    assert_eq!(tiny.status, StatusCode::CREATED, "{:?}", tiny.body);
    let greedy = s.post("/v1/plans", &sp, json!({"name": "Greedy", "owner_org_id": sp_org, "limits": {"max_members": 1000000, "max_teams": 1, "max_active_links": 1, "max_remote_support_minutes": 15}})).await;
    assert_eq!(
        greedy.status,
        StatusCode::FORBIDDEN,
        "a provider cannot give more than it has"
    );

    s.member(&a, &owner, "Ann", "member").await;
    s.member(&a, &owner, "Bob", "member").await;
    let too_small = s
        .call(
            Method::PUT,
            &format!("/v1/orgs/{a}/plan"),
            Some(&sp),
            Some(json!({"plan_id": tiny.id()})),
        )
        .await;
    assert_eq!(too_small.status, StatusCode::CONFLICT);
    assert_eq!(too_small.body["errors"][0]["field"], "limits.max_members");

    let (b, b_owner) = s.customer(&sp, "beta", true).await;
    let moved = s
        .call(
            Method::PUT,
            &format!("/v1/orgs/{b}/plan"),
            Some(&sp),
            Some(json!({"plan_id": tiny.id()})),
        )
        .await;
    assert_eq!(
        moved.body["plan_id"],
        tiny.id().as_str(),
        "{:?}",
        moved.body
    );
    assert!(
        s.get(&format!("/v1/orgs/{b}/events?limit=500"), &b_owner)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "plan.changed")
    );
    assert_eq!(
        s.post(
            &format!("/v1/orgs/{b}/teams"),
            &b_owner,
            json!({"name": "one"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let second = s
        .post(
            &format!("/v1/orgs/{b}/teams"),
            &b_owner,
            json!({"name": "two"}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    s.member(&b, &b_owner, "Cy", "member").await;
    let third = s
        .post(
            &format!("/v1/orgs/{b}/members"),
            &b_owner,
            json!({"name": "Di", "email": "di@beta.example", "role": "member"}),
        )
        .await;
    assert_eq!(
        third.status,
        StatusCode::CONFLICT,
        "max_members 2 holds: {:?}",
        third.body
    );

    let support = s
        .post(
            &format!("/v1/orgs/{b}/remote-support"),
            &sp,
            json!({"reason": "r", "minutes": 120, "scope": "read"}),
        )
        .await;
    let approved = s
        .post_empty(
            &format!("/v1/orgs/{b}/remote-support/{}/approve", support.id()),
            &b_owner,
        )
        .await;
    assert_eq!(
        approved.body["minutes_granted"], 15,
        "the plan caps the grant"
    );
}

#[tokio::test]
async fn deleting_an_organization_cascades_and_ends_links_on_both_sides() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;
    let link = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": b}),
        )
        .await
        .id();
    s.post_empty(&format!("/v1/orgs/{b}/links/{link}/accept"), &b_owner)
        .await;
    let team = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "T"}),
        )
        .await
        .id();
    s.post(
        &format!("/v1/orgs/{a}/shares"),
        &a_owner,
        json!({"link_id": link, "resource": {"kind": "team", "id": team}}),
    )
    .await;

    let provider_busy = s.delete(&format!("/v1/orgs/{sp_org}"), &s.operator).await;
    assert_eq!(
        provider_busy.status,
        StatusCode::CONFLICT,
        "a provider with customers stays"
    );
    assert_eq!(
        s.delete(&format!("/v1/orgs/{a}"), &sp).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{a}"), &s.operator).await.status,
        StatusCode::NOT_FOUND
    );
    let links = s.get(&format!("/v1/orgs/{b}/links"), &b_owner).await;
    assert_eq!(links.body["items"][0]["status"], "unlinked");
    assert!(
        s.get(&format!("/v1/orgs/{b}/shares?view=received"), &b_owner)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        s.get("/v1/orgs?q=alpha", &s.operator).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let again = s
        .create_org(&sp, org_body("alpha", "business_user", "customer", true))
        .await;
    assert_ne!(again.id(), a, "the tenant_id is free again");
}

#[tokio::test]
async fn ten_thousand_members_import_at_once_or_not_at_all() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, owner) = s.customer(&sp, "alpha", true).await;
    let mut csv = String::from("name,email,role,portal_access,pin\n");
    for i in 0..10_000 {
        writeln!(csv, "User {i},user{i}@alpha.example,member,true,").unwrap();
    }
    let mut broken = csv.clone();
    broken.push_str("Bad,not-an-email,admin,true,\nKiosk,,member,false,12\n");
    let refused = s
        .send(
            s.request(Method::POST, &format!("/v1/orgs/{a}/members/import"))
                .bearer_auth(&owner)
                .header("content-type", "text/csv")
                .body(broken),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rows: Vec<_> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(10_002, "email".to_owned()), (10_003, "pin".to_owned())]
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{a}/members"), &owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was imported"
    );

    let imported = s
        .send(
            s.request(Method::POST, &format!("/v1/orgs/{a}/members/import"))
                .bearer_auth(&owner)
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
    assert_eq!(imported.body["imported"], 10_000);
    let page = s
        .get(&format!("/v1/orgs/{a}/members?limit=500"), &owner)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 500);
    assert!(page.body["next_cursor"].is_string());

    let kiosks = "name,role,portal_access\nKiosk 1,member,false\nKiosk 2,member,false\n";
    let pins = s
        .send(
            s.request(
                Method::POST,
                &format!("/v1/orgs/{a}/members/import?auto_pins=true"),
            )
            .bearer_auth(&owner)
            .header("content-type", "text/csv")
            .body(kiosks),
        )
        .await;
    assert_eq!(pins.status, StatusCode::CREATED, "{:?}", pins.body);
    let pin = pins.body["members"][0]["pin"].as_str().unwrap();
    assert_eq!(pin.len(), 6);
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_has_one_effect() {
    let s = TestServer::spawn().await.unwrap();
    let body = org_body("once", "service_provider", "service_provider", false);
    let first = s
        .send(
            s.request(Method::POST, "/v1/orgs")
                .bearer_auth(&s.operator)
                .header("idempotency-key", "k-1")
                .json(&body),
        )
        .await;
    let second = s
        .send(
            s.request(Method::POST, "/v1/orgs")
                .bearer_auth(&s.operator)
                .header("idempotency-key", "k-1")
                .json(&body),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.body, second.body);
    let other_key = s
        .send(
            s.request(Method::POST, "/v1/orgs")
                .bearer_auth(&s.operator)
                .header("idempotency-key", "k-2")
                .json(&body),
        )
        .await;
    assert_eq!(
        other_key.status,
        StatusCode::CONFLICT,
        "a new key is a new request"
    );
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let s = TestServer::spawn().await.unwrap();
    assert_eq!(
        s.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
    let (_, sp) = s.provider("telco").await;
    s.get("/v1/orgs", &sp).await;
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains("tenantry_policy_decisions_total{hook=\"authorize\",verdict=\"allow\"}"),
        "{text}"
    );
    assert!(text.contains("tenantry_http_requests_total"));
    let doc = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1/orgs/{org}/links/{link}/accept"]["post"].is_object());
    // What each answer carries, as the server sends it (schemathesis checks the rest).
    let answers = |path: &str, method: &str| doc.body["paths"][path][method]["responses"].clone();
    assert_eq!(
        answers("/v1/orgs/{org}/teams/{team}", "delete")["204"],
        json!({"description": "done; no body"})
    );
    assert!(
        answers("/v1/orgs/{org}/links/{link}", "delete")["200"]["content"]["application/json"]
            .is_object()
    );
    assert!(
        answers("/v1/platform/backup", "get")["200"]["content"]["application/octet-stream"]
            .is_object()
    );
    let with_id = s
        .send(
            s.request(Method::GET, "/healthz")
                .header("x-request-id", "abc-123"),
        )
        .await;
    assert_eq!(with_id.status, StatusCode::OK);
}

#[tokio::test]
async fn outbox_events_past_their_retention_are_pruned_and_newer_ones_stay() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_id, sp) = s.provider("telco").await;
    assert!(
        events(&s, &sp_id, &sp).await > 0,
        "creating the provider wrote events"
    );
    assert_eq!(
        s.app().prune_events_once().await.unwrap(),
        0,
        "nothing is old yet"
    );
    s.clock()
        .advance(std::time::Duration::from_secs(31 * 24 * 3600));
    assert!(s.app().prune_events_once().await.unwrap() > 0);
    assert_eq!(events(&s, &sp_id, &sp).await, 0);
    let team = s
        .post(
            &format!("/v1/orgs/{sp_id}/teams"),
            &sp,
            json!({"name": "Ops"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED);
    s.app().prune_events_once().await.unwrap();
    assert_eq!(
        events(&s, &sp_id, &sp).await,
        1,
        "an event newer than the retention stays"
    );
}

async fn events(s: &TestServer, org: &str, token: &str) -> usize {
    s.get(&format!("/v1/orgs/{org}/events"), token).await.body["items"]
        .as_array()
        .map_or(0, Vec::len)
}
