//! Changes a service provider asks of a customer-managed organization that loosen the
//! customer's control, and so take effect only when the customer consents: switching
//! remote-support approval off, and handing management (and the owner's role) to the provider.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{ChangeRequestId, OrgId, UserId};
use super::member::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// `remote_support_requires_approval` from true to false.
    ApprovalOff,
    /// `managed_by` from `customer` to `service_provider`, the owner becoming `demote_owner_to`.
    ManagedByProvider { demote_owner_to: Role },
}

impl ChangeKind {
    /// Who of the customer may consent: the owner alone where the owner loses their role.
    pub fn consenting_roles(self) -> &'static [Role] {
        match self {
            Self::ApprovalOff => &[Role::Owner, Role::Admin],
            Self::ManagedByProvider { .. } => &[Role::Owner],
        }
    }

    pub fn same_kind(self, other: Self) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Pending,
    Accepted,
    Declined,
    /// A newer request of the same kind replaced it.
    Superseded,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeRequest {
    pub id: ChangeRequestId,
    pub org_id: OrgId,
    pub provider_id: Option<OrgId>,
    #[serde(flatten)]
    pub kind: ChangeKind,
    pub status: ChangeStatus,
    pub requested_by: Option<UserId>,
    pub requested_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_flat_in_the_record() {
        let kind = ChangeKind::ManagedByProvider {
            demote_owner_to: Role::Admin,
        };
        let json = serde_json::to_value(kind).unwrap();
        assert_eq!(json["kind"], "managed_by_provider");
        assert_eq!(json["demote_owner_to"], "admin");
        assert!(kind.same_kind(ChangeKind::ManagedByProvider {
            demote_owner_to: Role::Member
        }));
        assert!(!kind.same_kind(ChangeKind::ApprovalOff));
        assert_eq!(
            ChangeKind::ApprovalOff.consenting_roles(),
            [Role::Owner, Role::Admin]
        );
    }
}
