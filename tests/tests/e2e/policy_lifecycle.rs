//! The policy platform: tenant layers, versions, the test gate, rollback, hot reload, the
//! decision log, dry runs and previews, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry_e2e::{Answer, TestServer};
use tenantry_e2e::{authorize_input, org_input};

const PROVIDER_RULE: &str = r#"
fn remote_support(input) {
    if input.request.minutes > 30 {
        return require_approval("sessions over 30 minutes need the customer's approval");
    }
    grant(input.request.minutes, "short sessions are granted")
}
"#;

const NO_ADMIN_SESSIONS: &str = r#"
fn remote_support(input) {
    if input.request.scope == "admin" { return deny("acme allows no admin sessions"); }
    abstain()
}
"#;

fn layers(trace: &Value) -> Vec<(String, String)> {
    trace["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["layer"].as_str().unwrap().to_owned(),
                l["answer"]["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn provider_and_organization_layers_combine_and_the_trace_shows_both() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", false).await;

    let bound = s
        .put_rhai(
            &format!("/v1/orgs/{sp_org}/customer-policies/remote_support"),
            &sp,
            PROVIDER_RULE,
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    assert_eq!(bound.body["number"], 1);
    let stricter = s
        .put_rhai(
            &format!("/v1/orgs/{acme}/policies/remote_support"),
            &owner,
            NO_ADMIN_SESSIONS,
        )
        .await;
    assert_eq!(stricter.status, StatusCode::CREATED, "{:?}", stricter.body);

    let ask =
        |minutes: u32, scope: &str| json!({"reason": "ticket", "minutes": minutes, "scope": scope});
    let long = s
        .post(
            &format!("/v1/orgs/{acme}/remote-support"),
            &sp,
            ask(60, "read"),
        )
        .await;
    assert_eq!(
        long.body["status"], "pending",
        "the provider layer asks for approval: {:?}",
        long.body
    );
    let short = s
        .post(
            &format!("/v1/orgs/{acme}/remote-support"),
            &sp,
            ask(20, "read"),
        )
        .await;
    assert_eq!(short.body["status"], "granted");
    assert_eq!(short.body["minutes_granted"], 20);
    let admin = s
        .post(
            &format!("/v1/orgs/{acme}/remote-support"),
            &sp,
            ask(20, "admin"),
        )
        .await;
    assert_eq!(admin.body["status"], "denied");
    assert_eq!(
        admin.body["timeline"][1]["reason"],
        "acme allows no admin sessions"
    );

    let org = s.get(&format!("/v1/orgs/{acme}"), &owner).await.body;
    let input = json!({
        "org": org_input(&org),
        "requester": {"id": "u", "provider_id": org["service_provider_id"], "provider_role": "owner"},
        "request": {"reason": "r", "minutes": 60, "scope": "read"},
        "plan": {"max_remote_support_minutes": 480},
        "now": "2026-11-23T10:00:00Z",
    });
    let trace = s
        .post(
            "/v1/decisions/evaluate",
            &owner,
            json!({"hook": "remote_support", "org": acme, "input": input}),
        )
        .await;
    assert_eq!(trace.status, StatusCode::OK, "{:?}", trace.body);
    assert_eq!(
        layers(&trace.body),
        [
            ("platform".into(), "grant".into()),
            ("service_provider".into(), "require_approval".into()),
            ("organization".into(), "abstain".into())
        ]
    );
    assert_eq!(trace.body["answer"]["verdict"], "require_approval");
    assert_eq!(trace.body["deciding_layer"], "service_provider");
    assert!(
        trace.body["layers"][1]["version"]
            .as_str()
            .unwrap()
            .contains("v1")
    );

    let listed = s.get("/v1/policies", &owner).await;
    let mine: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["layer"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        mine.contains(&"organization".to_owned()) && mine.contains(&"service_provider".to_owned()),
        "{mine:?}"
    );
}

#[tokio::test]
async fn a_tenant_cannot_override_a_platform_deny() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (_, admin) = s.member(&acme, &owner, "Ada", "admin").await;
    let allow_all = "fn authorize(input) { allow(\"we trust everyone\") }";
    assert_eq!(
        s.put_rhai(
            &format!("/v1/orgs/{acme}/policies/authorize"),
            &owner,
            allow_all
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let refused = s
        .post(
            &format!("/v1/orgs/{acme}/members"),
            &admin,
            json!({"name": "Bob", "email": "bob@acme.example", "role": "admin"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.detail(),
        "role `admin` may invite only `member`, not `admin`"
    );
    assert_eq!(refused.body["policy_layer"], "platform");
    let trace = s
        .post("/v1/decisions/evaluate", &admin, json!({"hook": "authorize", "org": acme, "action": "member.invite", "resource": {"role": "admin"}}))
        .await;
    assert_eq!(
        layers(&trace.body),
        [
            ("platform".into(), "deny".into()),
            ("organization".into(), "allow".into())
        ],
        "{:?}",
        trace.body
    );
    assert_eq!(
        trace.body["answer"]["reason"],
        "role `admin` may invite only `member`, not `admin`"
    );
    let no_provider_override = "fn link(input) { allow(\"more links!\") }";
    let (sp_org, _) = (
        s.get("/v1/orgs?q=telco", &s.operator).await.body["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        (),
    );
    s.put_rhai(
        &format!("/v1/orgs/{sp_org}/customer-policies/link"),
        &sp,
        no_provider_override,
    )
    .await;
    let to_self = s
        .post(
            &format!("/v1/orgs/{acme}/links"),
            &owner,
            json!({"target_org_id": acme}),
        )
        .await;
    assert_eq!(to_self.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn versions_are_gated_by_fixtures_rolled_back_and_survive_a_restart() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let path = format!("/v1/orgs/{acme}/policies/authorize");
    let team = |name: &str| json!({"name": name});

    let freeze = "fn authorize(input) { if input.action == \"team.create\" { return deny(\"no new teams this quarter\"); } abstain() }";
    let team_create = authorize_input("team.create", json!({"name": "a"}));
    let fixtures = json!([{"name": "teams are frozen", "input": team_create, "expect": "deny", "reason_contains": "this quarter"}]);
    let v1 = s
        .put(
            &path,
            &owner,
            json!({"source": freeze, "fixtures": fixtures}),
        )
        .await;
    assert_eq!(v1.status, StatusCode::CREATED, "{:?}", v1.body);
    let denied = s
        .post(&format!("/v1/orgs/{acme}/teams"), &owner, team("a"))
        .await;
    assert_eq!(denied.detail(), "no new teams this quarter");
    assert_eq!(denied.body["policy_layer"], "organization");

    // The inherited fixture refuses a version that would thaw teams.
    let thaw = "fn authorize(input) { abstain() }";
    let gated = s.put_rhai(&path, &owner, thaw).await;
    assert_eq!(gated.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        gated.body["errors"][0],
        json!({"case": "teams are frozen", "expected": "deny", "got": "abstain", "reason": ""})
    );
    assert_eq!(
        s.post(&format!("/v1/orgs/{acme}/teams"), &owner, team("b"))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "v1 stays active"
    );

    let broken = s
        .put_rhai(&path, &owner, "fn authorize(input) {\n  deny(\n}")
        .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(broken.body["title"], "policy does not compile");
    assert!(
        broken.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("authorize:3"),
        "{:?}",
        broken.body
    );

    let replacing =
        json!([{"name": "teams are frozen", "input": team_create, "expect": "abstain"}]);
    let v2 = s
        .put(
            &path,
            &owner,
            json!({"source": thaw, "fixtures": replacing}),
        )
        .await;
    assert_eq!(v2.body["number"], 2, "{:?}", v2.body);
    assert_eq!(
        s.post(&format!("/v1/orgs/{acme}/teams"), &owner, team("c"))
            .await
            .status,
        StatusCode::CREATED
    );

    let back = s
        .post(&format!("{path}/rollback"), &owner, json!({"version": 1}))
        .await;
    assert_eq!(back.body["number"], 1, "{:?}", back.body);
    assert_eq!(
        s.post(&format!("/v1/orgs/{acme}/teams"), &owner, team("d"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let s = s.restart().await.unwrap();
    assert_eq!(
        s.post(&format!("/v1/orgs/{acme}/teams"), &owner, team("e"))
            .await
            .detail(),
        "no new teams this quarter",
        "binding survived"
    );
    let versions = s.get(&format!("{path}/versions"), &owner).await;
    let numbers: Vec<_> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["number"].clone(), v["active"].clone()))
        .collect();
    assert_eq!(numbers, [(json!(1), json!(true)), (json!(2), json!(false))]);

    assert_eq!(s.delete(&path, &owner).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.post(&format!("/v1/orgs/{acme}/teams"), &owner, team("f"))
            .await
            .status,
        StatusCode::CREATED
    );
    let platform = s
        .delete("/v1/platform/policies/authorize", &s.operator)
        .await;
    assert_eq!(platform.status, StatusCode::CONFLICT);
    let (_, member) = s.member(&acme, &owner, "Mo", "member").await;
    assert_eq!(
        s.put_rhai(&path, &member, thaw).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn hostile_tenant_policies_fail_closed_with_named_errors() {
    // A generous wall clock, so that on a busy machine each script meets its own limit first.
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.rhai.wall_clock_ms = 2_000
    })
    .await
    .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    let hostile = [
        ("fn authorize(input) { loop {} }", "operation_limit"),
        (
            "fn f(n) { f(n + 1) } fn authorize(input) { f(0) }",
            "call_depth",
        ),
        (
            "fn authorize(input) { let s = \"xxxxxxxx\"; loop { s += s; } }",
            "size_limit",
        ),
        (
            "fn authorize(input) { let a = []; loop { a.push(1); } }",
            "size_limit",
        ),
        ("fn authorize(input) { 42 }", "invalid_verdict"),
    ];
    for (source, kind) in hostile {
        let bound = s
            .put_rhai(
                &format!("/v1/orgs/{acme}/policies/authorize"),
                &owner,
                source,
            )
            .await;
        assert_eq!(
            bound.status,
            StatusCode::CREATED,
            "{source}: {:?}",
            bound.body
        );
        // The hostile layer now denies even the owner's reads, with the named error.
        let answer = s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.detail(),
            format!("policy error in the organization layer ({kind})")
        );
        assert_eq!(
            s.get(&format!("/v1/orgs/{globex}/teams"), &globex_owner)
                .await
                .status,
            StatusCode::OK,
            "other tenants are unaffected"
        );
    }
    for (source, reason) in [
        ("fn authorize(input) { eval(\"allow()\") }", "eval"),
        (
            "import \"x\" as y; fn authorize(input) { allow() }",
            "import",
        ),
    ] {
        let refused = s
            .put_rhai(
                &format!("/v1/orgs/{acme}/policies/authorize"),
                &owner,
                source,
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason}: {:?}",
            refused.body
        );
    }
    assert_eq!(
        s.call(reqwest::Method::GET, "/healthz", None, None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_write_decided_outside_its_transaction_is_logged_once_with_every_layer() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    // An organization layer makes every team creation's decision one the writer does not
    // make: decided outside the transaction, then used by it.
    let own = "fn authorize(input) { if input.action == \"team.create\" { return allow(\"acme builds teams\"); } abstain() }";
    let bound = s
        .put_rhai(&format!("/v1/orgs/{acme}/policies/authorize"), &owner, own)
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    for name in ["a", "b"] {
        let created = s
            .post(
                &format!("/v1/orgs/{acme}/teams"),
                &owner,
                json!({"name": name}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }
    let creates = team_creations_logged(&s, &acme, &owner, 2).await;
    assert_eq!(creates.len(), 2, "one record per creation: {creates:?}");
    for create in &creates {
        let layers: Vec<_> = create["decision"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["layer"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(layers, ["platform", "organization"]);
        assert_eq!(create["decision"]["answer"]["verdict"], "allow");
    }

    // A layer that fails is logged when the decision is made, and not again by the attempt
    // that uses it: the refusal shows once, with its error.
    let failing =
        "fn authorize(input) { if input.action == \"team.create\" { throw \"no\"; } abstain() }";
    let rebound = s
        .put_rhai(
            &format!("/v1/orgs/{acme}/policies/authorize"),
            &owner,
            failing,
        )
        .await;
    assert_eq!(rebound.status, StatusCode::CREATED, "{:?}", rebound.body);
    let refused = s
        .post(
            &format!("/v1/orgs/{acme}/teams"),
            &owner,
            json!({"name": "c"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let failed: Vec<_> = team_creations_logged(&s, &acme, &owner, 3)
        .await
        .into_iter()
        .filter(|d| d["input"]["resource"]["name"] == "c")
        .collect();
    assert_eq!(failed.len(), 1, "the refusal is logged once: {failed:?}");
    assert_eq!(failed[0]["error_kinds"], json!(["runtime_error"]));
    assert_eq!(failed[0]["decision"]["answer"]["verdict"], "deny");
}

/// The `team.create` records of `org`'s decision log once at least `at_least` are written,
/// read again a moment later so that a second record of any of them would show.
async fn team_creations_logged(
    s: &TestServer,
    org: &str,
    token: &str,
    at_least: usize,
) -> Vec<Value> {
    let is_creation = |d: &Value| d["input"]["action"] == "team.create";
    s.logged_decisions(org, token, is_creation, |kept| kept.len() >= at_least)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.logged_decisions(org, token, is_creation, |_| true).await
}

async fn decisions(s: &TestServer, org: &str, token: &str, query: &str) -> Answer {
    s.get(&format!("/v1/orgs/{org}/decisions?{query}"), token)
        .await
}

/// Waits until the recorder has written what the test made.
async fn settled(s: &TestServer, org: &str, token: &str, at_least: usize) -> Vec<Value> {
    for _ in 0..100 {
        let items = decisions(s, org, token, "limit=500").await.body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.len() >= at_least {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "decisions were not recorded: {:?}",
        decisions(s, org, token, "limit=500").await
    );
}

#[tokio::test]
async fn the_decision_log_records_filters_and_previews_exactly_what_would_change() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    for name in ["a", "b", "c"] {
        s.post(
            &format!("/v1/orgs/{acme}/teams"),
            &owner,
            json!({"name": name}),
        )
        .await;
    }
    s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
    for name in ["x", "y"] {
        s.post(
            &format!("/v1/orgs/{globex}/teams"),
            &globex_owner,
            json!({"name": name}),
        )
        .await;
    }
    let items = settled(&s, &acme, &owner, 4).await;
    let first = &items[0];
    assert_eq!(first["hook"], "authorize");
    assert!(
        first["decision"]["layers"][0]["version"]
            .as_str()
            .unwrap()
            .starts_with("authorize v1")
    );
    assert!(first["micros"].is_u64());

    let creates: Vec<_> = items
        .iter()
        .filter(|d| d["input"]["action"] == "team.create")
        .collect();
    assert_eq!(creates.len(), 3);
    let denied = decisions(&s, &acme, &owner, "verdict=deny").await;
    assert!(denied.body["items"].as_array().unwrap().is_empty());
    let by_hook = decisions(&s, &acme, &owner, "hook=link").await;
    assert!(by_hook.body["items"].as_array().unwrap().is_empty());
    let future = decisions(&s, &acme, &owner, "since=2999-01-01T00:00:00Z").await;
    assert!(future.body["items"].as_array().unwrap().is_empty());
    let bad = decisions(&s, &acme, &owner, "verdict=maybe").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        decisions(&s, &globex, &owner, "").await.status,
        StatusCode::NOT_FOUND,
        "no other tenant's log"
    );

    let candidate = "fn authorize(input) { if input.action == \"team.create\" { return deny(\"frozen\"); } abstain() }";
    let preview = s
        .post(
            &format!("/v1/orgs/{acme}/policies/authorize/preview"),
            &owner,
            json!({"source": candidate}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    assert_eq!(
        preview.body["changed"], 3,
        "exactly the three team creations change: {:?}",
        preview.body
    );
    for change in preview.body["changes"].as_array().unwrap() {
        assert_eq!(change["input"]["action"], "team.create");
        assert_eq!(
            change["input"]["org"]["id"],
            acme.as_str(),
            "only acme's own decisions"
        );
        assert_eq!(
            (
                change["old"]["verdict"].as_str(),
                change["new"]["verdict"].as_str()
            ),
            (Some("allow"), Some("deny"))
        );
    }
}

#[tokio::test]
async fn the_decision_log_keeps_its_count_bound_as_it_writes() {
    let (s, _policies) =
        TestServer::spawn_with_own_policies(|settings| settings.decision_log_max_entries = 20)
            .await
            .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    for _ in 0..40 {
        s.get(&format!("/v1/orgs/{acme}/teams"), &owner).await;
    }
    settled(&s, &acme, &owner, 20).await;
    // The polling reads above are decisions too, recorded a moment later; let the last of them
    // land. The pruner's timer passes at start-up and then every 5 s, far apart for this test:
    // the recorder keeps the bound as it writes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = s
        .app()
        .store
        .decision_log()
        .read(|view| Ok(view.decision_count()?))
        .unwrap();
    assert_eq!(total, 20);
}

fn logged_decisions(s: &TestServer) -> u64 {
    s.app()
        .store
        .decision_log()
        .read(|view| Ok(view.decision_count()?))
        .unwrap()
}

/// Decisions made faster than the recorder writes them wait in a bounded queue: past it they
/// are counted as dropped, and memory does not grow with the flood.
#[tokio::test]
async fn a_flood_of_decisions_past_its_share_of_the_queue_is_counted_not_buffered() {
    use tenantry::app::log_queue::MAX_PER_SHARE;
    use tenantry::policy::{Hook, Subject};

    let s = TestServer::spawn().await.unwrap();
    let mut before = logged_decisions(&s);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = logged_decisions(&s);
        if now == before {
            break;
        }
        before = now;
    }
    let dropped_before = tenantry::metrics::decisions_dropped();
    // This test's runtime has one thread: the recorder cannot run until the loop ends. The
    // decisions are about no organization, so they all count against one share of the queue.
    let flood = MAX_PER_SHARE + 1_000;
    let input = json!({"action": "org.read", "actor": {"operator": true}, "org": null, "now": "2026-12-01T10:00:00Z"});
    for _ in 0..flood {
        s.app()
            .decide(Hook::Authorize, Subject::default(), input.clone());
    }
    assert_eq!(
        tenantry::metrics::decisions_dropped() - dropped_before,
        1_000
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged_decisions(&s) < before + MAX_PER_SHARE as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged_decisions(&s), before + MAX_PER_SHARE as u64);
}

#[tokio::test]
async fn decisions_older_than_the_age_bound_are_pruned() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    settled(&s, &acme, &owner, 1).await;
    assert_eq!(
        s.app().prune_decisions_once().await.unwrap(),
        0,
        "none is old yet"
    );
    s.clock().advance(Duration::from_secs(31 * 24 * 3600));
    assert!(s.app().prune_decisions_once().await.unwrap() > 0);
    let left = decisions(&s, &acme, &owner, "limit=500").await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        left.len() <= 1,
        "only the read just made may be left, not the old ones: {left:?}"
    );
}

fn suspended_variant(original: &str, revision: usize) -> String {
    original.replace(
        "is suspended and read-only\");",
        &format!("is suspended and read-only (rev {revision})\");"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_files_hot_reload_under_load_and_broken_files_keep_the_old_version() {
    let (s, policies) = TestServer::spawn_with_own_policies(tenantry_e2e::unthrottled)
        .await
        .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    s.post_empty(&format!("/v1/orgs/{acme}/suspend"), &sp).await;
    let file = policies.path().join("authorize.rhai");
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("is suspended and read-only\");"));

    let client = tenantry_e2e::client();
    let url = format!("{}/v1/orgs/{acme}/teams", s.base);
    let load = tokio::spawn(async move {
        let mut details = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            let r = client
                .post(&url)
                .bearer_auth(&owner)
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            details.push((
                status,
                body["detail"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        details
    });
    for revision in 1..=50 {
        std::fs::write(&file, suspended_variant(&original, revision)).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let details = load.await.unwrap();
    assert!(
        details.len() > 50,
        "the client kept going: {}",
        details.len()
    );
    for (status, detail) in &details {
        assert_eq!(*status, StatusCode::FORBIDDEN, "{detail}");
        let whole = detail == "organization `acme` is suspended and read-only"
            || (1..=50).any(|r| {
                *detail == format!("organization `acme` is suspended and read-only (rev {r})")
            });
        assert!(whole, "a response from no single version: {detail}");
    }

    let (_, owner_token) = (0, s.get(&format!("/v1/orgs/{acme}"), &s.operator).await);
    let _ = owner_token;
    let latest = wait_for_reason(&s, &acme, "(rev 50)").await;
    assert!(latest, "the last revision became active");

    std::fs::write(&file, "fn authorize(input) {\n  allow(\n}").unwrap();
    let mut error = Value::Null;
    for _ in 0..100 {
        let listed = s.get("/v1/policies", &s.operator).await;
        let platform = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["layer"] == "platform" && b["hook"] == "authorize")
            .unwrap()
            .clone();
        // A scan may catch the file half written (an error of its own); wait for the whole
        // file's error.
        let last = platform["file"]["last_error"].as_str().unwrap_or_default();
        if last.contains("authorize.rhai:3") {
            error = platform;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let message = error["file"]["last_error"]
        .as_str()
        .expect("the broken file's error is shown");
    assert!(message.contains("authorize.rhai:3"), "{message}");
    assert!(
        wait_for_reason(&s, &acme, "(rev 50)").await,
        "the previous version stays active"
    );
    let versions = s
        .get(
            "/v1/platform/policies/authorize/versions?limit=500",
            &s.operator,
        )
        .await;
    // Rewrites that land within one debounce window become one version.
    let count = versions.body["items"].as_array().unwrap().len();
    assert!(
        (2..=51).contains(&count),
        "the original plus up to 50 revisions, got {count}"
    );
}

async fn wait_for_reason(s: &TestServer, acme: &str, marker: &str) -> bool {
    let mut org = org_input(&s.get(&format!("/v1/orgs/{acme}"), &s.operator).await.body);
    org["status"] = json!("suspended");
    for _ in 0..100 {
        let trace = s
            .post("/v1/decisions/evaluate", &s.operator, json!({"hook": "authorize", "org": acme, "input": {
                "action": "team.create",
                "actor": {"id": "u", "operator": false, "relation": "member", "role": "owner", "provider_role": null, "grant": null},
                "org": org,
                "resource": {"name": "x"},
                "now": "2026-11-23T10:00:00Z"
            }}))
            .await;
        if trace.body["answer"]["reason"]
            .as_str()
            .is_some_and(|r| r.ends_with(marker))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_tenant_policy_that_keeps_failing_is_quarantined_and_a_new_version_runs_again() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let path = format!("/v1/orgs/{acme}/policies/authorize");
    let teams = format!("/v1/orgs/{acme}/teams");
    let looping = s
        .put_rhai(&path, &owner, "fn authorize(input) { loop {} }")
        .await;
    assert_eq!(looping.status, StatusCode::CREATED);
    let details: Vec<String> = {
        let mut out = Vec::new();
        for _ in 0..5 {
            out.push(s.get(&teams, &owner).await.detail());
        }
        out
    };
    let named = "policy error in the organization layer (operation_limit)";
    let quarantined = "policy error in the organization layer (quarantined)";
    assert_eq!(details, [named, named, named, quarantined, quarantined]);
    // The platform layer is never quarantined, and other tenants are not touched.
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    assert_eq!(
        s.get(&format!("/v1/orgs/{globex}/teams"), &globex_owner)
            .await
            .status,
        StatusCode::OK
    );
    let fixed = s
        .put_rhai(&path, &owner, "fn authorize(input) { abstain() }")
        .await;
    assert_eq!(fixed.status, StatusCode::CREATED);
    assert_eq!(s.get(&teams, &owner).await.status, StatusCode::OK);
}
