//! Wasm plugins in the policy playground: the organization's uploads, a form to upload a
//! component (`multipart/form-data`, the one form that sends a file), and a form binding an
//! uploaded plugin with its config (and fixtures) as a new version of the layer shown.
//!
//! The upload is checked as the API's is, before a byte of the component is read: the
//! anti-forgery value comes first in the form, then the viewer's right to upload for this
//! organization; the size limit is the API's (`wasm.max_module_bytes`), and the component is
//! validated and compiled by the same use case.

use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{Notice, when};
use super::playground::{Here, Layered, Screen, fixtures_of, screen, sender_for_hook};
use super::{Signed, outcome};
use crate::app::App;
use crate::app::plugins::{Owner, Ownership, PluginRecord};
use crate::app::policies::VersionBody;
use crate::error::Error;

/// The form field that carries the component.
const COMPONENT: &str = "component";

/// The uploads of the organization, the upload form, and the binding form for this hook.
pub(super) fn section(app: &App, signed: &Signed, here: &Here<'_>, offered: &[&str]) -> Markup {
    let uploads = app
        .plugin_owner(
            signed.actor,
            here.layer.uploads_of(here.org.id),
            "plugin.read",
        )
        .and_then(|owner| app.list_plugins(owner))
        .map_err(|error| error.to_string());
    let csrf = &signed.csrf;
    let hook = here.hook;
    html! {
        section aria-labelledby="plugins" {
            h2 #plugins { "Wasm plugins" }
            @match &uploads {
                Ok(uploads) if uploads.is_empty() => { p { "No plugin uploaded for this layer's owner yet." } }
                Ok(uploads) => {
                    table {
                        thead { tr { th scope="col" { "Plugin" } th scope="col" { "SHA-256" } th scope="col" { "Hooks" } th scope="col" { "Size" } th scope="col" { "Uploaded" } } }
                        tbody {
                            @for upload in uploads {
                                tr {
                                    td { (name_of(upload)) }
                                    td { code { (upload.sha256[..12]) "…" } }
                                    td { (upload.hooks.iter().map(|h| h.name()).collect::<Vec<_>>().join(", ")) }
                                    td { (upload.size / 1024) " KiB" }
                                    td { (when(upload.uploaded_at)) }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
            @if offered.contains(&"plugin.upload") {
                form method="post" action=(here.path("/plugins")) enctype="multipart/form-data" {
                    // First: the upload is refused before the component is read without it.
                    input type="hidden" name="csrf" value=(csrf);
                    label for="component" { "A component (.wasm) built with the SDK" }
                    input #component type="file" name=(COMPONENT) accept=".wasm,application/wasm" required;
                    button type="submit" { "Upload" }
                }
            }
            @let bindable: Vec<&Ownership> = uploads.as_ref().map(|u| u.iter().filter(|u| u.hooks.contains(&hook)).collect()).unwrap_or_default();
            @if here.writable(offered) && !bindable.is_empty() {
                form.wide method="post" action=(here.path("/plugin-binding")) {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="plugin" { "Bind a plugin as the " code { (hook.name()) } " layer's next version" }
                    select #plugin name="plugin" {
                        @for upload in &bindable {
                            option value=(upload.sha256) { (name_of(upload)) " — " (upload.sha256[..12]) "…" }
                        }
                    }
                    label for="config" { "Its config for this binding (JSON; optional)" }
                    textarea #config name="config" rows="4" spellcheck="false" {}
                    label for="plugin-fixtures" { "Fixtures (JSON list; optional)" }
                    textarea #plugin-fixtures name="fixtures" rows="3" spellcheck="false" {}
                    button type="submit" { "Bind the plugin" }
                }
            }
        }
    }
}

/// A plugin as its metadata names it, else by its hash.
fn name_of(upload: &Ownership) -> String {
    match &upload.metadata {
        Some(meta) => format!("{} {}", meta.name, meta.version),
        None => "unnamed".to_owned(),
    }
}

/// Receives a component: the anti-forgery value and the viewer's right first, then the bytes.
pub async fn upload(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, hook)): Path<(String, String)>,
    Query(Layered { layer }): Query<Layered>,
    mut form: Multipart,
) -> Response {
    let csrf = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    let (signed, org, hook) = match sender_for_hook(&app, &headers, &csrf, &org, &hook) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match app.plugin_owner(signed.actor, layer.uploads_of(org), "plugin.upload") {
        Ok(owner) => received(&app, &signed, owner, &mut form).await,
        Err(error) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::CREATED, |record| {
        Notice::Done(format!(
            "Uploaded: SHA-256 {}, hooks {}.",
            record.sha256,
            record
                .hooks
                .iter()
                .map(|h| h.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    });
    screen(
        &app,
        &signed,
        org,
        Screen::fresh(hook, layer),
        status,
        Some(notice),
    )
}

/// Reads the component's field and hands it to the upload use case.
async fn received(
    app: &App,
    signed: &Signed,
    owner: Owner,
    form: &mut Multipart,
) -> Result<PluginRecord, Error> {
    let unreadable = |why: String| Error::field("upload is invalid", COMPONENT, why);
    let too_large = format!(
        "is larger than the {} bytes a component may have, or did not arrive whole",
        app.settings.wasm.max_module_bytes
    );
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|_| unreadable(too_large.clone()))?
            .ok_or_else(|| unreadable("is missing: choose a .wasm component".into()))?;
        if field.name() != Some(COMPONENT) {
            continue;
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|_| unreadable(too_large.clone()))?;
        if bytes.is_empty() {
            return Err(unreadable("is empty: choose a .wasm component".into()));
        }
        return app.upload_plugin(signed.actor, owner, bytes.to_vec()).await;
    }
}

#[derive(Deserialize)]
pub struct BindingForm {
    csrf: String,
    plugin: String,
    #[serde(default)]
    config: String,
    #[serde(default)]
    fixtures: String,
}

/// Binds an uploaded plugin with its config as the layer's next version.
pub async fn bind(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, hook)): Path<(String, String)>,
    Query(Layered { layer }): Query<Layered>,
    Form(form): Form<BindingForm>,
) -> Response {
    let (signed, org, hook) = match sender_for_hook(&app, &headers, &form.csrf, &org, &hook) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let config = if form.config.trim().is_empty() {
        Ok(None)
    } else {
        serde_json::from_str(&form.config).map(Some).map_err(|e| {
            Error::field(
                "the binding is invalid",
                "config",
                format!("is not JSON: {e}"),
            )
        })
    };
    let result = match (config, fixtures_of(&form.fixtures)) {
        (Ok(config), Ok(fixtures)) => {
            let body = VersionBody {
                source: None,
                plugin: Some(form.plugin.trim().to_owned()),
                config,
                fixtures,
            };
            app.put_policy(signed.actor, layer.target(org), hook, body)
                .await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::CREATED, |version| {
        Notice::Done(format!(
            "Version {} (the plugin) is bound and active.",
            version.number
        ))
    });
    screen(
        &app,
        &signed,
        org,
        Screen::fresh(hook, layer),
        status,
        Some(notice),
    )
}
