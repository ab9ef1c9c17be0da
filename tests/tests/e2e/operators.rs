//! What an operator watches: `/readyz` says what is degraded without naming a tenant, and
//! `/metrics` counts layer failures by kind and quarantines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry_e2e::TestServer;

async fn readyz(s: &TestServer) -> Value {
    let ready = s.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    ready.body
}

/// Polls `/readyz` until `until` holds of its body.
async fn readyz_until(s: &TestServer, until: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = readyz(s).await;
        if until(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    panic!("/readyz never got there: {last}");
}

fn has_part(body: &Value, part: &str) -> bool {
    body["degraded"]
        .as_array()
        .is_some_and(|d| d.iter().any(|p| p["part"] == part))
}

#[tokio::test]
async fn readyz_lists_a_broken_platform_file_and_quarantined_policies_until_they_recover() {
    let (s, policies) = TestServer::spawn_with_own_policies(tenantry_e2e::unthrottled)
        .await
        .unwrap();
    assert_eq!(readyz(&s).await, json!({"status": "ready", "degraded": []}));

    let file = policies.path().join("share.rhai");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, "fn share(input) {\n  allow(\n}").unwrap();
    let broken = readyz_until(&s, |b| has_part(b, "platform_policy")).await;
    assert_eq!(broken["status"], "degraded");
    assert_eq!(broken["degraded"][0]["hook"], "share");
    let text = broken.to_string();
    assert!(
        !text.contains(&policies.path().display().to_string()) && !text.contains("share.rhai:"),
        "an unauthenticated route shows no path or error text: {text}"
    );
    // Put back as it was: nothing is failing any more.
    std::fs::write(&file, original).unwrap();
    readyz_until(&s, |b| b["status"] == "ready").await;

    // A tenant policy that always runs out of operations is quarantined for its organization
    // after three failures in a row; readyz counts it without naming it.
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let bound = s
        .put_rhai(
            &format!("/v1/orgs/{acme}/policies/authorize"),
            &owner,
            "fn authorize(input) { loop {} }",
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    for _ in 0..3 {
        let denied = s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
        assert_eq!(
            denied.detail(),
            "policy error in the organization layer (operation_limit)"
        );
    }
    let quarantined = s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
    assert_eq!(
        quarantined.detail(),
        "policy error in the organization layer (quarantined)"
    );
    // The first cool-off is a second: on a busy machine it may end before readyz is asked,
    // and the next failure trips the breaker again.
    let mut degraded = readyz(&s).await;
    for _ in 0..20 {
        if has_part(&degraded, "quarantined_policies") {
            break;
        }
        s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
        degraded = readyz(&s).await;
    }
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    let part = &degraded["degraded"][0];
    assert_eq!(
        (&part["part"], &part["count"]),
        (&json!("quarantined_policies"), &json!(1))
    );
    assert!(!degraded.to_string().contains(&acme), "{degraded}");

    let metrics = s.call(reqwest::Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    for line in [
        "tenantry_policy_layer_errors_total{hook=\"authorize\",layer=\"organization\",kind=\"operation_limit\"}",
        "tenantry_policy_layer_errors_total{hook=\"authorize\",layer=\"organization\",kind=\"quarantined\"}",
        "tenantry_policy_quarantines_total",
        "tenantry_degraded{part=\"quarantined_policies\"}",
        "tenantry_policy_layer_duration_seconds_count{hook=\"authorize\",kind=\"rhai\"}",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn a_deleted_organizations_audit_and_events_stay_readable_by_the_operator_alone() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    s.post(
        &format!("/v1/orgs/{acme}/teams"),
        &owner,
        json!({"name": "Support"}),
    )
    .await;
    let deleted = s.delete(&format!("/v1/orgs/{acme}"), &sp).await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &s.operator).await.status,
        StatusCode::NOT_FOUND
    );

    let audit = s.get(&format!("/v1/orgs/{acme}/audit"), &s.operator).await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"team.create"), "{actions:?}");
    let events = s.get(&format!("/v1/orgs/{acme}/events"), &s.operator).await;
    assert_eq!(events.status, StatusCode::OK, "{:?}", events.body);
    assert!(
        events.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "org.deleted"),
        "{:?}",
        events.body
    );
    // Its provider no longer sees the organization at all (its owner, erased with it, has no
    // valid token left).
    for token in [&sp] {
        for path in ["audit", "events"] {
            let gone = s.get(&format!("/v1/orgs/{acme}/{path}"), token).await;
            assert_eq!(
                gone.status,
                StatusCode::NOT_FOUND,
                "{path}: {:?}",
                gone.body
            );
        }
    }
    // An id that never was is 404 for the operator too.
    let never = uuid::Uuid::now_v7();
    assert_eq!(
        s.get(&format!("/v1/orgs/{never}/audit"), &s.operator)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_callers_traceparent_names_its_decisions_and_comes_back_in_the_answer() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let sent = format!("00-{trace}-00f067aa0ba902b7-01");
    let answer = s
        .request(reqwest::Method::GET, &format!("/v1/orgs/{acme}/teams"))
        .bearer_auth(&owner)
        .header("traceparent", &sent)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let back = answer.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("00-{trace}-")) && back.ends_with("-01"),
        "{back}"
    );
    assert_ne!(
        back, sent,
        "the answer names this server's own span in the trace"
    );

    let traced = s
        .logged_decisions(
            &acme,
            &owner,
            |d| d["trace_id"] == trace,
            |kept| !kept.is_empty(),
        )
        .await;
    assert_eq!(traced.len(), 1, "the one decision of that request");
    assert_eq!(traced[0]["input"]["action"], "team.list");

    // A malformed one is replaced by a new trace, not carried.
    let answer = s
        .request(reqwest::Method::GET, "/healthz")
        .header("traceparent", "00-zzz-bad-01")
        .send()
        .await
        .unwrap();
    let fresh = answer.headers()["traceparent"].to_str().unwrap();
    let parts: Vec<&str> = fresh.split('-').collect();
    assert_eq!(
        (parts.len(), parts[0], parts[1].len()),
        (4, "00", 32),
        "{fresh}"
    );
}

/// On PostgreSQL, small reads waiting at the same moment share one snapshot and run on the
/// task of whichever request leads the group; each decision must still carry its own
/// request's trace, not the leader's.
#[tokio::test]
async fn reads_made_together_keep_each_requests_trace() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let traces: Vec<String> = (1..=32_u128)
        .map(|i| format!("{:032x}", 0xace0 + i))
        .collect();
    let reads = traces.iter().map(|trace| {
        s.request(reqwest::Method::GET, &format!("/v1/orgs/{acme}"))
            .bearer_auth(&owner)
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .send()
    });
    for answer in futures_util::future::join_all(reads).await {
        assert_eq!(answer.unwrap().status(), StatusCode::OK);
    }

    let logged = s
        .logged_decisions(
            &acme,
            &owner,
            |d| d["trace_id"].is_string(),
            |kept| {
                traces
                    .iter()
                    .all(|t| kept.iter().any(|d| d["trace_id"] == t.as_str()))
            },
        )
        .await;
    let mut by_trace = std::collections::HashMap::<String, Vec<Value>>::new();
    for decision in logged {
        if let Some(trace) = decision["trace_id"].as_str() {
            by_trace.entry(trace.to_owned()).or_default().push(decision);
        }
    }
    for trace in &traces {
        let decisions = by_trace.get(trace).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(decisions.len(), 1, "trace {trace}: {decisions:?}");
        assert_eq!(decisions[0]["input"]["action"], "org.read");
    }
}
