//! Reliability: races that must resolve to one answer (spread over two servers on one
//! database on a PostgreSQL run), and backups taken under load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::app::invariants;
use tenantry::cli::backup::{BackupArgs, backup};
use tenantry::domain::org::Org;
use tenantry::storage::{Snapshot, tables};
use tenantry_e2e::{TestServer, org_body, race, racing_servers};

/// Every invariant holds on the server's current state.
fn assert_sound(s: &TestServer) {
    let now = s.clock().now();
    let report = s
        .app()
        .store
        .read(|view| invariants::check(view, now))
        .unwrap();
    assert!(report.is_sound(), "{:?}", report.violations);
}

#[tokio::test]
async fn two_hundred_concurrent_accepts_never_exceed_the_link_cap() {
    let servers = racing_servers().await;
    let s = &servers[0];
    let (hub, hub_owner, links) = s.hub_with_link_requests(200).await;
    let accepts = links.iter().enumerate().map(|(i, link)| {
        servers[i % servers.len()]
            .request(Method::POST, &format!("/v1/orgs/{hub}/links/{link}/accept"))
            .bearer_auth(&hub_owner)
    });
    assert_eq!(race(accepts).await, BTreeMap::from([(200, 10), (403, 190)]));
    for server in &servers {
        let active = server
            .get(
                &format!("/v1/orgs/{hub}/links?status=active&limit=100"),
                &hub_owner,
            )
            .await;
        assert_eq!(active.body["items"].as_array().unwrap().len(), 10);
    }
    assert_sound(s);
}

#[tokio::test]
async fn one_invitation_token_used_concurrently_succeeds_once() {
    let servers = racing_servers().await;
    let s = &servers[0];
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "alpha", true).await;
    let invite = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            &owner,
            json!({"name": "Ann", "email": "ann@alpha.example", "role": "member"}),
        )
        .await;
    let token = invite.body["invitation_token"].as_str().unwrap().to_owned();
    let accepts = (0..32).map(|i| {
        servers[i % servers.len()]
            .request(Method::POST, "/v1/invitations/accept")
            .json(&json!({"token": token}))
    });
    assert_eq!(race(accepts).await, BTreeMap::from([(200, 1), (410, 31)]));
    let members = s.get(&format!("/v1/orgs/{org}/members"), &owner).await;
    let anns = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["email"] == "ann@alpha.example")
        .count();
    assert_eq!(anns, 1);
}

#[tokio::test]
async fn concurrent_policy_versions_on_one_hook_get_a_total_order() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (org, owner) = s.customer(&sp, "alpha", true).await;
    let path = format!("/v1/orgs/{org}/policies/authorize");
    let put = |n: usize| {
        s.request(Method::PUT, &path)
            .bearer_auth(&owner)
            .header("content-type", "text/x-rhai")
            .body(format!("fn authorize(input) {{ abstain() }} // writer {n}"))
    };
    // An organization publishes one version at a time (its policy job share); the others are
    // told to retry, and every retry lands.
    let mut pending: Vec<usize> = (0..24).collect();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds < 200, "the uploads never all landed: {pending:?}");
        let mut tasks = tokio::task::JoinSet::new();
        for &n in &pending {
            let request = put(n);
            tasks.spawn(async move { (n, request.send().await.map(|r| r.status().as_u16())) });
        }
        let mut retry = Vec::new();
        for (n, status) in tasks.join_all().await {
            match status.unwrap() {
                201 => {}
                429 => retry.push(n),
                other => panic!("writer {n}: {other}"),
            }
        }
        pending = retry;
    }
    let versions = s.get(&format!("{path}/versions"), &owner).await;
    let items = versions.body["items"].as_array().unwrap();
    let numbers: BTreeSet<u64> = items
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=24).collect(), "every version numbered once");
    let writers: BTreeSet<&str> = items
        .iter()
        .map(|v| v["source"].as_str().unwrap())
        .collect();
    assert_eq!(writers.len(), 24, "no version lost");
    let active: Vec<u64> = items
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(active, [24], "the last committed version is the active one");
    assert_sound(&s);
}

