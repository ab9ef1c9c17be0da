// For a plugin's unit tests under node (`node --import @tenantry/policy/register --test`):
// inputs with plausible defaults, the same as the Rust SDK's `example()`s, to start from and
// change what a test is about; and the lines the plugin logged.
import { lines } from "./log-native.js";

const NOW = "2026-11-23T10:00:00.000Z";

/** `acme`-like: an active customer-managed business of provider `telco`, region `default`. */
export function org(tenantId = "acme", fields = {}) {
  return {
    id: `org-${tenantId}`,
    tenantId,
    name: tenantId,
    status: "active",
    accountType: "business-user",
    hierarchy: "node",
    managedBy: "customer",
    remoteSupportRequiresApproval: true,
    serviceProviderId: "org-telco",
    region: "default",
    planFeatures: [],
    ...fields,
  };
}

/** An active member of the organization with `role`. */
export function member(role = "admin") {
  return {
    id: "user-1",
    operator: false,
    relation: "member",
    role,
    providerRole: undefined,
    grant: undefined,
  };
}

/** A member of the organization's provider with `role`, acting as the provider. */
export function provider(role = "admin") {
  return { ...member(role), relation: "provider", role: undefined, providerRole: role };
}

/** The platform operator. */
export function operator() {
  return { ...member(), id: undefined, operator: true, relation: "operator", role: undefined };
}

export const examples = {
  /** An admin of `acme` asks for `action`; `resource` is JSON text. */
  authorize: (action = "org.read", fields = {}) => ({
    action,
    actor: member("admin"),
    org: org(),
    resource: "null",
    now: NOW,
    ...fields,
  }),
  /** An admin of `acme` invites `globex` to link; neither has links yet, 10 allowed. */
  link: (fields = {}) => ({
    action: "invite",
    actor: member("admin"),
    from: org(),
    to: org("globex"),
    fromActiveLinks: 0,
    toActiveLinks: 0,
    fromMaxActiveLinks: 10,
    toMaxActiveLinks: 10,
    now: NOW,
    ...fields,
  }),
  /** An admin of `acme` shares its team `Support` with `globex` over an active link. */
  share: (fields = {}) => ({
    actor: member("admin"),
    resource: { kind: "team", id: "team-support", name: "Support", orgId: "org-acme" },
    org: org(),
    peer: org("globex"),
    link: { id: "link-1", status: "active" },
    now: NOW,
    ...fields,
  }),
  /** A provider member asks `acme` for 60 minutes of read access; the plan allows 480. */
  remoteSupport: (fields = {}) => ({
    org: org(),
    requester: { id: "user-2", providerId: "org-telco", providerRole: "member" },
    request: { reason: "ticket 42", minutes: 60, scope: "read" },
    plan: { maxRemoteSupportMinutes: 480 },
    now: NOW,
    ...fields,
  }),
};

/** The lines logged since the last `clearLogs()`. */
export function logs() {
  return [...lines];
}

export function clearLogs() {
  lines.length = 0;
}
