//! The web console over real HTTP, as a browser without scripts drives it: cookies kept by
//! hand, forms posted as `application/x-www-form-urlencoded`, redirects not followed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_e2e::{TestServer, org_body};

const PASSWORD: &str = "correct horse battery";

/// A cookie jar and a client that does not follow redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .html
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.html));
        let rest = &self.html[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(s: &TestServer) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(COOKIE, line.join("; "));
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        let csrf = form.csrf();
        self.post(
            "/console/sign-in",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

/// A customer whose owner claimed the account with a password: (org id, owner's API token).
async fn customer_with_password(
    s: &TestServer,
    sp: &str,
    slug: &str,
    name: &str,
) -> (String, String) {
    let mut body = org_body(slug, "business_user", "customer", true);
    body["name"] = json!(name);
    let created = s.create_org(sp, body).await;
    let accepted = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": created.body["owner_invitation_token"], "password": PASSWORD})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    (
        created.id(),
        accepted.body["api_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_owner_signs_in_sees_the_organization_and_invites_an_admin_who_may_not_invite_admins() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme <script>alert(1)</script>").await;
    let mut owner = Browser::new(&s);

    // Not signed in: sent to sign in.
    let home = owner.get("/console").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/console/sign-in");

    let wrong = owner
        .sign_in("owner@acme.example", "not the password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("Wrong e-mail address or password."));
    assert!(
        !owner.cookies.contains_key("tenantry_session"),
        "no session for a wrong password"
    );

    let signed_in = owner.sign_in("owner@acme.example", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let cookie = signed_in.headers[SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("tenantry_session=tnt_")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/console"),
        "{cookie}"
    );

    // The organizations, with the name escaped, and pages that allow no script at all.
    let home = owner.get("/console").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.html
            .contains("Acme &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        home.html
    );
    assert!(!home.html.contains("<script>"));
    let policy = home.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'") && !policy.contains("unsafe-inline"));
    assert_eq!(home.headers["cache-control"], "no-store");

    let overview = owner.get(&format!("/console/orgs/{acme}")).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.html.contains(&acme) && overview.html.contains("Owner of acme"));

    // A form without its anti-forgery value, or with another's, is refused and does nothing.
    let path = format!("/console/orgs/{acme}/members");
    for csrf in ["", "0000"] {
        let forged = owner
            .post(
                &path,
                &[
                    ("csrf", csrf),
                    ("name", "Eve"),
                    ("email", "eve@x.example"),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
    assert!(
        !owner
            .get(&format!("/console/orgs/{acme}"))
            .await
            .html
            .contains("Eve")
    );

    // The owner invites an admin: the token is shown once.
    let csrf = overview.csrf();
    let invited = owner
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Ada"),
                ("email", "ada@acme.example"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.html);
    assert!(invited.html.contains("Ada is invited."));
    let at = invited
        .html
        .find("<code>inv_")
        .expect("the invitation token")
        + "<code>".len();
    let token = &invited.html[at..at + invited.html[at..].find('<').unwrap()];

    // Ada sets her password as she accepts, signs in, and is refused an admin invitation with
    // the platform policy's reason.
    let accepted = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": "Ada's own long password"})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    let mut ada = Browser::new(&s);
    assert_eq!(
        ada.sign_in("ada@acme.example", "Ada's own long password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let page = ada.get(&format!("/console/orgs/{acme}")).await;
    let refused = ada
        .post(
            &path,
            &[
                ("csrf", &page.csrf()),
                ("name", "Bob"),
                ("email", "bob@acme.example"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("may invite only `member`, not `admin`"),
        "{}",
        refused.html
    );
    // A member invitation is hers to make.
    let member = ada
        .post(
            &path,
            &[
                ("csrf", &page.csrf()),
                ("name", "Bob"),
                ("email", "bob@acme.example"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{}", member.html);

    // Another organization's page is not found for her.
    let (beta, _) = customer_with_password(&s, &sp, "beta", "Beta").await;
    assert_eq!(
        ada.get(&format!("/console/orgs/{beta}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Signing out ends the session: its cookie is cleared and the token works no more.
    let session = owner.cookies["tenantry_session"].clone();
    let home = owner.get("/console").await;
    let out = owner
        .post("/console/sign-out", &[("csrf", &home.csrf())])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!owner.cookies.contains_key("tenantry_session"));
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}"), &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(owner.get("/console").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_sign_in_form_from_elsewhere_is_refused() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    customer_with_password(&s, &sp, "acme", "Acme").await;
    let mut browser = Browser::new(&s);
    // Without the form's own value (a page on another site posting to ours).
    let forged = browser
        .post(
            "/console/sign-in",
            &[
                ("email", "owner@acme.example"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // With it, but sent from another origin.
    let form = browser.get("/console/sign-in").await;
    let csrf = form.csrf();
    let cross = browser
        .client
        .post(format!("{}/console/sign-in", s.base))
        .header("origin", "https://evil.example")
        .header(
            COOKIE,
            format!("tenantry_sign_in={}", browser.cookies["tenantry_sign_in"]),
        )
        .form(&[
            ("email", "owner@acme.example"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert!(cross.headers().get(SET_COOKIE).is_none());
}

/// Chromium's path: `CHROMIUM`, or Debian's package.
fn chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| "/usr/bin/chromium".into(), std::path::PathBuf::from);
    path.exists().then_some(path)
}

/// The seed story in a real browser (`tests/browser/console.mjs`, playwright-core driving the
/// system's Chromium): every screen works, is saved as a screenshot, and has no serious or
/// critical accessibility violation (axe-core). Without node or Chromium it says so and passes;
/// CI installs both and sets `TENANTRY_REQUIRE_BROWSER`, so it never skips there.
#[tokio::test]
async fn in_chromium_every_screen_works_and_has_no_serious_accessibility_violation() {
    let required = std::env::var_os("TENANTRY_REQUIRE_BROWSER").is_some();
    let (Some(chromium), true) = (chromium(), tenantry_e2e::plugins::node_present()) else {
        assert!(
            !required,
            "TENANTRY_REQUIRE_BROWSER is set but Chromium or node is missing"
        );
        eprintln!(
            "skipped: the console's browser test needs node and Chromium (`apt-get install chromium`)"
        );
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            installed.status.success(),
            "npm ci: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme Telecom").await;
    // On the blocking pool: the server answers on this test's runtime meanwhile.
    let (base, browser_shots) = (s.base.clone(), shots.clone());
    let story = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("console.mjs")
            .arg(&base)
            .arg(&browser_shots)
            .env("CHROMIUM", &chromium)
            .env("TENANTRY_OWNER_EMAIL", "owner@acme.example")
            .env("TENANTRY_OWNER_PASSWORD", PASSWORD)
            .env("TENANTRY_ORG_ID", &acme)
            .current_dir(&dir)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&story.stdout),
        String::from_utf8_lossy(&story.stderr)
    );
    assert!(story.status.success(), "{said}");
    assert!(said.contains(r#"{"story":"done"}"#), "{said}");
    for screen in [
        "sign-in",
        "sign-in-refused",
        "organizations",
        "organization",
        "member-invited",
    ] {
        assert!(shots.join(format!("{screen}.png")).exists(), "{screen}");
    }
}
