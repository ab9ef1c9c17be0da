//! Webhooks against a real HTTP receiver: signed per Standard Webhooks, in outbox order, retried
//! when the receiver fails or hangs, disabled after the schedule, enabled again, redelivered by
//! hand; endpoints refused where they would reach the server's own network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::config::Settings;
use tenantry::webhooks::signature;
use tenantry_e2e::receiver::{Mode, Received, Receiver};
use tenantry_e2e::{Answer, TestServer};

/// Private addresses and plain http allowed (the receiver is on loopback), short timeouts.
fn local_receivers(settings: &mut Settings) {
    settings.webhooks.allow_private_addresses = true;
    settings.webhooks.allow_http = true;
    settings.webhooks.timeout_secs = 1;
    settings.webhooks.poll_interval_ms = 50;
    tenantry_e2e::unthrottled(settings);
}

fn types(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn webhook(s: &TestServer, org: &str, token: &str, id: &str) -> Value {
    s.get(&format!("/v1/orgs/{org}/webhooks/{id}"), token)
        .await
        .body
}

/// Waits until the endpoint's state satisfies `until`.
async fn webhook_until(
    s: &TestServer,
    org: &str,
    token: &str,
    id: &str,
    until: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let hook = webhook(s, org, token, id).await;
        if until(&hook) {
            return hook;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{:?}", webhook(s, org, token, id).await);
}

async fn rename(s: &TestServer, org: &str, token: &str, name: &str) {
    let renamed = s
        .patch(&format!("/v1/orgs/{org}"), token, json!({"name": name}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
}

/// A server that delivers to local receivers, a provider's token, its customer and the
/// customer owner's token, and a receiver.
async fn acme_and_a_receiver() -> (TestServer, String, String, String, Receiver) {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), local_receivers)
        .await
        .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let receiver = Receiver::start().await.unwrap();
    (s, sp, acme, owner, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_real_receiver_signed_in_order_through_failures_and_recovery() {
    let (s, sp, acme, owner, receiver) = acme_and_a_receiver().await;

    // A receiver's own token in the query is the organization's to see, nobody else's.
    let with_token = format!("{}?token=s3cret", receiver.url);
    let created = s
        .post(
            &format!("/v1/orgs/{acme}/webhooks"),
            &owner,
            json!({"url": with_token, "description": "our CRM"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = created.id();
    let listed = s.get(&format!("/v1/orgs/{acme}/webhooks"), &owner).await;
    assert_eq!(listed.body["items"][0]["url"], with_token.as_str());
    assert!(
        !listed.body.to_string().contains(&secret),
        "the secret is shown once"
    );

    // Its own creation first, then what happens in the organization, in outbox order.
    rename(&s, &acme, &owner, "Acme One").await;
    let (_, _) = s.member(&acme, &owner, "Ada", "member").await;
    let got = receiver
        .wait_until(|r| types(r).contains(&"invitation.accepted".to_owned()))
        .await;
    let outbox = s
        .get(&format!("/v1/orgs/{acme}/events?limit=500"), &owner)
        .await;
    let since_creation: Vec<String> = outbox.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|e| e["kind"] != "webhook.created")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let delivered: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(delivered, since_creation[..delivered.len()]);
    assert_eq!(types(&got)[..2], ["webhook.created", "org.updated"]);
    assert_eq!(
        got[0].json()["data"]["url"],
        receiver.url.as_str(),
        "no query in events"
    );
    for request in &got {
        let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
        let expected = signature::sign(
            &secret,
            request.header("webhook-id"),
            timestamp,
            &request.body,
        )
        .unwrap();
        assert_eq!(request.header("webhook-signature"), expected);
        assert_eq!(request.json()["organization_id"], acme.as_str());
        assert_eq!(request.header("content-type"), "application/json");
    }

    // The receiver fails: the event waits (the next one too, for order) and is retried.
    receiver.set_mode(Mode::Answer(503));
    let before = receiver.received().len();
    rename(&s, &acme, &owner, "Acme Two").await;
    rename(&s, &acme, &owner, "Acme Three").await;
    let failing = webhook_until(&s, &acme, &owner, &id, |h| h["failed_attempts"] == 1).await;
    assert!(failing["failing_since"].is_string(), "{failing:?}");
    let log = s
        .get(&format!("/v1/orgs/{acme}/webhooks/{id}/deliveries"), &owner)
        .await;
    let last = &log.body["items"][0];
    assert_eq!(
        (
            &last["ok"],
            &last["status_code"],
            &last["attempt"],
            &last["error"]
        ),
        (
            &json!(false),
            &json!(503),
            &json!(1),
            &json!("answered 503")
        )
    );
    // It hangs: the next attempt (5 s later; the test moves the clock) times out.
    receiver.set_mode(Mode::Hang);
    s.clock().advance(Duration::from_secs(6));
    let timed_out = webhook_until(&s, &acme, &owner, &id, |h| h["failed_attempts"] == 2).await;
    assert_eq!(timed_out["status"], "enabled");
    let log = s
        .get(
            &format!("/v1/orgs/{acme}/webhooks/{id}/deliveries?limit=1"),
            &owner,
        )
        .await;
    assert_eq!(log.body["items"][0]["error"], "no answer within 1 s");
    // It recovers: both events arrive, in order, the first with the same webhook-id as before.
    receiver.set_mode(Mode::Answer(200));
    s.clock().advance(Duration::from_secs(301));
    let got = receiver
        .wait_until(|r| r.len() >= before + 4 && r.last().unwrap().answered == Some(200))
        .await;
    let after: Vec<(String, Option<u16>)> = got[before..]
        .iter()
        .map(|r| (r.json()["data"]["org_id"].to_string(), r.answered))
        .collect();
    assert_eq!(after.len(), 4, "{after:?}");
    assert_eq!(
        got[before].header("webhook-id"),
        got[before + 2].header("webhook-id")
    );
    assert_eq!(
        types(&got[before..]),
        ["org.updated", "org.updated", "org.updated", "org.updated"]
    );
    let recovered = webhook_until(&s, &acme, &owner, &id, |h| h["failed_attempts"] == 0).await;
    assert!(recovered.get("failing_since").is_none(), "{recovered:?}");

    // By hand: any event still in the outbox, again, now.
    let first = got[0].header("webhook-id").to_owned();
    let again = s
        .post(
            &format!("/v1/orgs/{acme}/webhooks/{id}/redeliver"),
            &owner,
            json!({"event_id": first}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(
        (&again.body["ok"], &again.body["attempt"]),
        (&json!(true), &json!(0))
    );
    assert_eq!(
        receiver.received().last().unwrap().header("webhook-id"),
        first
    );

    // The organization is deleted: its endpoint still delivers that, then goes.
    assert_eq!(
        s.delete(&format!("/v1/orgs/{acme}"), &sp).await.status,
        StatusCode::NO_CONTENT
    );
    let got = receiver
        .wait_until(|r| types(r).contains(&"org.deleted".to_owned()))
        .await;
    assert_eq!(types(&got).last().unwrap(), "org.deleted");
    for _ in 0..100 {
        let left = s
            .app()
            .store
            .read(|view| Ok(view.all_webhooks(None, 1)?.len()))
            .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deleted organization's endpoint stayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_its_whole_schedule_is_disabled_then_enabled_again() {
    let (s, _, acme, owner, receiver) = acme_and_a_receiver().await;
    receiver.set_mode(Mode::Answer(500));
    let filtered = Receiver::start().await.unwrap();
    let failing = s
        .post(
            &format!("/v1/orgs/{acme}/webhooks"),
            &owner,
            json!({"url": receiver.url}),
        )
        .await
        .id();
    // A second endpoint that wants only `webhook.disabled`.
    let watcher = s
        .post(
            &format!("/v1/orgs/{acme}/webhooks"),
            &owner,
            json!({"url": filtered.url, "event_types": ["webhook.disabled"]}),
        )
        .await;
    assert_eq!(watcher.status, StatusCode::CREATED, "{:?}", watcher.body);

    // Eight attempts over about 27.6 hours (the clock is moved past each wait).
    for attempt in 1..=8 {
        webhook_until(&s, &acme, &owner, &failing, |h| {
            h["failed_attempts"] == attempt || h["status"] == "disabled"
        })
        .await;
        s.clock().advance(Duration::from_secs(10 * 3600 + 1));
    }
    let disabled = webhook_until(&s, &acme, &owner, &failing, |h| h["status"] == "disabled").await;
    assert_eq!(disabled["failed_attempts"], 8, "{disabled:?}");
    assert!(disabled["disabled_at"].is_string());
    // The other endpoint hears of it; nothing else reached it.
    let told = filtered.wait_until(|r| !r.is_empty()).await;
    assert_eq!(types(&told), ["webhook.disabled"]);
    assert_eq!(told[0].json()["data"]["webhook_id"], failing.as_str());
    assert_eq!(told[0].json()["data"]["last_error"], "answered 500");

    // Enabled again, it resumes with the event it never delivered.
    receiver.set_mode(Mode::Answer(204));
    let count = receiver.received().len();
    let enabled = s
        .post_empty(
            &format!("/v1/orgs/{acme}/webhooks/{failing}/enable"),
            &owner,
        )
        .await;
    assert_eq!(enabled.body["status"], "enabled", "{:?}", enabled.body);
    let got = receiver
        .wait_until(|r| r.len() > count && r.last().unwrap().answered == Some(204))
        .await;
    assert_eq!(types(&got[count..])[0], "webhook.created");
}

#[tokio::test]
async fn endpoints_are_refused_where_they_would_reach_the_servers_network_or_are_malformed() {
    // The default settings (https and public addresses only), two endpoints per organization.
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.quotas.webhooks_per_org = 2;
    })
    .await
    .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    let (_, member) = s.member(&acme, &owner, "Max", "member").await;
    let create = |token: &str, body: Value| {
        let (path, token) = (format!("/v1/orgs/{acme}/webhooks"), token.to_owned());
        let s = &s;
        async move { s.post(&path, &token, body).await }
    };
    for (url, reason) in [
        ("http://example.com/hook", "must be https"),
        ("https://127.0.0.1:9/hook", "not a public address"),
        (
            "https://169.254.169.254/latest/meta-data",
            "not a public address",
        ),
        ("https://[::1]/hook", "not a public address"),
        ("https://localhost/hook", "not a public address"),
        (
            "https://user:pw@example.com/hook",
            "must not carry credentials",
        ),
        ("hook", "not an absolute URL"),
    ] {
        let refused: Answer = create(&owner, json!({"url": url})).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {:?}",
            refused.body
        );
        assert_eq!(refused.body["errors"][0]["field"], "url", "{url}");
        let said = refused.body["errors"][0]["reason"].as_str().unwrap();
        assert!(said.contains(reason), "{url}: {said}");
    }
    let bad_type = create(
        &owner,
        json!({"url": "https://example.com/h", "event_types": ["org.updated", "nope"]}),
    )
    .await;
    assert_eq!(bad_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_type.body["errors"][0]["field"], "event_types[1]");
    let unknown = create(
        &owner,
        json!({"url": "https://example.com/h", "secret": "mine"}),
    )
    .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        unknown.body
    );
    // A member may not add one, and another tenant sees nothing of them.
    let by_member = create(&member, json!({"url": "https://example.com/h"})).await;
    assert_eq!(
        by_member.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        by_member.body
    );
    // (an organization the caller is no member of does not exist for it)
    let outsider = s
        .get(&format!("/v1/orgs/{acme}/webhooks"), &globex_owner)
        .await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.get(&format!("/v1/orgs/{globex}/webhooks"), &globex_owner)
            .await
            .body["items"],
        json!([])
    );
    // Nothing was written by any of these.
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}/webhooks"), &owner)
            .await
            .body["items"],
        json!([])
    );
    // The description at its edge (200 characters), then the quota at its edge (public
    // addresses by number: nothing to resolve).
    let long = create(
        &owner,
        json!({"url": "https://93.184.216.34/a", "description": "é".repeat(201)}),
    )
    .await;
    assert_eq!(
        long.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        long.body
    );
    assert_eq!(long.body["errors"][0]["field"], "description");
    let mut made = Vec::new();
    for (path, description) in [("a", "é".repeat(200)), ("b", String::new())] {
        let url = format!("https://93.184.216.34/{path}");
        let one = create(&owner, json!({"url": url, "description": description})).await;
        assert_eq!(one.status, StatusCode::CREATED, "{:?}", one.body);
        made.push(one.id());
    }
    // The delivery log is read 1 to 100 attempts at a time (what is kept).
    let log = |limit: usize| {
        format!(
            "/v1/orgs/{acme}/webhooks/{}/deliveries?limit={limit}",
            made[0]
        )
    };
    assert_eq!(s.get(&log(100), &owner).await.status, StatusCode::OK);
    for limit in [0, 101] {
        let refused = s.get(&log(limit), &owner).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{limit}: {:?}",
            refused.body
        );
        assert_eq!(refused.body["errors"][0]["field"], "limit");
    }
    let third = create(&owner, json!({"url": "https://93.184.216.34/c"})).await;
    assert_eq!(third.status, StatusCode::CONFLICT, "{:?}", third.body);
    assert!(
        third.detail().contains("`webhooks_per_org`"),
        "{}",
        third.detail()
    );
}
