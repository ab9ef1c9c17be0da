//! Organization Connect: link to another organization by its id (and region), answer the
//! links others ask for, cancel or resend one's own, unlink; share a team or channel over an
//! active link, revoke it, and see what others share with this organization.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{Notice, Tab, button, label, org_layout, when};
use super::{Signed, error_page, outcome, page, sender_for, sender_for_item, viewer_of};
use crate::app::access::Offer;
use crate::app::links::{Direction, LinkAction, LinkView, NewLink};
use crate::app::received::{Received, ReceivedResource};
use crate::app::shares::{NewShare, ResourceRef, ShareView, ShareViewKind};
use crate::app::{App, PageRequest};
use crate::domain::ids::{LinkId, OrgId, ResourceId, ShareId};
use crate::domain::link::LinkStatus;
use crate::domain::org::Org;
use crate::domain::resource::{Resource, ResourceKind};
use crate::error::Error;

const OFFERS: [&str; 8] = [
    "link.create",
    "link.accept",
    "link.decline",
    "link.cancel",
    "link.resend",
    "link.unlink",
    "share.create",
    "share.revoke",
];

/// What the screen shows, each list read through its own use case (and its own policy check).
struct Connect {
    links: Result<Vec<LinkView>, String>,
    /// This organization's teams and channels: what it can share.
    shareable: Vec<Resource>,
    sent: Result<Vec<ShareView>, String>,
    received: Result<Vec<Received>, String>,
    offered: Vec<&'static str>,
}

fn read(app: &App, signed: &Signed, org: OrgId) -> Connect {
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let actor = signed.actor;
    let links = app
        .list_links(actor, org, None, None, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let shareable = [ResourceKind::Team, ResourceKind::Channel]
        .into_iter()
        .filter_map(|kind| app.list_resources(actor, org, kind, all).ok())
        .flat_map(|page| page.items)
        .collect();
    let sent = app
        .list_shares(actor, org, ShareViewKind::Sent, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let received = app
        .list_shares(actor, org, ShareViewKind::Received, all)
        .map_err(|error| error.to_string())
        .and_then(|page| {
            page.items
                .iter()
                .map(|share| app.received(actor, org, share.id))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| error.to_string())
        });
    Connect {
        links,
        shareable,
        sent,
        received,
        offered: app
            .offered(actor, org, &OFFERS.map(Offer::plain))
            .unwrap_or_default(),
    }
}

pub async fn show(State(app): State<App>, headers: HeaderMap, Path(org): Path<String>) -> Response {
    match viewer_of(&app, &headers, &org) {
        Ok((signed, org)) => screen(&app, &signed, org, StatusCode::OK, None),
        Err(refusal) => refusal.page(),
    }
}

fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let connect = read(app, signed, org.id);
    let body = html! {
        (new_link(&org, &connect, &signed.csrf))
        (links(&org, &connect, &signed.csrf))
        (shares(&org, &connect, &signed.csrf))
        (received(&connect))
    };
    page(
        status,
        org_layout(&org, Tab::Connect, notice.as_ref(), &signed.csrf, body),
    )
}

fn new_link(org: &Org, connect: &Connect, csrf: &str) -> Markup {
    html! {
        @if connect.offered.contains(&"link.create") {
            section aria-labelledby="new-link" {
                h2 #new-link { "Link to an organization" }
                form method="post" action={ "/console/orgs/" (org.id) "/links" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="target" { "Its organization id (a UUID it gives you)" }
                    input #target type="text" name="target_org_id" autocomplete="off" required;
                    label for="region" { "Its region (optional; checked if given)" }
                    input #region type="text" name="target_region" autocomplete="off";
                    button type="submit" { "Send link request" }
                }
            }
        }
    }
}

/// The buttons a link offers this side in its state.
fn link_actions(org: &Org, link: &LinkView, offered: &[&str], csrf: &str) -> Markup {
    let actions: &[(&str, &str)] = match (link.status, link.direction) {
        (LinkStatus::Pending, Direction::Incoming) => {
            &[("accept", "Accept"), ("decline", "Decline")]
        }
        (LinkStatus::Pending, Direction::Outgoing) => &[("cancel", "Cancel")],
        (LinkStatus::Declined, Direction::Outgoing) => &[("resend", "Resend")],
        (LinkStatus::Active, _) => &[("unlink", "Unlink")],
        _ => &[],
    };
    html! {
        @for (action, text) in actions {
            @if offered.contains(&format!("link.{action}").as_str()) {
                (button(&format!("/console/orgs/{}/links/{}/{action}", org.id, link.id), text, csrf))
            }
        }
    }
}

