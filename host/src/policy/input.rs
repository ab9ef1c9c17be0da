//! The policy input contract: what every layer of every hook is given, as Rust types.
//!
//! Everything a policy author sees derives from these types: the map a Rhai policy reads
//! (`input.actor.grant.scope`) is their JSON, the records of the WIT contract
//! (`sdk/wit/policy.wit`) mirror them field by field (a test compares), fixtures are their
//! JSON and are checked against them, and the JSON Schemas (`tenantry policy schema HOOK`,
//! `GET /v1/policy-schemas/{hook}`, checked in under `policies/schema/`) are generated from
//! them. The use cases build these types; nothing else builds a policy input.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Hook;
use crate::domain::clock::Timestamp;
use crate::domain::link::LinkStatus;
use crate::domain::member::Role;
use crate::domain::org::{AccountType, Hierarchy, ManagedBy, Org, OrgStatus};
use crate::domain::remote_support::Scope;
use crate::domain::resource::ResourceKind;

/// An organization as policies see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub status: OrgStatus,
    pub account_type: AccountType,
    /// `supernode` for service providers, `node` for everyone else.
    pub hierarchy: Hierarchy,
    pub managed_by: ManagedBy,
    pub remote_support_requires_approval: bool,
    pub service_provider_id: Option<String>,
    pub region: String,
    /// The features of the organization's plan (`[]` without a plan).
    #[serde(default)]
    pub plan_features: Vec<String>,
}

impl OrgInput {
    pub fn of(org: &Org) -> Self {
        Self {
            id: org.id.to_string(),
            tenant_id: org.tenant_id.clone(),
            name: org.name.clone(),
            status: org.status,
            account_type: org.account_type,
            hierarchy: org.hierarchy,
            managed_by: org.managed_by,
            remote_support_requires_approval: org.remote_support_requires_approval,
            service_provider_id: org.service_provider_id.map(|id| id.to_string()),
            region: org.region.clone(),
            plan_features: org.plan_features.clone(),
        }
    }
}

/// How the caller stands to the organization acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Operator,
    /// An active member of the organization.
    Member,
    /// Acting through a remote-support grant only.
    Grantee,
    /// A member of the organization's service provider, acting as the provider.
    Provider,
    None,
}

/// An active remote-support grant of the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    pub id: String,
    pub scope: Scope,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorInput {
    /// The user; `null` for the platform operator.
    pub id: Option<String>,
    pub operator: bool,
    pub relation: Relation,
    /// Role in the organization acted on.
    pub role: Option<Role>,
    /// Role in that organization's service provider.
    pub provider_role: Option<Role>,
    pub grant: Option<GrantInput>,
}

/// `authorize`: may `actor` do `action` on `org`?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeInput {
    /// `<object>.<verb>`, e.g. `member.invite`.
    pub action: String,
    pub actor: ActorInput,
    /// `null` for actions on no organization (own tokens, listing plans).
    pub org: Option<OrgInput>,
    /// The action's details, e.g. `{"role": "admin"}` for `member.invite`; `null` when none.
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub resource: Value,
    pub now: Timestamp,
}

/// What a link decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Invite,
    Accept,
    Resend,
}

/// `link`: may `from` and `to` be linked?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    pub action: LinkAction,
    pub actor: ActorInput,
    pub from: OrgInput,
    pub to: OrgInput,
    pub from_active_links: u32,
    pub to_active_links: u32,
    pub from_max_active_links: u32,
    pub to_max_active_links: u32,
    pub now: Timestamp,
}

/// The link a resource is shared over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRef {
    pub id: String,
    pub status: LinkStatus,
}

/// The resource being shared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedResource {
    pub kind: ResourceKind,
    pub id: String,
    pub name: String,
    pub org_id: String,
}

/// `share`: may `org` share `resource` with `peer` over `link`?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareInput {
    pub actor: ActorInput,
    pub org: OrgInput,
    pub peer: OrgInput,
    pub link: LinkRef,
    pub resource: SharedResource,
    pub now: Timestamp,
}

/// Who asks for remote support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    pub id: String,
    pub provider_id: String,
    pub provider_role: Option<Role>,
}

/// What is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportRequest {
    pub reason: String,
    /// 1 to 10,080.
    pub minutes: u32,
    pub scope: Scope,
}

/// The organization's plan, as far as remote support goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub max_remote_support_minutes: u32,
}

