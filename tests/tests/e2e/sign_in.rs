//! Portal users sign in with an e-mail address and a password they set when they claimed their
//! identity; the session is a token that ends by itself, and guessing is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::domain::clock::Timestamp;
use tenantry_e2e::{Answer, TestServer, org_body};

const PASSWORD: &str = "correct horse battery";

/// A customer whose owner has not accepted yet: (org id, owner's invitation token).
async fn unclaimed_customer(s: &TestServer, sp: &str, slug: &str) -> (String, String) {
    let created = s
        .create_org(sp, org_body(slug, "business_user", "customer", true))
        .await;
    let token = created.body["owner_invitation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (created.id(), token)
}

async fn accept(s: &TestServer, token: Option<&str>, body: Value) -> Answer {
    s.call(Method::POST, "/v1/invitations/accept", token, Some(body))
        .await
}

async fn sign_in(s: &TestServer, email: &str, password: &str) -> Answer {
    s.call(
        Method::POST,
        "/v1/sessions",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

fn field_errors(answer: &Answer) -> Vec<String> {
    answer.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_owner_sets_a_password_as_they_accept_and_signs_in_with_it() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;

    // A password that breaks the rules: 422 naming it, and the invitation is still there.
    let short = accept(&s, None, json!({"token": invitation, "password": "short"})).await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        short.body
    );
    assert_eq!(field_errors(&short), ["password"], "{:?}", short.body);
    assert!(short.body.to_string().contains("at least 12 characters"));

    let accepted = accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    assert!(
        !accepted.body.to_string().contains("argon2"),
        "no answer shows the stored password"
    );

    // Signed in by address, whatever its case: a session token that reads the organization.
    let session = sign_in(&s, "Owner@ACME.example", PASSWORD).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    let token = session.body["token"].as_str().unwrap().to_owned();
    let read = s.get(&format!("/v1/orgs/{acme}"), &token).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);

    // Listed with the owner's tokens, with its end; signing out is revoking it.
    let tokens = s.get("/v1/tokens", &token).await;
    let listed: Vec<&Value> = tokens.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == session.body["id"])
        .collect();
    assert_eq!(listed.len(), 1, "{:?}", tokens.body);
    assert_eq!(listed[0]["expires_at"], session.body["expires_at"]);
    assert!(!tokens.body.to_string().contains("digest"));

    // Twelve hours later it has ended by itself; the API token accepting gave has not.
    s.clock().advance(Duration::from_secs(12 * 3_600));
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let api_token = accepted.body["api_token"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), api_token).await.status,
        StatusCode::OK
    );

    // Signing out ends a session at once.
    let again = sign_in(&s, "owner@acme.example", PASSWORD).await;
    let again_token = again.body["token"].as_str().unwrap();
    let out = s
        .delete(&format!("/v1/tokens/{}", again.id()), again_token)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{:?}", out.body);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), again_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_answer_alike() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;
    accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    // A member who accepted without a password cannot sign in with any.
    let owner = sign_in(&s, "owner@acme.example", PASSWORD).await;
    let owner = owner.body["token"].as_str().unwrap().to_owned();
    s.member(&acme, &owner, "Nopass", "member").await;

    let answers = [
        sign_in(&s, "owner@acme.example", "correct horse batterY").await,
        sign_in(&s, "nobody@acme.example", PASSWORD).await,
        sign_in(&s, &format!("nopass@{}.example", &acme[..8]), PASSWORD).await,
        sign_in(&s, "owner@acme.example", &"x".repeat(10_000)).await,
    ];
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
        assert_eq!(answer.body["title"], answers[0].body["title"]);
        assert_eq!(answer.body["detail"], "wrong e-mail address or password");
        assert!(answer.body.get("token").is_none());
    }
}

