//! `tenantry migrate-store`: a stopped deployment's data copied to the other backend and
//! back, every record kept and every invariant holding on each copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::StatusCode;
use serde_json::json;
use tenantry::cli::migrate_store;
use tenantry::storage::Store;
use tenantry::storage::postgres::scratch;
use tenantry_e2e::TestServer;

/// A new, empty place on the backend `like` is not on: a file if `like` is a URL, else a
/// database.
fn other_than(like: &str, server: &str, dir: &tempfile::TempDir, name: &str) -> String {
    if like.contains("://") {
        dir.path().join(name).display().to_string()
    } else {
        scratch::create_database(server).unwrap()
    }
}

/// Record counts per table, waiting for a file that a finished copy is still letting go of.
async fn counts(place: &str) -> Vec<(&'static str, u64)> {
    let mut attempts = 0;
    let store = loop {
        let opened = if place.contains("://") {
            Store::connect(place, 2)
        } else {
            Store::open(std::path::Path::new(place), 16 << 20)
        };
        match opened {
            Ok(store) => break store,
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("waiting for {place}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot open {place}: {e}"),
        }
    };
    let mut counts = store.read(|view| Ok(view.record_counts()?)).unwrap();
    // The decision log is written behind the requests: a stopped server's last decisions may
    // still arrive after its data was counted.
    counts.retain(|(table, _)| !tenantry::storage::decision_log::holds(table));
    counts
}

#[tokio::test]
async fn a_deployment_moves_to_the_other_backend_and_back_with_every_record() {
    let Some(server) = scratch::test_server() else {
        eprintln!(
            "skipped: {} is not set, so there is no second backend to move to",
            scratch::TEST_SERVER_VARIABLE
        );
        return;
    };
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (alpha, alpha_owner) = s.customer(&sp, "alpha", true).await;
    let (beta, beta_owner) = s.customer(&sp, "beta", true).await;
    s.linked(&alpha, &alpha_owner, &beta, &beta_owner).await;
    let team = s
        .post(
            &format!("/v1/orgs/{alpha}/teams"),
            &alpha_owner,
            json!({"name": "Night shift"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{:?}", team.body);
    let freeze = "fn authorize(input) { if input.action == \"team.delete\" { return deny(\"kept\"); } abstain() }";
    let bound = s
        .put_rhai(
            &format!("/v1/orgs/{alpha}/policies/authorize"),
            &alpha_owner,
            freeze,
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    let stopped = s.stop().await.unwrap();
    let source = stopped.place();
    let before = counts(&source).await;
    assert!(
        before.iter().any(|(table, n)| *table == "orgs" && *n == 3),
        "{before:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let moved = other_than(&source, &server, &dir, "moved.redb");
    assert_eq!(
        migrate_store::run(&source, &moved).await.unwrap(),
        0,
        "sound copy"
    );
    assert_eq!(counts(&moved).await, before, "every record moved");

    let refused = migrate_store::run(&source, &moved).await.unwrap_err();
    assert!(
        refused.to_string().contains("empty store only"),
        "{refused}"
    );

    let back = other_than(&moved, &server, &dir, "back.redb");
    assert_eq!(
        migrate_store::run(&moved, &back).await.unwrap(),
        0,
        "sound copy back"
    );
    assert_eq!(counts(&back).await, before, "every record came back");
}