/// `remote_support`: grant, ask the customer, or deny?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSupportInput {
    pub org: OrgInput,
    pub requester: Requester,
    pub request: SupportRequest,
    pub plan: PlanInput,
    pub now: Timestamp,
}

/// One hook's input.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyInput {
    Authorize(AuthorizeInput),
    Link(LinkInput),
    Share(ShareInput),
    RemoteSupport(RemoteSupportInput),
}

impl From<AuthorizeInput> for PolicyInput {
    fn from(input: AuthorizeInput) -> Self {
        Self::Authorize(input)
    }
}

impl From<LinkInput> for PolicyInput {
    fn from(input: LinkInput) -> Self {
        Self::Link(input)
    }
}

impl From<ShareInput> for PolicyInput {
    fn from(input: ShareInput) -> Self {
        Self::Share(input)
    }
}

impl From<RemoteSupportInput> for PolicyInput {
    fn from(input: RemoteSupportInput) -> Self {
        Self::RemoteSupport(input)
    }
}

/// A fixed time for examples: Monday 2026-11-23, 10:00 UTC.
fn example_now() -> Timestamp {
    Timestamp::parse("2026-11-23T10:00:00Z").unwrap_or(Timestamp(0))
}

impl OrgInput {
    /// `acme`, an active customer-managed business of provider `telco`, region `default`.
    pub fn example(tenant_id: &str) -> Self {
        Self {
            id: format!("org-{tenant_id}"),
            tenant_id: tenant_id.to_owned(),
            name: tenant_id.to_owned(),
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

impl ActorInput {
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
}

impl AuthorizeInput {
    /// `action` on `acme` by its owner, with `resource`.
    pub fn example(action: &str, resource: Value) -> Self {
        Self {
            action: action.to_owned(),
            actor: ActorInput::member(Role::Owner),
            org: Some(OrgInput::example("acme")),
            resource,
            now: example_now(),
        }
    }
}

impl PolicyInput {
    /// A plausible input of `hook`: a start for fixtures, scaffolds and generated inputs.
    pub fn example(hook: Hook) -> Self {
        let admin = ActorInput::member(Role::Admin);
        match hook {
            Hook::Authorize => {
                AuthorizeInput::example("member.invite", serde_json::json!({"role": "member"}))
                    .into()
            }
            Hook::Link => LinkInput {
                action: LinkAction::Invite,
                actor: admin,
                from: OrgInput::example("acme"),
                to: OrgInput::example("globex"),
                from_active_links: 0,
                to_active_links: 0,
                from_max_active_links: 10,
                to_max_active_links: 10,
                now: example_now(),
            }
            .into(),
            Hook::Share => ShareInput {
                actor: admin,
                org: OrgInput::example("acme"),
                peer: OrgInput::example("globex"),
                link: LinkRef {
                    id: "link-1".into(),
                    status: LinkStatus::Active,
                },
                resource: SharedResource {
                    kind: ResourceKind::Team,
                    id: "team-support".into(),
                    name: "Support".into(),
                    org_id: "org-acme".into(),
                },
                now: example_now(),
            }
            .into(),
            Hook::RemoteSupport => RemoteSupportInput {
                org: OrgInput::example("acme"),
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
                now: example_now(),
            }
            .into(),
        }
    }
}

/// Why an input does not fit its hook's contract: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// A path into the input, e.g. `actor.grant.scope`; `.` for the whole input.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}

fn parse_as<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, InputError> {
    // A Wasm layer parses the input it gets as JSON (a live decision's typed input is handed
    // over as it is), and tracking the path costs about as much as the parse itself
    // (callgrind): only an input that fails is parsed again to name the field.
    if let Ok(parsed) = T::deserialize(value) {
        return Ok(parsed);
    }
    serde_path_to_error::deserialize(value).map_err(|e| InputError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

impl InputError {
    /// The path under `prefix` (`input`, `fixtures[3].input`): `.` is the prefix itself.
    pub fn path_under(&self, prefix: &str) -> String {
        match self.path.as_str() {
            "." => prefix.to_owned(),
            inner => format!("{prefix}.{inner}"),
        }
    }
}

impl PolicyInput {
    /// Checks `value` against `hook`'s contract.
    pub fn parse(hook: Hook, value: &Value) -> Result<Self, InputError> {
        Ok(match hook {
            Hook::Authorize => Self::Authorize(parse_as(value)?),
            Hook::Link => Self::Link(parse_as(value)?),
            Hook::Share => Self::Share(parse_as(value)?),
            Hook::RemoteSupport => Self::RemoteSupport(parse_as(value)?),
        })
    }

    /// The request time the input carries.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::Authorize(i) => i.now,
            Self::Link(i) => i.now,
            Self::Share(i) => i.now,
            Self::RemoteSupport(i) => i.now,
        }
    }

    pub fn hook(&self) -> Hook {
        match self {
            Self::Authorize(_) => Hook::Authorize,
            Self::Link(_) => Hook::Link,
            Self::Share(_) => Hook::Share,
            Self::RemoteSupport(_) => Hook::RemoteSupport,
        }
    }

    /// The JSON every layer is given (and the decision log keeps).
    pub fn to_value(&self) -> Value {
        let value = match self {
            Self::Authorize(i) => serde_json::to_value(i),
            Self::Link(i) => serde_json::to_value(i),
            Self::Share(i) => serde_json::to_value(i),
            Self::RemoteSupport(i) => serde_json::to_value(i),
        };
        // INVARIANT: these types hold only strings, numbers, booleans, lists and maps with
        // string keys, which always serialize.
        value.unwrap_or(Value::Null)
    }
}

/// The JSON Schema (2020-12) of `hook`'s input.
pub fn schema(hook: Hook) -> Value {
    let schema = match hook {
        Hook::Authorize => schemars::schema_for!(AuthorizeInput),
        Hook::Link => schemars::schema_for!(LinkInput),
        Hook::Share => schemars::schema_for!(ShareInput),
        Hook::RemoteSupport => schemars::schema_for!(RemoteSupportInput),
    };
    let mut value = schema.to_value();
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "$id".into(),
            Value::String(format!(
                "https://tenantry.example/policy-input/{}.json",
                hook.name()
            )),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn schema_file(hook: Hook) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../policies/schema")
            .join(format!("{}.json", hook.name()))
    }

    /// The checked-in schemas are what the types say: a change to the contract shows up as a
    /// change to `policies/schema/*.json` in review. `TENANTRY_BLESS=1` rewrites them.
    #[test]
    fn the_checked_in_schemas_match_the_contract() {
        for hook in Hook::ALL {
            let generated = serde_json::to_string_pretty(&schema(hook)).unwrap() + "\n";
            let file = schema_file(hook);
            if std::env::var_os("TENANTRY_BLESS").is_some() {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, &generated).unwrap();
            }
            let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
            assert!(
                checked_in == generated,
                "{} differs from the contract in policy/input.rs; if the change is meant, \
                 run `TENANTRY_BLESS=1 cargo test -p tenantry --lib schemas` and review it",
                file.display()
            );
        }
    }

    proptest::proptest! {
        /// Whatever JSON arrives as an input, it is a typed input or a named error.
        #[test]
        fn any_json_is_an_input_or_a_named_error(value in crate::test_support::any_json(), hook in 0..4usize) {
            if let Err(e) = PolicyInput::parse(Hook::ALL[hook], &value) {
                proptest::prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn every_example_fits_its_contract() {
        for hook in Hook::ALL {
            let example = PolicyInput::example(hook);
            assert_eq!(PolicyInput::parse(hook, &example.to_value()), Ok(example));
        }
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let mut input = serde_json::from_str::<Value>(
            r#"{"action":"org.read","actor":{"id":null,"operator":true,"relation":"operator",
                "role":null,"provider_role":null,"grant":{"id":"g","scope":"everything"}},
                "org":null,"resource":null,"now":"2026-11-22T10:00:00Z"}"#,
        )
        .unwrap();
        let err = PolicyInput::parse(Hook::Authorize, &input).unwrap_err();
        assert_eq!(err.path, "actor.grant.scope");
        assert!(err.message.contains("read"), "{}", err.message);
        input["actor"]["grant"] = Value::Null;
        input["actor"]["grantee"] = Value::Bool(true);
        let err = PolicyInput::parse(Hook::Authorize, &input).unwrap_err();
        assert_eq!(err.path, "actor.grantee");
        assert!(err.message.contains("unknown field"), "{}", err.message);
        input["actor"].as_object_mut().unwrap().remove("grantee");
        let parsed = PolicyInput::parse(Hook::Authorize, &input).unwrap();
        let again = PolicyInput::parse(Hook::Authorize, &parsed.to_value()).unwrap();
        assert_eq!(again, parsed, "the JSON round-trips");
    }
}
