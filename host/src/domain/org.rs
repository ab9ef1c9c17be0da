//! Organizations: the tenants. Validation here is pure; storage and policy live elsewhere.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{OrgId, PlanId};
use crate::error::{Error, FieldError, Result};

pub const INVALID_ORG: &str = "organization is invalid";
pub const NAME_MAX: usize = 200;
pub const TENANT_ID_MAX: usize = 63;
const TEXT_MAX: usize = 200;
const BUYER_TAGS_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    ServiceProvider,
    CpaasTelco,
    BusinessUser,
    HomeUser,
    AppProvider,
}

/// Derived from the account type: supernodes serve other organizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    Supernode,
    Node,
}

impl AccountType {
    pub fn hierarchy(self) -> Hierarchy {
        match self {
            Self::ServiceProvider | Self::CpaasTelco => Hierarchy::Supernode,
            Self::BusinessUser | Self::HomeUser | Self::AppProvider => Hierarchy::Node,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionModel {
    License,
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    Customer,
    ServiceProvider,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Org {
    pub id: OrgId,
    pub tenant_id: String,
    pub name: String,
    pub account_type: AccountType,
    pub hierarchy: Hierarchy,
    pub subscription_model: SubscriptionModel,
    pub country: String,
    pub currency: String,
    pub region: String,
    pub status: OrgStatus,
    pub managed_by: ManagedBy,
    pub remote_support_requires_approval: bool,
    pub service_provider_id: Option<OrgId>,
    pub plan_id: Option<PlanId>,
    /// The feature flags of its plan, kept with the organization (updated when the plan or
    /// its features change) so every policy input carries them at no extra read.
    #[serde(default)]
    pub plan_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Billing>,
    #[serde(default)]
    pub buyer_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_contract: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Owner details for a customer-managed organization.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerDetails {
    pub name: String,
    pub email: String,
}

/// The create request. Optional-looking fields are `Option` so a missing one is reported
/// by name instead of failing deserialization as a whole.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Acme GmbH", "tenant_id": "acme", "account_type": "business_user", "managed_by": "customer", "remote_support_requires_approval": true, "country": "DE", "currency": "EUR", "region": "eu-central", "owner": {"name": "Alex Kim", "email": "alex@acme.example"}, "customer_reference": "C-1042"}))]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: Option<String>,
    pub tenant_id: Option<String>,
    pub account_type: Option<String>,
    pub subscription_model: Option<String>,
    pub managed_by: Option<String>,
    pub remote_support_requires_approval: Option<bool>,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub region: Option<String>,
    pub plan: Option<PlanId>,
    pub owner: Option<OwnerDetails>,
    pub billing: Option<Billing>,
    pub buyer_tags: Option<Vec<String>>,
    pub customer_reference: Option<String>,
    pub external_contract: Option<String>,
    /// Only the operator may name a provider explicitly; providers get their own id.
    pub service_provider_id: Option<OrgId>,
}

/// The edit request: every field optional; the immutable ones are present only to be refused
/// with a clear reason instead of "unknown field".
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Acme Europe GmbH", "customer_reference": "C-1043"}))]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub id: Option<serde_json::Value>,
    pub tenant_id: Option<serde_json::Value>,
    pub name: Option<String>,
    pub account_type: Option<String>,
    pub subscription_model: Option<String>,
    pub remote_support_requires_approval: Option<bool>,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub region: Option<String>,
    pub billing: Option<Billing>,
    pub buyer_tags: Option<Vec<String>>,
    pub customer_reference: Option<String>,
    pub external_contract: Option<String>,
}

/// A validated create request, ready to become an [`Org`].
#[derive(Debug, Clone)]
pub struct ValidOrg {
    pub org: Org,
    pub owner: Option<OwnerDetails>,
}

/// Collects field errors so one answer lists every problem.
#[derive(Default)]
struct Check(Vec<FieldError>);

impl Check {
    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }

    fn required<'a>(&mut self, field: &str, value: &'a Option<String>) -> Option<&'a str> {
        match value {
            Some(v) => Some(v.as_str()),
            None => {
                self.fail(field, "is required");
                None
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(INVALID_ORG, self.0))
        }
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    check: &mut Check,
    field: &str,
    value: &str,
    allowed: &str,
) -> Option<T> {
    let parsed = serde_json::from_value(serde_json::Value::String(value.to_owned())).ok();
    if parsed.is_none() {
        check.fail(field, format!("`{value}` is not one of: {allowed}"));
    }
    parsed
}

const ACCOUNT_TYPES: &str = "service_provider, cpaas_telco, business_user, home_user, app_provider";
const SUBSCRIPTION_MODELS: &str = "license, app";
const MANAGED_BY: &str = "customer, service_provider";

fn check_name(check: &mut Check, name: &str) -> String {
    let trimmed = name.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > NAME_MAX {
        check.fail(
            "name",
            format!("must be 1 to {NAME_MAX} characters after trimming, got {length}"),
        );
    } else if let Some(problem) = super::text::control_problem(trimmed) {
        check.fail("name", problem);
    }
    trimmed.to_owned()
}

/// A tenant slug: lowercase letters, digits and inner hyphens, 2 to 63 characters.
pub fn tenant_id_problem(slug: &str) -> Option<String> {
    let length = slug.len();
    let well_formed = (2..=TENANT_ID_MAX).contains(&length)
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    (!well_formed).then(|| {
        format!("`{slug}` must be 2 to {TENANT_ID_MAX} lowercase letters, digits or inner hyphens")
    })
}

fn check_country(check: &mut Check, code: &str) {
    let shaped = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase());
    if !shaped || celes::Country::from_alpha2(code).is_err() {
        check.fail(
            "country",
            format!("`{code}` is not an ISO 3166-1 alpha-2 code (e.g. `DE`)"),
        );
    }
}

