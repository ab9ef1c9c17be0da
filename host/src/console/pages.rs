//! The frame every console page shares: the layout, an organization's tabs, what the form just
//! sent came to, and the message pages. maud escapes every interpolated value, so a name, a
//! reason or an address a tenant typed is shown as text, never as markup. No page carries a
//! script.

use maud::{DOCTYPE, Markup, html};

use crate::domain::clock::Timestamp;
use crate::domain::org::{AccountType, Org};

/// What the page before asked to be told.
pub enum Notice {
    /// Done, in a sentence.
    Done(String),
    /// A secret shown this once (a PIN, a renewed invitation token), after `text`.
    Secret { text: String, secret: String },
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
                        nav aria-label="Account" {
                            a href="/console" { "Organizations" }
                            a href="/console/sessions" { "Sessions and password" }
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

/// The screens of one organization.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Members,
    Connect,
    RemoteSupport,
    Policies,
    /// A service provider's only.
    Customers,
    /// A service provider's only.
    Plans,
}

impl Tab {
    const ALL: [Self; 6] = [
        Self::Members,
        Self::Customers,
        Self::Plans,
        Self::Connect,
        Self::RemoteSupport,
        Self::Policies,
    ];

    fn title(self) -> &'static str {
        match self {
            Self::Members => "Overview and members",
            Self::Connect => "Organization Connect",
            Self::RemoteSupport => "Remote support",
            Self::Policies => "Policy playground",
            Self::Customers => "Customers",
            Self::Plans => "Plans",
        }
    }

    fn path(self, org: &Org) -> String {
        match self {
            Self::Members => format!("/console/orgs/{}", org.id),
            Self::Connect => format!("/console/orgs/{}/connect", org.id),
            Self::RemoteSupport => format!("/console/orgs/{}/remote-support", org.id),
            Self::Policies => format!("/console/orgs/{}/policies/authorize", org.id),
            Self::Customers => format!("/console/orgs/{}/customers", org.id),
            Self::Plans => format!("/console/orgs/{}/plans", org.id),
        }
    }

    /// Whether the tab is only a service provider's.
    fn providers_only(self) -> bool {
        matches!(self, Self::Customers | Self::Plans)
    }
}

/// An organization's page: its tabs, what the last form came to, and the screen.
pub fn org_layout(
    org: &Org,
    tab: Tab,
    notice: Option<&Notice>,
    csrf: &str,
    screen: Markup,
) -> Markup {
    layout(
        &org.name,
        Some(csrf),
        html! {
            nav.tabs aria-label="Organization" {
                @for each in Tab::ALL {
                    @if each.providers_only() && org.account_type != AccountType::ServiceProvider {
                    } @else if each == tab {
                        a href=(each.path(org)) aria-current="page" { (each.title()) }
                    } @else {
                        a href=(each.path(org)) { (each.title()) }
                    }
                }
            }
            (notice_of(notice))
            (screen)
        },
    )
}

pub fn notice_of(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => { div.notice role="status" { p { (text) } } }
            Some(Notice::Secret { text, secret }) => {
                div.notice role="status" { p { (text) } p { code { (secret) } } }
            }
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
    }
}

/// A one-button form posting to `action` (the person's anti-forgery value included).
pub fn button(action: &str, text: &str, csrf: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (text) }
        }
    }
}

/// A page that only says what went wrong (not found, forbidden, a form without its token).
pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        html! { p { (text) } p { a href="/console" { "Back to the console" } } },
    )
}

/// A moment as people read it: `2026-12-04 18:30 UTC`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}
