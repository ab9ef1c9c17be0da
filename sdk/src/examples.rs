//! Inputs with plausible defaults, for a plugin's unit tests: start from an example and change
//! what the test is about (`AuthorizeInput { resource: ..., ..AuthorizeInput::example("member.invite") }`).

use crate::{
    AccountType, Actor, AuthorizeInput, Hierarchy, LinkAction, LinkInput, LinkRef, LinkStatus,
    ManagedBy, Org, OrgStatus, PlanInput, Relation, RemoteSupportInput, Requester, ResourceKind,
    Role, Scope, ShareInput, SharedResource, SupportRequest,
};

const NOW: &str = "2026-11-23T10:00:00.000Z";

impl Org {
    /// `acme`, an active customer-managed business of provider `telco`, region `default`.
    pub fn example() -> Self {
        Self::named("acme")
    }

    /// Like [`example`](Self::example), with this tenant id (and name).
    pub fn named(tenant_id: &str) -> Self {
        Self {
            id: format!("org-{tenant_id}"),
            tenant_id: tenant_id.into(),
            name: tenant_id.into(),
            status: OrgStatus::Active,
            account_type: AccountType::BusinessUser,
            hierarchy: Hierarchy::Node,
            managed_by: ManagedBy::Customer,
            remote_support_requires_approval: true,
            service_provider_id: Some("org-telco".into()),
            region: "default".into(),
            plan_features: Vec::new(),
        }
    }
}

impl Actor {
    /// An active member of the organization with `role`.
    pub fn member(role: Role) -> Self {
        Self {
            id: Some("user-1".into()),
            operator: false,
            relation: Relation::Member,
            role: Some(role),
            provider_role: None,
            grant: None,
        }
    }

    /// A member of the organization's provider with `role`, acting as the provider.
    pub fn provider(role: Role) -> Self {
        Self {
            relation: Relation::Provider,
            role: None,
            provider_role: Some(role),
            ..Self::member(role)
        }
    }

    /// The platform operator.
    pub fn operator() -> Self {
        Self {
            id: None,
            operator: true,
            relation: Relation::Operator,
            role: None,
            provider_role: None,
            grant: None,
        }
    }
}

impl AuthorizeInput {
    /// `action` by an admin of [`Org::example`], with no resource.
    pub fn example(action: &str) -> Self {
        Self {
            action: action.into(),
            actor: Actor::member(Role::Admin),
            org: Some(Org::example()),
            resource: "null".into(),
            now: NOW.into(),
        }
    }
}

impl LinkInput {
    /// An admin of `acme` invites `globex` to link; neither has links yet, 10 allowed.
    pub fn example() -> Self {
        Self {
            action: LinkAction::Invite,
            actor: Actor::member(Role::Admin),
            from: Org::example(),
            to: Org::named("globex"),
            from_active_links: 0,
            to_active_links: 0,
            from_max_active_links: 10,
            to_max_active_links: 10,
            now: NOW.into(),
        }
    }
}

impl ShareInput {
    /// An admin of `acme` shares its team `Support` with `globex` over an active link.
    pub fn example() -> Self {
        let org = Org::example();
        Self {
            actor: Actor::member(Role::Admin),
            resource: SharedResource {
                kind: ResourceKind::Team,
                id: "team-support".into(),
                name: "Support".into(),
                org_id: org.id.clone(),
            },
            org,
            peer: Org::named("globex"),
            link: LinkRef {
                id: "link-1".into(),
                status: LinkStatus::Active,
            },
            now: NOW.into(),
        }
    }
}

impl RemoteSupportInput {
    /// A provider member asks `acme` for 60 minutes of read access; the plan allows 480.
    pub fn example() -> Self {
        Self {
            org: Org::example(),
            requester: Requester {
                id: "user-2".into(),
                provider_id: "org-telco".into(),
                provider_role: Some(Role::Member),
            },
            request: SupportRequest {
                reason: "ticket 42".into(),
                minutes: 60,
                scope: Scope::Read,
            },
            plan: PlanInput {
                max_remote_support_minutes: 480,
            },
            now: NOW.into(),
        }
    }
}
