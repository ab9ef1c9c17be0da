//! The seeds completed: PINs that work, invitations that can be renewed, hand-overs, shared
//! resources a peer can use, plans with features, member administration, search that pages
//! through every match, and privacy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_e2e::{Answer, TestServer, org_body};

fn items(a: &Answer) -> Vec<Value> {
    a.body["items"].as_array().cloned().unwrap_or_default()
}

fn names(a: &Answer) -> Vec<String> {
    items(a)
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn csv(s: &TestServer, org: &str, token: &str, file: &str, query: &str) -> Answer {
    s.send(
        s.request(
            Method::POST,
            &format!("/v1/orgs/{org}/members/import{query}"),
        )
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(file.to_owned()),
    )
    .await
}

#[tokio::test]
async fn a_desk_phone_checks_pins_by_extension_and_guessing_locks_out() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "phones", true).await;
    let desk = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Front desk", "role": "member", "portal_access": false, "pin": "auto", "extension": "100"}),
        )
        .await;
    assert_eq!(desk.status, StatusCode::CREATED, "{:?}", desk.body);
    assert_eq!(desk.body["extension"], "100");
    let pin = desk.body["pin"].as_str().unwrap().to_owned();
    let desk_id = desk.body["user_id"].as_str().unwrap().to_owned();
    let verify = |body: Value| {
        let path = format!("/v1/orgs/{org}/pins/verify");
        let (s, owner) = (&s, &owner);
        async move { s.post(&path, owner, body).await }
    };
    let ok = verify(json!({"extension": "100", "pin": pin})).await;
    assert_eq!(
        ok.body,
        json!({"valid": true, "user_id": desk_id, "name": "Front desk"})
    );
    let by_id = verify(json!({"user_id": desk_id, "pin": pin})).await;
    assert_eq!(by_id.body["valid"], true);
    // A wrong PIN and an unknown extension answer alike.
    let wrong = verify(json!({"extension": "100", "pin": "000000"})).await;
    let nobody = verify(json!({"extension": "999", "pin": pin})).await;
    assert_eq!(wrong.body, json!({"valid": false}));
    assert_eq!(nobody.body, wrong.body);
    let both = verify(json!({"extension": "100", "user_id": desk_id, "pin": pin})).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Five wrong in a row lock the member: the right PIN fails too, and the audit says so.
    for _ in 0..4 {
        verify(json!({"extension": "100", "pin": "000000"})).await;
    }
    assert_eq!(
        verify(json!({"extension": "100", "pin": pin})).await.body["valid"],
        false
    );
    let audit = s
        .get(&format!("/v1/orgs/{org}/audit?limit=500"), &owner)
        .await;
    assert!(
        items(&audit).iter().any(|e| e["action"] == "pin.locked"),
        "{:?}",
        audit.body
    );
    // An admin sets a new PIN (shown only when generated): the member is unlocked.
    let set = s
        .put(
            &format!("/v1/orgs/{org}/members/{desk_id}/pin"),
            &owner,
            json!({"pin": "4321"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert!(set.body.get("pin").is_none());
    assert_eq!(
        verify(json!({"extension": "100", "pin": "4321"}))
            .await
            .body["valid"],
        true
    );
    let bad = s
        .put(
            &format!("/v1/orgs/{org}/members/{desk_id}/pin"),
            &owner,
            json!({"pin": "12"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "pin");
    // Portal users get a PIN when an admin asks; a plain member cannot check PINs.
    let (ada, ada_token) = s.member(&org, &owner, "Ada", "admin").await;
    let generated = s
        .put(
            &format!("/v1/orgs/{org}/members/{ada}/pin"),
            &owner,
            json!({"pin": "auto"}),
        )
        .await;
    assert_eq!(generated.body["pin"].as_str().unwrap().len(), 6);
    let (_, member) = s.member(&org, &owner, "Mo", "member").await;
    assert_eq!(
        s.post(
            &format!("/v1/orgs/{org}/pins/verify"),
            &member,
            json!({"user_id": ada, "pin": "1234"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // An admin sets members' PINs, not other admins'.
    let refused = s
        .put(
            &format!("/v1/orgs/{org}/members/{ada}/pin"),
            &ada_token,
            json!({"pin": "auto"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Extensions are unique within the organization.
    let taken = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Back desk", "role": "member", "portal_access": false, "extension": "100"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{:?}", taken.body);
}

#[tokio::test]
async fn guessing_pins_across_an_organization_is_refused_after_a_while() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "guessed", true).await;
    let mut statuses = Vec::new();
    for n in 0..=tenantry::app::pins::ORG_FAILURES {
        let a = s
            .post(
                &format!("/v1/orgs/{org}/pins/verify"),
                &owner,
                json!({"extension": format!("{n}"), "pin": "1234"}),
            )
            .await;
        statuses.push(a.status);
    }
    assert!(statuses[..50].iter().all(|s| *s == StatusCode::OK));
    assert_eq!(statuses[50], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn invitations_are_listed_renewed_and_withdrawn() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "renewing", true).await;
    let first = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Late Larry", "email": "larry@renewing.example", "role": "member"}),
        )
        .await;
    let old_token = first.body["invitation_token"].as_str().unwrap().to_owned();
    let listed = s.get(&format!("/v1/orgs/{org}/invitations"), &owner).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let pending: Vec<Value> = items(&listed)
        .into_iter()
        .filter(|i| i["email"] == "larry@renewing.example")
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["expired"], false);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    // Thirty-one days later it has expired; it is still listed, and can be renewed.
    s.clock().advance(Duration::from_secs(31 * 24 * 3600));
    let listed = s.get(&format!("/v1/orgs/{org}/invitations"), &owner).await;
    assert!(
        items(&listed)
            .iter()
            .any(|i| i["id"] == id.as_str() && i["expired"] == true)
    );
    let renewed = s
        .post_empty(&format!("/v1/orgs/{org}/invitations/{id}/resend"), &owner)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    assert_eq!(renewed.body["expired"], false);
    let new_token = renewed.body["invitation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Re-inviting renews too, instead of "already a member".
    let again = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Larry", "email": "larry@renewing.example", "role": "member"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    let newest = again.body["invitation_token"].as_str().unwrap().to_owned();
    for dead in [old_token, new_token] {
        let a = s
            .call(
                Method::POST,
                "/v1/invitations/accept",
                None,
                Some(json!({"token": dead})),
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "a renewed token is dead");
    }
    s.accept(&newest).await;
    // A withdrawn invitation takes its pending membership with it.
    let withdrawn = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Gone", "email": "gone@renewing.example", "role": "member"}),
        )
        .await;
    let listed = s.get(&format!("/v1/orgs/{org}/invitations"), &owner).await;
    let id = items(&listed)
        .iter()
        .find(|i| i["email"] == "gone@renewing.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = s
        .delete(&format!("/v1/orgs/{org}/invitations/{id}"), &owner)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let members = s.get(&format!("/v1/orgs/{org}/members"), &owner).await;
    assert!(!names(&members).contains(&"Gone".to_owned()));
    let token = withdrawn.body["invitation_token"].as_str().unwrap();
    let dead = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(dead.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_owner_hands_over_to_an_admin() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "handing", true).await;
    let (admin, admin_token) = s.member(&org, &owner, "Ada", "admin").await;
    let (member, _) = s.member(&org, &owner, "Mo", "member").await;
    let path = format!("/v1/orgs/{org}/ownership");
    let to_member = s.post(&path, &owner, json!({"user_id": member})).await;
    assert_eq!(
        to_member.status,
        StatusCode::CONFLICT,
        "{:?}",
        to_member.body
    );
    let by_admin = s.post(&path, &admin_token, json!({"user_id": admin})).await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);
    let done = s.post(&path, &owner, json!({"user_id": admin})).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let members = s
        .get(&format!("/v1/orgs/{org}/members"), &admin_token)
        .await;
    let role_of =
        |name: &str| items(&members).iter().find(|m| m["name"] == name).unwrap()["role"].clone();
    assert_eq!(role_of("Ada"), "owner");
    assert_eq!(role_of("Owner of handing"), "admin");
    let events = s.get(&format!("/v1/orgs/{org}/events"), &admin_token).await;
    assert!(
        items(&events)
            .iter()
            .any(|e| e["kind"] == "org.owner_changed")
    );
}

#[tokio::test]
async fn the_operator_moves_a_customer_to_another_provider() {
    let s = TestServer::spawn().await.unwrap();
    let (old_sp, old) = s.provider("oldtel").await;
    let (new_sp, new) = s.provider("newtel").await;
    let (org, owner) = s.customer(&old, "mover", false).await;
    // The old provider's plan and an active grant of its technician.
    let own_plan = s
        .post(
            "/v1/plans",
            &old,
            json!({"name": "Old", "owner_org_id": old_sp, "limits": {"max_members": 50, "max_teams": 10, "max_active_links": 10, "max_remote_support_minutes": 60}}),
        )
        .await;
    assert_eq!(
        s.put(
            &format!("/v1/orgs/{org}/plan"),
            &old,
            json!({"plan_id": own_plan.id()})
        )
        .await
        .status,
        StatusCode::OK
    );
    let grant = s
        .post(
            &format!("/v1/orgs/{org}/remote-support"),
            &old,
            json!({"reason": "before", "minutes": 30, "scope": "read"}),
        )
        .await;
    assert_eq!(grant.body["status"], "granted");
    let path = format!("/v1/orgs/{org}/move");
    // Only the operator moves; the old provider's plan needs replacing; the target must be a provider.
    assert_eq!(
        s.post(&path, &old, json!({"service_provider_id": new_sp}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let no_plan = s
        .post(&path, &s.operator, json!({"service_provider_id": new_sp}))
        .await;
    assert_eq!(
        no_plan.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        no_plan.body
    );
    assert_eq!(no_plan.body["errors"][0]["field"], "plan_id");
    let not_provider = s
        .post(&path, &s.operator, json!({"service_provider_id": org}))
        .await;
    assert_eq!(
        not_provider.status,
        StatusCode::CONFLICT,
        "{:?}",
        not_provider.body
    );
    assert!(
        not_provider.detail().contains("cannot move there"),
        "{}",
        not_provider.detail()
    );
    let platform = s
        .post(
            "/v1/plans",
            &s.operator,
            json!({"name": "Basic", "limits": {"max_members": 50, "max_teams": 10, "max_active_links": 10, "max_remote_support_minutes": 60}}),
        )
        .await;
    let moved = s
        .post(
            &path,
            &s.operator,
            json!({"service_provider_id": new_sp, "plan_id": platform.id()}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(moved.body["service_provider_id"], new_sp.as_str());
    // The old provider sees it no more, its grant ended; the new one serves it.
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}"), &old).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}"), &new).await.status,
        StatusCode::OK
    );
    let requests = s
        .get(&format!("/v1/orgs/{org}/remote-support"), &owner)
        .await;
    assert_eq!(items(&requests)[0]["status"], "ended");
    for (side, token) in [(&org, &owner), (&old_sp, &old), (&new_sp, &new)] {
        let events = s.get(&format!("/v1/orgs/{side}/events"), token).await;
        assert!(
            items(&events)
                .iter()
                .any(|e| e["kind"] == "org.provider_changed"),
            "{side}"
        );
    }
    // The old provider may now be deleted (it serves nobody).
    assert_eq!(
        s.delete(&format!("/v1/orgs/{old_sp}"), &s.operator)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

/// Two linked customers; `alpha` shares a team of two and a channel with `beta`.
struct Shared {
    s: TestServer,
    alpha: String,
    alpha_owner: String,
    beta: String,
    beta_owner: String,
    link: String,
    team_share: String,
    channel_share: String,
    channel: String,
}

async fn shared() -> Shared {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (alpha, alpha_owner) = s.customer(&sp, "alpha", true).await;
    let (beta, beta_owner) = s.customer(&sp, "beta", true).await;
    let link = s.linked(&alpha, &alpha_owner, &beta, &beta_owner).await;
    let (ada, _) = s.member(&alpha, &alpha_owner, "Ada", "admin").await;
    let members = s
        .get(&format!("/v1/orgs/{alpha}/members"), &alpha_owner)
        .await;
    let owner_id = items(&members)
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["user_id"]
        .clone();
    let team = s
        .post(
            &format!("/v1/orgs/{alpha}/teams"),
            &alpha_owner,
            json!({"name": "Tier 2", "member_ids": [ada, owner_id]}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{:?}", team.body);
    let channel = s
        .post(
            &format!("/v1/orgs/{alpha}/channels"),
            &alpha_owner,
            json!({"name": "Hotline", "kind": "voice"}),
        )
        .await;
    let share = |kind: &str, id: String| {
        let path = format!("/v1/orgs/{alpha}/shares");
        let body = json!({"link_id": link, "resource": {"kind": kind, "id": id}});
        let (s, owner) = (&s, &alpha_owner);
        async move { s.post(&path, owner, body).await }
    };
    let team_share = share("team", team.id()).await;
    assert_eq!(
        team_share.status,
        StatusCode::CREATED,
        "{:?}",
        team_share.body
    );
    let channel_share = share("channel", channel.id()).await;
    assert_eq!(channel_share.status, StatusCode::CREATED);
    Shared {
        alpha,
        alpha_owner,
        beta,
        beta_owner,
        link,
        team_share: team_share.id(),
        channel_share: channel_share.id(),
        channel: channel.id(),
        s,
    }
}

#[tokio::test]
async fn a_peer_reads_what_was_shared_with_it_until_the_share_ends() {
    let w = shared().await;
    let s = &w.s;
    let read = |share: &str, token: &str| {
        let path = format!("/v1/orgs/{}/received/{share}", w.beta);
        let token = token.to_owned();
        async move { s.get(&path, &token).await }
    };
    let team = read(&w.team_share, &w.beta_owner).await;
    assert_eq!(team.status, StatusCode::OK, "{:?}", team.body);
    assert_eq!(team.body["sharing_org"]["id"], w.alpha.as_str());
    assert_eq!(team.body["resource"]["kind"], "team");
    assert_eq!(team.body["resource"]["name"], "Tier 2");
    let mut seen: Vec<(String, String)> = team.body["resource"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Ada".to_owned(), "admin".to_owned()),
            ("Owner of alpha".to_owned(), "owner".to_owned())
        ]
    );
    let channel = read(&w.channel_share, &w.beta_owner).await;
    assert_eq!(channel.body["resource"]["kind"], "channel");
    assert_eq!(channel.body["resource"]["channel_kind"], "voice");
    // The sharing side does not read it as received; nor does anyone outside beta.
    assert_eq!(
        s.get(
            &format!("/v1/orgs/{}/received/{}", w.alpha, w.team_share),
            &w.alpha_owner
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // Beta narrows it by its own policy: only admins read shared resources.
    let (_, beta_member) = s.member(&w.beta, &w.beta_owner, "Mo", "member").await;
    assert_eq!(
        read(&w.team_share, &beta_member).await.status,
        StatusCode::OK
    );
    let narrowed = s
        .put_rhai(
            &format!("/v1/orgs/{}/policies/authorize", w.beta),
            &w.beta_owner,
            "fn authorize(input) { if input.action == \"shared.read\" && input.actor.role == \"member\" { return deny(\"members do not read \" + input.resource.sharing_org.name + \"'s teams\"); } abstain() }",
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::CREATED, "{:?}", narrowed.body);
    let refused = read(&w.team_share, &beta_member).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.detail(), "members do not read alpha Inc's teams");
    // Revoked by the sharer: gone at once.
    assert_eq!(
        s.delete(
            &format!("/v1/orgs/{}/shares/{}", w.alpha, w.team_share),
            &w.alpha_owner
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        read(&w.team_share, &w.beta_owner).await.status,
        StatusCode::GONE
    );
    // Unlinked: the channel share ends too.
    assert_eq!(
        s.delete(
            &format!("/v1/orgs/{}/links/{}", w.beta, w.link),
            &w.beta_owner
        )
        .await
        .body["status"],
        "unlinked"
    );
    assert_eq!(
        read(&w.channel_share, &w.beta_owner).await.status,
        StatusCode::GONE
    );
    let _ = &w.channel;
}

#[tokio::test]
async fn plans_are_edited_retired_listed_and_their_features_reach_policies() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    s.sell_features(&sp_org, &["remote_support"]).await;
    let (org, _) = s.customer(&sp, "planned", false).await;
    let plan = s
        .post(
            "/v1/plans",
            &sp,
            json!({"name": "Desk", "owner_org_id": sp_org, "features": [], "limits": {"max_members": 10, "max_teams": 5, "max_active_links": 2, "max_remote_support_minutes": 60}}),
        )
        .await;
    let plan_id = plan.id();
    assert_eq!(
        s.put(
            &format!("/v1/orgs/{org}/plan"),
            &sp,
            json!({"plan_id": plan_id})
        )
        .await
        .status,
        StatusCode::OK
    );
    // The provider allows remote support only on plans with the `remote_support` feature.
    s.put_rhai(
        &format!("/v1/orgs/{sp_org}/customer-policies/remote_support"),
        &sp,
        "fn remote_support(input) { if !input.org.plan_features.contains(\"remote_support\") { return deny(\"the plan has no remote support\"); } abstain() }",
    )
    .await;
    let ask = || {
        let path = format!("/v1/orgs/{org}/remote-support");
        let (s, sp) = (&s, &sp);
        async move {
            s.post(
                &path,
                sp,
                json!({"reason": "help", "minutes": 10, "scope": "read"}),
            )
            .await
        }
    };
    assert_eq!(ask().await.body["status"], "denied");
    let edited = s
        .patch(
            &format!("/v1/plans/{plan_id}"),
            &sp,
            json!({"features": ["remote_support"], "name": "Desk+"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(edited.body["name"], "Desk+");
    assert_eq!(ask().await.body["status"], "granted");
    // Limits never drop below what an organization on the plan uses.
    for i in 0..3 {
        s.post(
            &format!("/v1/orgs/{org}/teams"),
            &s.operator,
            json!({"name": format!("t{i}")}),
        )
        .await;
    }
    let too_small = s
        .patch(
            &format!("/v1/plans/{plan_id}"),
            &sp,
            json!({"limits": {"max_members": 10, "max_teams": 2, "max_active_links": 2, "max_remote_support_minutes": 60}}),
        )
        .await;
    assert_eq!(
        too_small.status,
        StatusCode::CONFLICT,
        "{:?}",
        too_small.body
    );
    assert!(
        too_small.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("planned")
    );
    // The organizations on it, and which plans the provider may assign.
    let on_plan = s.get(&format!("/v1/plans/{plan_id}/orgs"), &sp).await;
    assert_eq!(items(&on_plan)[0]["id"], org.as_str());
    assert_eq!(items(&on_plan)[0]["status"], "active");
    let assignable = s
        .get(&format!("/v1/plans?assignable_by={sp_org}"), &sp)
        .await;
    assert!(
        items(&assignable)
            .iter()
            .any(|p| p["id"] == plan_id.as_str())
    );
    // Retired: it stays where it is, and is assigned no more.
    let retired = s
        .post_empty(&format!("/v1/plans/{plan_id}/retire"), &sp)
        .await;
    assert_eq!(retired.status, StatusCode::OK, "{:?}", retired.body);
    assert!(retired.body["retired_at"].is_string());
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}"), &sp).await.body["plan_id"],
        plan_id.as_str()
    );
    let (other, _) = s.customer(&sp, "other", false).await;
    let refused = s
        .put(
            &format!("/v1/orgs/{other}/plan"),
            &sp,
            json!({"plan_id": plan_id}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("retired")
    );
    let assignable = s
        .get(&format!("/v1/plans?assignable_by={sp_org}"), &sp)
        .await;
    assert!(
        !items(&assignable)
            .iter()
            .any(|p| p["id"] == plan_id.as_str())
    );
    // Someone else's plan is neither edited nor listed.
    let (_, other_sp) = s.provider("othertel").await;
    assert_eq!(
        s.patch(
            &format!("/v1/plans/{plan_id}"),
            &other_sp,
            json!({"name": "Mine"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn members_are_filtered_edited_and_imported_with_teams() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "staff", true).await;
    let team = s
        .post(
            &format!("/v1/orgs/{org}/teams"),
            &owner,
            json!({"name": "Support"}),
        )
        .await;
    let sample = s
        .send(
            s.request(
                Method::GET,
                &format!("/v1/orgs/{org}/members/import/sample.csv"),
            )
            .bearer_auth(&owner),
        )
        .await;
    assert_eq!(sample.content_type, "text/csv");
    let header = sample
        .body
        .as_str()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(header, "name,email,role,portal_access,pin,extension,teams");
    let bad = csv(
        &s,
        &org,
        &owner,
        "name,email,role,teams\nAda,ada@staff.example,admin,Support;Nowhere\n",
        "",
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["column"], "teams");
    let good = csv(
        &s,
        &org,
        &owner,
        "name,email,role,portal_access,extension,teams\n\
         Ada Admin,ada@staff.example,admin,true,201,Support\n\
         Desk,,member,false,200,\n\
         Bea,bea@staff.example,member,,,Support\n",
        "?auto_pins=true",
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED, "{:?}", good.body);
    let imported = good.body["members"].as_array().unwrap();
    assert!(
        imported
            .iter()
            .all(|m| m["pin"].as_str().is_some_and(|p| p.len() == 6)),
        "automatic PINs for portal users too: {imported:?}"
    );
    let list = |query: &str| {
        let path = format!("/v1/orgs/{org}/members?{query}");
        let (s, owner) = (&s, &owner);
        async move { s.get(&path, owner).await }
    };
    assert_eq!(names(&list("role=admin").await), ["Ada Admin"]);
    assert_eq!(names(&list("portal_access=false").await), ["Desk"]);
    let mut on_team = names(&list(&format!("team={}", team.id())).await);
    on_team.sort();
    assert_eq!(on_team, ["Ada Admin", "Bea"]);
    assert_eq!(names(&list("q=BE").await), ["Bea"]);
    assert_eq!(names(&list("q=ada@").await), ["Ada Admin"]);
    assert_eq!(
        items(&list("status=active").await).len(),
        2,
        "owner and Desk"
    );
    assert_eq!(list("role=boss").await.status, StatusCode::BAD_REQUEST);
    // An account that is this organization's alone: its name, address and portal access.
    let desk = items(&list("portal_access=false").await)[0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edited = s
        .patch(
            &format!("/v1/orgs/{org}/members/{desk}"),
            &owner,
            json!({"name": "Front desk", "extension": "100", "email": "desk@staff.example"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert_eq!(edited.body["name"], "Front desk");
    assert_eq!(edited.body["extension"], "100");
    assert_eq!(edited.body["email"], "desk@staff.example");
    let bad_edit = s
        .patch(
            &format!("/v1/orgs/{org}/members/{desk}"),
            &owner,
            json!({"name": "", "email": "nope", "extension": "x1"}),
        )
        .await;
    assert_eq!(bad_edit.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: BTreeSet<String> = bad_edit.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["email", "extension", "name"].map(String::from).into()
    );
    // An account other organizations share is the person's own.
    let (other, other_owner) = s.customer(&sp, "elsewhere", true).await;
    let invited = s
        .post(
            &format!("/v1/orgs/{other}/members"),
            &other_owner,
            json!({"name": "Desk", "email": "desk@staff.example", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED);
    let refused = s
        .patch(
            &format!("/v1/orgs/{org}/members/{desk}"),
            &owner,
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
}

#[tokio::test]
async fn a_large_import_reports_its_progress_as_it_goes() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "bigimport", true).await;
    let mut file = String::from("name,role,portal_access\n");
    for i in 0..1_200 {
        file.push_str(&format!("Phone {i},member,false\n"));
    }
    let streamed = s
        .request(
            Method::POST,
            &format!("/v1/orgs/{org}/members/import?auto_pins=true"),
        )
        .bearer_auth(&owner)
        .header("content-type", "text/csv")
        .header("accept", "application/x-ndjson")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.headers()["content-type"], "application/x-ndjson");
    let text = streamed.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done: Vec<u64> = lines
        .iter()
        .filter_map(|l| l["progress"]["rows_done"].as_u64())
        .collect();
    assert!(done.len() >= 3, "{done:?}");
    assert!(done.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*done.last().unwrap(), 1_200);
    let last = lines.last().unwrap();
    assert_eq!(last["status"], 201);
    assert_eq!(last["report"]["imported"], 1_200);
}

#[tokio::test]
async fn search_pages_through_every_match_by_name_reference_and_contract() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (_, other_sp) = s.provider("othertel").await;
    for i in 0..30 {
        let mut body = org_body(
            &format!("acme-{i:02}"),
            "business_user",
            "service_provider",
            false,
        );
        body["name"] = json!(format!("Acme {i:02}"));
        body["customer_reference"] = json!(format!("CR-{i:02}"));
        body["external_contract"] = json!(format!("K{i:02}/2026"));
        s.create_org(&sp, body).await;
    }
    s.create_org(
        &other_sp,
        org_body("acme-elsewhere", "business_user", "service_provider", false),
    )
    .await;
    // Page through a provider's matches seven at a time: every one once, none of the other's.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?q=acme&limit=7&cursor={c}"),
            None => "/v1/orgs?q=acme&limit=7".to_owned(),
        };
        let page = s.get(&path, &sp).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        for org in items(&page) {
            assert_eq!(org["status"], "active");
            seen.push(org["tenant_id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert_eq!(unique.len(), 30);
    assert!(!seen.contains(&"acme-elsewhere".to_owned()));
    // Case-insensitive prefixes of the reference and the contract; exact tenant id and UUID.
    let by_ref = s.get("/v1/orgs?q=cr-1", &sp).await;
    assert_eq!(items(&by_ref).len(), 10);
    let by_contract = s.get("/v1/orgs?q=k05/", &sp).await;
    assert_eq!(items(&by_contract)[0]["tenant_id"], "acme-05");
    let one = s.get("/v1/orgs?q=acme-07", &sp).await;
    let id = items(&one)[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        items(&s.get(&format!("/v1/orgs?q={id}"), &sp).await)[0]["id"],
        id.as_str()
    );
    // The operator finds them all; the other provider only its own.
    assert_eq!(
        items(&s.get("/v1/orgs?q=ACME&limit=500", &s.operator).await).len(),
        31
    );
    assert_eq!(items(&s.get("/v1/orgs?q=acme", &other_sp).await).len(), 1);
    assert_eq!(
        s.get("/v1/orgs?q=acme&cursor=garbage", &sp).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_broad_search_past_ten_thousand_candidates_loses_nothing() {
    let s = TestServer::spawn().await.unwrap();
    let operator = tenantry::app::actor::Actor {
        token_id: tenantry::domain::ids::TokenId::new(),
        user_id: None,
    };
    let orgs = (0..10_050)
        .map(|i| {
            let mut body = org_body(
                &format!("bulk-{i:05}"),
                "business_user",
                "service_provider",
                false,
            );
            body["name"] = json!(format!("Bulk {i:05}"));
            tenantry::app::bulk::BulkOrg {
                org: serde_json::from_value(body).unwrap(),
                members: Vec::new(),
            }
        })
        .collect();
    let batch = tenantry::app::bulk::Batch {
        orgs,
        links: Vec::new(),
    };
    s.app().bulk_load(operator, batch).await.unwrap();
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?q=bulk&limit=500&cursor={c}"),
            None => "/v1/orgs?q=bulk&limit=500".to_owned(),
        };
        let page = s.get(&path, &s.operator).await;
        total += items(&page).len();
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(total, 10_050);
}

#[tokio::test]
async fn leaving_the_last_organization_erases_the_person_and_the_operator_exports_the_audit() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "private", true).await;
    let (user, token) = s.member(&org, &owner, "Priv", "member").await;
    let left = s
        .delete(&format!("/v1/orgs/{org}/members/{user}"), &token)
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    // The account is gone with its credentials; the audit keeps the id as a pseudonym.
    assert_eq!(
        s.get("/v1/tokens", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Priv", "email": format!("priv@{}.example", &org[..8]), "role": "member"}),
        )
        .await;
    assert_ne!(
        again.body["user_id"],
        user.as_str(),
        "the address is free again"
    );
    let export = s
        .request(
            Method::GET,
            &format!("/v1/orgs/{org}/audit/export?action=member.remove"),
        )
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let text = export.text().await.unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{text}");
    assert_eq!(entries[0]["target"], user.as_str());
    let everything = s
        .request(Method::GET, &format!("/v1/orgs/{org}/audit/export"))
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(everything.lines().count() > 3);
    assert!(!everything.contains("Priv"), "no names in the audit log");
    let future = s
        .get(
            &format!("/v1/orgs/{org}/audit/export?since=2999-01-01T00:00:00Z"),
            &s.operator,
        )
        .await;
    assert_eq!(future.body, Value::Null, "nothing that late");
    assert_eq!(
        s.get(&format!("/v1/orgs/{org}/audit/export"), &owner)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get(
            &format!("/v1/orgs/{org}/audit/export?since=yesterday"),
            &s.operator
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_provider_renews_the_owner_invitation_it_made() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let created = s
        .create_org(&sp, org_body("late", "business_user", "customer", true))
        .await;
    let org = created.id();
    s.clock().advance(Duration::from_secs(31 * 24 * 3600));
    let listed = s.get(&format!("/v1/orgs/{org}/invitations"), &sp).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let owner_invitation = items(&listed)
        .into_iter()
        .find(|i| i["role"] == "owner")
        .unwrap();
    assert_eq!(owner_invitation["expired"], true);
    let renewed = s
        .post_empty(
            &format!(
                "/v1/orgs/{org}/invitations/{}/resend",
                owner_invitation["id"].as_str().unwrap()
            ),
            &sp,
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    let owner = s
        .accept(renewed.body["invitation_token"].as_str().unwrap())
        .await;
    let me = s.get(&format!("/v1/orgs/{org}"), &owner).await;
    assert_eq!(me.status, StatusCode::OK, "the owner is in: {:?}", me.body);
}

#[tokio::test]
async fn a_renewal_keeps_what_it_asks_for_and_fits_an_organization_at_its_cap() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "full", true).await;
    let plan = s
        .post(
            "/v1/plans",
            &sp,
            json!({"name": "Two", "owner_org_id": sp_org, "limits": {"max_members": 2, "max_teams": 5, "max_active_links": 2, "max_remote_support_minutes": 60}}),
        )
        .await;
    let invite = |extension: &str| {
        let (s, owner, path) = (&s, &owner, format!("/v1/orgs/{org}/members"));
        let body = json!({"name": "Pat", "email": "pat@full.example", "role": "member", "extension": extension});
        async move { s.post(&path, owner, body).await }
    };
    assert_eq!(invite("200").await.status, StatusCode::CREATED);
    let on_plan = s
        .put(
            &format!("/v1/orgs/{org}/plan"),
            &sp,
            json!({"plan_id": plan.id()}),
        )
        .await;
    assert_eq!(on_plan.status, StatusCode::OK, "{:?}", on_plan.body);
    // Owner and Pat fill the plan; renewing Pat adds nobody, and moves the extension.
    let renewed = invite("201").await;
    assert_eq!(renewed.status, StatusCode::CREATED, "{:?}", renewed.body);
    assert_eq!(renewed.body["extension"], "201");
    let newcomer = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Extra", "email": "extra@full.example", "role": "member"}),
        )
        .await;
    assert_eq!(newcomer.status, StatusCode::CONFLICT, "{:?}", newcomer.body);
}

#[tokio::test]
async fn portal_access_is_given_by_invitation_and_not_taken_from_a_waiting_invitee() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "desks", true).await;
    let desk = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Desk", "email": "desk@desks.example", "role": "member", "portal_access": false}),
        )
        .await;
    let desk_id = desk.body["user_id"].as_str().unwrap().to_owned();
    let given = s
        .patch(
            &format!("/v1/orgs/{org}/members/{desk_id}"),
            &owner,
            json!({"portal_access": true}),
        )
        .await;
    assert_eq!(given.status, StatusCode::OK, "{:?}", given.body);
    assert_eq!(given.body["status"], "active", "the phone keeps working");
    let token = s
        .accept(given.body["invitation_token"].as_str().unwrap())
        .await;
    let me = s.get(&format!("/v1/orgs/{org}/members"), &token).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    // A waiting invitee's access is withdrawn with the invitation, not by a field.
    let waiting = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Wendy", "email": "wendy@desks.example", "role": "member"}),
        )
        .await;
    let refused = s
        .patch(
            &format!(
                "/v1/orgs/{org}/members/{}",
                waiting.body["user_id"].as_str().unwrap()
            ),
            &owner,
            json!({"portal_access": false}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(refused.detail().contains("revoke the invitation"));
}

#[tokio::test]
async fn a_deleted_organizations_audit_is_still_exported_and_hand_overs_keep_one_owner() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "closing", true).await;
    s.post(
        &format!("/v1/orgs/{org}/teams"),
        &owner,
        json!({"name": "Last team"}),
    )
    .await;
    assert_eq!(
        s.delete(&format!("/v1/orgs/{org}"), &sp).await.status,
        StatusCode::NO_CONTENT
    );
    let export = s
        .get(&format!("/v1/orgs/{org}/audit/export"), &s.operator)
        .await;
    assert_eq!(export.status, StatusCode::OK, "{:?}", export.body);
    let nobody = s
        .get(
            &format!("/v1/orgs/{}/audit/export", uuid::Uuid::nil()),
            &s.operator,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    // A provider-managed organization has no owner to hand over, even by the operator.
    let managed = s
        .create_org(
            &sp,
            org_body("managed", "business_user", "service_provider", true),
        )
        .await;
    let (admin, _) = s
        .member(&managed.id(), &s.operator.clone(), "Ann", "admin")
        .await;
    let transfer = s
        .post(
            &format!("/v1/orgs/{}/ownership", managed.id()),
            &s.operator.clone(),
            json!({"user_id": admin}),
        )
        .await;
    assert_eq!(transfer.status, StatusCode::CONFLICT, "{:?}", transfer.body);
}
