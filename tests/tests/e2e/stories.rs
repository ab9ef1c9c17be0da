//! The seeds' stories, told over real HTTP against the real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tenantry_e2e::{TestServer, org_body};

#[tokio::test]
async fn provider_onboards_a_customer_whose_admin_cannot_invite_admins() {
    let s = TestServer::spawn().await.unwrap();
    let (provider, provider_owner) = s.provider("telco").await;
    let p = s
        .get(&format!("/v1/orgs/{provider}"), &provider_owner)
        .await;
    assert_eq!(p.body["hierarchy"], "supernode");

    let created = s
        .create_org(
            &provider_owner,
            org_body("acme", "business_user", "customer", true),
        )
        .await;
    assert_eq!(created.body["service_provider_id"], provider.as_str());
    assert_eq!(created.body["hierarchy"], "node");
    let customer = created.id();
    let owner = s
        .accept(created.body["owner_invitation_token"].as_str().unwrap())
        .await;

    let (_, admin) = s.member(&customer, &owner, "Ada", "admin").await;
    let refused = s
        .post(
            &format!("/v1/orgs/{customer}/members"),
            &admin,
            json!({"name": "Bob", "email": "bob@acme.example", "role": "admin"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.detail(),
        "role `admin` may invite only `member`, not `admin`"
    );
    assert_eq!(refused.content_type, "application/problem+json");

    let (_, member) = s.member(&customer, &admin, "Cy", "member").await;
    let nope = s
        .post(
            &format!("/v1/orgs/{customer}/members"),
            &member,
            json!({"name": "Di", "email": "di@acme.example", "role": "member"}),
        )
        .await;
    assert_eq!(nope.status, StatusCode::FORBIDDEN);
    let members = s
        .get(&format!("/v1/orgs/{customer}/members"), &member)
        .await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn linked_organizations_share_a_team_until_they_unlink() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;

    let link = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": b, "target_region": "eu-central"}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{:?}", link.body);
    assert_eq!(link.body["status"], "pending");
    let link_id = link.id();
    let incoming = s
        .get(&format!("/v1/orgs/{b}/links?direction=incoming"), &b_owner)
        .await;
    assert_eq!(incoming.body["items"][0]["peer"]["name"], "alpha Inc");
    assert_eq!(incoming.body["items"][0]["peer"]["region"], "eu-central");
    let accepted = s
        .post_empty(&format!("/v1/orgs/{b}/links/{link_id}/accept"), &b_owner)
        .await;
    assert_eq!(accepted.body["status"], "active", "{:?}", accepted.body);

    let team = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "Tier 2"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED);
    let share = s
        .post(
            &format!("/v1/orgs/{a}/shares"),
            &a_owner,
            json!({"link_id": link_id, "resource": {"kind": "team", "id": team.id()}}),
        )
        .await;
    assert_eq!(share.status, StatusCode::CREATED, "{:?}", share.body);
    let received = s
        .get(&format!("/v1/orgs/{b}/shares?view=received"), &b_owner)
        .await;
    assert_eq!(received.body["items"][0]["resource"]["name"], "Tier 2");
    assert_eq!(received.body["items"][0]["resource"]["kind"], "team");
    let sent = s
        .get(&format!("/v1/orgs/{a}/shares?view=sent"), &a_owner)
        .await;
    assert_eq!(sent.body["items"].as_array().unwrap().len(), 1);

    let unlinked = s
        .delete(&format!("/v1/orgs/{b}/links/{link_id}"), &b_owner)
        .await;
    assert_eq!(unlinked.body["status"], "unlinked");
    let received = s
        .get(&format!("/v1/orgs/{b}/shares?view=received"), &b_owner)
        .await;
    assert!(received.body["items"].as_array().unwrap().is_empty());
    let history = s.get(&format!("/v1/orgs/{a}/links"), &a_owner).await;
    let statuses: Vec<_> = history.body["items"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("pending"), json!("active"), json!("unlinked")]
    );
}

#[tokio::test]
async fn a_declined_link_is_resent_and_accepted() {
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
    let declined = s
        .post_empty(&format!("/v1/orgs/{b}/links/{link}/decline"), &b_owner)
        .await;
    assert_eq!(declined.body["status"], "declined");
    let wrong_side = s
        .post_empty(&format!("/v1/orgs/{b}/links/{link}/resend"), &b_owner)
        .await;
    assert_eq!(wrong_side.status, StatusCode::CONFLICT);
    let resent = s
        .post_empty(&format!("/v1/orgs/{a}/links/{link}/resend"), &a_owner)
        .await;
    assert_eq!(resent.body["status"], "pending", "{:?}", resent.body);
    let accepted = s
        .post_empty(&format!("/v1/orgs/{b}/links/{link}/accept"), &b_owner)
        .await;
    assert_eq!(accepted.body["status"], "active");
}

