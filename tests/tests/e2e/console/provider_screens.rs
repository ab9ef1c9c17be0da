//! The console's screens for running customers: a provider's plans, who manages an
//! organization (the switch, the owner's consent, the ownership handed to an admin), the
//! provider's policy layer over its customers, and Wasm plugins uploaded and bound with a
//! config. Each is attacked too: by the customer, by another tenant, by a forged form.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry_e2e::TestServer;
use tenantry_e2e::plugins::plugin;

use super::{Browser, PASSWORD, customer_with_password, id_after, member_with_password};

/// A provider whose owner has a password, signed in: (provider id, its API token, browser).
async fn provider_signed_in(s: &TestServer) -> (String, String, Browser) {
    let (telco, sp) = s.provider("telco").await;
    let set = s
        .put("/v1/me/password", &sp, json!({"new_password": PASSWORD}))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    let mut browser = Browser::new(s);
    browser.sign_in("owner@telco.example", PASSWORD).await;
    (telco, sp, browser)
}

/// The provider's own plans, as the API lists them.
async fn own_plans(s: &TestServer, token: &str, provider: &str) -> Vec<Value> {
    s.get("/v1/plans", token).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["owner_org_id"] == json!(provider))
        .cloned()
        .collect()
}

fn plan_form<'a>(csrf: &'a str, name: &'a str, numbers: [&'a str; 4]) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", name),
        ("max_members", numbers[0]),
        ("max_teams", numbers[1]),
        ("max_active_links", numbers[2]),
        ("max_remote_support_minutes", numbers[3]),
        ("features", "recording, sso"),
    ]
}

