//! A service provider's customers: search them (name, UUID, tenant id, customer reference,
//! external contract) with their status in the results, and create one with every field's
//! problem shown beside the form; the plans the provider may not sell (beyond its own plan's
//! limits or features) are listed disabled.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::pages::{Notice, Tab, label, org_layout};
use super::{Signed, error_page, outcome, page, sender_for, viewer_of};
use crate::app::access::Offer;
use crate::app::{App, PageRequest};
use crate::domain::ids::{OrgId, PlanId};
use crate::domain::org::{NewOrg, Org, OwnerDetails};
use crate::domain::plan::Plan;

/// How many customers one page of results shows.
const SHOWN: usize = 100;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(search): Query<Search>,
) -> Response {
    match viewer_of(&app, &headers, &org) {
        Ok((signed, org)) => screen(&app, &signed, org, &search, None, StatusCode::OK, None),
        Err(refusal) => refusal.page(),
    }
}

/// The provider's customers matching `search` (all of them without a query), as far as the
/// caller may see them.
pub(super) fn customers(
    app: &App,
    signed: &Signed,
    provider: OrgId,
    search: &Search,
) -> Result<Vec<Org>, String> {
    let q = search.q.trim();
    let found = if q.is_empty() {
        let page = PageRequest {
            limit: App::MAX_PAGE,
            after: None,
        };
        app.list_orgs(signed.actor, page).map(|page| page.items)
    } else {
        app.search(signed.actor, q, App::MAX_PAGE, None)
            .map(|page| page.items)
    };
    found
        .map(|orgs| {
            orgs.into_iter()
                .filter(|o| o.service_provider_id == Some(provider))
                .take(SHOWN)
                .collect()
        })
        .map_err(|error| error.to_string())
}

#[allow(clippy::too_many_arguments)]
fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    search: &Search,
    form: Option<&CustomerForm>,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let found = customers(app, signed, org.id, search);
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    // Every plan the caller sees, and which of them this provider may sell.
    let plans: Vec<Plan> = app
        .list_plans(signed.actor, None, all)
        .map(|page| page.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.retired_at.is_none() && p.owner_org_id.is_none_or(|o| o == org.id))
        .collect();
    let sellable: Vec<PlanId> = app
        .list_plans(signed.actor, Some(org.id), all)
        .map(|page| page.items.iter().map(|p| p.id).collect())
        .unwrap_or_default();
    let create = Offer {
        name: "org.create",
        action: "org.create",
        resource: json!({"account_type": "business_user", "managed_by": "customer"}),
    };
    let may_create = app
        .offered(signed.actor, org.id, &[create])
        .is_ok_and(|offered| !offered.is_empty());
    let body = html! {
        (results(&org, search, &found))
        @if may_create {
            (create_form(&org, app, &plans, &sellable, form, &signed.csrf))
        }
    };
    page(
        status,
        org_layout(&org, Tab::Customers, notice.as_ref(), &signed.csrf, body),
    )
}

