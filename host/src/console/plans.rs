//! A service provider's plans (the subscription templates of seed 004): its own with their
//! limits, features and how many customers are on each, edited or retired in place; a form for
//! a new one; and the platform's plans, shown with the ones beyond the provider's own plan
//! marked (the provider may not sell more than it was sold; the use case refuses it too).

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{Notice, Tab, button, org_layout};
use super::{CsrfOnly, Signed, error_page, outcome, page, path_id, sender_for, viewer_of};
use crate::app::access::Offer;
use crate::app::plans::{NewPlan, PlanEdit};
use crate::app::{App, PageRequest};
use crate::domain::ids::{OrgId, PlanId};
use crate::domain::org::{AccountType, Org};
use crate::domain::plan::{Limits, Plan};
use crate::error::{Error, FieldError};

const ALL: PageRequest = PageRequest {
    limit: App::MAX_PAGE,
    after: None,
};

/// A plan's fields as typed: numbers are checked here so that each bad one is named.
#[derive(Deserialize, Default)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    max_members: String,
    #[serde(default)]
    max_teams: String,
    #[serde(default)]
    max_active_links: String,
    #[serde(default)]
    max_remote_support_minutes: String,
    /// Comma-separated flags.
    #[serde(default)]
    features: String,
}

impl PlanForm {
    fn of(plan: &Plan) -> Self {
        Self {
            csrf: String::new(),
            name: plan.name.clone(),
            max_members: plan.limits.max_members.to_string(),
            max_teams: plan.limits.max_teams.to_string(),
            max_active_links: plan.limits.max_active_links.to_string(),
            max_remote_support_minutes: plan.limits.max_remote_support_minutes.to_string(),
            features: plan.features.join(", "),
        }
    }

    /// The limits typed, or every field that is not a whole number.
    fn limits(&self) -> Result<Limits, Error> {
        let mut problems = Vec::new();
        let mut number = |field: &str, text: &str| {
            text.trim().parse::<u32>().unwrap_or_else(|_| {
                problems.push(FieldError::new(
                    format!("limits.{field}"),
                    format!("`{text}` is not a whole number from 0 to {}", u32::MAX),
                ));
                0
            })
        };
        let limits = Limits {
            max_members: number("max_members", &self.max_members),
            max_teams: number("max_teams", &self.max_teams),
            max_active_links: number("max_active_links", &self.max_active_links),
            max_remote_support_minutes: number(
                "max_remote_support_minutes",
                &self.max_remote_support_minutes,
            ),
        };
        if problems.is_empty() {
            Ok(limits)
        } else {
            Err(Error::Invalid {
                title: "plan is invalid".into(),
                fields: problems,
            })
        }
    }

