//! The trust model's routes at their edges: bad input answered clearly with nothing written,
//! each quota at its limit, and the paths the attack suite does not take.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_e2e::plugins::bare_plugin;
use tenantry_e2e::{Answer, TestServer, org_body};

async fn upload(s: &TestServer, token: &str, org: Option<&str>, bytes: Vec<u8>) -> Answer {
    let path = match org {
        Some(org) => format!("/v1/plugins?org={org}"),
        None => "/v1/plugins".to_owned(),
    };
    s.send(
        s.request(Method::POST, &path)
            .bearer_auth(token)
            .header("content-type", "application/wasm")
            .body(bytes),
    )
    .await
}

#[tokio::test]
async fn change_requests_are_answered_once_by_the_customer_only() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "careful", true).await;
    let (_, member) = s.member(&org, &owner, "Mo", "member").await;
    let (_, admin) = s.member(&org, &owner, "Ad", "admin").await;
    let asked = s
        .patch(
            &format!("/v1/orgs/{org}"),
            &sp,
            json!({"remote_support_requires_approval": false}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let id = asked.body["pending_changes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The organization shows what waits, to both sides.
    for token in [&owner, &sp] {
        let read = s.get(&format!("/v1/orgs/{org}"), token).await;
        assert_eq!(read.body["pending_changes"][0]["id"], id.as_str());
    }
    let path = |verb: &str| format!("/v1/orgs/{org}/change-requests/{id}/{verb}");
    assert_eq!(
        s.post_empty(&path("accept"), &member).await.status,
        StatusCode::FORBIDDEN,
        "a plain member does not consent"
    );
    assert_eq!(
        s.post_empty(
            &format!("/v1/orgs/{org}/change-requests/not-an-id/accept"),
            &owner
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(
        s.post_empty(
            &format!("/v1/orgs/{org}/change-requests/{unknown}/accept"),
            &owner
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // Another organization's request is not found from here.
    assert_eq!(
        s.post_empty(
            &format!("/v1/orgs/{sp_org}/change-requests/{id}/accept"),
            &sp
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // An admin may consent to switching approval off; once.
    let declined = s.post_empty(&path("decline"), &admin).await;
    assert_eq!(declined.status, StatusCode::OK, "{:?}", declined.body);
    assert_eq!(declined.body["status"], "declined");
    let again = s.post_empty(&path("accept"), &owner).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.detail().contains("declined"), "{}", again.detail());
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}"), &owner).await.body["remote_support_requires_approval"],
        true
    );
    // A newer request supersedes a pending one of the same kind.
    let first = s
        .patch(
            &format!("/v1/orgs/{org}"),
            &sp,
            json!({"remote_support_requires_approval": false}),
        )
        .await;
    let second = s
        .patch(
            &format!("/v1/orgs/{org}"),
            &sp,
            json!({"remote_support_requires_approval": false}),
        )
        .await;
    let listed = s
        .get(&format!("/v1/orgs/{org}/change-requests"), &owner)
        .await;
    let status_of = |id: &Value| {
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == *id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        status_of(&first.body["pending_changes"][0]["id"]),
        "superseded"
    );
    assert_eq!(
        status_of(&second.body["pending_changes"][0]["id"]),
        "pending"
    );
}

#[tokio::test]
async fn a_customer_without_anyone_to_consent_is_still_the_providers_to_set() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    // The owner has not accepted yet: nobody could consent, the provider still holds it.
    let created = s
        .create_org(&sp, org_body("fresh", "business_user", "customer", true))
        .await;
    let patched = s
        .patch(
            &format!("/v1/orgs/{}", created.id()),
            &sp,
            json!({"remote_support_requires_approval": false}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["remote_support_requires_approval"], false);
}

#[tokio::test]
async fn invitations_for_the_invitee_edges() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;
    // The operator has no invitations; ids that are not the caller's do not exist.
    assert_eq!(
        s.get("/v1/invitations", &s.operator).await.body["items"],
        json!([])
    );
    let invited = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &a_owner,
            json!({"name": "B", "email": "owner@beta.example", "role": "member"}),
        )
        .await;
    let listed = s.get("/v1/invitations", &b_owner).await;
    let id = listed.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed.body["items"][0]["org"]["tenant_id"], "alpha");
    assert!(listed.body["items"][0]["expires_at"].is_string());
    assert_eq!(
        s.post_empty(&format!("/v1/invitations/{id}/accept"), &a_owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.post_empty("/v1/invitations/nope/accept", &b_owner)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let accepted = s
        .post_empty(&format!("/v1/invitations/{id}/accept"), &b_owner)
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    // Used: by id and by token alike.
    assert_eq!(
        s.post_empty(&format!("/v1/invitations/{id}/accept"), &b_owner)
            .await
            .status,
        StatusCode::GONE
    );
    let by_token = s
        .post(
            "/v1/invitations/accept",
            &b_owner,
            json!({"token": invited.body["invitation_token"]}),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::GONE);
    // An owner's invitation is not declined (the organization would have no owner).
    let mut body = org_body("gamma", "business_user", "customer", true);
    body["owner"] = json!({"name": "B", "email": "owner@beta.example"});
    s.create_org(&sp, body).await;
    let pending = s.get("/v1/invitations", &b_owner).await;
    let owner_invitation = pending.body["items"][0]["id"].as_str().unwrap();
    assert_eq!(pending.body["items"][0]["role"], "owner");
    let refused = s
        .post_empty(
            &format!("/v1/invitations/{owner_invitation}/decline"),
            &b_owner,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.detail().contains("service provider"),
        "{}",
        refused.detail()
    );
    let _ = b;
}

/// The bytes quota of the next test server: room for exactly one plugin.
static ROOM: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[tokio::test]
async fn plugin_uploads_are_owned_counted_and_collected() {
    let fence = bare_plugin("region_fence");
    ROOM.store(fence.len(), std::sync::atomic::Ordering::Relaxed);
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.quotas.plugin_bytes_per_org = ROOM.load(std::sync::atomic::Ordering::Relaxed);
    })
    .await
    .unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let uploaded = upload(&s, &sp, Some(&sp_org), fence).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    let sha = uploaded.body["sha256"].as_str().unwrap().to_owned();
    let other = bare_plugin("business_hours");
    let refused = upload(&s, &sp, Some(&sp_org), other.clone()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(refused.detail().contains("plugin_bytes_per_org"));
    s.bind_customer_plugin(&sp_org, &sp, "link", &sha, json!({"allowed": []}))
        .await;
    // Giving up the upload while a kept version binds it frees no room (and keeps it stored).
    let deleted = s
        .delete(&format!("/v1/plugins/{sha}?org={sp_org}"), &sp)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&format!("/v1/plugins/{sha}"), &sp).await.status,
        StatusCode::OK,
        "a bound component is kept"
    );
    assert_eq!(
        upload(&s, &sp, Some(&sp_org), other.clone()).await.status,
        StatusCode::CONFLICT,
        "still counted: a version binds it"
    );
    assert_eq!(
        s.delete(&format!("/v1/plugins/{sha}?org={sp_org}"), &sp)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "the provider holds no upload of it any more"
    );
    // The operator's own uploads are on no quota.
    assert_eq!(
        upload(&s, &s.operator, None, other).await.status,
        StatusCode::CREATED
    );
    // Once nothing owns or binds it, the component is collected, and the server lets go of
    // its loaded copy and the file its code was mapped from.
    let file = s.data.path().join(format!("plugin-artifacts/{sha}.cwasm"));
    assert!(
        file.exists(),
        "the loaded plugin's code is mapped from its file"
    );
    let deleted = s.delete(&format!("/v1/orgs/{sp_org}"), &s.operator).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    assert_eq!(
        s.get(&format!("/v1/plugins/{sha}"), &s.operator)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "nothing owns or binds it: collected"
    );
    // What the sweeper's next pass does (it may have done it already).
    s.app().forget_collected_plugins().unwrap();
    assert!(!file.exists(), "the collected plugin's file is removed");
}

#[tokio::test]
async fn a_plugin_at_the_function_limit_is_taken_and_one_past_it_refused() {
    let fence = bare_plugin("region_fence");
    let functions = tenantry::policy::wasm::count_functions(&fence).unwrap();
    assert!(functions > 1);
    // The limit is a setting; the test sets it to the plugin's own count, then one below.
    static LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    for (limit, expected) in [
        (functions, StatusCode::CREATED),
        (functions - 1, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        LIMIT.store(limit, std::sync::atomic::Ordering::Relaxed);
        let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
            settings.wasm.max_functions = LIMIT.load(std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap();
        let (sp_org, sp) = s.provider("telco").await;
        let a = upload(&s, &sp, Some(&sp_org), fence.clone()).await;
        assert_eq!(a.status, expected, "limit {limit}: {:?}", a.body);
        if expected != StatusCode::CREATED {
            let reason = a.body["errors"][0]["reason"].as_str().unwrap();
            assert!(reason.starts_with("too_many_functions"), "{reason}");
        }
    }
}

#[tokio::test]
async fn providers_are_bounded_in_customers_and_plans() {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.quotas.customers_per_provider = 2;
        settings.quotas.plans_per_provider = 1;
    })
    .await
    .unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    for (slug, expected) in [
        ("one", StatusCode::CREATED),
        ("two", StatusCode::CREATED),
        ("three", StatusCode::CONFLICT),
    ] {
        let a = s
            .post(
                "/v1/orgs",
                &sp,
                org_body(slug, "business_user", "customer", true),
            )
            .await;
        assert_eq!(a.status, expected, "{slug}: {:?}", a.body);
    }
    let plan = |name: &str| json!({"name": name, "owner_org_id": sp_org, "limits": {"max_members": 5, "max_teams": 1, "max_active_links": 1, "max_remote_support_minutes": 15}});
    assert_eq!(
        s.post("/v1/plans", &sp, plan("A")).await.status,
        StatusCode::CREATED
    );
    let second = s.post("/v1/plans", &sp, plan("B")).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.detail().contains("plans_per_provider"));
    // The operator creates providers and is on no provider's quota.
    assert_eq!(
        s.post(
            "/v1/orgs",
            &s.operator,
            org_body("four", "business_user", "customer", true)
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_retired_operator_token_does_not_start_the_server_again() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let rotated = s
        .post("/v1/platform/operator-token", &s.operator, json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    // A user cannot rotate it.
    assert_eq!(
        s.post("/v1/platform/operator-token", &sp, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // The harness starts its servers with the original token, which is now retired.
    let stopped = s.stop().await.unwrap();
    let error = stopped.start().await.err().expect("refused to start");
    assert!(error.to_string().contains("retired"), "{error}");
}

#[tokio::test]
async fn remembered_answers_past_their_retention_are_pruned_and_the_key_runs_again() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "retry", true).await;
    let send = || {
        s.request(Method::POST, &format!("/v1/orgs/{org}/teams"))
            .bearer_auth(&owner)
            .header("idempotency-key", "weekly-sync")
            .json(&json!({"name": "Sync"}))
    };
    let first = s.send(send()).await;
    let replayed = s.send(send()).await;
    assert_eq!(replayed.body["id"], first.body["id"]);
    assert_eq!(s.app().prune_idempotency_once().await.unwrap(), 0);
    s.clock().advance(std::time::Duration::from_secs(25 * 3600));
    assert_eq!(s.app().prune_idempotency_once().await.unwrap(), 1);
    let again = s.send(send()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(
        again.body["id"], first.body["id"],
        "a new request after the retention"
    );
}

#[tokio::test]
async fn a_grant_adds_to_what_a_provider_does_and_takes_nothing_away() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_id, sp) = s.provider("telco").await;
    let (org, _owner) = s.customer(&sp, "acme", false).await;
    let grant = s
        .post(
            &format!("/v1/orgs/{org}/remote-support"),
            &sp,
            json!({"reason": "ticket 42", "minutes": 30, "scope": "read"}),
        )
        .await;
    assert_eq!(grant.body["status"], "granted", "{:?}", grant.body);
    let plan = s
        .post(
            "/v1/plans",
            &sp,
            json!({"name": "Desk", "owner_org_id": sp_id, "limits": {"max_members": 50, "max_teams": 10, "max_active_links": 10, "max_remote_support_minutes": 60}}),
        )
        .await;
    // Assigning a plan and tightening approval are the provider's own: a read grant it also
    // holds neither forbids them nor files them under the grant.
    let assigned = s
        .put(
            &format!("/v1/orgs/{org}/plan"),
            &sp,
            json!({"plan_id": plan.id()}),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.body);
    let tightened = s
        .patch(
            &format!("/v1/orgs/{org}"),
            &sp,
            json!({"remote_support_requires_approval": true}),
        )
        .await;
    assert_eq!(tightened.status, StatusCode::OK, "{:?}", tightened.body);
    let audit = s.get(&format!("/v1/orgs/{org}/audit"), &sp).await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let by_action = |action: &str| {
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no {action} in {:?}", audit.body))
    };
    assert_eq!(by_action("org.plan")["grant_id"], Value::Null);
    assert_eq!(by_action("org.update")["grant_id"], Value::Null);
    // What the grant is for is still done under it, and what no grant does stays refused.
    let members = s.get(&format!("/v1/orgs/{org}/members"), &sp).await;
    assert_eq!(members.status, StatusCode::OK);
    let invite = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &sp,
            json!({"name": "Mallory", "email": "m@telco.example", "role": "admin"}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN, "{:?}", invite.body);
}
