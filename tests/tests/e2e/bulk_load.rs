//! The library's bulk path: a migration's batch lands whole and is then served like any other
//! organization, or is refused whole with every bad field named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::StatusCode;
use serde_json::Value;
use tenantry::app::bulk::{Batch, BulkLink, BulkOrg, MAX_BATCH_RECORDS};
use tenantry::app::invariants;
use tenantry::app::members::{NewMember, validate_member};
use tenantry::domain::ids::OrgId;
use tenantry::domain::org::NewOrg;
use tenantry::error::Error;
use tenantry_e2e::{TestServer, org_body};

fn org(slug: &str, account_type: &str, provider: Option<OrgId>) -> NewOrg {
    let mut body = org_body(slug, account_type, "customer", true);
    if let Some(sp) = provider {
        body["service_provider_id"] = Value::String(sp.to_string());
    }
    serde_json::from_value(body).unwrap()
}

fn member(slug: &str, n: usize) -> NewMember {
    let email = format!("m{n}@{slug}.example");
    validate_member(
        Some(&format!("Member {n}")),
        Some(&email),
        Some("member"),
        true,
        None,
    )
    .unwrap()
}

fn with_members(org: NewOrg, slug: &str, count: usize) -> BulkOrg {
    BulkOrg {
        org,
        members: (0..count).map(|n| member(slug, n)).collect(),
    }
}

/// A batch of organizations and no links.
fn orgs_batch(orgs: Vec<BulkOrg>) -> Batch {
    Batch {
        orgs,
        links: Vec::new(),
    }
}

/// Every record count of the file, to show a refused batch changed nothing. The decision log
/// is left out: a refused request's decisions are logged too, moments later, by design.
fn counts(server: &TestServer) -> Vec<(String, u64)> {
    let now = server.clock().now();
    let mut counts = server
        .app()
        .store
        .read(|view| invariants::check(view, now))
        .unwrap()
        .counts;
    counts.retain(|(table, _)| !tenantry::storage::decision_log::holds(table));
    counts
}

#[tokio::test]
async fn a_batch_lands_whole_and_is_served_like_any_organization() {
    let server = TestServer::spawn().await.unwrap();
    let app = server.app();
    let operator = app.authenticate(&server.operator).unwrap();
    let providers = app
        .bulk_load(
            operator,
            orgs_batch(vec![with_members(
                org("bulk-sp", "service_provider", None),
                "bulk-sp",
                0,
            )]),
        )
        .await
        .unwrap();
    let sp = providers.orgs[0];
    let customers = (0..3)
        .map(|i| {
            let slug = format!("bulk-c{i}");
            with_members(org(&slug, "business_user", Some(sp)), &slug, 4)
        })
        .collect();
    let loaded = app
        .bulk_load(operator, orgs_batch(customers))
        .await
        .unwrap();
    let [a, b, c] = loaded.orgs[..] else {
        panic!("three organizations")
    };
    assert_eq!(loaded.members, 3 * 5, "four members and the owner each");
    let links = app
        .bulk_load(
            operator,
            Batch {
                orgs: vec![],
                links: vec![BulkLink { from: a, to: b }, BulkLink { from: c, to: a }],
            },
        )
        .await
        .unwrap();
    assert_eq!(links.links, 2);

    let got = server.get(&format!("/v1/orgs/{a}"), &server.operator).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.body["name"], "bulk-c0 Inc");
    assert_eq!(got.body["service_provider_id"], sp.to_string());
    let members = server
        .get(&format!("/v1/orgs/{a}/members"), &server.operator)
        .await;
    let items = members.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|m| m["status"] == "active"), "{items:?}");
    assert_eq!(items.iter().filter(|m| m["role"] == "owner").count(), 1);
    let listed = server
        .get(&format!("/v1/orgs/{a}/links"), &server.operator)
        .await;
    let statuses: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["status"])
        .collect();
    assert_eq!(statuses, ["active", "active"]);
    let found = server.get("/v1/orgs?q=bulk-c", &server.operator).await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        3,
        "{:?}",
        found.body
    );
    let audit = server
        .get(&format!("/v1/orgs/{a}/audit"), &server.operator)
        .await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "org.bulk_load"),
        "{:?}",
        audit.body
    );
    let now = server.clock().now();
    let report = app.store.read(|view| invariants::check(view, now)).unwrap();
    assert!(report.is_sound(), "{:?}", report.violations);
}

