//! The web console over real HTTP, as a browser without scripts drives it: cookies kept by
//! hand, forms posted as `application/x-www-form-urlencoded`, redirects not followed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry_e2e::{TestServer, org_body};

mod provider_screens;

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

    /// Posts a `multipart/form-data` form as a browser sends a file: the text fields in order,
    /// then the file under `file_field`.
    async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file_field: &str,
        file: &[u8],
    ) -> Page {
        const BOUNDARY: &str = "----tenantry-console-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"plugin.wasm\"\r\nContent-Type: application/wasm\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        let line: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        request = request.header(COOKIE, line.join("; "));
        let response = request.send().await.unwrap();
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.unwrap(),
        }
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
            .contains("eve@x.example")
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
    // The policy lets an admin invite members only: the form offers nothing else, and a form
    // sent anyway is refused with the policy's reason.
    let roles_offered = |html: &str| {
        let form = &html[html.find("Invite a member").expect("the invite form")..];
        let form = &form[..form.find("</form>").unwrap()];
        ["member", "admin"]
            .into_iter()
            .filter(|role| form.contains(&format!(r#"<option value="{role}">"#)))
            .collect::<Vec<_>>()
    };
    assert_eq!(roles_offered(&page.html), ["member"]);
    assert_eq!(roles_offered(&overview.html), ["member", "admin"]);
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

/// The id that follows `prefix` in a page (a form's action, a link).
fn id_after(html: &str, prefix: &str) -> String {
    let at = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {html}"))
        + prefix.len();
    html[at..at + 36].to_owned()
}

/// A member invited by `inviter` into `org` who accepts over the API and sets `password`.
async fn member_with_password(
    s: &TestServer,
    inviter: &str,
    org: &str,
    email: &str,
    role: &str,
    password: &str,
) {
    let invited = s
        .post(
            &format!("/v1/orgs/{org}/members"),
            inviter,
            json!({"name": email, "email": email, "role": role, "portal_access": true}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    let accepted = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": invited.body["invitation_token"], "password": password})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
}

#[tokio::test]
async fn a_new_member_accepts_in_the_console_sets_a_password_and_signs_in() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let invited = s
        .post(
            &format!("/v1/orgs/{acme}/members"),
            &owner,
            json!({"name": "Ada", "email": "ada@acme.example", "role": "member", "portal_access": true}),
        )
        .await;
    let token = invited.body["invitation_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ada = Browser::new(&s);
    let form = ada.get("/console/accept").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let post = async |ada: &mut Browser, csrf: &str, password: &str, repeat: &str| {
        ada.post(
            "/console/accept",
            &[
                ("csrf", csrf),
                ("token", &token),
                ("password", password),
                ("repeat", repeat),
            ],
        )
        .await
    };
    // Each refusal says which field and why, and claims nothing.
    let differ = post(
        &mut ada,
        &csrf,
        "Ada's own long password",
        "Ada's own long passw0rd",
    )
    .await;
    assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        differ.html.contains("the two passwords differ"),
        "{}",
        differ.html
    );
    let short = post(&mut ada, &csrf, "short", "short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.html.contains("at least 12"), "{}", short.html);
    let forged = post(
        &mut ada,
        "0000",
        "Ada's own long password",
        "Ada's own long password",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let done = post(
        &mut ada,
        &csrf,
        "Ada's own long password",
        "Ada's own long password",
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(
        done.html.contains("Welcome, Ada: your password is set."),
        "{}",
        done.html
    );
    assert!(
        done.html.contains(r#"value="ada@acme.example""#),
        "the sign-in form is filled in"
    );
    // The token is used up.
    let again = post(
        &mut ada,
        &csrf,
        "Ada's own long password",
        "Ada's own long password",
    )
    .await;
    assert_ne!(again.status, StatusCode::OK, "{}", again.html);

    assert_eq!(
        ada.sign_in("ada@acme.example", "Ada's own long password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // Her only credential is the session: the API token the acceptance issued was revoked.
    let session = ada.cookies["tenantry_session"].clone();
    let tokens = s.get("/v1/tokens", &session).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let live: Vec<&str> = tokens.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null())
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(live, ["sign-in"], "{:?}", tokens.body);
    assert!(ada.get("/console").await.html.contains("Acme"));
}

#[tokio::test]
async fn an_existing_account_cannot_set_a_password_by_invitation_and_accepts_signed_in() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    customer_with_password(&s, &sp, "acme", "Acme").await;
    let (beta, beta_owner) = customer_with_password(&s, &sp, "beta", "Beta Corp").await;
    // Beta invites Acme's owner, whose account exists.
    let invited = s
        .post(
            &format!("/v1/orgs/{beta}/members"),
            &beta_owner,
            json!({"name": "Acme's owner", "email": "owner@acme.example", "role": "member", "portal_access": true}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    let token = invited.body["invitation_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Whoever holds the token cannot use it to set that account's password.
    let mut thief = Browser::new(&s);
    let csrf = thief.get("/console/accept").await.csrf();
    let taken = thief
        .post(
            "/console/accept",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "the thief's password"),
                ("repeat", "the thief's password"),
            ],
        )
        .await;
    assert_ne!(taken.status, StatusCode::OK, "{}", taken.html);
    assert!(taken.html.contains("existing account"), "{}", taken.html);
    let mut check = Browser::new(&s);
    assert_eq!(
        check
            .sign_in("owner@acme.example", "the thief's password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // The account's owner signs in and accepts it from the home page.
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let home = owner.get("/console").await;
    assert!(home.html.contains("Invitations for you") && home.html.contains("Beta Corp"));
    let id = id_after(&home.html, "/console/invitations/");
    let accepted = owner
        .post(
            &format!("/console/invitations/{id}/accept"),
            &[("csrf", &home.csrf())],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.html);
    assert!(accepted.html.contains("Invitation accepted."));
    assert!(!accepted.html.contains("Invitations for you"));
    assert!(accepted.html.contains(&format!("/console/orgs/{beta}")));
}

#[tokio::test]
async fn two_organizations_link_share_a_team_and_the_peer_sees_it_received() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let (beta, beta_owner) = customer_with_password(&s, &sp, "beta", "Beta Corp").await;
    member_with_password(
        &s,
        &beta_owner,
        &beta,
        "mo@beta.example",
        "member",
        "Mo's long password",
    )
    .await;
    let region = s.get(&format!("/v1/orgs/{beta}"), &beta_owner).await.body["region"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut a = Browser::new(&s);
    a.sign_in("owner@acme.example", PASSWORD).await;
    let connect = a.get(&format!("/console/orgs/{acme}/connect")).await;
    assert_eq!(connect.status, StatusCode::OK, "{}", connect.html);
    assert!(connect.html.contains("Send link request"));
    let csrf = connect.csrf();
    let links = format!("/console/orgs/{acme}/links");
    let wrong_region = a
        .post(
            &links,
            &[
                ("csrf", &csrf),
                ("target_org_id", &beta),
                ("target_region", "mars-1"),
            ],
        )
        .await;
    assert_eq!(wrong_region.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong_region.html.contains("target_region"),
        "{}",
        wrong_region.html
    );
    let not_an_id = a
        .post(
            &links,
            &[
                ("csrf", &csrf),
                ("target_org_id", "beta"),
                ("target_region", ""),
            ],
        )
        .await;
    assert_eq!(not_an_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_an_id.html.contains("must be an organization id"));
    let sent = a
        .post(
            &links,
            &[
                ("csrf", &csrf),
                ("target_org_id", &beta),
                ("target_region", &region),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.html);
    assert!(sent.html.contains("Link request sent to Beta Corp."));
    assert!(
        sent.html.contains("/cancel"),
        "the inviting side may cancel"
    );

    // Beta's member sees the request but is offered no answer; Beta's owner accepts it.
    let mut mo = Browser::new(&s);
    mo.sign_in("mo@beta.example", "Mo's long password").await;
    let seen = mo.get(&format!("/console/orgs/{beta}/connect")).await;
    assert!(
        seen.html.contains("Acme") && !seen.html.contains("/accept"),
        "{}",
        seen.html
    );
    assert!(!seen.html.contains("Send link request"));
    let mut b = Browser::new(&s);
    b.sign_in("owner@beta.example", PASSWORD).await;
    let incoming = b.get(&format!("/console/orgs/{beta}/connect")).await;
    let link = id_after(&incoming.html, &format!("/console/orgs/{beta}/links/"));
    let accepted = b
        .post(
            &format!("/console/orgs/{beta}/links/{link}/accept"),
            &[("csrf", &incoming.csrf())],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.html);
    assert!(accepted.html.contains("The link with Acme is active."));
    // Accepting twice: refused with the state rule, nothing changes.
    let twice = b
        .post(
            &format!("/console/orgs/{beta}/links/{link}/accept"),
            &[("csrf", &incoming.csrf())],
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(
        twice.html.contains("it must be `pending`"),
        "{}",
        twice.html
    );

    // Acme creates a team and shares it over the link; Beta sees it received.
    let created = a
        .post(
            &format!("/console/orgs/{acme}/teams"),
            &[("csrf", &csrf), ("name", "Night <b>shift</b>")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    let connect = a.get(&format!("/console/orgs/{acme}/connect")).await;
    let team = id_after(&connect.html, "value=\"team:");
    let shared = a
        .post(
            &format!("/console/orgs/{acme}/shares"),
            &[
                ("csrf", &csrf),
                ("link_id", &link),
                ("resource", &format!("team:{team}")),
            ],
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.html);
    assert!(
        shared
            .html
            .contains("Night &lt;b&gt;shift&lt;/b&gt; is shared."),
        "{}",
        shared.html
    );
    let received = b.get(&format!("/console/orgs/{beta}/connect")).await;
    let section = &received.html[received.html.find("Received from linked").unwrap()..];
    assert!(
        section.contains("Night &lt;b&gt;shift&lt;/b&gt;") && section.contains("Acme"),
        "{section}"
    );

    // Unlinked, the share ends with it.
    let unlinked = b
        .post(
            &format!("/console/orgs/{beta}/links/{link}/unlink"),
            &[("csrf", &incoming.csrf())],
        )
        .await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.html);
    let after = b.get(&format!("/console/orgs/{beta}/connect")).await;
    assert!(after.html.contains("Nothing received."), "{}", after.html);
}

#[tokio::test]
async fn a_provider_asks_for_remote_support_and_the_owner_approves_then_revokes_it() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    // The provider's owner, who accepted without a password, sets a first one.
    let set = s
        .put(
            "/v1/me/password",
            &sp,
            json!({"new_password": "the provider's password"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{:?}", set.body);

    let mut provider = Browser::new(&s);
    provider
        .sign_in("owner@telco.example", "the provider's password")
        .await;
    let home = provider.get("/console").await;
    assert!(
        home.html.contains(&format!("/console/orgs/{acme}")),
        "a provider sees its customers"
    );
    let page = provider
        .get(&format!("/console/orgs/{acme}/remote-support"))
        .await;
    assert!(page.html.contains("Request access"), "{}", page.html);
    let path = format!("/console/orgs/{acme}/remote-support");
    let too_long = provider
        .post(
            &path,
            &[
                ("csrf", &page.csrf()),
                ("reason", "ticket 7"),
                ("minutes", "99999"),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.html.contains("minutes"), "{}", too_long.html);
    let asked = provider
        .post(
            &path,
            &[
                ("csrf", &page.csrf()),
                ("reason", "ticket 7: calls drop"),
                ("minutes", "60"),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.html);
    assert!(
        asked.html.contains("Remote support request sent: pending"),
        "{}",
        asked.html
    );
    assert!(
        !asked.html.contains("/approve"),
        "the requester is not offered its own approval"
    );

    // The customer's owner is not offered the request form, and approves in the inbox.
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let inbox = owner.get(&path).await;
    assert!(!inbox.html.contains("Request access"));
    assert!(inbox.html.contains("ticket 7: calls drop"));
    let request = id_after(&inbox.html, &format!("{path}/"));
    let approved = owner
        .post(
            &format!("{path}/{request}/approve"),
            &[("csrf", &inbox.csrf())],
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.html);
    assert!(
        approved.html.contains("granted, 60 min left"),
        "{}",
        approved.html
    );

    // What the provider does under the grant shows under it.
    let read = s.get(&format!("/v1/orgs/{acme}/members"), &sp).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    // Reads under a grant are audited by the recorder, moments after the read.
    let mut inbox = owner.get(&path).await;
    for _ in 0..50 {
        if inbox.html.contains("<code>member.list</code>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        inbox = owner.get(&path).await;
    }
    let done = &inbox.html[inbox.html.find("Done under this grant").unwrap()..];
    assert!(done.contains("<code>member.list</code>"), "{done}");

    let revoked = owner
        .post(
            &format!("{path}/{request}/revoke"),
            &[("csrf", &inbox.csrf())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.html);
    assert!(
        revoked.html.contains("The request is revoked."),
        "{}",
        revoked.html
    );
    assert_eq!(
        s.get(&format!("/v1/orgs/{acme}/members"), &sp).await.status,
        StatusCode::FORBIDDEN,
        "the grant ended with the revocation"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_ended_and_a_password_change_ends_the_others() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let (mut here, mut there) = (Browser::new(&s), Browser::new(&s));
    here.sign_in("owner@acme.example", PASSWORD).await;
    there.sign_in("owner@acme.example", PASSWORD).await;

    let page = here.get("/console/sessions").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("this session"));
    assert_eq!(
        page.html.matches("Sign out there").count(),
        1,
        "{}",
        page.html
    );
    let other = id_after(&page.html, "/console/sessions/");
    let ended = here
        .post(
            &format!("/console/sessions/{other}/end"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.html);
    assert!(ended.html.contains("That session is signed out."));
    assert_eq!(there.get("/console").await.location(), "/console/sign-in");

    // A wrong current password, or two new ones that differ, change nothing.
    there.sign_in("owner@acme.example", PASSWORD).await;
    let path = "/console/password";
    let csrf = page.csrf();
    let wrong = here
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("current", "not it at all"),
                ("new", "a brand new password"),
                ("repeat", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.html.contains("current_password"), "{}", wrong.html);
    let differ = here
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a brand new password"),
                ("repeat", "a brand new passw0rd"),
            ],
        )
        .await;
    assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(differ.html.contains("the two new passwords differ"));
    assert_eq!(there.get("/console").await.status, StatusCode::OK);
    let changed = here
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a brand new password"),
                ("repeat", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.html);
    assert!(changed.html.contains("Your password is changed"));
    assert_eq!(there.get("/console").await.location(), "/console/sign-in");
    assert_eq!(here.get("/console").await.status, StatusCode::OK);

    // Half an hour unused, the session has ended: pages send to sign-in and a form sent with
    // it does nothing.
    let page = here.get(&format!("/console/orgs/{acme}")).await;
    s.clock().advance(std::time::Duration::from_secs(31 * 60));
    let late = here
        .post(
            &format!("/console/orgs/{acme}/teams"),
            &[("csrf", &page.csrf()), ("name", "Too late")],
        )
        .await;
    assert_eq!(late.status, StatusCode::SEE_OTHER);
    assert_eq!(late.location(), "/console/sign-in");
    here.sign_in("owner@acme.example", "a brand new password")
        .await;
    assert!(
        !here
            .get(&format!("/console/orgs/{acme}"))
            .await
            .html
            .contains("Too late")
    );
}

#[tokio::test]
async fn the_operator_signs_in_with_its_credential_and_the_browser_never_holds_it() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    customer_with_password(&s, &sp, "acme", "Acme").await;
    let mut operator = Browser::new(&s);
    let form = operator.get("/console/sign-in").await;
    let wrong = operator
        .post(
            "/console/sign-in/operator",
            &[
                ("csrf", &form.csrf()),
                ("credential", "tnt_not_the_credential"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("That is not the operator credential."));
    let form = operator.get("/console/sign-in").await;
    let signed = operator
        .post(
            "/console/sign-in/operator",
            &[("csrf", &form.csrf()), ("credential", &s.operator)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    let session = operator.cookies["tenantry_session"].clone();
    assert_ne!(
        session, s.operator,
        "the cookie holds a session, not the credential"
    );
    let home = operator.get("/console").await;
    assert!(
        home.html.contains("Acme") && home.html.contains("telco"),
        "{}",
        home.html
    );

    // A session cannot rotate the credential away from its holder, nor sign in as operator.
    let rotated = s
        .post("/v1/platform/operator-token", &session, json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::FORBIDDEN, "{:?}", rotated.body);
    let form = Browser::new(&s).get("/console/sign-in").await;
    let mut other = Browser::new(&s);
    other.cookies = HashMap::from([("tenantry_sign_in".to_owned(), form.csrf())]);
    let chained = other
        .post(
            "/console/sign-in/operator",
            &[("csrf", &form.csrf()), ("credential", &session)],
        )
        .await;
    assert_eq!(chained.status, StatusCode::UNAUTHORIZED);

    // Signing out ends the session; the credential works on.
    let out = operator
        .post("/console/sign-out", &[("csrf", &home.csrf())])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        s.get("/v1/orgs", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get("/v1/orgs", &s.operator).await.status, StatusCode::OK);
}

/// The text between the first `<textarea id="{id}"` and its end, as the page has it.
fn textarea(html: &str, id: &str) -> String {
    let at = html
        .find(&format!(r#"<textarea id="{id}""#))
        .unwrap_or_else(|| panic!("no textarea {id}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find("</textarea>").unwrap()].to_owned()
}

#[tokio::test]
async fn a_policy_is_dry_run_previewed_bound_and_rolled_back_in_the_playground() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner_token) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let teams = format!("/v1/orgs/{acme}/teams");
    let made = s
        .post(&teams, &owner_token, json!({"name": "Day shift"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let path = format!("/console/orgs/{acme}/policies/authorize");

    let page = owner.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("None yet"));
    assert!(textarea(&page.html, "source").contains("fn authorize(input)"));
    // The decision log is written moments after each decision.
    let mut page = page;
    for _ in 0..50 {
        if page.html.contains("<code>team.create</code>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = owner.get(&path).await;
    }
    assert!(
        page.html.contains("<code>team.create</code>"),
        "{}",
        page.html
    );
    let csrf = page.csrf();

    let freeze = "// no </textarea><script>alert(1)</script> here\nfn authorize(input) { if input.action == \"team.create\" { return deny(\"no new teams this quarter\"); } abstain() }";
    let send = |intent: &'static str, source: &'static str, fixtures: String| {
        let csrf = csrf.clone();
        move || {
            vec![
                ("csrf".to_owned(), csrf),
                ("intent".to_owned(), intent.to_owned()),
                ("source".to_owned(), source.to_owned()),
                ("fixtures".to_owned(), fixtures),
                ("action".to_owned(), "team.create".to_owned()),
                ("input".to_owned(), String::new()),
            ]
        }
    };
    let post = async |owner: &mut Browser, form: Vec<(String, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        owner.post(&path, &form).await
    };

    // A dry run: the candidate's answer, each layer's, and the source kept as text.
    let dry = post(&mut owner, send("dry-run", freeze, String::new())()).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.html);
    assert!(
        dry.html.contains("Dry run: deny") && dry.html.contains("no new teams this quarter"),
        "{}",
        dry.html
    );
    assert!(dry.html.contains("platform") && dry.html.contains("organization"));
    assert!(
        textarea(&dry.html, "source").contains("&lt;/textarea&gt;&lt;script&gt;"),
        "escaped"
    );
    assert!(!dry.html.contains("<script>"));

    // A preview lists the recorded decision that would change.
    let preview = post(&mut owner, send("preview", freeze, String::new())()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.html);
    assert!(
        preview.html.contains("recorded decisions would change"),
        "{}",
        preview.html
    );
    let changes = &preview.html[preview.html.find("Would be").unwrap()..];
    assert!(
        changes.contains("<code>team.create</code>")
            && changes.contains("no new teams this quarter"),
        "{changes}"
    );

    // Binding: bad fixtures are refused with the field; a failing fixture with its case; the
    // layer stays unbound meanwhile.
    let not_json = post(&mut owner, send("bind", freeze, "[{".into())()).await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_json.html.contains("fixtures"), "{}", not_json.html);
    let wrong = json!([{"name": "teams still open", "input": tenantry_e2e::authorize_input("team.create", json!({})), "expect": "allow"}]);
    let failing = post(&mut owner, send("bind", freeze, wrong.to_string())()).await;
    assert_eq!(
        failing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        failing.html
    );
    assert!(
        failing.html.contains("teams still open"),
        "{}",
        failing.html
    );
    assert_eq!(
        s.post(&teams, &owner_token, json!({"name": "Still open"}))
            .await
            .status,
        StatusCode::CREATED
    );

    let open = "fn authorize(input) { abstain() }";
    let first = post(&mut owner, send("bind", open, String::new())()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.html);
    assert!(first.html.contains("Version 1 is bound and active."));
    let second = post(&mut owner, send("bind", freeze, String::new())()).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.html);
    assert!(second.html.contains("Version 2 is bound and active."));
    let refused = s
        .post(&teams, &owner_token, json!({"name": "Night shift"}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert!(
        refused
            .body
            .to_string()
            .contains("no new teams this quarter")
    );

    // The log, filtered to refusals, shows it first (recorded moments after the decision).
    let mut denied = owner.get(&format!("{path}?verdict=deny")).await;
    for _ in 0..50 {
        if denied.html.contains("Decided by") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        denied = owner.get(&format!("{path}?verdict=deny")).await;
    }
    let log = &denied.html[denied.html.find("Decided by").expect("the log")..];
    assert!(log.contains("no new teams this quarter"), "{log}");
    assert!(!log.contains("<strong>allow</strong>"), "{log}");

    // Rolled back to version 1: teams are open again.
    let back = owner
        .post(
            &format!("/console/orgs/{acme}/policies/authorize/rollback/1"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.html);
    assert!(back.html.contains("Version 1 is active again."));
    assert_eq!(
        s.post(&teams, &owner_token, json!({"name": "Night shift"}))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_provider_searches_its_customers_and_creates_one_seeing_each_fields_problem() {
    let s = TestServer::spawn().await.unwrap();
    let (telco, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    customer_with_password(&s, &sp, "beta", "Beta Corp").await;
    let patched = s
        .patch(
            &format!("/v1/orgs/{acme}"),
            &sp,
            json!({"customer_reference": "C-1043"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    let tiny = s.post("/v1/plans", &sp, json!({"name": "Tiny", "owner_org_id": telco, "limits": {"max_members": 2, "max_teams": 1, "max_active_links": 1, "max_remote_support_minutes": 15}})).await;
    assert_eq!(tiny.status, StatusCode::CREATED, "{:?}", tiny.body);
    let big = s.post("/v1/plans", &s.operator.clone(), json!({"name": "Enterprise", "limits": {"max_members": 100000, "max_teams": 1000, "max_active_links": 1000, "max_remote_support_minutes": 480}})).await;
    assert_eq!(big.status, StatusCode::CREATED, "{:?}", big.body);
    let set = s
        .put("/v1/me/password", &sp, json!({"new_password": PASSWORD}))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);

    let mut provider = Browser::new(&s);
    provider.sign_in("owner@telco.example", PASSWORD).await;
    let path = format!("/console/orgs/{telco}/customers");
    let page = provider.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Acme")
            && page.html.contains("Beta Corp")
            && page.html.contains("active")
    );
    // Search by customer reference, and by name.
    let by_reference = provider.get(&format!("{path}?q=C-1043")).await;
    assert!(by_reference.html.contains("Acme") && !by_reference.html.contains("Beta Corp"));
    let by_name = provider.get(&format!("{path}?q=beta")).await;
    assert!(by_name.html.contains("Beta Corp") && !by_name.html.contains(">Acme<"));
    // The plan beyond the provider's own is shown, disabled.
    assert!(
        page.html
            .contains(&format!(r#"<option value="{}">Tiny</option>"#, tiny.id())),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(&format!(
            r#"<option value="{}" disabled>Enterprise — beyond your own plan</option>"#,
            big.id()
        )),
        "{}",
        page.html
    );

    // Every field's problem at once; what was typed is kept; nothing is created.
    let csrf = page.csrf();
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("name", ""),
        ("tenant_id", "Bad Tenant!"),
        ("account_type", "business_user"),
        ("managed_by", "customer"),
        ("owner_name", "Gina"),
        ("owner_email", "gina@gamma.example"),
        ("country", "Germany"),
        ("currency", "EUR"),
        ("region", "eu-central"),
        ("plan", ""),
        ("customer_reference", ""),
        ("external_contract", "K-77"),
        ("approval", "yes"),
    ];
    let refused = provider.post(&path, &form).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("organization is invalid"),
        "{}",
        refused.html
    );
    for field in [
        "<strong>name</strong>",
        "<strong>tenant_id</strong>",
        "<strong>country</strong>",
    ] {
        assert!(refused.html.contains(field), "{field}: {}", refused.html);
    }
    assert!(refused.html.contains(r#"value="Bad Tenant!""#));
    assert!(
        !provider
            .get(&format!("{path}?q=K-77"))
            .await
            .html
            .contains("Gamma")
    );

    let tiny_id = tiny.id();
    for (key, value) in &mut form {
        match *key {
            "name" => *value = "Gamma GmbH",
            "tenant_id" => *value = "gamma",
            "country" => *value = "DE",
            "plan" => *value = &tiny_id,
            _ => {}
        }
    }
    let created = provider.post(&path, &form).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    assert!(
        created
            .html
            .contains("Gamma GmbH is created; its owner is invited."),
        "{}",
        created.html
    );
    assert!(created.html.contains("<code>inv_"));
    assert!(
        provider
            .get(&format!("{path}?q=K-77"))
            .await
            .html
            .contains("Gamma GmbH")
    );

    // A customer's pages have no customers tab.
    let acme_page = provider.get(&format!("/console/orgs/{acme}")).await;
    assert!(
        !acme_page.html.contains("/customers\""),
        "{}",
        acme_page.html
    );
}

#[tokio::test]
async fn an_owner_renews_and_withdraws_invitations_sets_pins_imports_and_opens_channels() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let org = format!("/console/orgs/{acme}");
    let page = owner.get(&org).await;
    let csrf = page.csrf();
    let invited = owner
        .post(
            &format!("{org}/members"),
            &[
                ("csrf", &csrf),
                ("name", "Ada"),
                ("email", "ada@acme.example"),
                ("role", "member"),
            ],
        )
        .await;
    let token_in = |html: &str| {
        let at = html.find("<code>inv_").expect("a token shown") + "<code>".len();
        html[at..at + html[at..].find('<').unwrap()].to_owned()
    };
    let first = token_in(&invited.html);
    assert!(invited.html.contains("Invitations not yet accepted"));

    // Renewed: a new token shown once; the first one is dead.
    let invitation = id_after(&invited.html, &format!("{org}/invitations/"));
    let renewed = owner
        .post(
            &format!("{org}/invitations/{invitation}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.html);
    assert!(
        renewed.html.contains("Ada's invitation is renewed"),
        "{}",
        renewed.html
    );
    let second = token_in(&renewed.html);
    assert_ne!(first, second);
    let old = s
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": first})),
        )
        .await;
    assert_ne!(old.status, StatusCode::OK, "{:?}", old.body);

    // Withdrawn (the renewed invitation has an id of its own): Ada is no longer a member,
    // invited or not.
    let invitation = id_after(&renewed.html, &format!("{org}/invitations/"));
    let withdrawn = owner
        .post(
            &format!("{org}/invitations/{invitation}/withdraw"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.html);
    assert!(withdrawn.html.contains("The invitation is withdrawn."));
    assert!(
        !withdrawn.html.contains("ada@acme.example"),
        "{}",
        withdrawn.html
    );

    // A PIN, generated and shown once.
    let owner_id = id_after(&withdrawn.html, &format!("{org}/members/"));
    let pin = owner
        .post(&format!("{org}/members/{owner_id}/pin"), &[("csrf", &csrf)])
        .await;
    assert_eq!(pin.status, StatusCode::OK, "{}", pin.html);
    assert!(
        pin.html.contains("The new PIN, shown only now:"),
        "{}",
        pin.html
    );

    // The sample file downloads; a bad file names every bad row and imports nothing.
    let sample = owner.get(&format!("{org}/members/import/sample.csv")).await;
    assert_eq!(sample.status, StatusCode::OK);
    assert!(
        sample.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert!(sample.html.starts_with("name,email,role"));
    let bad = "name,email,role,portal_access,pin,extension,teams\nBo,not-an-address,member,true,,,\nCy,cy@acme.example,emperor,true,,,\n";
    let refused = owner
        .post(
            &format!("{org}/members/import"),
            &[("csrf", &csrf), ("csv", bad)],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("line 2, email") && refused.html.contains("line 3, role"),
        "{}",
        refused.html
    );
    assert!(!refused.html.contains("cy@acme.example</td>"));
    let good = "name,email,role,portal_access,pin,extension,teams\nBo,bo@acme.example,member,true,,,\nCy,cy@acme.example,member,true,,,\n";
    let imported = owner
        .post(
            &format!("{org}/members/import"),
            &[("csrf", &csrf), ("csv", good)],
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.html);
    assert!(
        imported.html.contains("2 members imported."),
        "{}",
        imported.html
    );
    assert!(imported.html.contains("bo@acme.example") && imported.html.contains("cy@acme.example"));

    // A support channel, and one of a kind that does not exist.
    let channels = format!("{org}/channels");
    let made = owner
        .post(
            &channels,
            &[("csrf", &csrf), ("name", "Hotline"), ("kind", "voice")],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    assert!(made.html.contains("Channel Hotline created."));
    let odd = owner
        .post(
            &channels,
            &[("csrf", &csrf), ("name", "Fax"), ("kind", "fax")],
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.html);

    // The filters: invited members only.
    let invited_only = owner.get(&format!("{org}?status=invited")).await;
    assert!(invited_only.html.contains("bo@acme.example"));
    assert!(
        !invited_only.html.contains("owner@acme.example</td>"),
        "{}",
        invited_only.html
    );
}

#[tokio::test]
async fn the_overview_shows_the_plan_in_use_and_changes_approval_status_and_deletes_with_confirmation()
 {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme").await;
    let set = s
        .put("/v1/me/password", &sp, json!({"new_password": PASSWORD}))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    let org = format!("/console/orgs/{acme}");
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let page = owner.get(&org).await;
    let overview = &page.html[page.html.find("<h2 id=\"overview\">").unwrap()
        ..page.html.find("<h2 id=\"members\">").unwrap()];
    assert!(
        overview.contains("<dd>Owner of acme</dd>")
            && overview.contains("none (the default limits)"),
        "{overview}"
    );
    assert!(overview.contains("<dt>Members</dt><dd>1 of "), "{overview}");
    assert!(
        !overview.contains("Suspend the organization"),
        "a customer's owner does not suspend it"
    );

    // The owner switches approval off and on; the provider's switching off waits for consent.
    let csrf = page.csrf();
    let off = owner
        .post(&format!("{org}/approval/off"), &[("csrf", &csrf)])
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.html);
    assert!(
        off.html
            .contains("Remote support no longer needs approval.")
    );
    let on = owner
        .post(&format!("{org}/approval/on"), &[("csrf", &csrf)])
        .await;
    assert!(
        on.html.contains("Remote support now needs approval."),
        "{}",
        on.html
    );
    let mut provider = Browser::new(&s);
    provider.sign_in("owner@telco.example", PASSWORD).await;
    let seen = provider.get(&org).await;
    let pcsrf = seen.csrf();
    let asked = provider
        .post(&format!("{org}/approval/off"), &[("csrf", &pcsrf)])
        .await;
    assert!(
        asked.html.contains("The customer is asked"),
        "{}",
        asked.html
    );
    assert!(
        asked
            .html
            .contains("<dt>Remote support needs approval</dt><dd>yes "),
        "{}",
        asked.html
    );

    // The provider suspends and reactivates it.
    assert!(
        seen.html.contains("Suspend the organization"),
        "{}",
        seen.html
    );
    let suspended = provider
        .post(&format!("{org}/status/suspend"), &[("csrf", &pcsrf)])
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.html);
    assert!(suspended.html.contains("Acme is suspended."));
    let back = provider
        .post(&format!("{org}/status/reactivate"), &[("csrf", &pcsrf)])
        .await;
    assert!(back.html.contains("Acme is active."), "{}", back.html);

    // Deleting asks for the tenant id typed out; the wrong one deletes nothing.
    let wrong = provider
        .post(
            &format!("{org}/delete"),
            &[("csrf", &pcsrf), ("confirm", "acm")],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    assert!(wrong.html.contains("type the tenant id `acme` to confirm"));
    let gone = provider
        .post(
            &format!("{org}/delete"),
            &[("csrf", &pcsrf), ("confirm", "acme")],
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.html);
    assert_eq!(provider.get(&org).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_owner_resets_a_members_password_and_the_member_sets_a_new_one_in_the_console() {
    let s = TestServer::spawn().await.unwrap();
    let (_, sp) = s.provider("telco").await;
    let (acme, owner_token) = customer_with_password(&s, &sp, "acme", "Acme").await;
    member_with_password(
        &s,
        &owner_token,
        &acme,
        "ada@acme.example",
        "member",
        "Ada's first password",
    )
    .await;
    member_with_password(
        &s,
        &owner_token,
        &acme,
        "bob@acme.example",
        "admin",
        "Bob's own password",
    )
    .await;
    let mut ada = Browser::new(&s);
    ada.sign_in("ada@acme.example", "Ada's first password")
        .await;
    let mut owner = Browser::new(&s);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let org = format!("/console/orgs/{acme}");
    let page = owner.get(&org).await;
    let resets = page.html.matches("Reset password").count();
    assert_eq!(
        resets, 3,
        "the owner may reset everyone here: {}",
        page.html
    );

    // An admin is offered members' resets only (not the owner's, not another admin's).
    let mut bob = Browser::new(&s);
    bob.sign_in("bob@acme.example", "Bob's own password").await;
    assert_eq!(
        bob.get(&org).await.html.matches("Reset password").count(),
        1
    );

    let row = &page.html[page.html.find("ada@acme.example").unwrap()..];
    let user = id_after(row, &format!("{org}/members/"));
    let reset = owner
        .post(
            &format!("{org}/members/{user}/password-reset"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(reset.status, StatusCode::CREATED, "{}", reset.html);
    assert!(
        reset.html.contains("Hand them this reset token"),
        "{}",
        reset.html
    );
    let at = reset.html.find("<code>inv_").unwrap() + "<code>".len();
    let token = &reset.html[at..at + reset.html[at..].find('<').unwrap()];

    let mut anew = Browser::new(&s);
    let csrf = anew.get("/console/accept").await.csrf();
    let done = anew
        .post(
            "/console/accept",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("password", "Ada's second password"),
                ("repeat", "Ada's second password"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.html.contains("your password is set"));
    assert_eq!(
        ada.get("/console").await.location(),
        "/console/sign-in",
        "her sessions ended"
    );
    assert_eq!(
        anew.sign_in("ada@acme.example", "Ada's second password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
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
    let (telco, sp) = s.provider("telco").await;
    let (acme, _) = customer_with_password(&s, &sp, "acme", "Acme Telecom").await;
    let (beta, _) = customer_with_password(&s, &sp, "beta", "Beta Logistics").await;
    let set = s
        .put("/v1/me/password", &sp, json!({"new_password": PASSWORD}))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{:?}", set.body);
    // The component the provider uploads in the browser, as a file on disk.
    let component = shots.join("region_fence.wasm");
    std::fs::write(&component, tenantry_e2e::plugins::plugin("region_fence")).unwrap();
    // On the blocking pool: the server answers on this test's runtime meanwhile.
    let (base, browser_shots) = (s.base.clone(), shots.clone());
    let story = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("console.mjs")
            .arg(&base)
            .arg(&browser_shots)
            .env("CHROMIUM", &chromium)
            .env("TENANTRY_PASSWORD", PASSWORD)
            .env("TENANTRY_OWNER_EMAIL", "owner@acme.example")
            .env("TENANTRY_ORG_ID", &acme)
            .env("TENANTRY_PEER_EMAIL", "owner@beta.example")
            .env("TENANTRY_PEER_ORG_ID", &beta)
            .env("TENANTRY_PROVIDER_EMAIL", "owner@telco.example")
            .env("TENANTRY_PROVIDER_ORG_ID", &telco)
            .env("TENANTRY_PLUGIN_PATH", &component)
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
        "accept-invitation",
        "password-set",
        "members-as-admin",
        "connect",
        "link-sent",
        "link-accepted",
        "shared",
        "received",
        "customers",
        "customer-invalid",
        "support-requested",
        "support-inbox",
        "support-granted",
        "support-revoked",
        "playground",
        "playground-dry-run",
        "playground-preview",
        "playground-rolled-back",
        "plans",
        "managed-by-asked",
        "change-request",
        "change-consented",
        "playground-customers",
        "plugin-bound",
        "sessions",
    ] {
        assert!(shots.join(format!("{screen}.png")).exists(), "{screen}");
    }
}
