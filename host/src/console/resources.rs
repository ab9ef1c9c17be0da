//! An organization's teams and support channels on its members screen: listed, and created
//! by whoever the policy lets.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::members::{Filter, screen};
use super::pages::{Notice, label};
use super::{Signed, outcome, sender_for};
use crate::app::resources::NewResource;
use crate::app::{App, PageRequest};
use crate::domain::org::Org;
use crate::domain::resource::ResourceKind;

/// The channel kinds the create form offers (the use case checks them again).
const CHANNEL_KINDS: [&str; 6] = ["chat", "voice", "video", "email", "sms", "ticket"];

pub(super) fn section(
    app: &App,
    signed: &Signed,
    org: &Org,
    kind: ResourceKind,
    offered: &[&str],
) -> Markup {
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let listed = app
        .list_resources(signed.actor, org.id, kind, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let (title, id) = match kind {
        ResourceKind::Team => ("Teams", "teams"),
        ResourceKind::Channel => ("Support channels", "channels"),
    };
    let create = format!("{}.create", kind.as_str());
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @match &listed {
                Ok(items) if items.is_empty() => { p { "None yet." } }
                Ok(items) => {
                    ul {
                        @for item in items {
                            li {
                                (item.name) " "
                                span.muted {
                                    @match kind {
                                        ResourceKind::Team => { "(" (item.member_ids.len()) " members)" }
                                        ResourceKind::Channel => { @if let Some(channel) = &item.channel_kind { "(" (label(channel)) ")" } }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
            @if offered.contains(&create.as_str()) {
                form method="post" action={ "/console/orgs/" (org.id) "/" (id) } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label for={ (kind.as_str()) "-name" } { "New " (kind.as_str()) "'s name" }
                    input id={ (kind.as_str()) "-name" } type="text" name="name" required;
                    @if kind == ResourceKind::Channel {
                        label for="channel-kind" { "What it carries" }
                        select #channel-kind name="kind" {
                            @for channel in CHANNEL_KINDS { option value=(channel) { (channel) } }
                        }
                    }
                    button type="submit" { "Create " (kind.as_str()) }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ResourceForm {
    csrf: String,
    name: String,
    /// Channels only.
    kind: Option<String>,
}

async fn create(
    app: App,
    headers: HeaderMap,
    org: String,
    form: ResourceForm,
    kind: ResourceKind,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let body = NewResource {
        name: Some(form.name),
        kind: form.kind.filter(|_| kind == ResourceKind::Channel),
        member_ids: None,
    };
    let (status, notice) = outcome(
        app.create_resource(signed.actor, org, kind, body).await,
        StatusCode::CREATED,
        |created| {
            let what = match kind {
                ResourceKind::Team => "Team",
                ResourceKind::Channel => "Channel",
            };
            Notice::Done(format!("{what} {} created.", created.name))
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

pub async fn create_team(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<ResourceForm>,
) -> Response {
    create(app, headers, org, form, ResourceKind::Team).await
}

pub async fn create_channel(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<ResourceForm>,
) -> Response {
    create(app, headers, org, form, ResourceKind::Channel).await
}