fn check_currency(check: &mut Check, code: &str) {
    let shaped = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
    if !shaped || iso_currency::Currency::from_code(code).is_none() {
        check.fail(
            "currency",
            format!("`{code}` is not an ISO 4217 code (e.g. `EUR`)"),
        );
    }
}

fn check_region(check: &mut Check, region: &str, regions: &[String]) {
    if !regions.iter().any(|r| r == region) {
        check.fail(
            "region",
            format!("`{region}` is not one of: {}", regions.join(", ")),
        );
    }
}

fn check_text(check: &mut Check, field: &str, value: &Option<String>) {
    if let Some(text) = value {
        let length = text.chars().count();
        if length == 0 || length > TEXT_MAX {
            check.fail(
                field,
                format!("must be 1 to {TEXT_MAX} characters, got {length}"),
            );
        } else if let Some(problem) = super::text::control_problem(text) {
            check.fail(field, problem);
        }
    }
}

fn check_tags(check: &mut Check, tags: &[String]) {
    if tags.len() > BUYER_TAGS_MAX {
        check.fail(
            "buyer_tags",
            format!("at most {BUYER_TAGS_MAX} tags, got {}", tags.len()),
        );
    }
    for tag in tags {
        if tag.trim().is_empty() || tag.chars().count() > 64 {
            check.fail(
                "buyer_tags",
                format!("tag `{tag}` must be 1 to 64 characters"),
            );
        }
    }
}

fn check_billing(check: &mut Check, billing: &Option<Billing>) {
    if let Some(b) = billing {
        check_text(check, "billing.contact_name", &b.contact_name);
        check_text(check, "billing.address", &b.address);
        check_text(check, "billing.tax_id", &b.tax_id);
        if let Some(email) = &b.email
            && let Some(problem) = super::member::email_problem(email)
        {
            check.fail("billing.email", problem);
        }
    }
}

impl NewOrg {
    /// A complete request for a customer-managed business organization, for tests.
    #[cfg(test)]
    pub fn example(tenant_id: &str, name: &str) -> Self {
        Self {
            name: Some(name.into()),
            tenant_id: Some(tenant_id.into()),
            account_type: Some("business_user".into()),
            managed_by: Some("customer".into()),
            remote_support_requires_approval: Some(true),
            country: Some("DE".into()),
            currency: Some("EUR".into()),
            owner: Some(OwnerDetails {
                name: "Olga".into(),
                email: "olga@acme.example".into(),
            }),
            ..Self::default()
        }
    }