#[tokio::test]
async fn a_provider_makes_edits_and_retires_its_plans_and_sees_which_platform_plans_it_may_sell() {
    let s = TestServer::spawn().await.unwrap();
    let (telco, sp, mut provider) = provider_signed_in(&s).await;
    // The provider was sold these features (and at most 1,000 active links a customer).
    s.sell_features(&telco, &["recording", "sso"]).await;
    let operator = s.operator.clone();
    for (name, members) in [("Enterprise", 100_000), ("Starter", 10)] {
        let made = s.post("/v1/plans", &operator, json!({"name": name, "limits": {"max_members": members, "max_teams": 5, "max_active_links": 2, "max_remote_support_minutes": 60}})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    }
    let path = format!("/console/orgs/{telco}/plans");
    let page = provider.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("None yet"), "{}", page.html);
    let row = |html: &str, name: &str| {
        let at = html.find(&format!("<td>{name}</td>")).unwrap();
        html[at..at + html[at..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row(&page.html, "Enterprise").contains("no: beyond our own plan"));
    assert!(row(&page.html, "Starter").contains("<td>yes</td>"));

    // Every number that is not one is named, and what was typed stays; nothing is made.
    let csrf = page.csrf();
    let bad = provider
        .post(&path, &plan_form(&csrf, "Gold", ["lots", "-1", "2", "60"]))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(
        bad.html.contains("limits.max_members")
            && bad.html.contains("limits.max_teams")
            && !bad.html.contains("limits.max_active_links"),
        "{}",
        bad.html
    );
    assert!(bad.html.contains(r#"value="lots""#));
    // More than the provider was sold.
    let greedy = provider
        .post(
            &path,
            &plan_form(&csrf, "Gold", ["100", "10", "1001", "60"]),
        )
        .await;
    assert_eq!(greedy.status, StatusCode::FORBIDDEN, "{}", greedy.html);
    assert!(
        greedy.html.contains("may not give more than"),
        "{}",
        greedy.html
    );
    assert!(own_plans(&s, &sp, &telco).await.is_empty());

    let made = provider
        .post(&path, &plan_form(&csrf, "Gold", ["100", "10", "2", "60"]))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    assert!(made.html.contains("Gold is created."));
    let plans = own_plans(&s, &sp, &telco).await;
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0]["features"], json!(["recording", "sso"]));
    let gold = plans[0]["id"].as_str().unwrap().to_owned();

    // A customer on it: the plan may not shrink below what the customer uses.
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let moved = s
        .put(
            &format!("/v1/orgs/{acme}/plan"),
            &sp,
            json!({"plan_id": gold}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let page = provider.get(&path).await;
    assert!(
        page.html.contains("<td>1</td></tr>"),
        "one customer on Gold: {}",
        page.html
    );
    let edit = format!("{path}/{gold}/edit");
    let shrunk = provider
        .post(&edit, &plan_form(&csrf, "Gold", ["0", "10", "2", "60"]))
        .await;
    assert_eq!(shrunk.status, StatusCode::CONFLICT, "{}", shrunk.html);
    assert!(
        shrunk.html.contains("organization `acme`"),
        "{}",
        shrunk.html
    );
    let renamed = provider
        .post(&edit, &plan_form(&csrf, "Gold 2", ["50", "10", "2", "30"]))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.html);
    let plans = own_plans(&s, &sp, &telco).await;
    assert_eq!(plans[0]["name"], "Gold 2");
    assert_eq!(plans[0]["limits"]["max_members"], 50);

    let retired = provider
        .post(&format!("{path}/{gold}/retire"), &[("csrf", &csrf)])
        .await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.html);
    assert!(retired.html.contains("Gold 2 (retired)"));
    assert!(!retired.html.contains(&format!("{gold}/retire")));

    // A customer has no plans screen, and sees no tab for it; another tenant's is unknown.
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let overview = owner.get(&format!("/console/orgs/{acme}")).await;
    assert!(!overview.html.contains("/plans\""), "{}", overview.html);
    assert_eq!(
        owner
            .get(&format!("/console/orgs/{acme}/plans"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(owner.get(&path).await.status, StatusCode::NOT_FOUND);
    let csrf = overview.csrf();
    let planted = owner
        .post(&path, &plan_form(&csrf, "Free", ["100", "10", "2", "60"]))
        .await;
    assert_eq!(planted.status, StatusCode::NOT_FOUND, "{}", planted.html);
    assert_eq!(own_plans(&s, &sp, &telco).await.len(), 1);
}

#[tokio::test]
async fn the_provider_asks_to_manage_a_customer_the_owner_consents_and_it_is_handed_back() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp, mut provider) = provider_signed_in(&s).await;
    let (acme, owner_token) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let org = format!("/console/orgs/{acme}");
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;

    let page = provider.get(&org).await;
    assert!(
        page.html.contains("Manage it as its service provider"),
        "{}",
        page.html
    );
    assert!(
        !owner.get(&org).await.html.contains("Manage it as"),
        "the customer does not switch itself"
    );
    let csrf = page.csrf();
    let switch = format!("{org}/managed-by");
    let unknown = provider
        .post(&switch, &[("csrf", &csrf), ("managed_by", "nobody")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("managed_by"));

    // The provider asks; nothing changes until the owner consents.
    let asked = provider
        .post(
            &switch,
            &[
                ("csrf", &csrf),
                ("managed_by", "service_provider"),
                ("demote_owner_to", "admin"),
            ],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
    assert!(
        asked.html.contains("The customer's owner is asked"),
        "{}",
        asked.html
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &sp).await.body["managed_by"],
        "customer"
    );

    // The owner sees the request on the overview, and a forged consent does nothing.
    let page = owner.get(&org).await;
    assert!(
        page.html.contains("Changes the service provider asked for")
            && page.html.contains("the owner becomes admin"),
        "{}",
        page.html
    );
    let request = id_after(&page.html, "/change-requests/");
    let accept = format!("{org}/change-requests/{request}/accept");
    assert_eq!(
        owner.post(&accept, &[("csrf", "forged")]).await.status,
        StatusCode::FORBIDDEN
    );
    // The provider cannot consent on the customer's behalf.
    let waived = provider.post(&accept, &[("csrf", &csrf)]).await;
    assert_eq!(waived.status, StatusCode::FORBIDDEN, "{}", waived.html);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &sp).await.body["managed_by"],
        "customer"
    );

    let consented = owner.post(&accept, &[("csrf", &page.csrf())]).await;
    assert_eq!(consented.status, StatusCode::OK, "{}", consented.html);
    assert!(consented.html.contains("Consented"), "{}", consented.html);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &sp).await.body["managed_by"],
        "service_provider"
    );
    let members = s
        .get(&format!("/v1/orgs/{acme}/members"), &owner_token)
        .await;
    assert_eq!(
        members.body["items"][0]["role"], "admin",
        "{:?}",
        members.body
    );

    // Handed back to the customer with a new owner, who is invited (the token shown once).
    let page = provider.get(&org).await;
    assert!(
        page.html.contains("Hand it to the customer"),
        "{}",
        page.html
    );
    let back = provider
        .post(
            &switch,
            &[
                ("csrf", &csrf),
                ("managed_by", "customer"),
                ("owner_user_id", ""),
                ("owner_name", "Noor <b>Ali</b>"),
                ("owner_email", "noor@acme.example"),
            ],
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.html);
    assert!(back.html.contains("its new owner"), "{}", back.html);
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &sp).await.body["managed_by"],
        "customer"
    );
}

