//! Every bad input gets a clear problem+json answer and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_e2e::{TestServer, org_body};

fn fields(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn org_count(s: &TestServer) -> usize {
    s.get("/v1/orgs?limit=500", &s.operator).await.body["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn invalid_organizations_list_every_field_and_write_nothing() {
    let s = TestServer::spawn().await.unwrap();
    let before = org_count(&s).await;
    let bad = s.post("/v1/orgs", &s.operator, json!({
        "name": "", "tenant_id": "Not A Slug", "account_type": "bank", "managed_by": "customer",
        "country": "XX", "currency": "EURO", "region": "mars"
    })).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["title"], "organization is invalid");
    let got = fields(&bad.body);
    for f in [
        "name",
        "tenant_id",
        "account_type",
        "remote_support_requires_approval",
        "country",
        "currency",
        "region",
        "owner",
    ] {
        assert!(got.contains(&f.to_owned()), "{f} not in {got:?}");
    }
    assert_eq!(org_count(&s).await, before);
}

/// A NUL (or any control character) in a name, a reference or an address is refused with the
/// field named, on both backends alike: PostgreSQL cannot store NUL in text, and a write it
/// refuses later would fail the writes batched with it.
#[tokio::test]
async fn control_characters_in_text_are_refused_and_write_nothing() {
    let s = TestServer::spawn().await.unwrap();
    let before = org_count(&s).await;
    let mut body = org_body("nul-corp", "business_user", "customer", false);
    body["name"] = json!("Nul\u{0}Corp");
    body["customer_reference"] = json!("ref\u{1b}[31m");
    let bad = s.post("/v1/orgs", &s.operator, body).await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    let mut got = fields(&bad.body);
    got.sort();
    assert_eq!(got, ["customer_reference", "name"]);
    assert!(bad.body.to_string().contains("U+0000"), "{:?}", bad.body);
    assert_eq!(org_count(&s).await, before);
    let search = s.get("/v1/orgs?q=nul%00corp", &s.operator).await;
    assert_eq!(
        search.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        search.body
    );
    assert_eq!(fields(&search.body), ["q"]);

    let org = s
        .create_org(
            &s.operator,
            org_body("clean-corp", "business_user", "customer", false),
        )
        .await
        .id();
    let invite = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &s.operator,
            json!({"name": "Ann", "email": "ann\u{0}@clean.example", "role": "member"}),
        )
        .await;
    assert_eq!(
        invite.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        invite.body
    );
    assert_eq!(fields(&invite.body), ["email"]);
    let members = s.get(&format!("/v1/orgs/{org}/members"), &s.operator).await;
    assert_eq!(
        members.body["items"].as_array().unwrap().len(),
        1,
        "only the owner"
    );
}

