//! Typed identifiers. All are UUID v7: unique without coordination, and ordered by creation,
//! so redb key order is time order and cursors are ids.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn key(self) -> u128 {
                self.0.as_u128()
            }
            pub fn from_key(key: u128) -> Self {
                Self(Uuid::from_u128(key))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "Uuid".into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "format": "uuid"})
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    OrgId,
    UserId,
    PlanId,
    TokenId,
    InvitationId,
    ResourceId,
    LinkId,
    ShareId,
    RemoteSupportId,
    EntryId,
    PolicyVersionId,
    DecisionId,
    ChangeRequestId,
    WebhookId,
    DeliveryId,
    MailId,
);