#[tokio::test]
async fn the_owner_hands_the_ownership_to_an_admin_and_an_admin_cannot_take_it() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner_token) = customer_with_password(&s, &sp, "acme", "Acme").await;
    member_with_password(
        &s,
        &owner_token,
        &acme,
        "ada@acme.example",
        "admin",
        PASSWORD,
    )
    .await;
    let org = format!("/console/orgs/{acme}");
    let mut admin = Browser::new(&s);
    admin.sign_in("ada@acme.example", PASSWORD).await;
    let page = admin.get(&org).await;
    assert!(!page.html.contains("Hand the ownership"), "{}", page.html);
    let ada = s
        .get(&format!("/v1/orgs/{acme}/members?role=admin"), &owner_token)
        .await
        .body["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let taken = admin
        .post(
            &format!("{org}/ownership"),
            &[("csrf", &page.csrf()), ("user_id", &ada)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::FORBIDDEN, "{}", taken.html);
    assert!(
        taken.html.contains("only the owner hands"),
        "{}",
        taken.html
    );

    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let page = owner.get(&org).await;
    assert!(
        page.html.contains("Hand the ownership to an admin"),
        "{}",
        page.html
    );
    let handed = owner
        .post(
            &format!("{org}/ownership"),
            &[("csrf", &page.csrf()), ("user_id", &ada)],
        )
        .await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.html);
    assert!(handed.html.contains("you are an admin now"));
    let owners = s
        .get(&format!("/v1/orgs/{acme}/members?role=owner"), &owner_token)
        .await;
    assert_eq!(owners.body["items"][0]["user_id"], json!(ada));
}