#[tokio::test]
async fn guessing_an_accounts_password_is_stopped_and_its_owner_is_not_held_to_their_own_sign_ins()
{
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    for slug in ["acme", "beta"] {
        let (_, invitation) = unclaimed_customer(&s, &sp, slug).await;
        let accepted = accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
        assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    }
    // The owner of beta signs in more often than the guesses allowed: a right password is
    // given back.
    for _ in 0..12 {
        let ok = sign_in(&s, "owner@beta.example", PASSWORD).await;
        assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    }
    for n in 0..10 {
        let wrong = sign_in(&s, "owner@acme.example", &format!("guess number {n}")).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "{n}: {:?}",
            wrong.body
        );
    }
    // The eleventh attempt is refused even with the right password, and says for how long.
    let refused = sign_in(&s, "owner@acme.example", PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        refused.body
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        refused
            .detail()
            .contains("sign-in attempts for this account")
    );
    // Another account, from the same address, is not held back.
    let other = sign_in(&s, "owner@beta.example", PASSWORD).await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;
    accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    let here = sign_in(&s, "owner@acme.example", PASSWORD).await;
    let there = sign_in(&s, "owner@acme.example", PASSWORD).await;
    let (here, there) = (
        here.body["token"].as_str().unwrap().to_owned(),
        there.body["token"].as_str().unwrap().to_owned(),
    );
    let new = "a longer one, never reused";

    let wrong = s
        .put(
            "/v1/me/password",
            &here,
            json!({"current_password": "not the one at all", "new_password": new}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        wrong.body
    );
    assert_eq!(field_errors(&wrong), ["current_password"]);
    let weak = s
        .put(
            "/v1/me/password",
            &here,
            json!({"current_password": PASSWORD, "new_password": "tiny"}),
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        weak.body
    );
    assert_eq!(field_errors(&weak), ["new_password"]);
    // Neither changed anything: the other session still works.
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &there).await.status,
        StatusCode::OK
    );

    let changed = s
        .put(
            "/v1/me/password",
            &here,
            json!({"current_password": PASSWORD, "new_password": new}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{:?}", changed.body);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &there).await.status,
        StatusCode::UNAUTHORIZED,
        "whoever knew the old password is signed out"
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &here).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&s, "owner@acme.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&s, "owner@acme.example", new).await.status,
        StatusCode::OK
    );

    let operator = s
        .put(
            "/v1/me/password",
            &s.operator.clone(),
            json!({"current_password": PASSWORD, "new_password": new}),
        )
        .await;
    assert_eq!(
        operator.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        operator.body
    );
}