fn results(org: &Org, search: &Search, found: &Result<Vec<Org>, String>) -> Markup {
    html! {
        section aria-labelledby="customers" {
            h2 #customers { "Customers" }
            form.filters method="get" action={ "/console/orgs/" (org.id) "/customers" } {
                label for="q" { "Name, id, tenant id, customer reference or external contract" }
                input #q type="search" name="q" value=(search.q);
                button type="submit" { "Search" }
            }
            @match found {
                Ok(found) if found.is_empty() => { p { "No customer matches." } }
                Ok(found) => {
                    table {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Tenant" } th scope="col" { "Customer reference" }
                            th scope="col" { "External contract" } th scope="col" { "Managed by" } th scope="col" { "Status" }
                        } }
                        tbody {
                            @for customer in found {
                                tr {
                                    td { a href={ "/console/orgs/" (customer.id) } { (customer.name) } }
                                    td { (customer.tenant_id) }
                                    td { (customer.customer_reference.as_deref().unwrap_or("—")) }
                                    td { (customer.external_contract.as_deref().unwrap_or("—")) }
                                    td { (label(&customer.managed_by)) }
                                    td { (label(&customer.status)) }
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

/// A text field of the create form, keeping what was typed.
fn field(id: &str, name: &str, text: &str, value: &str, required: bool) -> Markup {
    html! {
        label for=(id) { (text) }
        input id=(id) type="text" name=(name) value=(value) required[required];
    }
}

fn create_form(
    org: &Org,
    app: &App,
    plans: &[Plan],
    sellable: &[PlanId],
    form: Option<&CustomerForm>,
    csrf: &str,
) -> Markup {
    let empty = CustomerForm::default();
    let form = form.unwrap_or(&empty);
    let account_types = [
        ("business_user", "business user"),
        ("home_user", "home user"),
        ("cpaas_telco", "CPaaS / telco"),
        ("app_provider", "app provider"),
    ];
    html! {
        section aria-labelledby="new-customer" {
            h2 #new-customer { "Create a customer" }
            form method="post" action={ "/console/orgs/" (org.id) "/customers" } {
                input type="hidden" name="csrf" value=(csrf);
                (field("customer-name", "name", "Name", &form.name, true))
                (field("tenant-id", "tenant_id", "Tenant id (lowercase letters, digits, dashes; never changes)", &form.tenant_id, true))
                label for="account-type" { "Account type" }
                select #account-type name="account_type" {
                    @for (value, text) in account_types {
                        option value=(value) selected[form.account_type == value] { (text) }
                    }
                }
                label for="managed-by" { "Managed by" }
                select #managed-by name="managed_by" {
                    option value="customer" selected[form.managed_by != "service_provider"] { "the customer (an owner is invited)" }
                    option value="service_provider" selected[form.managed_by == "service_provider"] { "us, the service provider" }
                }
                (field("owner-name", "owner_name", "Owner's name (when managed by the customer)", &form.owner_name, false))
                (field("owner-email", "owner_email", "Owner's e-mail address", &form.owner_email, false))
                (field("country", "country", "Country (ISO 3166, e.g. DE)", &form.country, true))
                (field("currency", "currency", "Currency (ISO 4217, e.g. EUR)", &form.currency, true))
                label for="customer-region" { "Region" }
                select #customer-region name="region" {
                    @for region in &app.settings.regions {
                        option value=(region) selected[form.region == *region] { (region) }
                    }
                }
                label for="plan" { "Plan" }
                select #plan name="plan" {
                    option value="" { "no plan (the default limits)" }
                    @for plan in plans {
                        @if sellable.contains(&plan.id) {
                            option value=(plan.id) selected[form.plan == plan.id.to_string()] { (plan.name) }
                        } @else {
                            option value=(plan.id) disabled { (plan.name) " — beyond your own plan" }
                        }
                    }
                }
                (field("customer-reference", "customer_reference", "Customer reference (optional)", &form.customer_reference, false))
                (field("external-contract", "external_contract", "External contract (optional)", &form.external_contract, false))
                label.check for="approval" {
                    input #approval type="checkbox" name="approval" value="yes" checked[form.approval.is_some() || form.name.is_empty()];
                    " Remote support needs the customer's approval"
                }
                button type="submit" { "Create customer" }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct CustomerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    account_type: String,
    #[serde(default)]
    managed_by: String,
    #[serde(default)]
    owner_name: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    customer_reference: String,
    #[serde(default)]
    external_contract: String,
    /// Present when the box is ticked.
    approval: Option<String>,
}

/// A form field as the use case takes it: an empty one is left out (and named if required).
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl CustomerForm {
    fn body(&self) -> NewOrg {
        let owner = (self.managed_by != "service_provider" || given(&self.owner_email).is_some())
            .then(|| OwnerDetails {
                name: self.owner_name.trim().to_owned(),
                email: self.owner_email.trim().to_owned(),
            });
        NewOrg {
            name: given(&self.name),
            tenant_id: given(&self.tenant_id),
            account_type: given(&self.account_type),
            subscription_model: None,
            managed_by: given(&self.managed_by),
            remote_support_requires_approval: Some(self.approval.is_some()),
            country: given(&self.country),
            currency: given(&self.currency),
            region: given(&self.region),
            // An unparsable id is as unknown as a missing plan: the use case names the field.
            plan: given(&self.plan).map(|p| {
                uuid::Uuid::parse_str(&p)
                    .map(PlanId)
                    .unwrap_or(PlanId(uuid::Uuid::nil()))
            }),
            owner,
            billing: None,
            buyer_tags: None,
            customer_reference: given(&self.customer_reference),
            external_contract: given(&self.external_contract),
            service_provider_id: None,
        }
    }
}

pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<CustomerForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let mut body = form.body();
    // The operator names the provider; a provider's people create their own customers.
    if signed.actor.is_operator() {
        body.service_provider_id = Some(org);
    }
    let result = app.create_org(signed.actor, body).await;
    let created = result.is_ok();
    let (status, notice) = outcome(result, StatusCode::CREATED, |created| {
        let name = created.org.name.clone();
        match created.owner_invitation_token {
            Some(token) => Notice::Invited {
                name: format!("{name} is created; its owner"),
                token: Some(token.expose().to_owned()),
            },
            None => Notice::Done(format!("{name} is created.")),
        }
    });
    let search = Search::default();
    // A created customer's form starts afresh; a refused one keeps what was typed.
    let kept = (!created).then_some(&form);
    screen(&app, &signed, org, &search, kept, status, Some(notice))
}
