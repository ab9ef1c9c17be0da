//! Every redb table of tenantry, in one place.
//!
//! Five shapes only, so every accessor in [`super::view`] and [`super::tx`] is written once:
//! - records: `id -> encoded record` (ids are UUID v7 as `u128`, so key order is creation order);
//! - pair records: `(parent, id) -> encoded record`, range-scanned by parent (memberships,
//!   audit entries, events);
//! - children: `parent -> {child ids}` multimaps (org -> links, link -> shares, ...);
//! - unique: `text key -> id` (tenant_id, token hashes, the one-live-link-per-pair guard);
//! - terms: `text key -> {ids}` multimaps for prefix search (names, customer references);
//! - keyed records: `text key -> encoded record` (policy bindings, idempotent answers).

use redb::{MultimapTableDefinition, TableDefinition};

pub type Records = TableDefinition<'static, u128, &'static [u8]>;
pub type PairRecords = TableDefinition<'static, (u128, u128), &'static [u8]>;
pub type Children = MultimapTableDefinition<'static, u128, u128>;
pub type Unique = TableDefinition<'static, &'static str, u128>;
pub type Terms = MultimapTableDefinition<'static, &'static str, u128>;
pub type Keyed = TableDefinition<'static, &'static str, &'static [u8]>;
/// Raw bytes by text key (plugin components and their compiled artifacts).
pub type Blobs = TableDefinition<'static, &'static str, &'static [u8]>;

/// `key -> value` settings of the file itself: schema version, operator token hash.
pub const META: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("meta");

pub const ORGS: Records = TableDefinition::new("orgs");
pub const USERS: Records = TableDefinition::new("users");
pub const PLANS: Records = TableDefinition::new("plans");
pub const TOKENS: Records = TableDefinition::new("tokens");
pub const INVITATIONS: Records = TableDefinition::new("invitations");
pub const TEAMS: Records = TableDefinition::new("teams");
pub const CHANNELS: Records = TableDefinition::new("channels");
pub const LINKS: Records = TableDefinition::new("links");
pub const SHARES: Records = TableDefinition::new("shares");
pub const REMOTE_SUPPORT: Records = TableDefinition::new("remote_support");
/// `decision -> (org key, time)`: every decision in time order, for retention.
pub const DECISION_ORDER: Records = TableDefinition::new("decision_order");
/// `decision -> decision record`, keyed by time (ids are UUID v7), so a batch of decisions
/// appends to the newest pages whatever organizations it is about ([`super::records::decisions`]).
pub const DECISION_BODIES: Records = TableDefinition::new("decision_bodies");
/// Policy versions, immutable once written.
pub const POLICY_VERSIONS: Records = TableDefinition::new("policy_versions");
/// Webhook endpoints, with their delivery state.
pub const WEBHOOKS: Records = TableDefinition::new("webhooks");
/// E-mail waiting to be sent, oldest first.
pub const MAIL_QUEUE: Records = TableDefinition::new("mail_queue");
/// Changes a provider asked of a customer that wait for the customer's consent.
pub const CHANGE_REQUESTS: Records = TableDefinition::new("change_requests");
/// `entry -> (storage key, time)`: remembered idempotent answers in time order, for pruning.
pub const IDEMPOTENCY_ORDER: Records = TableDefinition::new("idempotency_order");

/// Remembered answers to requests with an `Idempotency-Key`.
pub const IDEMPOTENCY: Keyed = TableDefinition::new("idempotency");
/// Keys of idempotent requests being processed, when several servers share the store.
pub const IDEMPOTENCY_CLAIMS: Keyed = TableDefinition::new("idempotency_claims");
/// `sha256 -> plugin record` (hooks, size, uploader).
pub const PLUGINS: Keyed = TableDefinition::new("plugins");
/// `"{org}:{sha256}"` (`"platform:{sha256}"` for the operator) -> one owner's upload.
pub const PLUGIN_OWNERSHIPS: Keyed = TableDefinition::new("plugin_ownerships");
/// `wasm:{sha256}` -> the component; `artifact:{sha256}` -> a MAC and its compiled form.
pub const PLUGIN_BLOBS: Blobs = TableDefinition::new("plugin_blobs");
/// `"{layer}:{owner}:{hook}"` -> the binding: which version is active.
pub const POLICY_BINDINGS: Keyed = TableDefinition::new("policy_bindings");

