//! A server whose PostgreSQL database goes away while it serves: requests answer 503
//! `storage unavailable` (never 500, never a half-done write), `/readyz` says not ready, and
//! everything resumes when the database is back, with every acknowledged write in place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tenantry::storage::postgres::scratch;
use tenantry_e2e::TestServer;
use tenantry_e2e::tcp_proxy::TcpProxy;

#[tokio::test]
async fn a_lost_database_answers_503_and_everything_resumes_when_it_returns() {
    if tenantry_e2e::Backend::of_this_run() != tenantry_e2e::Backend::Postgres {
        eprintln!("not on the embedded file: this is about losing a PostgreSQL server");
        return;
    }
    let server = scratch::test_server().unwrap();
    let database = url::Url::parse(&scratch::create_database(&server).unwrap()).unwrap();
    let target = format!(
        "{}:{}",
        database.host_str().unwrap(),
        database.port().unwrap_or(5432)
    );
    let proxy = TcpProxy::start(target).unwrap();
    let mut through = database.clone();
    let (host, port) = proxy.address.split_once(':').unwrap();
    through.set_host(Some(host)).unwrap();
    through.set_port(Some(port.parse().unwrap())).unwrap();
    let s = TestServer::spawn_on_database(through.to_string())
        .await
        .unwrap();
    let (sp_id, sp) = s.provider("telco").await;
    let teams = format!("/v1/orgs/{sp_id}/teams");
    let before = s.post(&teams, &sp, json!({"name": "Day shift"})).await;
    assert_eq!(before.status, StatusCode::CREATED, "{:?}", before.body);

    proxy.cut();
    let read = s.get(&teams, &sp).await;
    assert_eq!(
        read.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        read.body
    );
    assert_eq!(read.body["title"], "storage unavailable");
    assert_eq!(read.headers["retry-after"], "1");
    let write = s.post(&teams, &sp, json!({"name": "Night shift"})).await;
    assert_eq!(
        write.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        write.body
    );
    let ready = s.get("/readyz", "").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        ready.body
    );

    proxy.restore();
    let started = Instant::now();
    let written = loop {
        let answer = s.post(&teams, &sp, json!({"name": "Night shift"})).await;
        if answer.status != StatusCode::SERVICE_UNAVAILABLE
            || started.elapsed() > Duration::from_secs(10)
        {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(written.status, StatusCode::CREATED, "{:?}", written.body);
    let listed = s.get(&teams, &sp).await;
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"Day shift") && names.contains(&"Night shift"));
    assert_eq!(s.get("/readyz", "").await.status, StatusCode::OK);
}
