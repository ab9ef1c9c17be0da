//! `invite-roles`: who may invite whom. Owners invite admins and members; admins invite
//! members; nobody else invites. Other actions are left to the other layers (`abstain`).
//!
//! Config: none (`{}`). This is also the plugin the benchmarks compare with Cedar and Rego.

use serde::Deserialize;
use tenantry_sdk::{AuthorizeInput, Hook, NoConfig, Policy, Role, Verdict, abstain, allow, deny};

/// The part of `member.invite`'s resource this plugin reads.
#[derive(Deserialize)]
struct Invitation<'a> {
    role: &'a str,
}

pub struct InviteRoles;

impl Policy for InviteRoles {
    type Config = NoConfig;
    const HOOKS: &'static [Hook] = &[Hook::Authorize];

    fn authorize(input: &AuthorizeInput, _config: &NoConfig) -> Verdict {
        if input.action != "member.invite" {
            return abstain();
        }
        let Ok(invitation) = serde_json::from_str::<Invitation>(&input.resource) else {
            return deny("member.invite without the invited role");
        };
        match (input.actor.role, invitation.role) {
            (Some(Role::Owner), "admin" | "member") => allow("owners invite admins and members"),
            (Some(Role::Admin), "member") => allow("admins invite members"),
            (Some(role), invited) => deny(format!(
                "role `{}` may not invite a `{invited}`",
                role.as_str()
            )),
            (None, _) => deny("only members of the organization invite"),
        }
    }
}

tenantry_sdk::plugin!(InviteRoles);

#[cfg(test)]
mod tests {
    use tenantry_sdk::Actor;

    use super::*;

    fn invite(role: Option<Role>, invited: &str) -> Verdict {
        let input = AuthorizeInput {
            actor: Actor {
                role,
                ..Actor::member(Role::Member)
            },
            resource: format!(r#"{{"role":"{invited}","portal_access":true}}"#),
            ..AuthorizeInput::example("member.invite")
        };
        InviteRoles::authorize(&input, &NoConfig::default())
    }

    #[test]
    fn admins_invite_members_only() {
        assert_eq!(
            invite(Some(Role::Admin), "member"),
            allow("admins invite members")
        );
        assert!(matches!(
            invite(Some(Role::Admin), "admin"),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            invite(Some(Role::Owner), "admin"),
            Verdict::Allow(_)
        ));
    }

    #[test]
    fn members_and_outsiders_do_not_invite() {
        assert!(matches!(
            invite(Some(Role::Member), "member"),
            Verdict::Deny(_)
        ));
        assert_eq!(
            invite(None, "member"),
            deny("only members of the organization invite")
        );
    }

    #[test]
    fn other_actions_are_left_to_other_layers() {
        let mut input = AuthorizeInput::example("org.read");
        assert_eq!(
            InviteRoles::authorize(&input, &NoConfig::default()),
            abstain()
        );
        input.resource = "not json".into();
        assert_eq!(
            InviteRoles::authorize(&input, &NoConfig::default()),
            abstain()
        );
    }
}