#[tokio::test]
async fn a_bad_batch_names_each_bad_field_and_writes_nothing() {
    let server = TestServer::spawn().await.unwrap();
    let app = server.app();
    let operator = app.authenticate(&server.operator).unwrap();
    let before = counts(&server);
    let mut no_country = org("bad-1", "business_user", None);
    no_country.country = None;
    let mut owner_member = with_members(org("bad-2", "business_user", None), "bad-2", 1);
    owner_member.members[0].role = tenantry::domain::member::Role::Owner;
    let batch = orgs_batch(vec![
        with_members(org("good-0", "business_user", None), "good-0", 2),
        with_members(no_country, "bad-1", 0),
        owner_member,
    ]);
    let Err(Error::Invalid { fields, .. }) = app.bulk_load(operator, batch).await else {
        panic!("the batch should be invalid")
    };
    let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(named, ["orgs[1].country", "orgs[2].members[0].role"]);
    assert_eq!(counts(&server), before);
}

#[tokio::test]
async fn a_batch_that_breaks_an_invariant_is_refused_whole() {
    let server = TestServer::spawn().await.unwrap();
    let app = server.app();
    let operator = app.authenticate(&server.operator).unwrap();
    let hub = app
        .bulk_load(
            operator,
            orgs_batch(vec![with_members(
                org("hub", "business_user", None),
                "hub",
                0,
            )]),
        )
        .await
        .unwrap()
        .orgs[0];
    let before = counts(&server);

    // A batch whose last part is bad keeps none of its first parts.
    let spokes = || {
        orgs_batch(
            (0..11)
                .map(|i| with_members(org(&format!("spoke-{i}"), "business_user", None), "s", 0))
                .collect(),
        )
    };
    let mut self_linked = spokes();
    self_linked.links = vec![BulkLink { from: hub, to: hub }];
    let err = app.bulk_load(operator, self_linked).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { fields, .. } if fields[0].reason.contains("cannot link to itself")),
        "{err:?}"
    );
    assert_eq!(counts(&server), before, "the spokes were not kept");

    // Eleven links to the hub: one over the default cap of ten active links.
    let spokes = app.bulk_load(operator, spokes()).await.unwrap().orgs;
    let before = counts(&server);
    let over_cap = Batch {
        orgs: vec![with_members(org("late", "business_user", None), "late", 1)],
        links: spokes
            .iter()
            .map(|&s| BulkLink { from: hub, to: s })
            .collect(),
    };
    let err = app.bulk_load(operator, over_cap).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("cap of 10 active links")),
        "{err:?}"
    );
    assert_eq!(
        counts(&server),
        before,
        "neither `late` nor the first ten links were kept"
    );

    let twice = Batch {
        orgs: vec![],
        links: vec![
            BulkLink {
                from: hub,
                to: spokes[0],
            },
            BulkLink {
                from: spokes[0],
                to: hub,
            },
        ],
    };
    let err = app.bulk_load(operator, twice).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("live link already exists")),
        "{err:?}"
    );
    assert_eq!(counts(&server), before);
}

#[tokio::test]
async fn only_the_operator_may_bulk_load_and_a_batch_has_a_size_limit() {
    let server = TestServer::spawn().await.unwrap();
    let app = server.app();
    let operator = app.authenticate(&server.operator).unwrap();
    let (_, owner_token) = server.provider("size-sp").await;
    let owner = app.authenticate(&owner_token).unwrap();

    // At the limit the size passes and the provider's owner is refused by the policy; one
    // record more is refused for its size, before anything else is asked.
    let at_limit = || {
        orgs_batch(vec![with_members(
            org("big", "business_user", None),
            "big",
            MAX_BATCH_RECORDS - 1,
        )])
    };
    let err = app.bulk_load(owner, at_limit()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden { reason, .. } if reason.contains("only the platform operator")),
        "{err:?}"
    );
    let mut over = at_limit();
    over.orgs[0].members.push(member("big", MAX_BATCH_RECORDS));
    let err = app.bulk_load(operator, over).await.unwrap_err();
    let Error::Invalid { fields, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(fields[0].field, "records");
    assert_eq!(
        fields[0].reason,
        format!(
            "{} records; at most {MAX_BATCH_RECORDS} per batch",
            MAX_BATCH_RECORDS + 1
        )
    );
}
