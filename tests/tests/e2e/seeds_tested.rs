//! Behaviours of the seeds that were built but never exercised, each now told over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_e2e::{Answer, TestServer, org_body};

fn items(a: &Answer) -> Vec<Value> {
    a.body["items"].as_array().cloned().unwrap_or_default()
}

async fn kinds(s: &TestServer, org: &str, token: &str) -> Vec<String> {
    items(
        &s.get(&format!("/v1/orgs/{org}/events?limit=500"), token)
            .await,
    )
    .iter()
    .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
    .collect()
}

/// Two linked customers of one provider: (server, a, a's owner, b, b's owner, link).
async fn linked() -> (TestServer, String, String, String, String, String) {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;
    let link = s.linked(&a, &a_owner, &b, &b_owner).await;
    (s, a, a_owner, b, b_owner, link)
}

#[tokio::test]
async fn a_channel_is_shared_and_either_side_revokes_a_share() {
    let (s, a, a_owner, b, b_owner, link) = linked().await;
    let share = |id: String| {
        let path = format!("/v1/orgs/{a}/shares");
        let body = json!({"link_id": link, "resource": {"kind": "channel", "id": id}});
        let (s, owner) = (&s, &a_owner);
        async move { s.post(&path, owner, body).await }
    };
    let first = s
        .post(
            &format!("/v1/orgs/{a}/channels"),
            &a_owner,
            json!({"name": "Hotline", "kind": "voice"}),
        )
        .await;
    let shared = share(first.id()).await;
    assert_eq!(shared.status, StatusCode::CREATED, "{:?}", shared.body);
    assert_eq!(shared.body["resource"]["kind"], "channel");
    // The same channel twice over the same link is a conflict that adds nothing.
    let twice = share(first.id()).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{:?}", twice.body);
    assert_eq!(
        twice.body["detail"],
        "this channel is already shared over this link"
    );
    let received = s
        .get(&format!("/v1/orgs/{b}/shares?view=received"), &b_owner)
        .await;
    assert_eq!(items(&received)[0]["resource"]["name"], "Hotline");
    // The receiving side revokes it.
    let revoked = s
        .delete(&format!("/v1/orgs/{b}/shares/{}", shared.id()), &b_owner)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        items(
            &s.get(&format!("/v1/orgs/{a}/shares?view=sent"), &a_owner)
                .await
        ),
        Vec::<Value>::new()
    );
    // The sharing side revokes another; revoking twice is a conflict.
    let second = s
        .post(
            &format!("/v1/orgs/{a}/channels"),
            &a_owner,
            json!({"name": "Chat", "kind": "chat"}),
        )
        .await;
    let shared = share(second.id()).await;
    let path = format!("/v1/orgs/{a}/shares/{}", shared.id());
    assert_eq!(
        s.delete(&path, &a_owner).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.delete(&path, &a_owner).await.status, StatusCode::CONFLICT);
    // Both sides heard of every change.
    for (org, token) in [(&a, &a_owner), (&b, &b_owner)] {
        let shares = kinds(&s, org, token)
            .await
            .iter()
            .filter(|k| *k == "share.changed")
            .count();
        assert_eq!(shares, 4, "two shares made and revoked, seen by {org}");
    }
}

#[tokio::test]
async fn deleting_a_shared_resource_revokes_its_shares() {
    let (s, a, a_owner, b, b_owner, link) = linked().await;
    let team = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "Ops"}),
        )
        .await;
    s.post(
        &format!("/v1/orgs/{a}/shares"),
        &a_owner,
        json!({"link_id": link, "resource": {"kind": "team", "id": team.id()}}),
    )
    .await;
    assert_eq!(
        s.delete(&format!("/v1/orgs/{a}/teams/{}", team.id()), &a_owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        items(
            &s.get(&format!("/v1/orgs/{b}/shares?view=received"), &b_owner)
                .await
        ),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn every_editable_field_of_an_organization_is_edited() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "editable", true).await;
    let edit = json!({
        "name": "Editable AG",
        "subscription_model": "app",
        "remote_support_requires_approval": false,
        "country": "CH",
        "currency": "CHF",
        "region": "us-east",
        "billing": {"contact_name": "Bill", "email": "bill@editable.example", "address": "Main St 1", "tax_id": "CHE-1"},
        "buyer_tags": ["vip", "pilot"],
        "customer_reference": "CR-9",
        "external_contract": "K-9"
    });
    let edited = s
        .patch(&format!("/v1/orgs/{org}"), &owner, edit.clone())
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    let read = s.get(&format!("/v1/orgs/{org}"), &owner).await;
    for (field, value) in edit.as_object().unwrap() {
        assert_eq!(&read.body[field], value, "{field}");
    }
    assert_eq!(read.body["tenant_id"], "editable");
    let events = kinds(&s, &org, &owner).await;
    assert!(events.contains(&"org.updated".to_owned()));
    assert!(events.contains(&"org.approval_changed".to_owned()));
}

