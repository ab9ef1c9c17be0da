//! From the JSON inputs every layer sees to the typed records of the WIT contract, and from a
//! plugin's verdict back to an [`Answer`]. Anything missing or malformed is `invalid_input`;
//! anything a plugin returns that its hook does not allow is `invalid_output`.

use serde_json::Value;

use super::bindings::tenantry::policy::types::{
    Actor, AuthorizeInput, LinkInput, Org, RemoteSupportInput, ShareInput, Verdict as WitVerdict,
};
use crate::policy::Hook;
use crate::policy::rhai_policy::PolicyFault;
use crate::policy::verdict::{Answer, Verdict};

fn bad(what: &str) -> PolicyFault {
    PolicyFault {
        kind: "invalid_input",
        message: format!("the input has no valid `{what}`"),
    }
}

fn text(v: &Value, key: &str) -> Result<String, PolicyFault> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad(key))
}

fn optional_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn number(v: &Value, key: &str) -> Result<u32, PolicyFault> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(key))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, PolicyFault> {
    v.get(key).filter(|x| !x.is_null()).ok_or_else(|| bad(key))
}

fn org(v: &Value) -> Result<Org, PolicyFault> {
    Ok(Org {
        id: text(v, "id")?,
        tenant_id: text(v, "tenant_id")?,
        name: text(v, "name")?,
        status: text(v, "status")?,
        account_type: text(v, "account_type")?,
        hierarchy: text(v, "hierarchy")?,
        managed_by: text(v, "managed_by")?,
        remote_support_requires_approval: v
            .get("remote_support_requires_approval")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("remote_support_requires_approval"))?,
        service_provider_id: optional_text(v, "service_provider_id"),
        region: text(v, "region")?,
    })
}

/// Limits the size of JSON handed to a plugin as text.
fn json_text(v: &Value, max: usize, what: &str) -> Result<String, PolicyFault> {
    let text = v.to_string();
    if text.len() > max {
        return Err(PolicyFault {
            kind: "invalid_input",
            message: format!("`{what}` is over {max} bytes"),
        });
    }
    Ok(text)
}

pub fn authorize(v: &Value, max_input: usize) -> Result<AuthorizeInput, PolicyFault> {
    let actor = field(v, "actor")?;
    Ok(AuthorizeInput {
        action: text(v, "action")?,
        actor: Actor {
            id: optional_text(actor, "id"),
            operator: actor
                .get("operator")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            relation: text(actor, "relation")?,
            role: optional_text(actor, "role"),
            provider_role: optional_text(actor, "provider_role"),
            grant_scope: actor.get("grant").and_then(|g| optional_text(g, "scope")),
        },
        org: match v.get("org") {
            Some(o) if !o.is_null() => Some(org(o)?),
            _ => None,
        },
        resource: json_text(
            v.get("resource").unwrap_or(&Value::Null),
            max_input,
            "resource",
        )?,
        now: text(v, "now")?,
    })
}

pub fn link(v: &Value) -> Result<LinkInput, PolicyFault> {
    Ok(LinkInput {
        action: text(v, "action")?,
        from: org(field(v, "from")?)?,
        to: org(field(v, "to")?)?,
        from_active_links: number(v, "from_active_links")?,
        to_active_links: number(v, "to_active_links")?,
        from_max_active_links: number(v, "from_max_active_links")?,
        to_max_active_links: number(v, "to_max_active_links")?,
        now: text(v, "now")?,
    })
}

pub fn share(v: &Value) -> Result<ShareInput, PolicyFault> {
    let resource = field(v, "resource")?;
    Ok(ShareInput {
        org: org(field(v, "org")?)?,
        peer: org(field(v, "peer")?)?,
        link_status: text(field(v, "link")?, "status")?,
        resource_kind: text(resource, "kind")?,
        resource_id: text(resource, "id")?,
        resource_name: text(resource, "name")?,
        resource_org_id: text(resource, "org_id")?,
        now: text(v, "now")?,
    })
}

