//! `invite-roles`: who may invite whom. Owners invite admins and members; admins invite
//! members; nobody else invites. Other actions are left to the other layers (`abstain`).
//!
//! Config: none (`{}`). This is also the plugin the benchmarks compare with Cedar and Rego.

use serde::Deserialize;
use tenantry_sdk::{AuthorizeInput, Hook, Policy, Verdict, abstain, allow, deny};

/// The part of `member.invite`'s resource this plugin reads.
#[derive(Deserialize)]
struct Invitation<'a> {
    role: &'a str,
}

pub struct InviteRoles;

impl Policy for InviteRoles {
    const HOOKS: &'static [Hook] = &[Hook::Authorize];

    fn authorize(input: &AuthorizeInput, _config: &str) -> Verdict {
        if input.action != "member.invite" {
            return abstain();
        }
        let Ok(invitation) = serde_json::from_str::<Invitation>(&input.resource) else {
            return deny("member.invite without the invited role");
        };
        match (input.actor.role.as_deref(), invitation.role) {
            (Some("owner"), "admin" | "member") => allow("owners invite admins and members"),
            (Some("admin"), "member") => allow("admins invite members"),
            (Some(role), invited) => deny(format!("role `{role}` may not invite a `{invited}`")),
            (None, _) => deny("only members of the organization invite"),
        }
    }
}

tenantry_sdk::plugin!(InviteRoles);

#[cfg(test)]
mod tests {
    use tenantry_sdk::Actor;

    use super::*;

    fn invite(role: Option<&str>, invited: &str) -> Verdict {
        let input = AuthorizeInput {
            action: "member.invite".into(),
            actor: Actor {
                id: Some("u".into()),
                operator: false,
                relation: "member".into(),
                role: role.map(Into::into),
                provider_role: None,
                grant_scope: None,
            },
            org: None,
            resource: format!(r#"{{"role":"{invited}","portal_access":true}}"#),
            now: "2026-11-23T10:00:00Z".into(),
        };
        InviteRoles::authorize(&input, "{}")
    }

    #[test]
    fn admins_invite_members_only() {
        assert!(matches!(invite(Some("admin"), "member"), Verdict::Allow(_)));
        assert!(matches!(invite(Some("admin"), "admin"), Verdict::Deny(_)));
        assert!(matches!(invite(Some("owner"), "admin"), Verdict::Allow(_)));
    }

    #[test]
    fn members_and_outsiders_do_not_invite() {
        assert!(matches!(invite(Some("member"), "member"), Verdict::Deny(_)));
        assert!(matches!(invite(None, "member"), Verdict::Deny(_)));
    }

    #[test]
    fn other_actions_are_left_to_other_layers() {
        let mut input = AuthorizeInput {
            action: "org.read".into(),
            actor: Actor {
                id: None,
                operator: false,
                relation: "none".into(),
                role: None,
                provider_role: None,
                grant_scope: None,
            },
            org: None,
            resource: "{}".into(),
            now: "2026-11-23T10:00:00Z".into(),
        };
        assert!(matches!(
            InviteRoles::authorize(&input, "{}"),
            Verdict::Abstain
        ));
        input.resource = "not json".into();
        assert!(matches!(
            InviteRoles::authorize(&input, "{}"),
            Verdict::Abstain
        ));
    }
}
