//! The current plugin contract, `tenantry:policy@0.2.0` (`sdk/wit/policy.wit`): its host
//! bindings, and the policy input contract's types as its records. The records mirror
//! [`crate::policy::input`] field for field (`the_wit_records_mirror_the_input_contract`).

use super::convert::RawVerdict;
use crate::policy::input::{self, PolicyInput};

/// The typed host side of `sdk/wit/policy.wit`.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({ world: "plugin", path: "../sdk/wit" });
}

pub(super) use bindings::tenantry::policy::types as wit;

pub use bindings::{Plugin, PluginPre};

/// The contract's package, as components name it in their exports.
pub const PACKAGE: &str = "tenantry:policy@0.2.0";

fn org(o: input::OrgInput) -> wit::Org {
    use crate::domain::org::{AccountType, Hierarchy, ManagedBy, OrgStatus};
    wit::Org {
        id: o.id,
        tenant_id: o.tenant_id,
        name: o.name,
        status: match o.status {
            OrgStatus::Active => wit::OrgStatus::Active,
            OrgStatus::Suspended => wit::OrgStatus::Suspended,
        },
        account_type: match o.account_type {
            AccountType::ServiceProvider => wit::AccountType::ServiceProvider,
            AccountType::CpaasTelco => wit::AccountType::CpaasTelco,
            AccountType::BusinessUser => wit::AccountType::BusinessUser,
            AccountType::HomeUser => wit::AccountType::HomeUser,
            AccountType::AppProvider => wit::AccountType::AppProvider,
        },
        hierarchy: match o.hierarchy {
            Hierarchy::Supernode => wit::Hierarchy::Supernode,
            Hierarchy::Node => wit::Hierarchy::Node,
        },
        managed_by: match o.managed_by {
            ManagedBy::Customer => wit::ManagedBy::Customer,
            ManagedBy::ServiceProvider => wit::ManagedBy::ServiceProvider,
        },
        remote_support_requires_approval: o.remote_support_requires_approval,
        service_provider_id: o.service_provider_id,
        region: o.region,
        plan_features: o.plan_features,
    }
}

fn role(r: crate::domain::member::Role) -> wit::Role {
    use crate::domain::member::Role;
    match r {
        Role::Owner => wit::Role::Owner,
        Role::Admin => wit::Role::Admin,
        Role::Member => wit::Role::Member,
    }
}

fn scope(s: crate::domain::remote_support::Scope) -> wit::Scope {
    use crate::domain::remote_support::Scope;
    match s {
        Scope::Read => wit::Scope::Read,
        Scope::Admin => wit::Scope::Admin,
    }
}

fn actor(a: input::ActorInput) -> wit::Actor {
    wit::Actor {
        id: a.id,
        operator: a.operator,
        relation: match a.relation {
            input::Relation::Operator => wit::Relation::Operator,
            input::Relation::Member => wit::Relation::Member,
            input::Relation::Grantee => wit::Relation::Grantee,
            input::Relation::Provider => wit::Relation::Provider,
            input::Relation::None => wit::Relation::None,
        },
        role: a.role.map(role),
        provider_role: a.provider_role.map(role),
        grant: a.grant.map(|g| wit::Grant {
            id: g.id,
            scope: scope(g.scope),
        }),
    }
}

fn link_status(s: crate::domain::link::LinkStatus) -> wit::LinkStatus {
    use crate::domain::link::LinkStatus;
    match s {
        LinkStatus::Pending => wit::LinkStatus::Pending,
        LinkStatus::Active => wit::LinkStatus::Active,
        LinkStatus::Declined => wit::LinkStatus::Declined,
        LinkStatus::Cancelled => wit::LinkStatus::Cancelled,
        LinkStatus::Expired => wit::LinkStatus::Expired,
        LinkStatus::Unlinked => wit::LinkStatus::Unlinked,
    }
}

/// One hook's input as the contract's record.
pub enum Record {
    Authorize(wit::AuthorizeInput),
    Link(wit::LinkInput),
    Share(wit::ShareInput),
    RemoteSupport(wit::RemoteSupportInput),
}

