//! Wasm plugins end to end: built from source, uploaded, bound at a layer, decided with, and
//! stopped with a named error when hostile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_e2e::org_input;
use tenantry_e2e::plugins::plugin;
use tenantry_e2e::{Answer, TestServer};

async fn upload(s: &TestServer, token: &str, name: &str) -> Answer {
    s.upload_plugin(token, plugin(name)).await
}

/// The SHA-256 of the example or test plugin `name`, uploaded by `token`.
async fn uploaded_sha(s: &TestServer, token: &str, name: &str) -> String {
    let uploaded = upload(s, token, name).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    uploaded.body["sha256"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn plugins_are_uploaded_by_hash_bound_per_layer_and_decide() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;

    let fence = upload(&s, &sp, "region_fence").await;
    assert_eq!(fence.status, StatusCode::CREATED, "{:?}", fence.body);
    assert_eq!(fence.body["hooks"], json!(["link"]));
    let sha = fence.body["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        s.get(&format!("/v1/plugins/{sha}"), &sp).await.body["size"],
        fence.body["size"]
    );
    assert_eq!(
        s.get("/v1/plugins", &sp).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let binding = json!({"plugin": sha, "config": {"allowed": [["eu-central", "eu-central"]]}});
    let bound = s
        .put(
            &format!("/v1/orgs/{sp_org}/customer-policies/link"),
            &sp,
            binding,
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
    assert_eq!(bound.body["kind"], "wasm");
    let wrong_hook = s
        .put(
            &format!("/v1/orgs/{sp_org}/customer-policies/share"),
            &sp,
            json!({"plugin": sha}),
        )
        .await;
    assert_eq!(wrong_hook.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = "0".repeat(64);
    let never_uploaded = s
        .put(
            &format!("/v1/orgs/{sp_org}/customer-policies/link"),
            &sp,
            json!({"plugin": unknown}),
        )
        .await;
    assert_eq!(never_uploaded.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(never_uploaded.body["errors"][0]["field"], "plugin");
    assert_eq!(
        never_uploaded.body["errors"][0]["reason"],
        format!("no plugin `{unknown}` was uploaded")
    );

    let (eu1, eu1_owner) = s.customer_in(&sp, "eu-one", "eu-central").await;
    let (eu2, _) = s.customer_in(&sp, "eu-two", "eu-central").await;
    let (us, _) = s.customer_in(&sp, "us-one", "us-east").await;
    let across = s
        .post(
            &format!("/v1/orgs/{eu1}/links"),
            &eu1_owner,
            json!({"target_org_id": us}),
        )
        .await;
    assert_eq!(across.status, StatusCode::FORBIDDEN);
    assert_eq!(
        across.detail(),
        "links between regions `eu-central` and `us-east` are not allowed"
    );
    assert_eq!(across.body["policy_layer"], "service_provider");
    let within = s
        .post(
            &format!("/v1/orgs/{eu1}/links"),
            &eu1_owner,
            json!({"target_org_id": eu2}),
        )
        .await;
    assert_eq!(within.status, StatusCode::CREATED, "{:?}", within.body);

    // share-allowlist at an organization's own layer.
    let allowlist = uploaded_sha(&s, &sp, "share_allowlist").await;
    let (a, a_owner) = s.customer_in(&sp, "alpha", "eu-central").await;
    let (b, b_owner) = s.customer_in(&sp, "beta", "eu-central").await;
    let put = s
        .put(
            &format!("/v1/orgs/{a}/policies/share"),
            &a_owner,
            json!({"plugin": allowlist, "config": {"tag": "#shared"}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    let link = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": b}),
        )
        .await
        .id();
    s.post_empty(&format!("/v1/orgs/{b}/links/{link}/accept"), &b_owner)
        .await;
    let plain = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "Tier 2"}),
        )
        .await
        .id();
    let tagged = s
        .post(
            &format!("/v1/orgs/{a}/teams"),
            &a_owner,
            json!({"name": "Tier 2 #shared"}),
        )
        .await
        .id();
    let refused = s
        .post(
            &format!("/v1/orgs/{a}/shares"),
            &a_owner,
            json!({"link_id": link, "resource": {"kind": "team", "id": plain}}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.detail(),
        "only teams and channels tagged `#shared` may be shared"
    );
    let shared = s
        .post(
            &format!("/v1/orgs/{a}/shares"),
            &a_owner,
            json!({"link_id": link, "resource": {"kind": "team", "id": tagged}}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{:?}", shared.body);

    // The binding survives a restart (the artifact is loaded, not recompiled).
    let s = s.restart().await.unwrap();
    let again = s
        .post(
            &format!("/v1/orgs/{eu1}/links"),
            &eu1_owner,
            json!({"target_org_id": us}),
        )
        .await;
    assert_eq!(
        again.detail(),
        "links between regions `eu-central` and `us-east` are not allowed"
    );
}

fn support_input(org: &Value, now: &str) -> Value {
    json!({
        "org": org_input(org),
        "requester": {"id": "u", "provider_id": org["service_provider_id"], "provider_role": "member"},
        "request": {"reason": "ticket", "minutes": 30, "scope": "read"},
        "plan": {"max_remote_support_minutes": 480},
        "now": now,
    })
}

#[tokio::test]
async fn business_hours_grants_on_weekday_hours_in_the_configured_zone() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let sha = uploaded_sha(&s, &sp, "business_hours").await;
    let (acme, owner) = s.customer(&sp, "acme", false).await;
    let put = s
        .put(
            &format!("/v1/orgs/{sp_org}/customer-policies/remote_support"),
            &sp,
            json!({"plugin": sha, "config": {"time_zone": "Europe/Berlin"}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    let org = s.get(&format!("/v1/orgs/{acme}"), &owner).await.body;
    let ask = |now: &str| json!({"hook": "remote_support", "org": acme, "input": support_input(&org, now)});
    // Monday 2026-11-23 09:30 in Berlin (08:30 UTC): the plugin grants, the platform grants.
    let monday = s
        .post(
            "/v1/decisions/evaluate",
            &owner,
            ask("2026-11-23T08:30:00Z"),
        )
        .await;
    assert_eq!(
        monday.body["answer"]["verdict"], "grant",
        "{:?}",
        monday.body
    );
    assert_eq!(
        monday.body["layers"][1]["answer"]["reason"],
        "within business hours (Europe/Berlin)"
    );
    // Saturday: approval needed.
    let saturday = s
        .post(
            "/v1/decisions/evaluate",
            &owner,
            ask("2026-11-28T10:00:00Z"),
        )
        .await;
    assert_eq!(saturday.body["answer"]["verdict"], "require_approval");
    // A real request answers with one of the two, by the server's own clock.
    let real = s
        .post(
            &format!("/v1/orgs/{acme}/remote-support"),
            &sp,
            json!({"reason": "r", "minutes": 30, "scope": "read"}),
        )
        .await;
    assert!(
        ["granted", "pending"].contains(&real.body["status"].as_str().unwrap()),
        "{:?}",
        real.body
    );
}

/// Binds the hostile test plugin as `org`'s own `authorize` layer, behaving as `mode` says.
async fn bind_hostile(s: &TestServer, org: &str, owner: &str, sha: &str, mode: &str) {
    let put = s
        .put(
            &format!("/v1/orgs/{org}/policies/authorize"),
            owner,
            json!({"plugin": sha, "config": mode}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{mode}: {:?}", put.body);
}

async fn hostile_answer(s: &TestServer, org: &str, owner: &str, sha: &str, mode: &str) -> Answer {
    bind_hostile(s, org, owner, sha, mode).await;
    s.get(&format!("/v1/orgs/{org}/teams"), owner).await
}

#[tokio::test]
async fn hostile_plugins_are_stopped_with_named_errors_and_others_are_unaffected() {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.wasm.fuel = 20_000_000;
        settings.wasm.deadline_ms = 5_000;
    })
    .await
    .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    let sha = uploaded_sha(&s, &owner, "hostile").await;
    for (mode, kind) in [
        ("loop", "out_of_fuel"),
        ("memory", "memory_limit"),
        ("recursion", "trap"),
        ("huge-output", "output_too_large"),
        ("trap", "trap"),
    ] {
        let answer = hostile_answer(&s, &acme, &owner, &sha, mode).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{mode}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.detail(),
            format!("policy error in the organization layer ({kind})"),
            "{mode}"
        );
        assert_eq!(
            s.get(&format!("/v1/orgs/{globex}/teams"), &globex_owner)
                .await
                .status,
            StatusCode::OK
        );
    }
    let fine = hostile_answer(&s, &acme, &owner, &sha, "behave").await;
    assert_eq!(
        fine.status,
        StatusCode::OK,
        "the same plugin, behaving: {:?}",
        fine.body
    );

    let not_a_plugin = s
        .send(
            s.request(Method::POST, "/v1/plugins")
                .bearer_auth(&owner)
                .header("content-type", "application/wasm")
                .body(b"\0asm\x01\0\0\0".to_vec()),
        )
        .await;
    assert_eq!(
        not_a_plugin.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        not_a_plugin.body
    );
    let garbage = s
        .send(
            s.request(Method::POST, "/v1/plugins")
                .bearer_auth(&owner)
                .header("content-type", "application/wasm")
                .body(b"hello".to_vec()),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_plugin_past_its_deadline_is_stopped() {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.wasm.fuel = u64::MAX / 2;
        settings.wasm.deadline_ms = 50;
    })
    .await
    .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let sha = uploaded_sha(&s, &owner, "hostile").await;
    let answer = hostile_answer(&s, &acme, &owner, &sha, "loop").await;
    assert_eq!(
        answer.detail(),
        "policy error in the organization layer (deadline)"
    );
}

#[test]
fn plugin_check_validates_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fence.wasm");
    std::fs::write(&file, plugin("region_fence")).unwrap();
    assert_eq!(
        tenantry::cli::plugin::check(&file, Default::default(), &mut Vec::new()).unwrap(),
        0
    );
    std::fs::write(&file, b"not wasm").unwrap();
    assert_eq!(
        tenantry::cli::plugin::check(&file, Default::default(), &mut Vec::new()).unwrap(),
        1
    );
}

#[tokio::test]
async fn a_capability_free_component_is_accepted_and_decides_alike() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let bare = s
        .send(
            s.request(Method::POST, "/v1/plugins")
                .bearer_auth(&sp)
                .header("content-type", "application/wasm")
                .body(tenantry_e2e::plugins::bare_plugin("region_fence")),
        )
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{:?}", bare.body);
    assert_eq!(bare.body["hooks"], json!(["link"]));
    let wasip2 = upload(&s, &sp, "region_fence").await;
    assert_ne!(
        bare.body["sha256"], wasip2.body["sha256"],
        "two builds, two identities"
    );
    assert!(bare.body["size"].as_u64().unwrap() < wasip2.body["size"].as_u64().unwrap());
    s.bind_customer_plugin(
        &sp_org,
        &sp,
        "link",
        bare.body["sha256"].as_str().unwrap(),
        json!({"allowed": []}),
    )
    .await;
    let (a, a_owner) = s.customer_in(&sp, "alpha", "eu-central").await;
    let (b, _) = s.customer_in(&sp, "beta", "eu-central").await;
    let refused = s
        .post(
            &format!("/v1/orgs/{a}/links"),
            &a_owner,
            json!({"target_org_id": b}),
        )
        .await;
    assert_eq!(
        refused.detail(),
        "links between regions `eu-central` and `eu-central` are not allowed"
    );
}

#[test]
fn only_wasip2_builds_import_wasi() {
    let runtime = tenantry::policy::wasm::WasmRuntime::new(Default::default()).unwrap();
    let (bare, _) = runtime
        .compile(&tenantry_e2e::plugins::bare_plugin("invite_roles"))
        .unwrap();
    let (wasip2, _) = runtime.compile(&plugin("invite_roles")).unwrap();
    assert!(
        !bare.imports_wasi,
        "a capability-free build imports only the contract"
    );
    assert!(wasip2.imports_wasi);
    assert_eq!(bare.hooks, vec![tenantry::policy::Hook::Authorize]);
}

/// A plugin loaded again with what its stored record says of it is taken at its word and not
/// run, so a server starting with a thousand bound plugins does not page their code in; a
/// record that names another contract than the component implements gets it asked again.
#[test]
fn a_plugin_loaded_with_its_records_word_is_not_run_until_called() {
    use tenantry::policy::wasm::{Described, WasmRuntime};

    let runtime = WasmRuntime::new(Default::default()).unwrap();
    let (asked, artifact) = runtime
        .compile(&tenantry_e2e::plugins::bare_plugin("invite_roles"))
        .unwrap();
    assert_eq!(asked.hooks, vec![tenantry::policy::Hook::Authorize]);
    // Asked, the plugin would say `authorize`: an empty list back means it was not asked.
    let word = Described {
        hooks: vec![],
        contract: asked.contract.to_owned(),
        metadata: None,
    };
    let taken = runtime
        .load_artifact(&artifact, &asked.sha256, asked.size, Some(&word))
        .unwrap();
    assert_eq!((taken.hooks, taken.metadata), (vec![], None));

    let stale = Described {
        contract: "tenantry:policy@0.0.1".to_owned(),
        ..word
    };
    let asked_again = runtime
        .load_artifact(&artifact, &asked.sha256, asked.size, Some(&stale))
        .unwrap();
    assert_eq!(
        (asked_again.hooks, asked_again.metadata),
        (asked.hooks, asked.metadata)
    );
}

/// The `N` of the provider layer's `call N of this instance` in each of `org`'s recorded
/// decisions so far, sorted; waits for the recorder to have written `at_least`.
async fn instance_calls(s: &TestServer, org: &str, token: &str, at_least: usize) -> Vec<u32> {
    let logged = s
        .logged_decisions(
            org,
            token,
            |d| d["hook"] == "authorize" && instance_call(d).is_some(),
            |kept| kept.len() >= at_least,
        )
        .await;
    assert!(
        logged.len() >= at_least,
        "{org}'s decisions were not recorded"
    );
    let mut calls: Vec<u32> = logged.iter().filter_map(instance_call).collect();
    calls.sort_unstable();
    calls
}

/// The `N` of the provider layer's `call N of this instance` in a recorded decision.
fn instance_call(decision: &Value) -> Option<u32> {
    decision["decision"]["layers"]
        .as_array()?
        .iter()
        .find(|l| l["layer"] == "service_provider")?["answer"]["reason"]
        .as_str()?
        .strip_prefix("call ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// What the hostile plugin's `echo` mode answers for `input`, as JSON.
fn echo(input: &Value) -> String {
    format!(
        "{} {} {} {}",
        input["action"].as_str().unwrap_or_default(),
        input["now"].as_str().unwrap_or_default(),
        input["org"]["name"].as_str().unwrap_or_default(),
        input["resource"]
    )
}

/// A plugin judges the input the decision log keeps: a live decision hands it the typed input
/// the use case built, not the JSON, and the two must never disagree (THREATS.md). A team's
/// creation (decided before its write transaction, then used inside it) and a read are
/// checked; a what-if evaluation's plugin judges the JSON its caller wrote.
#[tokio::test]
async fn a_plugin_judges_the_input_the_log_keeps() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let sha = uploaded_sha(&s, &owner, "hostile").await;
    bind_hostile(&s, &acme, &owner, &sha, "echo").await;
    let created = s
        .post(
            &format!("/v1/orgs/{acme}/teams"),
            &owner,
            json!({"name": "Support"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let read = s.get(&format!("/v1/orgs/{acme}"), &owner).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let judged = |d: &Value| {
        d["decision"]["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["layer"] == "organization")
            .map(|l| l["answer"]["reason"].clone())
    };
    for action in ["team.create", "org.read"] {
        let logged = s
            .logged_decisions(
                &acme,
                &owner,
                |d| d["input"]["action"] == action && judged(d).is_some(),
                |kept| !kept.is_empty(),
            )
            .await;
        let record = logged
            .first()
            .unwrap_or_else(|| panic!("{action} not logged"));
        assert_eq!(
            judged(record),
            Some(json!(echo(&record["input"]))),
            "{action}: {record}"
        );
    }
    let dry = s
        .post(
            "/v1/decisions/evaluate",
            &owner,
            json!({"hook": "authorize", "org": acme, "action": "org.read",
                   "resource": {"note": "what if"}}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
    let reason = judged(&json!({"decision": dry.body})).unwrap();
    assert!(
        reason.as_str().unwrap().starts_with("org.read ")
            && reason.as_str().unwrap().ends_with(r#"{"note":"what if"}"#),
        "{reason}"
    );
}

/// Binds the hostile plugin at the provider layer in its `count` mode.
async fn bind_counting(s: &TestServer, sp_org: &str, sp: &str, sha: &str) {
    let bound = s
        .put(
            &format!("/v1/orgs/{sp_org}/customer-policies/authorize"),
            sp,
            json!({"plugin": sha, "config": "count"}),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:?}", bound.body);
}

async fn read_teams(s: &TestServer, org: String, token: String) {
    let read = s.get(&format!("/v1/orgs/{org}/teams"), &token).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
}

/// A plugin whose calls are expensive on a fresh instance (as a JavaScript one's are) runs
/// on a reused instance, and only ever one that the same binding used for the same
/// organization: never a sibling customer's, never after a rebind, never a trial's.
#[tokio::test]
async fn a_reused_instance_never_crosses_an_organization_a_binding_or_a_trial() {
    let s = TestServer::spawn().await.unwrap();
    let (sp_org, sp) = s.provider("telco").await;
    let (acme, acme_owner) = s.customer(&sp, "acme", true).await;
    let (globex, globex_owner) = s.customer(&sp, "globex", true).await;
    let sha = uploaded_sha(&s, &sp, "hostile").await;
    let bind = || bind_counting(&s, &sp_org, &sp, &sha);
    let teams = |org: &str, token: &str| read_teams(&s, org.to_owned(), token.to_owned());
    bind().await;
    for _ in 0..3 {
        teams(&acme, &acme_owner).await;
    }
    teams(&globex, &globex_owner).await;
    // A dry run gets a fresh instance and leaves acme's parked one alone.
    let dry = s
        .post(
            "/v1/decisions/evaluate",
            &acme_owner,
            json!({"hook": "authorize", "org": acme, "action": "org.read", "resource": {}}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
    let traced = dry.body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "service_provider")
        .unwrap();
    assert_eq!(traced["answer"]["reason"], "call 1 of this instance");
    teams(&acme, &acme_owner).await;

    // Each live decision for acme ran on the instance of acme's previous one: 1, 2, 3, ...
    // with none skipped (the dry run took none) and none repeated (no fresh instance).
    let acme_calls = instance_calls(&s, &acme, &acme_owner, 4).await;
    let expected: Vec<u32> = (1..=u32::try_from(acme_calls.len()).unwrap()).collect();
    assert_eq!(acme_calls, expected);
    // globex's decisions never ran on acme's instance, under the same binding.
    let globex_calls = instance_calls(&s, &globex, &globex_owner, 1).await;
    let expected: Vec<u32> = (1..=u32::try_from(globex_calls.len()).unwrap()).collect();
    assert_eq!(globex_calls, expected);

    // Bound again, the same plugin and config: acme starts again from a fresh instance.
    bind().await;
    teams(&acme, &acme_owner).await;
    // The log is written moments after each decision, and the polls above made decisions of
    // their own (reading the log is decided too, on the same instance), so a count of entries
    // can be reached before the rebind's first call is written: wait for that call itself.
    let fresh_starts = |calls: &[u32]| calls.iter().filter(|n| **n == 1).count();
    let mut after = Vec::new();
    for _ in 0..100 {
        after = instance_calls(&s, &acme, &acme_owner, acme_calls.len() + 2).await;
        if fresh_starts(&after) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(fresh_starts(&after), 2, "{after:?}");
}

/// Offline commands compile a component once: the second `plugin check` loads what the first
/// cached; an entry that is damaged, or holds another component, is compiled again.
#[test]
fn offline_commands_compile_a_component_once_and_never_trust_a_wrong_entry() {
    use std::os::unix::fs::MetadataExt;
    use tenantry::cli::compile_cache;
    use tenantry::policy::wasm::{WasmLimits, WasmRuntime};

    let dir = tempfile::tempdir().unwrap();
    let runtime = WasmRuntime::new(WasmLimits::default()).unwrap();
    let fence = tenantry_e2e::plugins::bare_plugin("region_fence");
    let first = compile_cache::compile(&runtime, &fence, Some(dir.path())).unwrap();
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let written = std::fs::metadata(entry).unwrap().ino();

    let again = compile_cache::compile(&runtime, &fence, Some(dir.path())).unwrap();
    assert_eq!(
        (&again.hooks, &again.metadata),
        (&first.hooks, &first.metadata)
    );
    assert_eq!(
        std::fs::metadata(entry).unwrap().ino(),
        written,
        "loaded from the cache, not compiled and written again"
    );

    // Another component's entry copied over this one, then garbage: compiled again each time.
    let other_dir = tempfile::tempdir().unwrap();
    let allowlist = tenantry_e2e::plugins::bare_plugin("share_allowlist");
    compile_cache::compile(&runtime, &allowlist, Some(other_dir.path())).unwrap();
    let other_entry = std::fs::read_dir(other_dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&other_entry, entry).unwrap();
    let checked = compile_cache::compile(&runtime, &fence, Some(dir.path())).unwrap();
    assert_eq!(checked.hooks, first.hooks, "the fence, not the allowlist");
    std::fs::write(entry, b"garbage").unwrap();
    let recompiled = compile_cache::compile(&runtime, &fence, Some(dir.path())).unwrap();
    assert_eq!(recompiled.hooks, first.hooks);
    assert_ne!(std::fs::read(entry).unwrap(), b"garbage");
}

/// Each of `providers` (id, token, plugin) fences its customers' links with its own build of
/// `region_fence`: in each, a link within a region is made and one across regions is refused
/// with the plugin's reason. `round` keeps the customers' slugs apart.
async fn links_decided_by_each_providers_plugin(
    s: &TestServer,
    providers: &[(String, String, String)],
    round: usize,
) {
    for (n, (_, sp, _)) in providers.iter().enumerate() {
        let slug = |what: &str| format!("{what}-{n}-{round}");
        let (eu, eu_owner) = s.customer_in(sp, &slug("eu"), "eu-central").await;
        let (near, _) = s.customer_in(sp, &slug("near"), "eu-central").await;
        let (us, _) = s.customer_in(sp, &slug("us"), "us-east").await;
        let links = format!("/v1/orgs/{eu}/links");
        let link = |target: String| s.post(&links, &eu_owner, json!({"target_org_id": target}));
        let within = link(near).await;
        assert_eq!(within.status, StatusCode::CREATED, "{:?}", within.body);
        let across = link(us).await;
        assert_eq!(across.status, StatusCode::FORBIDDEN, "{:?}", across.body);
        assert_eq!(across.body["policy_layer"], "service_provider");
        assert_eq!(
            across.detail(),
            "links between regions `eu-central` and `us-east` are not allowed"
        );
    }
}

#[tokio::test]
async fn plugins_past_the_loaded_budget_are_dropped_and_loaded_again_by_their_next_call() {
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.wasm.loaded_plugins = 2;
    })
    .await
    .unwrap();
    let fence = plugin("region_fence");
    let mut providers = Vec::new();
    for n in 0..3 {
        let (sp_org, sp) = s.provider(&format!("telco-{n}")).await;
        let uploaded = s
            .upload_plugin(&sp, tenantry_e2e::plugins::variant(&fence, n))
            .await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
        let sha = uploaded.body["sha256"].as_str().unwrap().to_owned();
        let allowed = json!({"allowed": [["eu-central", "eu-central"]]});
        s.bind_customer_plugin(&sp_org, &sp, "link", &sha, allowed)
            .await;
        providers.push((sp_org, sp, sha));
    }
    let loaded = |s: &TestServer| {
        let mut shas = s.app().policies.plugins().shas();
        shas.sort();
        shas
    };
    assert_eq!(loaded(&s).len(), 2, "three uploaded, two kept loaded");

    // Three plugins in use through two places: every call may load its plugin again, and
    // every answer is still its own provider's.
    for round in 0..2 {
        links_decided_by_each_providers_plugin(&s, &providers, round).await;
        let mut last_two = vec![providers[1].2.clone(), providers[2].2.clone()];
        last_two.sort();
        assert_eq!(
            loaded(&s),
            last_two,
            "the least recently called was dropped"
        );
    }

    // A restart loads none of them before a call needs it, and the first call still decides.
    let s = s.restart().await.unwrap();
    assert_eq!(
        loaded(&s),
        Vec::<String>::new(),
        "nothing is loaded before a call"
    );
    links_decided_by_each_providers_plugin(&s, &providers[..1], 2).await;
    assert_eq!(loaded(&s), vec![providers[0].2.clone()]);
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    for line in [
        "tenantry_wasm_plugins_loaded ",
        "tenantry_wasm_plugin_loads_total ",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

/// `resource` reaches a plugin as JSON text of at most `max_input_bytes`: at the limit the
/// plugin decides, one byte past it the layer is denied as `invalid_input` without a call. A
/// binding's config is held to the same limit when it is bound.
#[tokio::test]
async fn a_plugins_input_is_held_to_its_size_limit_at_the_edge() {
    const MAX: usize = 64;
    let s = TestServer::spawn_with(tenantry_e2e::policies_dir(), |settings| {
        settings.wasm.max_input_bytes = MAX;
    })
    .await
    .unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = s.customer(&sp, "acme", true).await;
    let sha = uploaded_sha(&s, &owner, "hostile").await;
    bind_hostile(&s, &acme, &owner, &sha, "behave").await;
    let organization_layer = |padding: usize| {
        let owner = owner.clone();
        let acme = acme.clone();
        let s = &s;
        async move {
            // `{"note":"…"}` is 11 bytes of JSON around the padding.
            let resource = json!({"note": "x".repeat(padding)});
            let dry = s
                .post(
                    "/v1/decisions/evaluate",
                    &owner,
                    json!({"hook": "authorize", "org": acme, "action": "org.read",
                           "resource": resource}),
                )
                .await;
            assert_eq!(dry.status, StatusCode::OK, "{:?}", dry.body);
            dry.body["layers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["layer"] == "organization")
                .cloned()
                .unwrap()
        }
    };
    let at_the_limit = organization_layer(MAX - 11).await;
    assert_eq!(at_the_limit.get("error"), None, "{at_the_limit:?}");
    assert!(at_the_limit["fuel"].as_u64().unwrap() > 0, "the plugin ran");
    let past_it = organization_layer(MAX - 10).await;
    assert_eq!(
        past_it["error"],
        format!("invalid_input: `resource` is over {MAX} bytes"),
        "{past_it:?}"
    );
    assert_eq!(past_it["answer"]["verdict"], "deny");
    assert_eq!(past_it.get("fuel"), None, "the plugin was not called");

    // The binding's config, as JSON text, is held to the same limit when it is bound.
    let config = |bytes: usize| json!({"plugin": sha, "config": "x".repeat(bytes - 2)});
    let path = format!("/v1/orgs/{acme}/policies/authorize");
    let at_the_limit = s.put(&path, &owner, config(MAX)).await;
    assert_eq!(
        at_the_limit.status,
        StatusCode::CREATED,
        "{:?}",
        at_the_limit.body
    );
    let refused = s.put(&path, &owner, config(MAX + 1)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["errors"][0]["field"], "config");
    assert_eq!(
        refused.body["errors"][0]["reason"],
        format!(
            "the config is 65 bytes as JSON; at most {MAX} are allowed ([wasm] max_input_bytes)"
        )
    );
}
