//! The console's pages, as HTML. maud escapes every interpolated value, so a name, a reason or
//! an address a tenant typed is shown as text, never as markup. No page carries a script.

use maud::{DOCTYPE, Markup, html};

use crate::app::members::MemberView;
use crate::domain::org::Org;

/// What the page before asked to be told.
pub enum Notice {
    /// A member was invited; the token is shown this once, for the inviter to hand over.
    Invited { name: String, token: Option<String> },
    /// Refused, with the reason (a policy's, a rule's), and each field's problem if any.
    Refused {
        reason: String,
        fields: Vec<(String, String)>,
    },
}

/// A label for an enum the API spells in snake case.
pub fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// The frame of every page; `csrf` is given when someone is signed in (the sign-out form).
pub fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tenantry" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    a.brand href="/console" { "tenantry" }
                    @if let Some(csrf) = csrf {
                        nav {
                            a href="/console" { "Organizations" }
                            form method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn sign_in(error: Option<&str>, email: &str, csrf: &str) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="email" { "E-mail address" }
                input #email type="email" name="email" value=(email) autocomplete="username" required;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub fn organizations(orgs: &[Org], csrf: &str) -> Markup {
    layout(
        "Organizations",
        Some(csrf),
        html! {
            @if orgs.is_empty() {
                p { "You are a member of no organization yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Tenant" } th scope="col" { "Type" } th scope="col" { "Status" } } }
                    tbody {
                        @for org in orgs {
                            tr {
                                td { a href={ "/console/orgs/" (org.id) } { (org.name) } }
                                td { (org.tenant_id) }
                                td { (label(&org.account_type)) }
                                td { (label(&org.status)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// An organization's overview and members; `members` is `Err(reason)` when the policy does
/// not let the viewer list them.
pub fn organization(
    org: &Org,
    members: Result<&[MemberView], &str>,
    notice: Option<&Notice>,
    csrf: &str,
) -> Markup {
    layout(
        &org.name,
        Some(csrf),
        html! {
            @match notice {
                Some(Notice::Invited { name, token }) => {
                    div.notice role="status" {
                        p { (name) " is invited." }
                        @if let Some(token) = token {
                            p { "Hand them this invitation token; it is shown only now:" }
                            p { code { (token) } }
                        }
                    }
                }
                Some(Notice::Refused { reason, fields }) => {
                    div.error role="alert" {
                        p { (reason) }
                        @if !fields.is_empty() {
                            ul { @for (field, problem) in fields { li { strong { (field) } ": " (problem) } } }
                        }
                    }
                }
                None => {}
            }
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
            section aria-labelledby="members" {
                h2 #members { "Members" }
                @match members {
                    Ok(members) => {
                        table {
                            thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "Status" } } }
                            tbody {
                                @for member in members {
                                    tr {
                                        td { (member.name) }
                                        td { (member.email.as_deref().unwrap_or("—")) }
                                        td { (member.role.as_str()) }
                                        td { (label(&member.status)) }
                                    }
                                }
                            }
                        }
                    }
                    Err(reason) => { p { "Not shown: " (reason) } }
                }
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
                        option value="admin" { "admin" }
                    }
                    button type="submit" { "Invite" }
                }
            }
        },
    )
}

/// A page that only says what went wrong (not found, forbidden, a form without its token).
pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        html! { p { (text) } p { a href="/console" { "Back to the console" } } },
    )
}
