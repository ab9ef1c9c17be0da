//! A plugin built against `tenantry:policy@0.1.0` (the contract before 0.2.0), straight from
//! its WIT: a host that moved on must still run it. It allows `authorize` and says what it
//! was given, in the 0.1.0 shapes (flat records, strings for closed sets).

wit_bindgen::generate!({ world: "plugin", path: "../../../host/wit/tenantry-policy-0.1.0" });

use exports::tenantry::policy::hooks::Guest;
use tenantry::policy::types::{
    AuthorizeInput, Hook, LinkInput, RemoteSupportInput, ShareInput, Verdict,
};

struct Legacy;

impl Guest for Legacy {
    fn implemented() -> Vec<Hook> {
        vec![Hook::Authorize]
    }

    fn authorize(input: AuthorizeInput, _config: String) -> Verdict {
        Verdict::Allow(format!(
            "legacy plugin allows {} by a {} ({})",
            input.action,
            input.actor.relation,
            input.actor.role.unwrap_or_default()
        ))
    }

    fn link(_: LinkInput, _: String) -> Verdict {
        Verdict::Abstain
    }

    fn share(_: ShareInput, _: String) -> Verdict {
        Verdict::Abstain
    }

    fn remote_support(_: RemoteSupportInput, _: String) -> Verdict {
        Verdict::Abstain
    }
}

export!(Legacy);