#[tokio::test]
async fn malformed_requests_are_refused_clearly() {
    let s = TestServer::spawn().await.unwrap();
    let unknown = s
        .post(
            "/v1/orgs",
            &s.operator,
            json!({"name": "x", "colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{:?}",
        unknown.body
    );

    let malformed = s
        .send(
            s.request(Method::POST, "/v1/orgs")
                .bearer_auth(&s.operator)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.detail().starts_with("malformed JSON"),
        "{}",
        malformed.detail()
    );

    let wrong_type = s
        .send(
            s.request(Method::POST, "/v1/orgs")
                .bearer_auth(&s.operator)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = "x".repeat(tenantry::config::Settings::default().json_body_limit + 1);
    let too_large = s.post("/v1/orgs", &s.operator, json!({"name": huge})).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.content_type, "application/problem+json");

    let bad_id = s.get("/v1/orgs/not-a-uuid", &s.operator).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.detail(), "`not-a-uuid` is not a valid id (a UUID)");

    let bad_limit = s.get("/v1/orgs?limit=0", &s.operator).await;
    assert_eq!(bad_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_route = s.get("/v1/nothing", &s.operator).await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn authentication_and_tenant_isolation() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;

    let anonymous = s
        .call(Method::GET, &format!("/v1/orgs/{a}"), None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let garbage = s.get(&format!("/v1/orgs/{a}"), "tnt_nope").await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);

    // Another tenant's organization is indistinguishable from a missing one.
    let other = s.get(&format!("/v1/orgs/{b}"), &a_owner).await;
    let missing = s
        .get(&format!("/v1/orgs/{}", uuid::Uuid::now_v7()), &a_owner)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.body, missing.body);
    assert!(!other.body.to_string().contains("beta"));
    for path in [
        format!("/v1/orgs/{b}/members"),
        format!("/v1/orgs/{b}/teams"),
        format!("/v1/orgs/{b}/links"),
        format!("/v1/orgs/{b}/audit"),
    ] {
        assert_eq!(
            s.get(&path, &a_owner).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let write = s
        .post(
            &format!("/v1/orgs/{b}/teams"),
            &a_owner,
            json!({"name": "intruder"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::NOT_FOUND);
    let search = s.get("/v1/orgs?q=beta", &a_owner).await;
    assert!(search.body["items"].as_array().unwrap().is_empty());
    assert_eq!(
        s.get("/v1/orgs?q=beta", &b_owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A revoked token stops working at once.
    let token = s.post("/v1/tokens", &a_owner, json!({"name": "ci"})).await;
    let secret = token.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get(&format!("/v1/orgs/{a}"), &secret).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.delete(&format!("/v1/tokens/{}", token.id()), &a_owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{a}"), &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn conflicts_in_the_domain_are_explained() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, a_owner) = s.customer(&sp, "alpha", true).await;
    let (b, b_owner) = s.customer(&sp, "beta", true).await;

    let dup = s
        .post(
            "/v1/orgs",
            &sp,
            org_body("alpha", "business_user", "customer", true),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.detail(), "tenant_id `alpha` is already taken");

    let immutable = s
        .patch(
            &format!("/v1/orgs/{a}"),
            &a_owner,
            json!({"tenant_id": "renamed"}),
        )
        .await;
    assert_eq!(immutable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        immutable.body["errors"][0],
        json!({"field": "tenant_id", "reason": "is immutable and cannot be changed"})
    );

    let to_self = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": a}),
        )
        .await;
    assert_eq!(to_self.status, StatusCode::UNPROCESSABLE_ENTITY);
    let to_nowhere = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(to_nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);

    let link = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": b}),
        )
        .await
        .id();
    let again = s
        .post(
            &format!("/v1/orgs/{b}/links"),
            &b_owner,
            json!({"target_org_id": a}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "one live link per pair, either direction"
    );
    assert_eq!(
        again.detail(),
        "a pending link already exists between these organizations"
    );

    let team = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "T"}),
        )
        .await
        .id();
    let early = s
        .post(
            &format!("/v1/orgs/{a}/shares"),
            &a_owner,
            json!({"link_id": link, "resource": {"kind": "team", "id": team}}),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert!(early.detail().contains("only over an active link"));
    s.post_empty(&format!("/v1/orgs/{b}/links/{link}/accept"), &b_owner)
        .await;
    let b_team = s
        .post(
            &format!("/v1/orgs/{b}/teams"),
            &b_owner,
            json!({"name": "theirs"}),
        )
        .await
        .id();
    let not_mine = s
        .post(
            &format!("/v1/orgs/{a}/shares"),
            &a_owner,
            json!({"link_id": link, "resource": {"kind": "team", "id": b_team}}),
        )
        .await;
    assert_eq!(not_mine.status, StatusCode::NOT_FOUND);

    let (b_org, _) = (b.clone(), ());
    s.post_empty(&format!("/v1/orgs/{b_org}/suspend"), &sp)
        .await;
    let (c, c_owner) = s.customer(&sp, "gamma", true).await;
    let suspended_target = s
        .post(
            &format!("/v1/orgs/{c}/links"),
            &c_owner,
            json!({"target_org_id": b}),
        )
        .await;
    assert_eq!(suspended_target.status, StatusCode::CONFLICT);
    assert_eq!(
        suspended_target.detail(),
        "organization `beta` is suspended"
    );
}

#[tokio::test]
async fn invitations_are_single_use_and_expire() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, owner) = s.customer(&sp, "alpha", true).await;
    let invite = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &owner,
            json!({"name": "Ann", "email": "ann@alpha.example", "role": "member"}),
        )
        .await;
    let token = invite.body["invitation_token"].as_str().unwrap().to_owned();
    s.accept(&token).await;
    let reused = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(reused.status, StatusCode::GONE);
    assert_eq!(reused.detail(), "this invitation was already used");

    let late = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &owner,
            json!({"name": "Bo", "email": "bo@alpha.example", "role": "member"}),
        )
        .await;
    s.clock().advance(Duration::from_secs(31 * 24 * 3600));
    let expired = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": late.body["invitation_token"]})),
        )
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.detail().starts_with("this invitation expired"));
    let unknown = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": "inv_nope"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_owner_stays_one_owner() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (a, owner) = s.customer(&sp, "alpha", true).await;
    let second = s
        .post(
            &format!("/v1/orgs/{a}/members"),
            &owner,
            json!({"name": "Two", "email": "two@alpha.example", "role": "owner"}),
        )
        .await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY);
    let members = s.get(&format!("/v1/orgs/{a}/members"), &owner).await;
    let owner_id = members.body["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = s
        .delete(&format!("/v1/orgs/{a}/members/{owner_id}"), &owner)
        .await;
    assert_eq!(removed.status, StatusCode::CONFLICT);
    let (admin_id, _) = s.member(&a, &owner, "Ada", "admin").await;
    let promote = s
        .patch(
            &format!("/v1/orgs/{a}/members/{admin_id}"),
            &owner,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(promote.status, StatusCode::UNPROCESSABLE_ENTITY);
}