/// The trust model: a password is set only by whoever claims a new identity. An invitation to
/// an account that exists is accepted signed in, and sets no password; a login-less user has
/// none.
#[tokio::test]
async fn an_invitation_sets_no_password_on_an_existing_account_nor_a_login_less_one() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;
    let claimed = accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    let acme_owner = claimed.body["api_token"].as_str().unwrap().to_owned();

    // Another organization invites the claimed address; whoever holds that invitation cannot
    // set the account's password with it, anonymously or signed in.
    let (beta, beta_owner) = s.customer(&sp, "beta", true).await;
    let invited = s
        .post(
            &format!("/v1/orgs/{beta}/members"),
            &beta_owner,
            json!({"name": "Owner of acme", "email": "owner@acme.example", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    let token = invited.body["invitation_token"].as_str().unwrap();
    let takeover = accept(
        &s,
        None,
        json!({"token": token, "password": "the attacker's own password"}),
    )
    .await;
    assert_eq!(
        takeover.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        takeover.body
    );
    let signed_in = accept(
        &s,
        Some(&acme_owner),
        json!({"token": token, "password": "the attacker's own password"}),
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        signed_in.body
    );
    assert_eq!(
        sign_in(&s, "owner@acme.example", PASSWORD).await.status,
        StatusCode::OK,
        "the account's password is unchanged"
    );

    // A login-less member has no invitation to accept (a PIN instead), so no password.
    let phone = s
        .post(
            &format!("/v1/orgs/{acme}/members"),
            &acme_owner,
            json!({"name": "Desk phone", "role": "member", "portal_access": false}),
        )
        .await;
    assert_eq!(phone.status, StatusCode::CREATED, "{:?}", phone.body);
    assert!(
        phone.body.get("invitation_token").is_none(),
        "{:?}",
        phone.body
    );
}

/// Everyone who accepted an invitation without a password (or before passwords existed) sets
/// a first one with their API token; from then on a change needs it.
#[tokio::test]
async fn an_account_without_a_password_sets_its_first_with_its_token() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (_, member) = s.member(&acme, &owner, "Mia", "member").await;
    let email = format!("mia@{}.example", &acme[..8]);
    assert_eq!(
        sign_in(&s, &email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    let guessed = s
        .put(
            "/v1/me/password",
            &member,
            json!({"current_password": "anything at all", "new_password": PASSWORD}),
        )
        .await;
    assert_eq!(
        guessed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        guessed.body
    );
    assert_eq!(field_errors(&guessed), ["current_password"]);

    let first = s
        .put(
            "/v1/me/password",
            &member,
            json!({"new_password": PASSWORD}),
        )
        .await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{:?}", first.body);
    assert_eq!(sign_in(&s, &email, PASSWORD).await.status, StatusCode::OK);

    // Now it has one: setting another "first" is refused, the password stays.
    let again = s
        .put(
            "/v1/me/password",
            &member,
            json!({"new_password": "someone else's password"}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        again.body
    );
    assert_eq!(field_errors(&again), ["current_password"]);
    assert_eq!(sign_in(&s, &email, PASSWORD).await.status, StatusCode::OK);
}

/// The session's `idle_until` as `GET /v1/tokens` lists it, once it is at least `at_least`
/// (a use writes it moments after the request), or what it is after 2.5 s. Listing uses the
/// token too, so a listing's own late write can change it by milliseconds: only a deadline
/// that reached `at_least` shows the use the test made.
async fn idle_until_reaching(
    s: &TestServer,
    token: &str,
    id: &Value,
    at_least: Timestamp,
) -> Option<Timestamp> {
    let mut now = None;
    for _ in 0..50 {
        let tokens = s.get("/v1/tokens", token).await;
        now = tokens.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == *id)
            .and_then(|t| Timestamp::parse(t["idle_until"].as_str()?));
        if now.is_some_and(|t| t >= at_least) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    now
}

#[tokio::test]
async fn a_session_ends_after_half_an_hour_unused_and_use_keeps_it_going() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;
    accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    let session = sign_in(&s, "owner@acme.example", PASSWORD).await;
    let (token, id) = (
        session.body["token"].as_str().unwrap().to_owned(),
        session.body["id"].clone(),
    );
    let first = idle_until_reaching(&s, &token, &id, Timestamp(0))
        .await
        .expect("a session lists its idle deadline");
    let org = format!("/v1/orgs/{acme}");

    // Used 20 minutes in: its idle deadline moves on.
    s.clock().advance(Duration::from_secs(20 * 60));
    assert_eq!(s.get(&org, &token).await.status, StatusCode::OK);
    let moved = idle_until_reaching(&s, &token, &id, first.plus_minutes(20))
        .await
        .unwrap();
    assert!(moved >= first.plus_minutes(20), "{first:?} then {moved:?}");
    // So 45 minutes after signing in, 25 after its last use, it still works...
    s.clock().advance(Duration::from_secs(25 * 60));
    assert_eq!(s.get(&org, &token).await.status, StatusCode::OK);
    let last = idle_until_reaching(&s, &token, &id, moved.plus_minutes(25))
        .await
        .unwrap();
    assert!(last >= moved.plus_minutes(25), "{moved:?} then {last:?}");
    // ...and half an hour unused ends it, as if revoked.
    s.clock().advance(Duration::from_secs(31 * 60));
    assert_eq!(s.get(&org, &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_resets_a_members_password_only_for_an_account_of_that_organization_alone() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, invitation) = unclaimed_customer(&s, &sp, "acme").await;
    let owner = accept(&s, None, json!({"token": invitation, "password": PASSWORD})).await;
    let owner = owner.body["api_token"].as_str().unwrap().to_owned();
    let invited = s
        .post(
            &format!("/v1/orgs/{acme}/members"),
            &owner,
            json!({"name": "Ada", "email": "ada@acme.example", "role": "member", "portal_access": true}),
        )
        .await;
    let ada = invited.body["user"]["user_id"]
        .as_str()
        .or(invited.body["user_id"].as_str())
        .unwrap()
        .to_owned();
    accept(
        &s,
        None,
        json!({"token": invited.body["invitation_token"], "password": "Ada's first password"}),
    )
    .await;
    let session = sign_in(&s, "ada@acme.example", "Ada's first password").await;
    let session = session.body["token"].as_str().unwrap().to_owned();

    // The owner issues a reset; Ada, signed out, sets a new password with it.
    let reset_path = format!("/v1/orgs/{acme}/members/{ada}/password-reset");
    let reset = s.post(&reset_path, &owner, json!({})).await;
    assert_eq!(reset.status, StatusCode::CREATED, "{:?}", reset.body);
    let token = reset.body["token"].as_str().unwrap().to_owned();
    assert!(reset.body["expires_at"].is_string());
    // It is not an invitation to anything: nobody lists it.
    let listed = s.get(&format!("/v1/orgs/{acme}/invitations"), &owner).await;
    assert!(
        !listed.body.to_string().contains("Ada"),
        "{:?}",
        listed.body
    );
    assert!(
        !s.get("/v1/invitations", &session)
            .await
            .body
            .to_string()
            .contains(&acme)
    );
    // Signed in, or without a password, it does nothing.
    let signed = accept(&s, Some(&session), json!({"token": token})).await;
    assert_eq!(
        signed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        signed.body
    );
    let used = accept(
        &s,
        None,
        json!({"token": token, "password": "Ada's second password"}),
    )
    .await;
    assert_eq!(used.status, StatusCode::OK, "{:?}", used.body);
    assert!(
        used.body["api_token"].is_null(),
        "a reset issues no API token"
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &session).await.status,
        StatusCode::UNAUTHORIZED,
        "the reset ended her sessions"
    );
    assert_eq!(
        sign_in(&s, "ada@acme.example", "Ada's first password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = sign_in(&s, "ada@acme.example", "Ada's second password").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let fresh = fresh.body["token"].as_str().unwrap().to_owned();
    let again = accept(
        &s,
        None,
        json!({"token": token, "password": "a third password!"}),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::GONE,
        "single use: {:?}",
        again.body
    );

    // Once Ada is also a member of Beta, Acme can no longer reset her account: that would
    // open Beta to Acme's owner.
    let (beta, beta_invitation) = unclaimed_customer(&s, &sp, "beta").await;
    let beta_owner = accept(
        &s,
        None,
        json!({"token": beta_invitation, "password": PASSWORD}),
    )
    .await;
    let beta_owner = beta_owner.body["api_token"].as_str().unwrap().to_owned();
    let to_beta = s
        .post(
            &format!("/v1/orgs/{beta}/members"),
            &beta_owner,
            json!({"name": "Ada", "email": "ada@acme.example", "role": "member", "portal_access": true}),
        )
        .await;
    assert_eq!(to_beta.status, StatusCode::CREATED, "{:?}", to_beta.body);
    let joined = accept(
        &s,
        Some(&fresh),
        json!({"token": to_beta.body["invitation_token"]}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{:?}", joined.body);
    let refused = s.post(&reset_path, &owner, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert!(
        refused
            .body
            .to_string()
            .contains("belongs to other organizations too")
    );
    let from_beta = s
        .post(
            &format!("/v1/orgs/{beta}/members/{ada}/password-reset"),
            &beta_owner,
            json!({}),
        )
        .await;
    assert_eq!(
        from_beta.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        from_beta.body
    );
}