    /// Validates every field and builds the organization (not yet stored).
    pub fn validate(self, regions: &[String], now: Timestamp) -> Result<ValidOrg> {
        let mut check = Check::default();
        let name = check
            .required("name", &self.name)
            .map(|n| check_name(&mut check, n));
        let tenant_id = check
            .required("tenant_id", &self.tenant_id)
            .map(str::to_owned);
        if let Some(problem) = tenant_id.as_deref().and_then(tenant_id_problem) {
            check.fail("tenant_id", problem);
        }
        let account_type = check
            .required("account_type", &self.account_type)
            .and_then(|v| parse_enum::<AccountType>(&mut check, "account_type", v, ACCOUNT_TYPES));
        let subscription_model = match &self.subscription_model {
            Some(v) => parse_enum::<SubscriptionModel>(
                &mut check,
                "subscription_model",
                v,
                SUBSCRIPTION_MODELS,
            ),
            None => Some(SubscriptionModel::License),
        };
        let managed_by = check
            .required("managed_by", &self.managed_by)
            .and_then(|v| parse_enum::<ManagedBy>(&mut check, "managed_by", v, MANAGED_BY));
        if self.remote_support_requires_approval.is_none() {
            check.fail(
                "remote_support_requires_approval",
                "is required (true or false)",
            );
        }
        if let Some(country) = check.required("country", &self.country) {
            check_country(&mut check, country);
        }
        if let Some(currency) = check.required("currency", &self.currency) {
            check_currency(&mut check, currency);
        }
        let region = self
            .region
            .clone()
            .or_else(|| regions.first().cloned())
            .unwrap_or_default();
        check_region(&mut check, &region, regions);
        match (managed_by, &self.owner) {
            (Some(ManagedBy::Customer), None) => {
                check.fail("owner", "is required when `managed_by` is `customer`");
            }
            (_, Some(owner)) => check_owner(&mut check, owner),
            _ => {}
        }
        check_billing(&mut check, &self.billing);
        let buyer_tags = self.buyer_tags.clone().unwrap_or_default();
        check_tags(&mut check, &buyer_tags);
        check_text(&mut check, "customer_reference", &self.customer_reference);
        check_text(&mut check, "external_contract", &self.external_contract);
        check.finish()?;

        // INVARIANT: `check.finish()` returned Ok, so every required field parsed.
        let (
            Some(name),
            Some(tenant_id),
            Some(account_type),
            Some(subscription_model),
            Some(managed_by),
        ) = (
            name,
            tenant_id,
            account_type,
            subscription_model,
            managed_by,
        )
        else {
            return Err(Error::invalid(INVALID_ORG, vec![]));
        };
        let org = Org {
            id: OrgId::new(),
            tenant_id,
            name,
            account_type,
            hierarchy: account_type.hierarchy(),
            subscription_model,
            country: self.country.unwrap_or_default(),
            currency: self.currency.unwrap_or_default(),
            region,
            status: OrgStatus::Active,
            managed_by,
            remote_support_requires_approval: self.remote_support_requires_approval.unwrap_or(true),
            service_provider_id: self.service_provider_id,
            plan_id: self.plan,
            plan_features: Vec::new(),
            billing: self.billing,
            buyer_tags,
            customer_reference: self.customer_reference,
            external_contract: self.external_contract,
            created_at: now,
            updated_at: now,
        };
        Ok(ValidOrg {
            org,
            owner: self.owner,
        })
    }
}

fn check_owner(check: &mut Check, owner: &OwnerDetails) {
    let length = owner.name.trim().chars().count();
    if length == 0 || length > NAME_MAX {
        check.fail("owner.name", format!("must be 1 to {NAME_MAX} characters"));
    }
    if let Some(problem) = super::member::email_problem(&owner.email) {
        check.fail("owner.email", problem);
    }
}

