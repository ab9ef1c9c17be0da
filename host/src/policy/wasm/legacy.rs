//! The first plugin contract, `tenantry:policy@0.1.0` (`host/wit/tenantry-policy-0.1.0`),
//! still accepted: components built against it run as they always did. Its records are flat
//! and its closed sets are strings; they are made from the same input contract.

use super::convert::RawVerdict;
use crate::policy::input::{self, PolicyInput};

/// The typed host side of the 0.1.0 contract.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({ world: "plugin", path: "wit/tenantry-policy-0.1.0" });
}

use bindings::tenantry::policy::types as wit;

pub use bindings::{Plugin, PluginPre};

pub const PACKAGE: &str = "tenantry:policy@0.1.0";

/// The snake_case name serde gives a contract enum (`"business_user"`).
fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn org(o: input::OrgInput) -> wit::Org {
    wit::Org {
        id: o.id,
        tenant_id: o.tenant_id,
        name: o.name,
        status: name(&o.status),
        account_type: name(&o.account_type),
        hierarchy: name(&o.hierarchy),
        managed_by: name(&o.managed_by),
        remote_support_requires_approval: o.remote_support_requires_approval,
        service_provider_id: o.service_provider_id,
        region: o.region,
    }
}

pub enum Record {
    Authorize(wit::AuthorizeInput),
    Link(wit::LinkInput),
    Share(wit::ShareInput),
    RemoteSupport(wit::RemoteSupportInput),
}

pub fn record(input: PolicyInput) -> Record {
    match input {
        PolicyInput::Authorize(i) => Record::Authorize(wit::AuthorizeInput {
            action: i.action,
            actor: wit::Actor {
                id: i.actor.id,
                operator: i.actor.operator,
                relation: name(&i.actor.relation),
                role: i.actor.role.as_ref().map(name),
                provider_role: i.actor.provider_role.as_ref().map(name),
                grant_scope: i.actor.grant.as_ref().map(|g| name(&g.scope)),
            },
            org: i.org.map(org),
            resource: i.resource.to_string(),
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::Link(i) => Record::Link(wit::LinkInput {
            action: name(&i.action),
            from: org(i.from),
            to: org(i.to),
            from_active_links: i.from_active_links,
            to_active_links: i.to_active_links,
            from_max_active_links: i.from_max_active_links,
            to_max_active_links: i.to_max_active_links,
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::Share(i) => Record::Share(wit::ShareInput {
            org: org(i.org),
            peer: org(i.peer),
            link_status: name(&i.link.status),
            resource_kind: name(&i.resource.kind),
            resource_id: i.resource.id,
            resource_name: i.resource.name,
            resource_org_id: i.resource.org_id,
            now: i.now.to_rfc3339(),
        }),
        PolicyInput::RemoteSupport(i) => Record::RemoteSupport(wit::RemoteSupportInput {
            org: org(i.org),
            requester_id: i.requester.id,
            requester_provider_id: i.requester.provider_id,
            reason: i.request.reason,
            minutes: i.request.minutes,
            scope: name(&i.request.scope),
            plan_max_minutes: i.plan.max_remote_support_minutes,
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
