//! An organization's first screen: its overview, its members (filtered by role, portal access
//! and status), inviting one, and its teams.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::pages::{Notice, Tab, label, org_layout};
use super::{Signed, error_page, outcome, page, sender_for, sender_for_item, viewer_of};
use crate::app::access::Offer;
use crate::app::members::{InviteBody, MemberFilter, MemberView};
use crate::app::pins::PinSetting;
use crate::app::{App, PageRequest};
use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::{MembershipStatus, Role};
use crate::domain::org::Org;
use crate::domain::resource::ResourceKind;

/// What this screen offers, each if the `authorize` policy would allow it (with the role the
/// platform policy reads where it matters).
fn offers() -> Vec<Offer> {
    let on_role = |name, action, role| Offer {
        name,
        action,
        resource: json!({"role": role, "portal_access": true}),
    };
    vec![
        on_role("invite member", "member.invite", "member"),
        on_role("invite admin", "member.invite", "admin"),
        on_role("pin member", "member.pin", "member"),
        on_role("pin admin", "member.pin", "admin"),
        on_role("pin owner", "member.pin", "owner"),
        on_role("reset member", "member.password_reset", "member"),
        on_role("reset admin", "member.password_reset", "admin"),
        on_role("reset owner", "member.password_reset", "owner"),
        on_role("withdraw member", "invitation.revoke", "member"),
        on_role("withdraw admin", "invitation.revoke", "admin"),
        Offer {
            name: "import",
            action: "member.invite",
            resource: json!({"role": "member", "portal_access": true, "bulk": true}),
        },
        Offer::plain("invitation.list"),
        Offer::plain("org.update"),
        Offer::plain("org.suspend"),
        Offer::plain("org.reactivate"),
        Offer::plain("org.delete"),
        Offer {
            name: super::handovers::TO_PROVIDER,
            action: "org.managed_by",
            resource: json!({"managed_by": "service_provider"}),
        },
        Offer {
            name: super::handovers::TO_CUSTOMER,
            action: "org.managed_by",
            resource: json!({"managed_by": "customer"}),
        },
        Offer::plain("org.transfer_ownership"),
        Offer::plain("change_request.list"),
        Offer::plain("change_request.accept"),
        Offer::plain("change_request.decline"),
        Offer::plain("team.create"),
        Offer::plain("channel.create"),
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
pub(super) fn screen(
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
    let offered = app
        .offered(signed.actor, org.id, &offers())
        .unwrap_or_default();
    let body = html! {
        (super::organization::section(app, signed, &org, &members, &offered))
        (members_section(&org, &members, filter, &offered, &signed.csrf))
        (super::invitations::section(app, signed, &org, &offered))
        (super::import::section(&org, &offered, &signed.csrf))
        @for kind in [ResourceKind::Team, ResourceKind::Channel] {
            (super::resources::section(app, signed, &org, kind, &offered))
        }
    };
    page(
        status,
        org_layout(&org, Tab::Members, notice.as_ref(), &signed.csrf, body),
    )
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
                        thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "Portal" } th scope="col" { "Status" } th scope="col" { "PIN" } } }
                        tbody {
                            @for member in members {
                                tr {
                                    td { (member.name) }
                                    td { (member.email.as_deref().unwrap_or("—")) }
                                    td { (member.role.as_str()) }
                                    td { @if member.portal_access { "yes" } @else { "no" } }
                                    td { (label(&member.status)) }
                                    td {
                                        @if member.has_pin { "set " }
                                        @if offered.contains(&pin_offer(member.role)) {
                                            (super::pages::button(&format!("/console/orgs/{}/members/{}/pin", org.id, member.user_id), "New PIN", csrf))
                                        }
                                        @if member.portal_access && member.status == MembershipStatus::Active && offered.contains(&reset_offer(member.role)) {
                                            (super::pages::button(&format!("/console/orgs/{}/members/{}/password-reset", org.id, member.user_id), "Reset password", csrf))
                                        }
                                    }
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

/// The offer that lets the viewer set the PIN of a member with `role`.
fn pin_offer(role: Role) -> &'static str {
    match role {
        Role::Owner => "pin owner",
        Role::Admin => "pin admin",
        Role::Member => "pin member",
    }
}

/// The offer that lets the viewer reset the password of a member with `role`.
fn reset_offer(role: Role) -> &'static str {
    match role {
        Role::Owner => "reset owner",
        Role::Admin => "reset admin",
        Role::Member => "reset member",
    }
}

/// A password reset for a member, its token shown this once for the admin to hand over.
pub async fn reset_password(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let (signed, org, user) =
        match sender_for_item(&app, &headers, &form.csrf, (&org, &user), UserId, "member") {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let (status, notice) = outcome(
        app.reset_password(signed.actor, org, user).await,
        StatusCode::CREATED,
        |reset| Notice::Secret {
            text: format!(
                "Hand them this reset token, shown only now; at /console/accept they choose a new password (until {}):",
                super::pages::when(reset.expires_at)
            ),
            secret: reset.token.expose().to_owned(),
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

/// A new PIN for a member, generated and shown this once.
pub async fn new_pin(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let (signed, org, user) =
        match sender_for_item(&app, &headers, &form.csrf, (&org, &user), UserId, "member") {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let setting = PinSetting { pin: "auto".into() };
    let (status, notice) = outcome(
        app.set_pin(signed.actor, org, user, setting).await,
        StatusCode::OK,
        |pin| match pin {
            Some(pin) => Notice::Secret {
                text: "The new PIN, shown only now:".into(),
                secret: pin.expose().to_owned(),
            },
            None => Notice::Done("The PIN is set.".into()),
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}
