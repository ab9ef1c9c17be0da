//! Who may change what: the privilege of each organization field, by the caller's standing.
//!
//! The `authorize` policy decides whether a caller may edit an organization at all, and can
//! only tighten what this table allows. The table itself is Rust: it is what keeps a customer
//! from making itself a service provider, a provider from waiving its customer's remote-support
//! approval, and a remote-support grant from changing ownership or approval, whatever a policy
//! says. The `org.update` decision sees which fields a request changes (`resource.changes`).

use super::member::Role;
use super::org::{ManagedBy, Org};

/// How the caller stands to the organization it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Operator,
    /// An active member of the organization itself.
    Member(Role),
    /// Acting only through a remote-support grant.
    Grantee,
    /// A member of the organization's service provider, acting as the provider.
    Provider(Role),
}

/// Who may change a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Never, by anyone.
    Immutable,
    /// The platform operator only: it sets the hierarchy (a provider chooses a non-provider
    /// type for a customer it creates).
    OperatorOnly,
    /// Whoever the `authorize` policy lets edit the organization.
    Editors,
    /// The remote-support approval setting: the customer's owners and admins either way, the
    /// operator either way, the provider on at once and off only with the customer's consent;
    /// never under a grant.
    Approval,
}

/// Every field of `PATCH /v1/orgs/{org}` and who may change it.
pub const ORG_FIELDS: &[(&str, Rule)] = &[
    ("id", Rule::Immutable),
    ("tenant_id", Rule::Immutable),
    ("name", Rule::Editors),
    ("account_type", Rule::OperatorOnly),
    ("subscription_model", Rule::Editors),
    ("remote_support_requires_approval", Rule::Approval),
    ("country", Rule::Editors),
    ("currency", Rule::Editors),
    ("region", Rule::Editors),
    ("billing", Rule::Editors),
    ("buyer_tags", Rule::Editors),
    ("customer_reference", Rule::Editors),
    ("external_contract", Rule::Editors),
];

/// What becomes of one field's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied with the request.
    Now,
    /// Becomes a change request that the customer accepts or declines.
    NeedsConsent,
}

pub fn rule_of(field: &str) -> Rule {
    ORG_FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(Rule::Editors, |(_, rule)| *rule)
}

/// Whether `standing` may set `field` of `org` (for the approval setting, to `approval`), and
/// when it takes effect; `Err` says why not. `consent_possible`: the organization has an
/// active owner or admin who could consent.
pub fn check_field(
    field: &str,
    standing: Standing,
    org: &Org,
    approval: Option<bool>,
    consent_possible: bool,
) -> Result<Effect, String> {
    match (rule_of(field), standing) {
        (Rule::Immutable, _) => Err(format!("`{field}` is immutable and cannot be changed")),
        (Rule::Editors, _) | (Rule::OperatorOnly, Standing::Operator) => Ok(Effect::Now),
        (Rule::OperatorOnly, _) => Err(format!(
            "only the platform operator changes `{field}`; nobody changes their own"
        )),
        (Rule::Approval, Standing::Grantee) => Err(format!(
            "`{field}` is not changed under a remote support grant"
        )),
        (Rule::Approval, Standing::Operator | Standing::Member(_)) => Ok(Effect::Now),
        (Rule::Approval, Standing::Provider(_)) => {
            let loosening = approval == Some(false) && org.remote_support_requires_approval;
            if loosening && org.managed_by == ManagedBy::Customer && consent_possible {
                Ok(Effect::NeedsConsent)
            } else {
                Ok(Effect::Now)
            }
        }
    }
}

/// Whether a provider's switch of `org` to being managed by the provider waits for the
/// customer: it demotes the owner and, under the platform defaults, waives approval.
pub fn managed_by_switch_needs_consent(
    standing: Standing,
    org: &Org,
    to: ManagedBy,
    has_active_owner: bool,
) -> bool {
    matches!(standing, Standing::Provider(_))
        && org.managed_by == ManagedBy::Customer
        && to == ManagedBy::ServiceProvider
        && has_active_owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::Timestamp;
    use crate::domain::org::NewOrg;

    fn org(approval: bool) -> Org {
        NewOrg {
            remote_support_requires_approval: Some(approval),
            ..NewOrg::example("acme", "Acme")
        }
        .validate(&["default".to_owned()], Timestamp(0))
        .unwrap()
        .org
    }

    #[test]
    fn account_type_is_the_operators_alone() {
        let o = org(true);
        assert_eq!(
            check_field("account_type", Standing::Operator, &o, None, true),
            Ok(Effect::Now)
        );
        for standing in [
            Standing::Member(Role::Owner),
            Standing::Provider(Role::Owner),
            Standing::Grantee,
        ] {
            assert!(check_field("account_type", standing, &o, None, true).is_err());
        }
    }

    #[test]
    fn a_provider_tightens_at_once_and_loosens_only_with_consent() {
        let strict = org(true);
        let provider = Standing::Provider(Role::Admin);
        let field = "remote_support_requires_approval";
        assert_eq!(
            check_field(field, provider, &strict, Some(false), true),
            Ok(Effect::NeedsConsent)
        );
        assert_eq!(
            check_field(field, provider, &strict, Some(false), false),
            Ok(Effect::Now),
            "nobody could consent yet: the provider still holds the organization"
        );
        assert_eq!(
            check_field(field, provider, &org(false), Some(true), true),
            Ok(Effect::Now)
        );
        assert_eq!(
            check_field(
                field,
                Standing::Member(Role::Admin),
                &strict,
                Some(false),
                true
            ),
            Ok(Effect::Now)
        );
        assert!(check_field(field, Standing::Grantee, &strict, Some(true), true).is_err());
    }

    #[test]
    fn every_patchable_field_has_a_rule() {
        for field in ["name", "country", "billing", "external_contract"] {
            assert_eq!(rule_of(field), Rule::Editors);
        }
        assert_eq!(rule_of("id"), Rule::Immutable);
    }
}
