//! The domain inputs the measurements decide on, as the server builds them.

use serde_json::{Value, json};
use tenantry::policy::Hook;
use tenantry::policy::decision_input::DecisionInput;
use tenantry::policy::input::PolicyInput;

/// A Rhai `authorize` layer over the shipped platform policy: invitations only for people
/// with portal access (an organization's own layer in `layers`, every provider's in `scale`).
pub const PORTAL_INVITES_ONLY: &str = r#"
fn authorize(input) {
    if input.action == "member.invite" && input.resource.portal_access == false {
        return deny("invitations are for portal users only");
    }
    abstain()
}
"#;

/// An organization as policies see it.
pub fn org(region: &str) -> Value {
    json!({"id": "0190f5c4-0000-7000-8000-0000000000bb", "tenant_id": "acme", "name": "Acme",
           "status": "active", "account_type": "business_user", "hierarchy": "node",
           "managed_by": "customer", "remote_support_requires_approval": true,
           "service_provider_id": null, "region": region})
}

/// `authorize` for `member.invite`: a caller with `role` in the organization invites someone
/// as `invited`.
pub fn invite_input(role: &str, invited: &str) -> Value {
    json!({
        "action": "member.invite",
        "actor": {"id": "0190f5c4-0000-7000-8000-000000000001", "operator": false,
                  "relation": "member", "role": role, "provider_role": null, "grant": null},
        "org": org("eu-central"),
        "resource": {"role": invited, "portal_access": true},
        "now": "2026-11-22T10:00:00Z",
    })
}

/// [`invite_input`] as a use case builds it: typed, with its JSON.
pub fn invite_built(role: &str, invited: &str) -> anyhow::Result<DecisionInput> {
    let typed = PolicyInput::parse(Hook::Authorize, &invite_input(role, invited))
        .map_err(|e| anyhow::anyhow!("the benchmarks' input: {e}"))?;
    Ok(DecisionInput::built(typed))
}

/// `link` for an invitation from an organization in `from` to one in `to`.
pub fn link_input(from: &str, to: &str) -> Value {
    json!({"action": "invite",
           "actor": {"id": "0190f5c4-0000-7000-8000-000000000001", "operator": false,
                     "relation": "member", "role": "admin", "provider_role": null, "grant": null},
           "from": org(from), "to": org(to), "from_active_links": 1,
           "to_active_links": 2, "from_max_active_links": 10, "to_max_active_links": 10,
           "now": "2026-11-22T10:00:00Z"})
}