pub fn remote_support(v: &Value) -> Result<RemoteSupportInput, PolicyFault> {
    let requester = field(v, "requester")?;
    let request = field(v, "request")?;
    Ok(RemoteSupportInput {
        org: org(field(v, "org")?)?,
        requester_id: text(requester, "id")?,
        requester_provider_id: text(requester, "provider_id")?,
        reason: text(request, "reason")?,
        minutes: number(request, "minutes")?,
        scope: text(request, "scope")?,
        plan_max_minutes: number(field(v, "plan")?, "max_remote_support_minutes")?,
        now: text(v, "now")?,
    })
}

/// A plugin's verdict as an answer, checked against its hook and the output limit.
pub fn answer(hook: Hook, verdict: WitVerdict, max_output: usize) -> Result<Answer, PolicyFault> {
    let (verdict, reason, minutes) = match verdict {
        WitVerdict::Allow(r) => (Verdict::Allow, Some(r), None),
        WitVerdict::Deny(r) => (Verdict::Deny, Some(r), None),
        WitVerdict::Abstain => (Verdict::Abstain, None, None),
        WitVerdict::Grant(g) => (Verdict::Grant, Some(g.reason), Some(g.minutes)),
        WitVerdict::RequireApproval(r) => (Verdict::RequireApproval, Some(r), None),
    };
    if reason.as_ref().is_some_and(|r| r.len() > max_output) {
        return Err(PolicyFault {
            kind: "output_too_large",
            message: format!("the reason is over {max_output} bytes"),
        });
    }
    if !verdict.valid_for(hook) {
        return Err(PolicyFault {
            kind: "invalid_output",
            message: format!(
                "`{}` is not a verdict of hook `{}`",
                verdict.name(),
                hook.name()
            ),
        });
    }
    if minutes == Some(0) {
        return Err(PolicyFault {
            kind: "invalid_output",
            message: "`grant` needs at least one minute".into(),
        });
    }
    Ok(Answer {
        verdict,
        reason: reason.filter(|r| !r.is_empty()),
        minutes,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::wasm::bindings::tenantry::policy::types::GrantAnswer;
    use crate::test_support::any_json;

    fn any_verdict() -> impl Strategy<Value = WitVerdict> {
        let text = ".{0,40}";
        prop_oneof![
            text.prop_map(WitVerdict::Allow),
            text.prop_map(WitVerdict::Deny),
            Just(WitVerdict::Abstain),
            (any::<u32>(), text)
                .prop_map(|(minutes, reason)| WitVerdict::Grant(GrantAnswer { minutes, reason })),
            text.prop_map(WitVerdict::RequireApproval),
        ]
    }

    proptest! {
        /// Whatever JSON reaches the conversion, it answers a record or a named fault.
        #[test]
        fn any_input_converts_or_is_refused_by_name(input in any_json()) {
            let kinds = [
                authorize(&input, 4096).err(),
                link(&input).err(),
                share(&input).err(),
                remote_support(&input).err(),
            ];
            for fault in kinds.into_iter().flatten() {
                prop_assert!(fault.kind == "invalid_input", "{}", fault.kind);
            }
        }

        /// Whatever a plugin returns, the host keeps only verdicts its hook allows, within the
        /// output limit, and a grant of at least one minute.
        #[test]
        fn any_verdict_decodes_within_its_hook(verdict in any_verdict(), hook in 0..4usize) {
            let hook = [Hook::Authorize, Hook::Link, Hook::Share, Hook::RemoteSupport][hook];
            match answer(hook, verdict, 16) {
                Ok(a) => {
                    prop_assert!(a.verdict.valid_for(hook));
                    prop_assert!(a.reason.is_none_or(|r| r.len() <= 16));
                    prop_assert!(a.minutes != Some(0));
                }
                Err(fault) => prop_assert!(
                    fault.kind == "invalid_output" || fault.kind == "output_too_large",
                    "{}", fault.kind
                ),
            }
        }
    }
}