#[tokio::test]
async fn a_backup_under_concurrent_writes_holds_every_acknowledged_write_and_restores() {
    let s = TestServer::spawn().await.unwrap();
    if !tenantry_e2e::only_on_the_embedded_file("the server's own backup") {
        let refused = s.get("/v1/platform/backup", &s.operator).await;
        assert_eq!(refused.status, 409, "{:?}", refused.body);
        assert!(refused.detail().contains("pg_dump"), "{}", refused.detail());
        return;
    }
    let (_, sp) = s.provider("telco").await;
    assert_eq!(
        s.call(Method::GET, "/v1/platform/backup", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refused = s.get("/v1/platform/backup", &sp).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.detail(),
        "only the platform operator may take a backup"
    );

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let (base, operator) = (s.base.clone(), s.operator.clone());
        writers.spawn(async move {
            let client = tenantry_e2e::client();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = org_body(
                    &format!("w{w}-{n}"),
                    "business_user",
                    "service_provider",
                    false,
                );
                let answer = client
                    .post(format!("{base}/v1/orgs"))
                    .bearer_auth(&operator)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), StatusCode::CREATED);
                let created: serde_json::Value = answer.json().await.unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .push(created["id"].as_str().unwrap().to_owned());
                n += 1;
            }
        });
    }
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenantry.redb");
    let code = backup(BackupArgs {
        path: &file,
        server: &s.base,
        token: &s.operator,
    })
    .await
    .unwrap();
    let after_backup = acknowledged.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    writers.join_all().await;
    assert_eq!(code, 0, "the copy passed its invariant check");
    assert!(
        after_backup > before.len(),
        "writes went on while the backup was taken"
    );

    let snapshot = Snapshot::open(&file).unwrap();
    let missing: Vec<&String> = snapshot
        .read(|view| {
            let mut missing = Vec::new();
            for id in &before {
                let key = uuid::Uuid::parse_str(id).unwrap().as_u128();
                if view.record::<Org>(tables::ORGS, key)?.is_none() {
                    missing.push(id);
                }
            }
            Ok(missing)
        })
        .unwrap();
    assert!(missing.is_empty(), "lost from the backup: {missing:?}");
    assert!(
        backup(BackupArgs {
            path: &file,
            server: &s.base,
            token: &s.operator,
        })
        .await
        .is_err(),
        "a backup never overwrites a file"
    );
    drop(snapshot);

    // Restore: a server started on the copy serves what it holds.
    let restored = TestServer::spawn_on(dir).await.unwrap();
    let org = restored
        .get(&format!("/v1/orgs/{}", before[0]), &restored.operator)
        .await;
    assert_eq!(org.status, StatusCode::OK, "{:?}", org.body);
    assert_sound(&restored);
}

#[tokio::test]
async fn a_token_over_its_quota_gets_429_and_other_tokens_keep_going() {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.rate_limit.per_second = 1;
        settings.rate_limit.burst = 5;
    })
    .await
    .unwrap();
    let (sp_id, sp) = s.provider("telco").await;
    let path = format!("/v1/orgs/{sp_id}");
    // The provider's owner token: accepting used none of its quota; five reads do.
    for _ in 0..5 {
        assert_eq!(s.get(&path, &sp).await.status, StatusCode::OK);
    }
    let limited = s.send(s.request(Method::GET, &path).bearer_auth(&sp)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.content_type, "application/problem+json");
    assert!(
        limited.detail().contains("retry after 1 s"),
        "{:?}",
        limited.body
    );
    let response = s
        .request(Method::GET, &path)
        .bearer_auth(&sp)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        s.get(&path, &s.operator).await.status,
        StatusCode::OK,
        "another token has its own quota"
    );
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_have_one_effect() {
    let servers = racing_servers().await;
    let s = &servers[0];
    let (sp_id, sp) = s.provider("telco").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let request = servers[i % servers.len()]
            .request(Method::POST, &format!("/v1/orgs/{sp_id}/teams"))
            .bearer_auth(&sp)
            .header("idempotency-key", "team-once")
            .json(&json!({"name": "Night shift"}));
        tasks.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<serde_json::Value>().await.unwrap())
        });
    }
    let answers = tasks.join_all().await;
    let created: BTreeSet<String> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, body)| body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), 1, "every success names the same team");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::CREATED || *status == StatusCode::CONFLICT),
        "{answers:?}"
    );
    let last = &servers[servers.len() - 1];
    let teams = last.get(&format!("/v1/orgs/{sp_id}/teams"), &sp).await;
    assert_eq!(
        teams.body["items"].as_array().unwrap().len(),
        1,
        "one effect"
    );
}

#[tokio::test]
async fn the_invariant_check_names_what_is_broken() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let version = s
        .put_rhai(
            &format!("/v1/orgs/{acme}/policies/authorize"),
            &owner,
            "fn authorize(input) { abstain() }",
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED);
    assert_sound(&s);

    // Break two rules behind the server's back: the owner's membership and the version a
    // binding points at disappear.
    let acme_key = uuid::Uuid::parse_str(&acme).unwrap().as_u128();
    let version_key = uuid::Uuid::parse_str(&version.id()).unwrap().as_u128();
    s.app()
        .store
        .write(move |tx| {
            let owners: Vec<(u128, serde_json::Value)> =
                tx.view().pairs(tables::MEMBERSHIPS, acme_key, None, 10)?;
            for (user, _) in owners {
                tx.delete_pair(tables::MEMBERSHIPS, acme_key, user)?;
            }
            tx.delete(tables::POLICY_VERSIONS, version_key)?;
            Ok(())
        })
        .await
        .unwrap();
    let now = s.clock().now();
    let report = s
        .app()
        .store
        .read(|view| invariants::check(view, now))
        .unwrap();
    assert_eq!(
        report.violations,
        [
            format!("customer-managed organization {acme} has 0 owners, not exactly one"),
            format!(
                "binding organization:{acme}:authorize points at version {}, which does not exist",
                version.id()
            ),
        ]
    );
}