impl OrgPatch {
    /// The fields this edit sets and their new values, as the `org.update` decision sees them.
    pub fn changes(&self) -> serde_json::Map<String, serde_json::Value> {
        fn value<T: Serialize>(v: &Option<T>) -> Option<serde_json::Value> {
            v.as_ref().and_then(|v| serde_json::to_value(v).ok())
        }
        [
            ("id", value(&self.id)),
            ("tenant_id", value(&self.tenant_id)),
            ("name", value(&self.name)),
            ("account_type", value(&self.account_type)),
            ("subscription_model", value(&self.subscription_model)),
            (
                "remote_support_requires_approval",
                value(&self.remote_support_requires_approval),
            ),
            ("country", value(&self.country)),
            ("currency", value(&self.currency)),
            ("region", value(&self.region)),
            ("billing", value(&self.billing)),
            ("buyer_tags", value(&self.buyer_tags)),
            ("customer_reference", value(&self.customer_reference)),
            ("external_contract", value(&self.external_contract)),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
    }

    /// Applies the edit to a copy of `org`, or lists every reason it cannot.
    pub fn apply(self, org: &Org, regions: &[String], now: Timestamp) -> Result<Org> {
        let mut check = Check::default();
        if self.id.is_some() {
            check.fail("id", "is immutable and cannot be changed");
        }
        if self.tenant_id.is_some() {
            check.fail("tenant_id", "is immutable and cannot be changed");
        }
        let mut next = org.clone();
        if let Some(name) = &self.name {
            next.name = check_name(&mut check, name);
        }
        if let Some(v) = &self.account_type
            && let Some(t) = parse_enum::<AccountType>(&mut check, "account_type", v, ACCOUNT_TYPES)
        {
            next.account_type = t;
            next.hierarchy = t.hierarchy();
        }
        if let Some(v) = &self.subscription_model
            && let Some(m) = parse_enum(&mut check, "subscription_model", v, SUBSCRIPTION_MODELS)
        {
            next.subscription_model = m;
        }
        if let Some(v) = self.remote_support_requires_approval {
            next.remote_support_requires_approval = v;
        }
        if let Some(v) = &self.country {
            check_country(&mut check, v);
            next.country.clone_from(v);
        }
        if let Some(v) = &self.currency {
            check_currency(&mut check, v);
            next.currency.clone_from(v);
        }
        if let Some(v) = &self.region {
            check_region(&mut check, v, regions);
            next.region.clone_from(v);
        }
        if self.billing.is_some() {
            check_billing(&mut check, &self.billing);
            next.billing = self.billing;
        }
        if let Some(tags) = self.buyer_tags {
            check_tags(&mut check, &tags);
            next.buyer_tags = tags;
        }
        if self.customer_reference.is_some() {
            check_text(&mut check, "customer_reference", &self.customer_reference);
            next.customer_reference = self.customer_reference;
        }
        if self.external_contract.is_some() {
            check_text(&mut check, "external_contract", &self.external_contract);
            next.external_contract = self.external_contract;
        }
        check.finish()?;
        next.updated_at = now;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["eu-central".to_owned()]
    }

    fn valid() -> NewOrg {
        NewOrg::example("acme", "  Acme  ")
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Invalid { fields, .. } => fields.into_iter().map(|f| f.field).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_org_is_trimmed_and_derives_hierarchy() {
        let org = valid().validate(&regions(), Timestamp(0)).unwrap().org;
        assert_eq!(org.name, "Acme");
        assert_eq!(org.hierarchy, Hierarchy::Node);
        assert_eq!(org.region, "eu-central");
        assert_eq!(AccountType::CpaasTelco.hierarchy(), Hierarchy::Supernode);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = NewOrg {
            name: Some("   ".into()),
            tenant_id: Some("Bad Slug".into()),
            account_type: Some("bank".into()),
            country: Some("XX".into()),
            currency: Some("EURO".into()),
            region: Some("mars".into()),
            owner: None,
            ..valid()
        };
        let got = fields(bad.validate(&regions(), Timestamp(0)).unwrap_err());
        for field in [
            "name",
            "tenant_id",
            "account_type",
            "country",
            "currency",
            "region",
            "owner",
        ] {
            assert!(
                got.contains(&field.to_owned()),
                "{field} missing from {got:?}"
            );
        }
    }

    #[test]
    fn name_edges() {
        let at_limit = NewOrg {
            name: Some("x".repeat(NAME_MAX)),
            ..valid()
        };
        assert!(at_limit.validate(&regions(), Timestamp(0)).is_ok());
        let over = NewOrg {
            name: Some("x".repeat(NAME_MAX + 1)),
            ..valid()
        };
        assert_eq!(
            fields(over.validate(&regions(), Timestamp(0)).unwrap_err()),
            ["name"]
        );
    }

    #[test]
    fn real_iso_lists_are_used() {
        for (country, ok) in [("US", true), ("SS", true), ("ZZ", false), ("us", false)] {
            let org = NewOrg {
                country: Some(country.into()),
                ..valid()
            };
            assert_eq!(
                org.validate(&regions(), Timestamp(0)).is_ok(),
                ok,
                "{country}"
            );
        }
        for (currency, ok) in [("JPY", true), ("XTS", true), ("ABC", false)] {
            let org = NewOrg {
                currency: Some(currency.into()),
                ..valid()
            };
            assert_eq!(
                org.validate(&regions(), Timestamp(0)).is_ok(),
                ok,
                "{currency}"
            );
        }
    }

    #[test]
    fn immutable_fields_are_refused_on_edit() {
        let org = valid().validate(&regions(), Timestamp(0)).unwrap().org;
        let patch = OrgPatch {
            tenant_id: Some("other".into()),
            id: Some("x".into()),
            ..OrgPatch::default()
        };
        assert_eq!(
            fields(patch.apply(&org, &regions(), Timestamp(1)).unwrap_err()),
            ["id", "tenant_id"]
        );
    }
}