/// `(org, user) -> membership`.
pub const MEMBERSHIPS: PairRecords = TableDefinition::new("memberships");
/// `(org, entry) -> audit entry`; entry ids are UUID v7, so a range is a time range.
pub const AUDIT: PairRecords = TableDefinition::new("audit");
/// `(org, decision) -> nothing`: each organization's decisions, their bodies in
/// [`DECISION_BODIES`]; org 0 holds decisions about no organization.
pub const DECISIONS_BY_ORG: PairRecords = TableDefinition::new("decisions_by_org");
/// `(org, event) -> outbox event`.
pub const EVENTS: PairRecords = TableDefinition::new("events");
/// `(webhook, delivery) -> one delivery attempt`, the newest kept per endpoint.
pub const WEBHOOK_DELIVERIES: PairRecords = TableDefinition::new("webhook_deliveries");
/// `(provider, kind) -> its template` for that kind of e-mail.
pub const MAIL_TEMPLATES: PairRecords = TableDefinition::new("mail_templates");
/// `(org, address key) -> invitation e-mails` the organization sent there in the current window.
pub const INVITATION_MAIL_BUDGETS: PairRecords = TableDefinition::new("invitation_mail_budgets");

pub const USER_ORGS: Children = MultimapTableDefinition::new("user_orgs");
pub const USER_TOKENS: Children = MultimapTableDefinition::new("user_tokens");
pub const PROVIDER_CUSTOMERS: Children = MultimapTableDefinition::new("provider_customers");
pub const ORG_TEAMS: Children = MultimapTableDefinition::new("org_teams");
pub const ORG_CHANNELS: Children = MultimapTableDefinition::new("org_channels");
pub const ORG_LINKS: Children = MultimapTableDefinition::new("org_links");
pub const ORG_SHARES: Children = MultimapTableDefinition::new("org_shares");
pub const LINK_SHARES: Children = MultimapTableDefinition::new("link_shares");
pub const RESOURCE_SHARES: Children = MultimapTableDefinition::new("resource_shares");
pub const ORG_REMOTE_SUPPORT: Children = MultimapTableDefinition::new("org_remote_support");
pub const ORG_INVITATIONS: Children = MultimapTableDefinition::new("org_invitations");
pub const ORG_PLANS: Children = MultimapTableDefinition::new("org_plans");
/// `user -> invitations addressed to them`, for the invitee's own view.
pub const USER_INVITATIONS: Children = MultimapTableDefinition::new("user_invitations");
/// `user -> remote-support requests they made`, for the open-requests quota.
pub const REQUESTER_REMOTE_SUPPORT: Children =
    MultimapTableDefinition::new("requester_remote_support");
pub const ORG_CHANGE_REQUESTS: Children = MultimapTableDefinition::new("org_change_requests");
pub const ORG_WEBHOOKS: Children = MultimapTableDefinition::new("org_webhooks");
/// `plan -> organizations on it`.
pub const PLAN_ORGS: Children = MultimapTableDefinition::new("plan_orgs");
/// `deadline (Unix ms) -> pending links` that expire then: the sweeper reads what is due, not
/// every link.
pub const LINK_DEADLINES: Children = MultimapTableDefinition::new("link_deadlines");
/// `next attempt (Unix ms) -> queued e-mails`: the delivery task reads what is due.
pub const MAIL_DUE: Children = MultimapTableDefinition::new("mail_due");
/// `deadline (Unix ms) -> remote-support requests` that expire or whose grant ends then.
pub const REMOTE_SUPPORT_DEADLINES: Children =
    MultimapTableDefinition::new("remote_support_deadlines");

pub const ORG_BY_TENANT: Unique = TableDefinition::new("org_by_tenant");
pub const TOKEN_BY_HASH: Unique = TableDefinition::new("token_by_hash");
pub const INVITATION_BY_HASH: Unique = TableDefinition::new("invitation_by_hash");
pub const USER_BY_EMAIL: Unique = TableDefinition::new("user_by_email");
/// `"{low}:{high}"` of the two organization ids -> the live (pending or active) link.
/// Its existence is the one-live-link-per-pair invariant.
pub const LIVE_LINK_BY_PAIR: Unique = TableDefinition::new("live_link_by_pair");
pub const PLAN_BY_NAME: Unique = TableDefinition::new("plan_by_name");
/// `"{org}:{extension}"` -> the member with that phone extension.
pub const ORG_EXTENSIONS: Unique = TableDefinition::new("org_extensions");