#[tokio::test]
async fn the_eleventh_active_link_is_refused() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (hub, hub_owner) = s.customer(&sp, "hub", true).await;
    let mut last = None;
    for i in 0..11 {
        let (spoke, spoke_owner) = s.customer(&sp, &format!("spoke-{i}"), true).await;
        let link = s
            .post(
                &format!("/v1/orgs/{spoke}/links"),
                &spoke_owner,
                json!({"target_org_id": hub}),
            )
            .await
            .id();
        last = Some(
            s.post_empty(&format!("/v1/orgs/{hub}/links/{link}/accept"), &hub_owner)
                .await,
        );
        if i < 10 {
            assert_eq!(last.as_ref().unwrap().status, StatusCode::OK);
        }
    }
    let refused = last.unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(
        refused.detail(),
        "the invited organization has reached its cap of 10 active links"
    );
    let active = s
        .get(
            &format!("/v1/orgs/{hub}/links?status=active&limit=100"),
            &hub_owner,
        )
        .await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn remote_support_waits_for_approval_then_lets_the_provider_in_until_it_expires() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (_, engineer) = s.member(&sp_org, &sp, "Eng", "member").await;
    let (customer, owner) = s.customer(&sp, "acme", true).await;

    let before = s
        .get(&format!("/v1/orgs/{customer}/members"), &engineer)
        .await;
    assert_eq!(before.status, StatusCode::FORBIDDEN);
    assert!(
        before.detail().contains("needs a remote support grant"),
        "{}",
        before.detail()
    );

    let req = s
        .post(
            &format!("/v1/orgs/{customer}/remote-support"),
            &engineer,
            json!({"reason": "ticket 42", "minutes": 30, "scope": "read"}),
        )
        .await;
    assert_eq!(req.status, StatusCode::CREATED, "{:?}", req.body);
    assert_eq!(req.body["status"], "pending");
    let id = req.id();

    let own = s
        .post_empty(
            &format!("/v1/orgs/{customer}/remote-support/{id}/approve"),
            &engineer,
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);

    let approved = s
        .post_empty(
            &format!("/v1/orgs/{customer}/remote-support/{id}/approve"),
            &owner,
        )
        .await;
    assert_eq!(approved.body["status"], "granted", "{:?}", approved.body);
    assert_eq!(approved.body["minutes_granted"], 30);

    let during = s
        .get(&format!("/v1/orgs/{customer}/members"), &engineer)
        .await;
    assert_eq!(during.status, StatusCode::OK);
    // Reads under a grant are audited as such (moments after the read).
    let mut audited = false;
    for _ in 0..50 {
        let audit = s
            .get(&format!("/v1/orgs/{customer}/audit?limit=500"), &owner)
            .await;
        audited = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "member.list" && e["grant_id"] == id.as_str());
        if audited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        audited,
        "the read under the grant is in the customer's audit log"
    );
    let write = s
        .post(
            &format!("/v1/orgs/{customer}/teams"),
            &engineer,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        write.status,
        StatusCode::FORBIDDEN,
        "a read grant does not write"
    );

    s.clock().advance(Duration::from_secs(31 * 60));
    let after = s
        .get(&format!("/v1/orgs/{customer}/members"), &engineer)
        .await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
    let listed = s
        .get(&format!("/v1/orgs/{customer}/remote-support"), &owner)
        .await;
    let events: Vec<_> = listed.body["items"][0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["requested", "approved", "activated", "expired"]);
}