fn links(org: &Org, connect: &Connect, csrf: &str) -> Markup {
    html! {
        section aria-labelledby="links" {
            h2 #links { "Links" }
            @match &connect.links {
                Ok(links) if links.is_empty() => { p { "No link yet." } }
                Ok(links) => {
                    table {
                        thead { tr {
                            th scope="col" { "Organization" } th scope="col" { "Id" } th scope="col" { "Region" }
                            th scope="col" { "Direction" } th scope="col" { "Status" } th scope="col" { "Actions" }
                        } }
                        tbody {
                            @for link in links {
                                tr {
                                    td { (link.peer.name) }
                                    td { code { (link.peer.id) } }
                                    td { (link.peer.region) }
                                    td { (label(&link.direction)) }
                                    td {
                                        (link.status.as_str())
                                        @if let Some(expires) = link.expires_at { br; span.muted { "until " (when(expires)) } }
                                    }
                                    td { (link_actions(org, link, &connect.offered, csrf)) }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
        }
    }
}

fn peer_name(connect: &Connect, peer: OrgId) -> String {
    connect
        .links
        .as_ref()
        .ok()
        .and_then(|links| links.iter().find(|l| l.peer.id == peer))
        .map_or_else(|| peer.to_string(), |l| l.peer.name.clone())
}

fn shares(org: &Org, connect: &Connect, csrf: &str) -> Markup {
    let active: Vec<&LinkView> = connect
        .links
        .as_ref()
        .map(|links| {
            links
                .iter()
                .filter(|l| l.status == LinkStatus::Active)
                .collect()
        })
        .unwrap_or_default();
    html! {
        section aria-labelledby="shared" {
            h2 #shared { "Shared by this organization" }
            @match &connect.sent {
                Ok(sent) if sent.is_empty() => { p { "Nothing shared." } }
                Ok(sent) => {
                    table {
                        thead { tr { th scope="col" { "Resource" } th scope="col" { "Kind" } th scope="col" { "With" } th scope="col" { "Actions" } } }
                        tbody {
                            @for share in sent {
                                tr {
                                    td { (share.resource.name) }
                                    td { (share.resource.kind.as_str()) }
                                    td { (peer_name(connect, share.peer_org_id)) }
                                    td {
                                        @if connect.offered.contains(&"share.revoke") {
                                            (button(&format!("/console/orgs/{}/shares/{}/revoke", org.id, share.id), "Revoke", csrf))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
            @if connect.offered.contains(&"share.create") && !active.is_empty() && !connect.shareable.is_empty() {
                h3 { "Share a team or channel" }
                form method="post" action={ "/console/orgs/" (org.id) "/shares" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="share-link" { "With" }
                    select #share-link name="link_id" {
                        @for link in &active { option value=(link.id) { (link.peer.name) } }
                    }
                    label for="share-resource" { "Resource" }
                    select #share-resource name="resource" {
                        @for resource in &connect.shareable {
                            option value={ (resource.kind.as_str()) ":" (resource.id) } { (resource.kind.as_str()) ": " (resource.name) }
                        }
                    }
                    button type="submit" { "Share" }
                }
            }
        }
    }
}

fn received(connect: &Connect) -> Markup {
    html! {
        section aria-labelledby="received" {
            h2 #received { "Received from linked organizations" }
            @match &connect.received {
                Ok(received) if received.is_empty() => { p { "Nothing received." } }
                Ok(received) => {
                    table {
                        thead { tr { th scope="col" { "Resource" } th scope="col" { "Kind" } th scope="col" { "From" } th scope="col" { "Members" } } }
                        tbody {
                            @for share in received {
                                tr {
                                    @match &share.resource {
                                        ReceivedResource::Team { name, members, .. } => {
                                            td { (name) } td { "team" } td { (share.sharing_org.name) }
                                            td { @for (i, member) in members.iter().enumerate() {
                                                @if i > 0 { ", " } (member.name) " (" (member.role.as_str()) ")"
                                            } }
                                        }
                                        ReceivedResource::Channel { name, channel_kind, .. } => {
                                            td { (name) } td { "channel" @if let Some(kind) = channel_kind { " (" (label(kind)) ")" } }
                                            td { (share.sharing_org.name) } td { "—" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    csrf: String,
    target_org_id: String,
    #[serde(default)]
    target_region: String,
}

pub async fn link(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<LinkForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match uuid::Uuid::parse_str(form.target_org_id.trim()) {
        Ok(target) => {
            let region = form.target_region.trim();
            let body = NewLink {
                target_org_id: OrgId(target),
                target_region: (!region.is_empty()).then(|| region.to_owned()),
            };
            app.create_link(signed.actor, org, body).await
        }
        Err(_) => Err(Error::field(
            "link is invalid",
            "target_org_id",
            "must be an organization id (a UUID such as 0192f1a4-7c3e-7b1a-9c55-2f0e8d6b4a10)",
        )),
    };
    let (status, notice) = outcome(result, StatusCode::CREATED, |link| {
        Notice::Done(format!("Link request sent to {}.", link.peer.name))
    });
    screen(&app, &signed, org, status, Some(notice))
}

pub async fn act(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, link, action)): Path<(String, String, String)>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let (signed, org, link) =
        match sender_for_item(&app, &headers, &form.csrf, (&org, &link), LinkId, "link") {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let result = match action.as_str() {
        "accept" => {
            app.act_on_link(signed.actor, org, link, LinkAction::Accept)
                .await
        }
        "decline" => {
            app.act_on_link(signed.actor, org, link, LinkAction::Decline)
                .await
        }
        "cancel" => {
            app.act_on_link(signed.actor, org, link, LinkAction::Cancel)
                .await
        }
        "resend" => {
            app.act_on_link(signed.actor, org, link, LinkAction::Resend)
                .await
        }
        "unlink" => app.unlink(signed.actor, org, link).await,
        _ => return error_page(Error::NotFound("action")),
    };
    let (status, notice) = outcome(result, StatusCode::OK, |link| {
        Notice::Done(format!(
            "The link with {} is {}.",
            link.peer.name,
            link.status.as_str()
        ))
    });
    screen(&app, &signed, org, status, Some(notice))
}

#[derive(Deserialize)]
pub struct ShareForm {
    csrf: String,
    link_id: String,
    /// `team:<id>` or `channel:<id>`.
    resource: String,
}

fn share_body(form: &ShareForm) -> Result<NewShare, Error> {
    let invalid = |field: &str, reason: &str| Error::field("share is invalid", field, reason);
    let link = uuid::Uuid::parse_str(&form.link_id)
        .map_err(|_| invalid("link_id", "must be a link's id"))?;
    let (kind, id) = form
        .resource
        .split_once(':')
        .ok_or_else(|| invalid("resource", "must be `team:<id>` or `channel:<id>`"))?;
    let kind = match kind {
        "team" => ResourceKind::Team,
        "channel" => ResourceKind::Channel,
        _ => return Err(invalid("resource", "must be a team or a channel")),
    };
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| invalid("resource", "must name a resource by its id"))?;
    Ok(NewShare {
        link_id: LinkId(link),
        resource: ResourceRef {
            kind,
            id: ResourceId(id),
        },
    })
}

pub async fn share(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<ShareForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match share_body(&form) {
        Ok(body) => app.create_share(signed.actor, org, body).await,
        Err(error) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::CREATED, |share| {
        Notice::Done(format!("{} is shared.", share.resource.name))
    });
    screen(&app, &signed, org, status, Some(notice))
}

pub async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, share)): Path<(String, String)>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let (signed, org, share) =
        match sender_for_item(&app, &headers, &form.csrf, (&org, &share), ShareId, "share") {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let (status, notice) = outcome(
        app.revoke(signed.actor, org, share).await,
        StatusCode::OK,
        |()| Notice::Done("The share is revoked.".into()),
    );
    screen(&app, &signed, org, status, Some(notice))
}