    fn features(&self) -> Vec<String> {
        self.features
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

pub async fn show(State(app): State<App>, headers: HeaderMap, Path(org): Path<String>) -> Response {
    match viewer_of(&app, &headers, &org) {
        Ok((signed, org)) => screen(&app, &signed, org, None, StatusCode::OK, None),
        Err(refusal) => refusal.page(),
    }
}

fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    typed: Option<&PlanForm>,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) if org.account_type == AccountType::ServiceProvider => org,
        Ok(_) => return error_page(Error::NotFound("plans of a service provider")),
        Err(error) => return error_page(error),
    };
    let plans = app
        .list_plans(signed.actor, None, ALL)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    let sellable: Vec<PlanId> = app
        .list_plans(signed.actor, Some(org.id), ALL)
        .map(|page| page.items.iter().map(|p| p.id).collect())
        .unwrap_or_default();
    let offered = app
        .offered(
            signed.actor,
            org.id,
            &["plan.create", "plan.update", "plan.retire"].map(Offer::plain),
        )
        .unwrap_or_default();
    let (own, platform): (Vec<&Plan>, Vec<&Plan>) = plans
        .as_ref()
        .map(|plans| {
            plans
                .iter()
                .filter(|p| p.owner_org_id.is_none_or(|o| o == org.id))
                .partition(|p| p.owner_org_id == Some(org.id))
        })
        .unwrap_or_default();
    let csrf = &signed.csrf;
    let body = html! {
        section aria-labelledby="own-plans" {
            h2 #own-plans { "Our plans" }
            @if let Err(reason) = &plans { p { "Not shown: " (reason) } }
            @if own.is_empty() { p { "None yet: customers get the platform's plans or the default limits." } }
            @for plan in &own {
                (own_plan(app, signed, &org, plan, &offered))
            }
        }
        @if offered.contains(&"plan.create") {
            section aria-labelledby="new-plan" {
                h2 #new-plan { "A new plan" }
                form method="post" action={ "/console/orgs/" (org.id) "/plans" } {
                    input type="hidden" name="csrf" value=(csrf);
                    (fields("new", typed.unwrap_or(&PlanForm::default())))
                    button type="submit" { "Create the plan" }
                }
            }
        }
        section aria-labelledby="platform-plans" {
            h2 #platform-plans { "The platform's plans" }
            @if platform.is_empty() { p { "None." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Plan" } (limit_headers()) th scope="col" { "May we sell it?" } } }
                    tbody {
                        @for plan in &platform {
                            tr {
                                td { (plan.name) }
                                (limit_cells(plan))
                                td {
                                    @if plan.retired_at.is_some() { "retired" }
                                    @else if sellable.contains(&plan.id) { "yes" }
                                    @else { "no: beyond our own plan" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        status,
        org_layout(&org, Tab::Plans, notice.as_ref(), csrf, body),
    )
}

fn limit_headers() -> Markup {
    html! {
        th scope="col" { "Members" } th scope="col" { "Teams" } th scope="col" { "Active links" }
        th scope="col" { "Remote support (min)" } th scope="col" { "Features" }
    }
}

fn limit_cells(plan: &Plan) -> Markup {
    html! {
        td { (plan.limits.max_members) } td { (plan.limits.max_teams) } td { (plan.limits.max_active_links) }
        td { (plan.limits.max_remote_support_minutes) } td { (plan.features.join(", ")) }
    }
}

/// One of the provider's plans: its figures, its customers' count, and (for those allowed)
/// the form editing it and the retire button.
fn own_plan(app: &App, signed: &Signed, org: &Org, plan: &Plan, offered: &[&str]) -> Markup {
    let on_it = app
        .plan_orgs(signed.actor, plan.id, ALL)
        .map(|page| page.items.len());
    let base = format!("/console/orgs/{}/plans/{}", org.id, plan.id);
    let prefix = format!("plan-{}", plan.id);
    html! {
        article aria-labelledby=(prefix) {
            h3 id=(prefix) { (plan.name) @if plan.retired_at.is_some() { " (retired)" } }
            table {
                thead { tr { (limit_headers()) th scope="col" { "Customers on it" } } }
                tbody { tr { (limit_cells(plan)) td { @match on_it { Ok(n) => { (n) } Err(_) => { "—" } } } } }
            }
            @if offered.contains(&"plan.update") {
                details {
                    summary { "Edit " (plan.name) }
                    form method="post" action={ (base) "/edit" } {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        (fields(&prefix, &PlanForm::of(plan)))
                        button type="submit" { "Save " (plan.name) }
                    }
                }
            }
            @if plan.retired_at.is_none() && offered.contains(&"plan.retire") {
                (button(&format!("{base}/retire"), &format!("Retire {}", plan.name), &signed.csrf))
            }
        }
    }
}

/// A plan's fields, with ids unique on the page (`prefix`).
fn fields(prefix: &str, form: &PlanForm) -> Markup {
    let numbers = [
        ("max_members", "Members at most", &form.max_members),
        ("max_teams", "Teams at most", &form.max_teams),
        (
            "max_active_links",
            "Active links at most",
            &form.max_active_links,
        ),
        (
            "max_remote_support_minutes",
            "Minutes a remote-support grant may last",
            &form.max_remote_support_minutes,
        ),
    ];
    html! {
        label for={ (prefix) "-name" } { "Name" }
        input id={ (prefix) "-name" } type="text" name="name" value=(form.name) required;
        @for (name, text, value) in numbers {
            label for={ (prefix) "-" (name) } { (text) }
            input id={ (prefix) "-" (name) } type="text" inputmode="numeric" name=(name) value=(value) required;
        }
        label for={ (prefix) "-features" } { "Features (comma-separated flags the policies read)" }
        input id={ (prefix) "-features" } type="text" name="features" value=(form.features);
    }
}

pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<PlanForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match form.limits() {
        Ok(limits) => {
            let new = NewPlan {
                name: form.name.trim().to_owned(),
                limits,
                features: form.features(),
                owner_org_id: Some(org),
            };
            app.create_plan(signed.actor, new).await
        }
        Err(error) => Err(error),
    };
    let created = result.is_ok();
    let (status, notice) = outcome(result, StatusCode::CREATED, |plan| {
        Notice::Done(format!("{} is created.", plan.name))
    });
    // A refused plan keeps what was typed.
    let kept = (!created).then_some(&form);
    screen(&app, &signed, org, kept, status, Some(notice))
}

pub async fn edit(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, plan)): Path<(String, String)>,
    Form(form): Form<PlanForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match (path_id(&plan, PlanId, "plan"), form.limits()) {
        (Ok(plan), Ok(limits)) => {
            let edit = PlanEdit {
                name: Some(form.name.trim().to_owned()),
                limits: Some(limits),
                features: Some(form.features()),
            };
            app.edit_plan(signed.actor, plan, edit).await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::OK, |plan| {
        Notice::Done(format!("{} is saved.", plan.name))
    });
    screen(&app, &signed, org, None, status, Some(notice))
}

pub async fn retire(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, plan)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match path_id(&plan, PlanId, "plan") {
        Ok(plan) => app.retire_plan(signed.actor, plan).await,
        Err(error) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::OK, |plan| {
        Notice::Done(format!(
            "{} is retired: it stays where it is and is sold no more.",
            plan.name
        ))
    });
    screen(&app, &signed, org, None, status, Some(notice))
}