#[tokio::test]
async fn an_admin_grant_acts_audited_and_the_customer_revokes_it() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (customer, owner) = s.customer(&sp, "acme", false).await;
    let req = s
        .post(
            &format!("/v1/orgs/{customer}/remote-support"),
            &sp,
            json!({"reason": "setup", "minutes": 60, "scope": "admin"}),
        )
        .await;
    assert_eq!(
        req.body["status"], "granted",
        "no approval needed: {:?}",
        req.body
    );
    let team = s
        .post(
            &format!("/v1/orgs/{customer}/teams"),
            &sp,
            json!({"name": "Installed by provider"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{:?}", team.body);
    // Reads under a grant are audited moments after they happen: given that time, the
    // creation still shows once, as the write it was.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit = s
        .get(&format!("/v1/orgs/{customer}/audit?limit=500"), &owner)
        .await;
    let creations: Vec<_> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "team.create")
        .cloned()
        .collect();
    assert_eq!(
        creations.len(),
        1,
        "one creation, audited once: {creations:?}"
    );
    assert_eq!(creations[0]["grant_id"], req.id().as_str());
    assert_eq!(creations[0]["target"], team.body["id"]);

    let revoked = s
        .post_empty(
            &format!("/v1/orgs/{customer}/remote-support/{}/revoke", req.id()),
            &owner,
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked");
    let after = s
        .post(
            &format!("/v1/orgs/{customer}/teams"),
            &sp,
            json!({"name": "again"}),
        )
        .await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_suspended_organization_is_read_only_for_its_members() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (customer, owner) = s.customer(&sp, "acme", true).await;
    let suspended = s
        .post_empty(&format!("/v1/orgs/{customer}/suspend"), &sp)
        .await;
    assert_eq!(
        suspended.body["status"], "suspended",
        "{:?}",
        suspended.body
    );
    let write = s
        .post(
            &format!("/v1/orgs/{customer}/teams"),
            &owner,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        write.detail(),
        "organization `acme` is suspended and read-only"
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{customer}/teams"), &owner)
            .await
            .status,
        StatusCode::OK
    );
    let owner_reactivates = s
        .post_empty(&format!("/v1/orgs/{customer}/reactivate"), &owner)
        .await;
    assert_eq!(owner_reactivates.status, StatusCode::FORBIDDEN);
    s.post_empty(&format!("/v1/orgs/{customer}/reactivate"), &sp)
        .await;
    assert_eq!(
        s.post(
            &format!("/v1/orgs/{customer}/teams"),
            &owner,
            json!({"name": "x"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_restart() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (customer, owner) = s.customer(&sp, "acme", true).await;
    let team = s
        .post(
            &format!("/v1/orgs/{customer}/teams"),
            &owner,
            json!({"name": "Night shift"}),
        )
        .await
        .id();
    let s = s.restart().await.unwrap();
    let read = s
        .get(&format!("/v1/orgs/{customer}/teams/{team}"), &owner)
        .await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "the owner's token and the team survived: {:?}",
        read.body
    );
    assert_eq!(read.body["name"], "Night shift");
    let found = s.get("/v1/orgs?q=acm", &s.operator).await;
    assert_eq!(found.body["items"][0]["tenant_id"], "acme");
}

#[tokio::test]
async fn pending_links_and_requests_expire_and_free_their_slot() {
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
    let request = s
        .post(
            &format!("/v1/orgs/{a}/remote-support"),
            &sp,
            json!({"reason": "r", "minutes": 30, "scope": "read"}),
        )
        .await
        .id();

    s.clock().advance(Duration::from_secs(15 * 24 * 3600));
    let listed = s.get(&format!("/v1/orgs/{b}/links"), &b_owner).await;
    assert_eq!(
        listed.body["items"][0]["status"], "expired",
        "deadlines apply at read time"
    );
    let late = s
        .post_empty(&format!("/v1/orgs/{b}/links/{link}/accept"), &b_owner)
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    let requests = s
        .get(&format!("/v1/orgs/{a}/remote-support"), &a_owner)
        .await;
    assert_eq!(requests.body["items"][0]["status"], "expired");
    let approve = s
        .post_empty(
            &format!("/v1/orgs/{a}/remote-support/{request}/approve"),
            &a_owner,
        )
        .await;
    assert_eq!(approve.status, StatusCode::CONFLICT);

    assert_eq!(
        s.app().sweep().await.unwrap(),
        2,
        "the sweeper writes both expiries down"
    );
    let events = s
        .get(&format!("/v1/orgs/{b}/events?limit=500"), &b_owner)
        .await;
    assert!(
        events.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "link.status_changed" && e["data"]["status"] == "expired")
    );
    let again = s
        .post(
            &format!("/v1/orgs/{b}/links"),
            &b_owner,
            json!({"target_org_id": a}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the pair is free again: {:?}",
        again.body
    );
}

#[tokio::test]
async fn users_without_portal_access_get_a_one_time_pin() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, owner) = s.customer(&sp, "alpha", true).await;
    let kiosk = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &owner,
            json!({"name": "Front desk", "role": "member", "portal_access": false, "pin": "auto"}),
        )
        .await;
    assert_eq!(kiosk.status, StatusCode::CREATED, "{:?}", kiosk.body);
    let pin = kiosk.body["pin"].as_str().unwrap();
    assert!(pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()));
    assert!(kiosk.body.get("invitation_token").is_none());
    assert_eq!(kiosk.body["status"], "active");
    let listed = s.get(&format!("/v1/orgs/{a}/members"), &owner).await;
    let shown = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Front desk")
        .unwrap()
        .clone();
    assert_eq!(shown["has_pin"], true);
    assert!(
        !listed.body.to_string().contains(pin),
        "the PIN is shown once, never listed"
    );
    let bad = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &owner,
            json!({"name": "X", "role": "member", "portal_access": false, "pin": "12"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
