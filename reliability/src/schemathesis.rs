//! schemathesis against the running server's `/openapi.json`: generated requests for every
//! operation, as the operator and as a plain member, with the path parameters bound to real
//! records so requests reach past the 404 of an unknown id. Checks: no 5xx, status codes,
//! content types and bodies as the document declares them.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::text;

use crate::server::Server;

/// Runs `schemathesis` (the executable at `program`) with `examples` per operation.
pub async fn run(binary: &Path, program: &Path, examples: u32) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(binary, data.path(), &data.path().join("server.log")).await?;
    let world = World::create(&server.base).await?;
    let config = data.path().join("schemathesis.toml");
    std::fs::write(&config, world.parameters())?;
    let mut failed = Vec::new();
    // The member first: the operator's run deletes records, the member's mostly cannot.
    for (who, token) in [
        ("member", world.member.as_str()),
        ("operator", tenantry_e2e::OPERATOR_TOKEN),
    ] {
        println!("== schemathesis as {who}");
        let status = Command::new(program)
            // Its example cache goes with the run's temporary directory, not the checkout.
            .current_dir(data.path())
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/openapi.json", server.base)])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "-c",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--max-examples", &examples.to_string(), "-w", "1"])
            .args(["--phases", "examples,coverage,fuzzing"])
            // No serializer exists for application/wasm; uploads are covered by the tests.
            .args(["--exclude-operation-id", "post_v1_plugins"])
            // Deleting the organization early would leave every later operation a 404.
            .args(["--exclude-operation-id", "delete_v1_orgs__org_"])
            // A new operator token retires the one the run uses: every later request a 401.
            .args(["--exclude-operation-id", "post_v1_platform_operator_token"])
            .args(["--generation-deterministic"])
            .status()
            .with_context(|| format!("cannot run `{}`", program.display()))?;
        if !status.success() {
            failed.push(who);
        }
    }
    server.kill()?;
    let log = std::fs::read_to_string(data.path().join("server.log"))?;
    let panics = log.matches("panicked").count();
    println!("server log: {} lines, {panics} panics", log.lines().count());
    if !failed.is_empty() || panics > 0 {
        bail!("schemathesis found failures as: {failed:?}");
    }
    Ok(())
}

/// One of each record a path parameter can name.
struct World {
    ids: Vec<(&'static str, String)>,
    member: String,
}

impl World {
    async fn create(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let call = |method: reqwest::Method, path: String, token: String, body: Value| {
            let mut request = client.request(method, format!("{base}{path}"));
            // Accepting an invitation is anonymous: an empty bearer is a wrong credential.
            if !token.is_empty() {
                request = request.bearer_auth(token);
            }
            async move {
                let response = if body.is_null() {
                    request.send().await?
                } else {
                    request.json(&body).send().await?
                };
                let status = response.status();
                let body: Value = response.json().await?;
                if !status.is_success() {
                    bail!("set-up {path} answered {status}: {body}");
                }
                Ok::<_, anyhow::Error>(body)
            }
        };
        let post = reqwest::Method::POST;
        let operator = tenantry_e2e::OPERATOR_TOKEN.to_owned();
        let accept = |invitation: &Value| {
            call(
                post.clone(),
                "/v1/invitations/accept".into(),
                String::new(),
                json!({"token": invitation}),
            )
        };
        let body = |slug: &str, kind: &str| tenantry_e2e::org_body(slug, kind, "customer", true);
        let sp = call(
            post.clone(),
            "/v1/orgs".into(),
            operator.clone(),
            body("st-sp", "service_provider"),
        )
        .await?;
        let sp_owner = text(&accept(&sp["owner_invitation_token"]).await?["api_token"]);
        let org = call(
            post.clone(),
            "/v1/orgs".into(),
            sp_owner.clone(),
            body("st-org", "business_user"),
        )
        .await?;
        let owner = text(&accept(&org["owner_invitation_token"]).await?["api_token"]);
        let peer = call(
            post.clone(),
            "/v1/orgs".into(),
            sp_owner.clone(),
            body("st-peer", "business_user"),
        )
        .await?;
        let peer_owner = text(&accept(&peer["owner_invitation_token"]).await?["api_token"]);
        let id = text(&org["id"]);
        let invited = call(
            post.clone(),
            format!("/v1/orgs/{id}/members"),
            owner.clone(),
            json!({"name": "Max", "email": "max@st.example", "role": "member"}),
        )
        .await?;
        let member = text(&accept(&invited["invitation_token"]).await?["api_token"]);
        // The user whose role and membership `{user}` routes change: not the member who runs.
        let target = call(
            post.clone(),
            format!("/v1/orgs/{id}/members"),
            owner.clone(),
            json!({"name": "Mia", "email": "mia@st.example", "role": "member"}),
        )
        .await?;
        let team = call(
            post.clone(),
            format!("/v1/orgs/{id}/teams"),
            owner.clone(),
            json!({"name": "Ops"}),
        )
        .await?;
        let channel = call(
            post.clone(),
            format!("/v1/orgs/{id}/channels"),
            owner.clone(),
            json!({"name": "Hotline", "kind": "voice"}),
        )
        .await?;
        let link = call(
            post.clone(),
            format!("/v1/orgs/{id}/links"),
            owner.clone(),
            json!({"target_org_id": peer["id"]}),
        )
        .await?;
        call(
            post.clone(),
            format!(
                "/v1/orgs/{}/links/{}/accept",
                text(&peer["id"]),
                text(&link["id"])
            ),
            peer_owner,
            Value::Null,
        )
        .await?;
        let share = call(
            post.clone(),
            format!("/v1/orgs/{id}/shares"),
            owner.clone(),
            json!({"link_id": link["id"], "resource": {"kind": "team", "id": team["id"]}}),
        )
        .await?;
        let request = call(
            post.clone(),
            format!("/v1/orgs/{id}/remote-support"),
            sp_owner,
            json!({"reason": "ticket", "minutes": 30, "scope": "read"}),
        )
        .await?;
        let token = call(post, "/v1/tokens".into(), owner, json!({"name": "ci"})).await?;
        Ok(Self {
            ids: vec![
                ("org", id),
                ("user", text(&target["user_id"])),
                ("team", text(&team["id"])),
                ("channel", text(&channel["id"])),
                ("link", text(&link["id"])),
                ("share", text(&share["id"])),
                ("request", text(&request["id"])),
                ("token", text(&token["id"])),
                ("hook", "authorize".into()),
            ],
            member,
        })
    }

    /// A schemathesis configuration binding every path parameter to a real record.
    fn parameters(&self) -> String {
        let mut toml = String::from("[parameters]\n");
        for (name, value) in &self.ids {
            toml.push_str(&format!("\"path.{name}\" = \"{value}\"\n"));
        }
        toml
    }
}