pub const ORG_BY_NAME: Terms = MultimapTableDefinition::new("org_by_name");
pub const ORG_BY_CUSTOMER_REF: Terms = MultimapTableDefinition::new("org_by_customer_ref");
pub const ORG_BY_CONTRACT: Terms = MultimapTableDefinition::new("org_by_contract");
/// `"{provider}\u{1f}{field}\u{1f}{term}"` -> the provider's customers whose name (`n`),
/// customer reference (`r`) or external contract (`c`) is that term (lowercase): a provider's
/// searches read its own customers only.
pub const PROVIDER_ORG_TERMS: Terms = MultimapTableDefinition::new("provider_org_terms");
/// `"{layer}:{owner}:{hook}"` -> every version kept for that binding.
pub const BINDING_VERSIONS: Terms = MultimapTableDefinition::new("binding_versions");
/// `sha256 -> owners` (organization keys, 0 for the operator) of an uploaded component.
pub const PLUGIN_OWNERS: Terms = MultimapTableDefinition::new("plugin_owners");
/// `sha256 -> policy versions` binding the component; with the owners, what keeps it stored.
pub const PLUGIN_VERSIONS: Terms = MultimapTableDefinition::new("plugin_versions");

/// Organizations first: `migrate-store` copies in this order, and on PostgreSQL the records
/// that name an organization are checked against it when each page commits.
pub const ALL_RECORDS: &[Records] = &[
    ORGS,
    USERS,
    POLICY_VERSIONS,
    CHANGE_REQUESTS,
    IDEMPOTENCY_ORDER,
    DECISION_ORDER,
    DECISION_BODIES,
    PLANS,
    TOKENS,
    INVITATIONS,
    TEAMS,
    CHANNELS,
    LINKS,
    SHARES,
    REMOTE_SUPPORT,
    WEBHOOKS,
    MAIL_QUEUE,
];
pub const ALL_PAIR_RECORDS: &[PairRecords] = &[
    MEMBERSHIPS,
    AUDIT,
    EVENTS,
    DECISIONS_BY_ORG,
    WEBHOOK_DELIVERIES,
    MAIL_TEMPLATES,
    INVITATION_MAIL_BUDGETS,
];
pub const ALL_CHILDREN: &[Children] = &[
    USER_ORGS,
    USER_TOKENS,
    PROVIDER_CUSTOMERS,
    ORG_TEAMS,
    ORG_CHANNELS,
    ORG_LINKS,
    ORG_SHARES,
    LINK_SHARES,
    RESOURCE_SHARES,
    ORG_REMOTE_SUPPORT,
    ORG_INVITATIONS,
    ORG_PLANS,
    USER_INVITATIONS,
    REQUESTER_REMOTE_SUPPORT,
    ORG_CHANGE_REQUESTS,
    PLAN_ORGS,
    ORG_WEBHOOKS,
    LINK_DEADLINES,
    REMOTE_SUPPORT_DEADLINES,
    MAIL_DUE,
];
pub const ALL_UNIQUE: &[Unique] = &[
    ORG_BY_TENANT,
    TOKEN_BY_HASH,
    INVITATION_BY_HASH,
    USER_BY_EMAIL,
    LIVE_LINK_BY_PAIR,
    PLAN_BY_NAME,
    ORG_EXTENSIONS,
];
pub const ALL_TERMS: &[Terms] = &[
    ORG_BY_NAME,
    PROVIDER_ORG_TERMS,
    ORG_BY_CUSTOMER_REF,
    ORG_BY_CONTRACT,
    BINDING_VERSIONS,
    PLUGIN_OWNERS,
    PLUGIN_VERSIONS,
];
pub const ALL_KEYED: &[Keyed] = &[
    IDEMPOTENCY,
    IDEMPOTENCY_CLAIMS,
    POLICY_BINDINGS,
    PLUGINS,
    PLUGIN_OWNERSHIPS,
    PLUGIN_BLOBS,
];