#[tokio::test]
async fn a_managed_by_hand_over_goes_to_an_existing_member() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let created = s
        .create_org(
            &sp,
            org_body("managed", "business_user", "service_provider", false),
        )
        .await;
    let org = created.id();
    // The future owner is a member already (the operator invited them; a provider's grant
    // mints no identity).
    let invited = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &s.operator,
            json!({"name": "Mia", "email": "mia@managed.example", "role": "admin"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    let mia = s
        .accept(invited.body["invitation_token"].as_str().unwrap())
        .await;
    let user = invited.body["user_id"].as_str().unwrap();
    let switched = s
        .post(
            &format!("/v1/orgs/{org}/managed-by"),
            &sp,
            json!({"managed_by": "customer", "owner_user_id": user}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:?}", switched.body);
    assert_eq!(switched.body["managed_by"], "customer");
    assert!(switched.body.get("owner_invitation_token").is_none());
    let members = s.get(&format!("/v1/orgs/{org}/members"), &mia).await;
    assert_eq!(items(&members)[0]["role"], "owner");
    let events = kinds(&s, &org, &mia).await;
    assert!(events.contains(&"org.managed_by_changed".to_owned()));
}

#[tokio::test]
async fn an_admin_imports_members_but_not_admins() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "imports", true).await;
    let (_, admin) = s.member(&org, &owner, "Ada", "admin").await;
    let import = |file: &'static str| {
        s.send(
            s.request(Method::POST, &format!("/v1/orgs/{org}/members/import"))
                .bearer_auth(&admin)
                .header("content-type", "text/csv")
                .body(file),
        )
    };
    let members =
        import("name,email,role\nBo,bo@imports.example,member\nCy,cy@imports.example,member\n")
            .await;
    assert_eq!(members.status, StatusCode::CREATED, "{:?}", members.body);
    assert_eq!(members.body["imported"], 2);
    let admins = import("name,email,role\nDi,di@imports.example,admin\n").await;
    assert_eq!(admins.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admins.detail(),
        "role `admin` may invite only `member`, not `admin`"
    );
    let events = kinds(&s, &org, &owner).await;
    assert!(
        events.iter().filter(|k| *k == "invitation.created").count() >= 3,
        "{events:?}"
    );
}

#[tokio::test]
async fn a_pending_link_is_cancelled_by_the_inviter() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
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
    assert_eq!(
        s.post_empty(&format!("/v1/orgs/{b}/links/{link}/cancel"), &b_owner)
            .await
            .status,
        StatusCode::CONFLICT,
        "only the inviter cancels"
    );
    let cancelled = s
        .post_empty(&format!("/v1/orgs/{a}/links/{link}/cancel"), &a_owner)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    let incoming = s
        .get(&format!("/v1/orgs/{b}/links?direction=incoming"), &b_owner)
        .await;
    assert_eq!(items(&incoming)[0]["status"], "cancelled");
    // The pair is free again.
    assert_eq!(
        s.post(
            &format!("/v1/orgs/{b}/links"),
            &b_owner,
            json!({"target_org_id": a})
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn remote_support_is_denied_by_the_customer_and_ended_by_the_provider() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "careful", true).await;
    let ask = || {
        let path = format!("/v1/orgs/{org}/remote-support");
        let (s, sp) = (&s, &sp);
        async move {
            s.post(
                &path,
                sp,
                json!({"reason": "ticket", "minutes": 30, "scope": "read"}),
            )
            .await
        }
    };
    let first = ask().await;
    assert_eq!(first.body["status"], "pending");
    let denied = s
        .post_empty(
            &format!("/v1/orgs/{org}/remote-support/{}/deny", first.id()),
            &owner,
        )
        .await;
    assert_eq!(denied.body["status"], "denied", "{:?}", denied.body);
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}/members"), &sp).await.status,
        StatusCode::FORBIDDEN,
        "no grant, no reading"
    );
    let second = ask().await;
    s.post_empty(
        &format!("/v1/orgs/{org}/remote-support/{}/approve", second.id()),
        &owner,
    )
    .await;
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}/members"), &sp).await.status,
        StatusCode::OK
    );
    let ended = s
        .post_empty(
            &format!("/v1/orgs/{org}/remote-support/{}/end", second.id()),
            &sp,
        )
        .await;
    assert_eq!(ended.body["status"], "ended", "{:?}", ended.body);
    let timeline: Vec<&str> = ended.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["requested", "approved", "activated", "ended"]);
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}/members"), &sp).await.status,
        StatusCode::FORBIDDEN
    );
    let changes = kinds(&s, &org, &owner)
        .await
        .iter()
        .filter(|k| *k == "remote_support.changed")
        .count();
    assert!(
        changes >= 4,
        "requested, denied, requested, approved, ended: {changes}"
    );
}
