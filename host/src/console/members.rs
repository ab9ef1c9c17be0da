//! An organization's first screen: its overview, its members (filtered by role, portal access
//! and status), inviting one, and its teams.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::pages::{Notice, Tab, label, org_layout};
use super::{Signed, error_page, outcome, page, sender_for, viewer_of};
use crate::app::access::Offer;
use crate::app::members::{InviteBody, MemberFilter, MemberView};
use crate::app::resources::NewResource;
use crate::app::{App, PageRequest};
use crate::domain::ids::OrgId;
use crate::domain::member::{MembershipStatus, Role};
use crate::domain::org::Org;
use crate::domain::resource::{Resource, ResourceKind};

/// What this screen offers, each if the `authorize` policy would allow it: inviting a member,
/// an admin, and creating a team.
fn offers() -> [Offer; 3] {
    let invite = |name, role| Offer {
        name,
        action: "member.invite",
        resource: json!({"role": role, "portal_access": true}),
    };
    [
        invite("invite member", "member"),
        invite("invite admin", "admin"),
        Offer::plain("team.create"),
    ]
}

/// The members filter as the page's form sends it: an empty field is "any".
#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    portal: String,
}

impl Filter {
    fn members(&self) -> MemberFilter {
        MemberFilter {
            role: Role::parse(&self.role),
            portal_access: match self.portal.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            status: serde_json::from_value::<MembershipStatus>(self.status.clone().into()).ok(),
            ..MemberFilter::default()
        }
    }
}

pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    match viewer_of(&app, &headers, &org) {
        Ok((signed, org)) => screen(&app, &signed, org, &filter, StatusCode::OK, None),
        Err(refusal) => refusal.page(),
    }
}

/// The screen, with `notice` from the form just sent.
fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    filter: &Filter,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let members = app
        .list_members(signed.actor, org.id, &filter.members(), all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let teams = app
        .list_resources(signed.actor, org.id, ResourceKind::Team, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let offered = app
        .offered(signed.actor, org.id, &offers())
        .unwrap_or_default();
    let body = html! {
        (overview(&org))
        (members_section(&org, &members, filter, &offered, &signed.csrf))
        (teams_section(&org, &teams, &offered, &signed.csrf))
    };
    page(
        status,
        org_layout(&org, Tab::Members, notice.as_ref(), &signed.csrf, body),
    )
}

fn overview(org: &Org) -> Markup {
    html! {
        section aria-labelledby="overview" {
            h2 #overview { "Overview" }
            dl {
                dt { "Organization id" } dd { code { (org.id) } }
                dt { "Tenant id" } dd { (org.tenant_id) }
                dt { "Type" } dd { (label(&org.account_type)) }
                dt { "Status" } dd { (label(&org.status)) }
                dt { "Managed by" } dd { (label(&org.managed_by)) }
                dt { "Region" } dd { (org.region) }
                dt { "Remote support needs approval" } dd { @if org.remote_support_requires_approval { "yes" } @else { "no" } }
            }
        }
    }
}

/// A `select` whose `chosen` option is selected; the first option is "any".
fn choice(id: &str, name: &str, options: &[(&str, &str)], chosen: &str) -> Markup {
    html! {
        select id=(id) name=(name) {
            @for (value, text) in options {
                option value=(value) selected[*value == chosen] { (text) }
            }
        }
    }
}

fn members_section(
    org: &Org,
    members: &Result<Vec<MemberView>, String>,
    filter: &Filter,
    offered: &[&str],
    csrf: &str,
) -> Markup {
    html! {
        section aria-labelledby="members" {
            h2 #members { "Members" }
            form.filters method="get" action={ "/console/orgs/" (org.id) } {
                label for="filter-role" { "Role" }
                (choice("filter-role", "role", &[("", "any"), ("owner", "owner"), ("admin", "admin"), ("member", "member")], &filter.role))
                label for="filter-status" { "Status" }
                (choice("filter-status", "status", &[("", "any"), ("active", "active"), ("invited", "invited")], &filter.status))
                label for="filter-portal" { "Portal access" }
                (choice("filter-portal", "portal", &[("", "any"), ("yes", "yes"), ("no", "no")], &filter.portal))
                button type="submit" { "Filter" }
            }
            @match members {
                Ok(members) if members.is_empty() => { p { "No member matches." } }
                Ok(members) => {
                    table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "Portal" } th scope="col" { "Status" } } }
                        tbody {
                            @for member in members {
                                tr {
                                    td { (member.name) }
                                    td { (member.email.as_deref().unwrap_or("—")) }
                                    td { (member.role.as_str()) }
                                    td { @if member.portal_access { "yes" } @else { "no" } }
                                    td { (label(&member.status)) }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
            @if offered.contains(&"invite member") {
                h3 { "Invite a member" }
                form method="post" action={ "/console/orgs/" (org.id) "/members" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="name" { "Name" }
                    input #name type="text" name="name" required;
                    label for="invite-email" { "E-mail address" }
                    input #invite-email type="email" name="email" required;
                    label for="role" { "Role" }
                    select #role name="role" {
                        option value="member" { "member" }
                        @if offered.contains(&"invite admin") { option value="admin" { "admin" } }
                    }
                    button type="submit" { "Invite" }
                }
            }
        }
    }
}

fn teams_section(
    org: &Org,
    teams: &Result<Vec<Resource>, String>,
    offered: &[&str],
    csrf: &str,
) -> Markup {
    html! {
        section aria-labelledby="teams" {
            h2 #teams { "Teams" }
            @match teams {
                Ok(teams) if teams.is_empty() => { p { "No team yet." } }
                Ok(teams) => {
                    ul { @for team in teams { li { (team.name) " " span.muted { "(" (team.member_ids.len()) " members)" } } } }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
            @if offered.contains(&"team.create") {
                form method="post" action={ "/console/orgs/" (org.id) "/teams" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="team-name" { "New team's name" }
                    input #team-name type="text" name="name" required;
                    button type="submit" { "Create team" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf: String,
    name: String,
    email: String,
    role: String,
}

pub async fn invite(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let body = InviteBody {
        name: Some(form.name),
        email: Some(form.email),
        role: Some(form.role),
        portal_access: Some(true),
        team_ids: None,
        pin: None,
        extension: None,
    };
    let (status, notice) = outcome(
        app.invite_member(signed.actor, org, body).await,
        StatusCode::CREATED,
        |added| Notice::Invited {
            name: added.user.name,
            token: added.invitation_token.map(|t| t.expose().to_owned()),
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

#[derive(Deserialize)]
pub struct TeamForm {
    csrf: String,
    name: String,
}

pub async fn create_team(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<TeamForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let body = NewResource {
        name: Some(form.name),
        kind: None,
        member_ids: None,
    };
    let (status, notice) = outcome(
        app.create_resource(signed.actor, org, ResourceKind::Team, body)
            .await,
        StatusCode::CREATED,
        |team| Notice::Done(format!("Team {} created.", team.name)),
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}