/// `resource` of `authorize` travels as JSON text.
pub fn record(input: PolicyInput) -> Record {
    match input {
        PolicyInput::Authorize(i) => Record::Authorize(wit::AuthorizeInput {
            action: i.action,
            actor: actor(i.actor),
            org: i.org.map(org),
            resource: i.resource.to_string(),
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::Link(i) => Record::Link(wit::LinkInput {
            action: match i.action {
                input::LinkAction::Invite => wit::LinkAction::Invite,
                input::LinkAction::Accept => wit::LinkAction::Accept,
                input::LinkAction::Resend => wit::LinkAction::Resend,
            },
            actor: actor(i.actor),
            from: org(i.from),
            to: org(i.to),
            from_active_links: i.from_active_links,
            to_active_links: i.to_active_links,
            from_max_active_links: i.from_max_active_links,
            to_max_active_links: i.to_max_active_links,
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::Share(i) => Record::Share(wit::ShareInput {
            actor: actor(i.actor),
            org: org(i.org),
            peer: org(i.peer),
            link: wit::LinkRef {
                id: i.link.id,
                status: link_status(i.link.status),
            },
            resource: wit::SharedResource {
                kind: match i.resource.kind {
                    crate::domain::resource::ResourceKind::Team => wit::ResourceKind::Team,
                    crate::domain::resource::ResourceKind::Channel => wit::ResourceKind::Channel,
                },
                id: i.resource.id,
                name: i.resource.name,
                org_id: i.resource.org_id,
            },
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::RemoteSupport(i) => Record::RemoteSupport(wit::RemoteSupportInput {
            org: org(i.org),
            requester: wit::Requester {
                id: i.requester.id,
                provider_id: i.requester.provider_id,
                provider_role: i.requester.provider_role.map(role),
            },
            request: wit::SupportRequest {
                reason: i.request.reason,
                minutes: i.request.minutes,
                scope: scope(i.request.scope),
            },
            plan: wit::PlanInput {
                max_remote_support_minutes: i.plan.max_remote_support_minutes,
            },
            now: i.now.to_rfc3339(),
        }),
    }
}

pub fn verdict(v: wit::Verdict) -> RawVerdict {
    match v {
        wit::Verdict::Allow(r) => RawVerdict::Allow(r),
        wit::Verdict::Deny(r) => RawVerdict::Deny(r),
        wit::Verdict::Abstain => RawVerdict::Abstain,
        wit::Verdict::Grant(g) => RawVerdict::Grant {
            minutes: g.minutes,
            reason: g.reason,
        },
        wit::Verdict::RequireApproval(r) => RawVerdict::RequireApproval(r),
    }
}

pub fn hook(h: wit::Hook) -> crate::policy::Hook {
    use crate::policy::Hook;
    match h {
        wit::Hook::Authorize => Hook::Authorize,
        wit::Hook::Link => Hook::Link,
        wit::Hook::Share => Hook::Share,
        wit::Hook::RemoteSupport => Hook::RemoteSupport,
    }
}

pub fn log_level(level: bindings::tenantry::policy::log::LogLevel) -> &'static str {
    use bindings::tenantry::policy::log::LogLevel;
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::policy::Hook;
    use crate::policy::input::schema;

    /// The WIT records and enums carry exactly the fields and cases of the input contract's
    /// types (snake_case there, kebab-case here): what a fixture says is what a plugin gets.
    #[test]
    fn the_wit_records_mirror_the_input_contract() {
        let mut resolve = wit_parser::Resolve::default();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/wit");
        resolve.push_dir(&dir).unwrap();
        let (_, types) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some("types"))
            .unwrap();
        let wit_shape = |name: &str| -> Option<BTreeSet<String>> {
            let id = types.types.get(name)?;
            match &resolve.types[*id].kind {
                wit_parser::TypeDefKind::Record(r) => {
                    Some(r.fields.iter().map(|f| f.name.clone()).collect())
                }
                wit_parser::TypeDefKind::Enum(e) => {
                    Some(e.cases.iter().map(|c| c.name.clone()).collect())
                }
                _ => None,
            }
        };
        let pairs = [
            ("OrgInput", "org"),
            ("ActorInput", "actor"),
            ("GrantInput", "grant"),
            ("AuthorizeInput", "authorize-input"),
            ("LinkInput", "link-input"),
            ("LinkRef", "link-ref"),
            ("SharedResource", "shared-resource"),
            ("ShareInput", "share-input"),
            ("Requester", "requester"),
            ("SupportRequest", "support-request"),
            ("PlanInput", "plan-input"),
            ("RemoteSupportInput", "remote-support-input"),
            ("AccountType", "account-type"),
            ("Hierarchy", "hierarchy"),
            ("OrgStatus", "org-status"),
            ("ManagedBy", "managed-by"),
            ("Relation", "relation"),
            ("Role", "role"),
            ("Scope", "scope"),
            ("LinkAction", "link-action"),
            ("LinkStatus", "link-status"),
            ("ResourceKind", "resource-kind"),
        ];
        let mut defs = serde_json::Map::new();
        for hook in Hook::ALL {
            let s = schema(hook);
            if let Some(d) = s["$defs"].as_object() {
                defs.extend(d.clone());
            }
            let root = match hook {
                Hook::Authorize => "AuthorizeInput",
                Hook::Link => "LinkInput",
                Hook::Share => "ShareInput",
                Hook::RemoteSupport => "RemoteSupportInput",
            };
            defs.insert(root.into(), s);
        }
        for (rust, wit) in pairs {
            let def = &defs[rust];
            let expected: BTreeSet<String> = match def["properties"].as_object() {
                Some(props) => props.keys().map(|k| k.replace('_', "-")).collect(),
                // An enum: plain cases, or (when cases are documented) one `const` each.
                None => match def["enum"].as_array() {
                    Some(cases) => cases.clone(),
                    None => def["oneOf"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|c| match c["enum"].as_array() {
                            Some(cases) => cases.clone(),
                            None => vec![c["const"].clone()],
                        })
                        .collect(),
                }
                .iter()
                .map(|c| c.as_str().unwrap().replace('_', "-"))
                .collect(),
            };
            assert_eq!(
                wit_shape(wit),
                Some(expected),
                "`{wit}` in sdk/wit/policy.wit and `{rust}` in policy/input.rs differ"
            );
        }
    }
}
