//! Several servers on one PostgreSQL database: what one server changes in memory (policies,
//! plugins) the others follow, and work only one may do (sending e-mail) is done once. On the
//! embedded file (one process holds it) these say so and stop. The races that must resolve to
//! one answer (link cap, single-use invitations, idempotency keys) are in `reliability.rs`,
//! spread over two servers on a PostgreSQL run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tenantry_e2e::TestServer;

/// The first server and a second on its database, or `None` on the embedded file.
async fn two_servers() -> Option<(TestServer, TestServer)> {
    let a = TestServer::spawn().await.unwrap();
    match a.spawn_beside().await.unwrap() {
        Some(b) => Some((a, b)),
        None => {
            eprintln!("not on the embedded file: several servers share only a PostgreSQL store");
            None
        }
    }
}

#[tokio::test]
async fn a_policy_bound_through_one_server_decides_on_the_other() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let (_, sp) = a.provider("telco").await;
    let (acme, owner) = a.customer(&sp, "acme", true).await;
    let teams = format!("/v1/orgs/{acme}/teams");
    assert_eq!(
        b.post(&teams, &owner, json!({"name": "before"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let freeze = "fn authorize(input) { if input.action == \"team.create\" { return deny(\"no new teams this quarter\"); } abstain() }";
    let bound = a
        .put_rhai(
            &format!("/v1/orgs/{acme}/policies/authorize"),
            &owner,
            freeze,
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    let started = Instant::now();
    // Servers poll the policy generation every 200 ms, so the other server follows within a
    // second; the test allows more only so that a loaded CI machine does not fail it.
    let refused = loop {
        let answer = b.post(&teams, &owner, json!({"name": "after"})).await;
        if answer.status == StatusCode::FORBIDDEN || started.elapsed() > Duration::from_secs(5) {
            break answer;
        }
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "the other server decided with the new policy after {:?}",
        started.elapsed()
    );
    assert_eq!(refused.detail(), "no new teams this quarter");

    // Unbinding through B frees A again.
    let unbound = b
        .delete(&format!("/v1/orgs/{acme}/policies/authorize"), &owner)
        .await;
    assert_eq!(unbound.status, StatusCode::NO_CONTENT, "{:?}", unbound.body);
    let started = Instant::now();
    let created = loop {
        let answer = a.post(&teams, &owner, json!({"name": "thawed"})).await;
        if answer.status == StatusCode::CREATED || started.elapsed() > Duration::from_secs(5) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
}

#[tokio::test]
async fn two_servers_send_each_invitation_email_once() {
    let sink = tenantry_e2e::smtp_sink::SmtpSink::start().await.unwrap();
    let url = sink.url();
    let a = TestServer::spawn_with(tenantry_e2e::policies_dir(), move |settings| {
        settings.smtp.url = Some(url.clone());
        settings.smtp.poll_interval_ms = 20;
        settings.smtp.accept_url = Some("https://portal.example/accept?token={token}".into());
        tenantry_e2e::unthrottled(settings);
    })
    .await
    .unwrap();
    let Some(b) = a.spawn_beside().await.unwrap() else {
        eprintln!("not on the embedded file: several servers share only a PostgreSQL store");
        return;
    };
    let created = a
        .create_org(
            &a.operator.clone(),
            tenantry_e2e::org_body("telco", "service_provider", "customer", true),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let mails = sink
        .wait_for("owner@telco.example", 1, Duration::from_secs(10))
        .await;
    let link = mails[0].body();
    let at = link.find("token=").expect("a token in the invitation") + "token=".len();
    let token = link[at..].split_whitespace().next().unwrap().to_owned();
    let owner = a.accept(&token).await;
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let invited = server
            .post(
                &format!("/v1/orgs/{}/members", created.id()),
                &owner,
                json!({"name": format!("Member {i}"), "email": format!("m{i}@telco.example"), "role": "member"}),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    }
    for i in 0..20 {
        sink.wait_for(&format!("m{i}@telco.example"), 1, Duration::from_secs(10))
            .await;
    }
    // Both servers keep looking at the queue; nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..20 {
        assert_eq!(
            sink.mails_to(&format!("m{i}@telco.example")).len(),
            1,
            "m{i}"
        );
    }
}

#[tokio::test]
async fn a_plugin_uploaded_and_bound_through_one_server_decides_on_the_other() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let (sp_org, sp) = a.provider("telco").await;
    let uploaded = a
        .upload_plugin(&sp, tenantry_e2e::plugins::plugin("region_fence"))
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    let sha = uploaded.body["sha256"].as_str().unwrap().to_owned();
    a.bind_customer_plugin(
        &sp_org,
        &sp,
        "link",
        &sha,
        json!({"allowed": [["eu-central", "eu-central"]]}),
    )
    .await;
    let (eu, eu_owner) = &b.customer_in(&sp, "eu-one", "eu-central").await;
    let (us, _) = &b.customer_in(&sp, "us-one", "us-east").await;
    // B never saw the upload or the binding: it follows the binding and loads the component
    // from the database.
    let started = Instant::now();
    let refused = loop {
        let answer = b
            .post(
                &format!("/v1/orgs/{eu}/links"),
                eu_owner,
                json!({"target_org_id": us}),
            )
            .await;
        if answer.status != StatusCode::CREATED || started.elapsed() > Duration::from_secs(5) {
            break answer;
        }
        // Allowed before B followed the binding: undo, and ask again.
        let link = answer.id();
        b.post_empty(&format!("/v1/orgs/{eu}/links/{link}/cancel"), eu_owner)
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(
        refused.detail(),
        "links between regions `eu-central` and `us-east` are not allowed"
    );
}

/// Each server keeps the records it read (PostgreSQL's record cache); what another server
/// changes must count on the next request, not once some cache expires: a revoked token is
/// refused and a renamed organization shows its new name at once, with no wait in between.
#[tokio::test]
async fn a_revoked_token_and_a_new_name_count_at_once_on_the_other_server() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let (_, sp) = a.provider("telco").await;
    let (acme, owner) = a.customer(&sp, "acme", true).await;
    let org = format!("/v1/orgs/{acme}");
    let token = a.post("/v1/tokens", &owner, json!({"name": "ci"})).await;
    let secret = token.body["token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        // Read more than once, so B answers from what it keeps.
        let seen = b.get(&org, &secret).await;
        assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    }
    let renamed = a.patch(&org, &owner, json!({"name": "Acme Renamed"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(b.get(&org, &secret).await.body["name"], "Acme Renamed");
    let revoked = a
        .delete(&format!("/v1/tokens/{}", token.id()), &owner)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(&org, &secret).await.status,
        StatusCode::UNAUTHORIZED,
        "B still honoured a token A had revoked"
    );
}

#[tokio::test]
async fn one_callers_quota_holds_across_servers() {
    let a = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.rate_limit = tenantry::app::rate_limit::RateLimit {
            per_second: 1,
            burst: 40,
        };
    })
    .await
    .unwrap();
    let Some(b) = a.spawn_beside().await.unwrap() else {
        eprintln!("not on the embedded file: several servers share only a PostgreSQL store");
        return;
    };
    let (_, sp) = a.provider("telco").await;
    let started = Instant::now();
    let mut admitted = 0_u64;
    let mut refused_by = [false, false];
    for i in 0..80 {
        let server = if i % 2 == 0 { &a } else { &b };
        match server.get("/v1/tokens?limit=1", &sp).await.status {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => refused_by[i % 2] = true,
            other => panic!("{other}"),
        }
    }
    // One bucket of 40 refilled at 1/s, however the requests are spread: two buckets of their
    // own would have admitted nearly all 80.
    let refilled = started.elapsed().as_secs() + 1;
    assert!(
        admitted <= 40 + refilled,
        "{admitted} requests admitted in {refilled} s"
    );
    assert!(refused_by == [true, true], "both servers refuse the caller");
}

#[tokio::test]
async fn pin_guesses_across_an_organization_are_counted_once_across_servers() {
    let Some((a, b)) = two_servers().await else {
        return;
    };
    let (_, sp) = a.provider("telco").await;
    let (org, owner) = a.customer(&sp, "guessed", true).await;
    let verify = format!("/v1/orgs/{org}/pins/verify");
    let mut statuses = Vec::new();
    for n in 0..=tenantry::app::pins::ORG_FAILURES {
        let server = if n % 2 == 0 { &a } else { &b };
        let guess = json!({"extension": format!("{n}"), "pin": "1234"});
        statuses.push(server.post(&verify, &owner, guess).await.status);
    }
    assert!(statuses[..50].iter().all(|s| *s == StatusCode::OK));
    assert_eq!(statuses[50], StatusCode::TOO_MANY_REQUESTS);
    let on_a = a
        .post(&verify, &owner, json!({"extension": "x", "pin": "1234"}))
        .await;
    assert_eq!(
        on_a.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        on_a.body
    );
}