#[tokio::test]
async fn a_provider_dry_runs_and_binds_its_customers_layer_which_a_customer_cannot_reach() {
    let s = TestServer::spawn().await.unwrap();
    let (telco, sp, mut provider) = provider_signed_in(&s).await;
    let (acme, owner_token) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let path = format!("/console/orgs/{telco}/policies/authorize?layer=customers");
    let page = provider.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Versions of its customers"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(r#"<option value="{acme}""#)),
        "{}",
        page.html
    );
    let csrf = page.csrf();
    let freeze = "fn authorize(input) { if input.action == \"team.create\" { return deny(\"teams are sold separately\"); } abstain() }";
    let form = |intent: &'static str, customer: &'static str| {
        vec![
            ("intent", intent),
            ("source", freeze),
            ("fixtures", ""),
            ("action", "team.create"),
            ("input", ""),
            ("customer", customer),
        ]
    };
    let mut missing = form("dry-run", "");
    missing.push(("csrf", &csrf));
    let refused = provider.post(&path, &missing).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("pick one of the provider"),
        "{}",
        refused.html
    );

    let acme_static: &'static str = Box::leak(acme.clone().into_boxed_str());
    let mut dry = form("dry-run", acme_static);
    dry.push(("csrf", &csrf));
    let ran = provider.post(&path, &dry).await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.html);
    assert!(
        ran.html.contains("Dry run: deny") && ran.html.contains("<td>service_provider</td>"),
        "{}",
        ran.html
    );

    let mut bind = form("bind", acme_static);
    bind.push(("csrf", &csrf));
    let bound = provider.post(&path, &bind).await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.html);
    let versions = s
        .get(
            &format!("/v1/orgs/{telco}/customer-policies/authorize/versions"),
            &sp,
        )
        .await;
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 1);
    // It decides for the customer at once.
    let team = s
        .post(
            &format!("/v1/orgs/{acme}/teams"),
            &owner_token,
            json!({"name": "Night shift"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::FORBIDDEN, "{:?}", team.body);

    // The customer has no such layer, and cannot write the provider's.
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let own = format!("/console/orgs/{acme}/policies/authorize?layer=customers");
    assert_eq!(owner.get(&own).await.status, StatusCode::NOT_FOUND);
    let page = owner
        .get(&format!("/console/orgs/{acme}/policies/authorize"))
        .await;
    assert!(!page.html.contains("All customers"));
    let mut bind = form("bind", "");
    let csrf = page.csrf();
    bind.push(("csrf", &csrf));
    assert_eq!(owner.post(&path, &bind).await.status, StatusCode::NOT_FOUND);
    assert_ne!(owner.post(&own, &bind).await.status, StatusCode::CREATED);
    let versions = s
        .get(
            &format!("/v1/orgs/{telco}/customer-policies/authorize/versions"),
            &sp,
        )
        .await;
    assert_eq!(versions.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_plugin_is_uploaded_in_the_console_and_bound_with_its_config() {
    let s = TestServer::spawn().await.unwrap();
    let (telco, sp, mut provider) = provider_signed_in(&s).await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let playground = format!("/console/orgs/{telco}/policies/link?layer=customers");
    let upload = format!("/console/orgs/{telco}/policies/link/plugins?layer=customers");
    let page = provider.get(&playground).await;
    assert!(
        page.html.contains(r#"enctype="multipart/form-data""#),
        "{}",
        page.html
    );
    let csrf = page.csrf();
    let fence = plugin("region_fence");
    let uploads = || async {
        s.get(&format!("/v1/plugins?org={telco}"), &sp).await.body["items"]
            .as_array()
            .unwrap()
            .len()
    };

    // Refused before the component is read: a forged form, another tenant.
    let forged = provider
        .post_file(&upload, &[("csrf", "forged")], "component", &fence)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let theirs = owner.get(&format!("/console/orgs/{acme}")).await.csrf();
    let other = owner
        .post_file(&upload, &[("csrf", &theirs)], "component", &fence)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(uploads().await, 0);

    // Bad components are named by the field; one over the size limit never lands.
    let garbage = provider
        .post_file(&upload, &[("csrf", &csrf)], "component", b"not wasm")
        .await;
    assert_eq!(
        garbage.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        garbage.html
    );
    let empty = provider
        .post_file(&upload, &[("csrf", &csrf)], "component", b"")
        .await;
    assert!(empty.html.contains("is empty"), "{}", empty.html);
    let huge = vec![0u8; s.app().settings.wasm.max_module_bytes + 128 * 1024];
    let over = provider
        .post_file(&upload, &[("csrf", &csrf)], "component", &huge)
        .await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        over.html
    );
    assert!(over.html.contains("larger than"), "{}", over.html);
    assert_eq!(uploads().await, 0);

    let uploaded = provider
        .post_file(&upload, &[("csrf", &csrf)], "component", &fence)
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.html);
    assert!(
        uploaded.html.contains("Uploaded: SHA-256"),
        "{}",
        uploaded.html
    );
    assert_eq!(uploads().await, 1);
    let sha = s.get(&format!("/v1/plugins?org={telco}"), &sp).await.body["items"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        uploaded.html.contains(&format!(r#"<option value="{sha}""#)),
        "bindable: {}",
        uploaded.html
    );

    // Bound with a config: one it cannot work with is refused by the field, then a good one.
    let bind = format!("/console/orgs/{telco}/policies/link/plugin-binding?layer=customers");
    let not_json = provider
        .post(
            &bind,
            &[
                ("csrf", &csrf),
                ("plugin", &sha),
                ("config", "{allowed"),
                ("fixtures", ""),
            ],
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_json.html.contains("is not JSON"));
    let unusable = provider
        .post(
            &bind,
            &[
                ("csrf", &csrf),
                ("plugin", &sha),
                ("config", "{}"),
                ("fixtures", ""),
            ],
        )
        .await;
    assert_eq!(
        unusable.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unusable.html
    );
    assert!(unusable.html.contains("config"), "{}", unusable.html);
    let config = r#"{"allowed": [["eu-central", "eu-central"]]}"#;
    let bound = provider
        .post(
            &bind,
            &[
                ("csrf", &csrf),
                ("plugin", &sha),
                ("config", config),
                ("fixtures", ""),
            ],
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.html);
    assert!(
        bound.html.contains("(the plugin) is bound and active"),
        "{}",
        bound.html
    );
    let versions = s
        .get(
            &format!("/v1/orgs/{telco}/customer-policies/link/versions"),
            &sp,
        )
        .await;
    assert_eq!(
        versions.body["items"][0]["kind"], "wasm",
        "{:?}",
        versions.body
    );
}

#[tokio::test]
async fn the_operator_binds_a_platform_version_in_the_playground_which_nobody_else_reaches() {
    let s = TestServer::spawn().await.unwrap();
    let (telco, sp, mut provider) = provider_signed_in(&s).await;
    let mut operator = Browser::new(&s);
    let form = operator.get("/console/sign-in").await;
    let signed = operator
        .post(
            "/console/sign-in/operator",
            &[("csrf", &form.csrf()), ("credential", &s.operator)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    let path = format!("/console/orgs/{telco}/policies/authorize?layer=platform");
    let page = operator.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Versions of the platform's"),
        "{}",
        page.html
    );
    // The editor starts from the active platform version: bound again, its fixtures pass.
    // As a browser would send it back: the page's escapes undone.
    let source = super::textarea(&page.html, "source")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    assert!(source.contains("fn authorize(input)"), "{source}");
    let csrf = page.csrf();
    let ran = operator
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("intent", "dry-run"),
                ("source", &source),
                ("fixtures", ""),
                ("action", "team.create"),
                ("input", ""),
            ],
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.html);
    assert!(ran.html.contains("Dry run: allow"), "{}", ran.html);
    let bound = operator
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("intent", "bind"),
                ("source", &source),
                ("fixtures", ""),
                ("action", ""),
                ("input", ""),
            ],
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.html);
    let versions = || async {
        s.get(
            "/v1/platform/policies/authorize/versions",
            &s.operator.clone(),
        )
        .await
        .body["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let count = versions().await;

    // A provider's owner is shown no platform layer and cannot post to it.
    let own = provider
        .get(&format!("/console/orgs/{telco}/policies/authorize"))
        .await;
    assert!(!own.html.contains("The platform"), "{}", own.html);
    assert_eq!(provider.get(&path).await.status, StatusCode::NOT_FOUND);
    let posted = provider
        .post(
            &path,
            &[
                ("csrf", &own.csrf()),
                ("intent", "bind"),
                ("source", "fn authorize(input) { allow(\"all\") }"),
                ("fixtures", ""),
                ("action", ""),
                ("input", ""),
            ],
        )
        .await;
    // Refused by the use case (`platform_policy.write`), then shown as a layer not there.
    assert_eq!(posted.status, StatusCode::NOT_FOUND, "{}", posted.html);
    assert_eq!(versions().await, count);
    let _ = sp;
}
