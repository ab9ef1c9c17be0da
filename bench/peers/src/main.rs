//! `tenantry-peers ROUNDS ADMIN_INPUT MEMBER_INPUT`: Cedar and Rego (regorus) deciding the rule
//! tenantry-bench measures ("a user with role admin in organization X may invite a member; a
//! member may not"), each checked to allow the admin and deny the member, then timed ROUNDS
//! times in alternating blocks. Prints one line per engine: its name, a tab, and every sample
//! in nanoseconds. The inputs are tenantry's `authorize` inputs as JSON, which Rego reads as
//! they are; Cedar gets its own entities and request.

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use serde_json::{Value, json};

const CEDAR_RULE: &str = r#"
permit (principal, action == Action::"member.invite", resource)
when { principal in resource.owners && (context.role == "admin" || context.role == "member") };
permit (principal, action == Action::"member.invite", resource)
when { principal in resource.admins && context.role == "member" };
"#;

const REGO_RULE: &str = r#"
package tenantry

default allow := false

allow if {
    input.action == "member.invite"
    input.actor.role == "owner"
    input.resource.role in {"admin", "member"}
}

allow if {
    input.action == "member.invite"
    input.actor.role == "admin"
    input.resource.role == "member"
}
"#;

const WARM_UP: usize = 2_000;
/// Decisions timed in a row before the next engine's turn.
const BLOCK: usize = 500;

type Decide = Box<dyn FnMut() -> bool>;

/// The organization with its owner, admin and member groups, and one user in `group`.
fn cedar_entities(user: &str, group: &str) -> Value {
    json!([
        {"uid": {"type": "User", "id": user}, "attrs": {},
         "parents": [{"type": "Group", "id": group}]},
        {"uid": {"type": "Group", "id": "acme-owners"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Group", "id": "acme-admins"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Group", "id": "acme-members"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Org", "id": "acme"},
         "attrs": {"owners": {"__entity": {"type": "Group", "id": "acme-owners"}},
                   "admins": {"__entity": {"type": "Group", "id": "acme-admins"}}},
         "parents": []}
    ])
}

struct Cedar {
    policies: cedar_policy::PolicySet,
    authorizer: cedar_policy::Authorizer,
}

impl Cedar {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            policies: cedar_policy::PolicySet::from_str(CEDAR_RULE)?,
            authorizer: cedar_policy::Authorizer::new(),
        })
    }

    /// The request and entities for `user` (in `group`) inviting a member, from JSON.
    fn prepare(
        user: &str,
        group: &str,
    ) -> anyhow::Result<(cedar_policy::Request, cedar_policy::Entities)> {
        let uid = |text: &str| cedar_policy::EntityUid::from_str(text).map_err(anyhow::Error::from);
        let request = cedar_policy::Request::new(
            uid(&format!(r#"User::"{user}""#))?,
            uid(r#"Action::"member.invite""#)?,
            uid(r#"Org::"acme""#)?,
            cedar_policy::Context::from_json_value(json!({"role": "member"}), None)?,
            None,
        )?;
        let entities = cedar_policy::Entities::from_json_value(cedar_entities(user, group), None)?;
        Ok((request, entities))
    }

    fn allows(&self, request: &cedar_policy::Request, entities: &cedar_policy::Entities) -> bool {
        self.authorizer
            .is_authorized(request, &self.policies, entities)
            .decision()
            == cedar_policy::Decision::Allow
    }
}

fn cedar_prebuilt() -> anyhow::Result<Decide> {
    let cedar = Cedar::new()?;
    let (member_request, member_entities) = Cedar::prepare("bob", "acme-members")?;
    anyhow::ensure!(!cedar.allows(&member_request, &member_entities));
    let (request, entities) = Cedar::prepare("alice", "acme-admins")?;
    anyhow::ensure!(cedar.allows(&request, &entities));
    Ok(Box::new(move || cedar.allows(&request, &entities)))
}

fn cedar_from_json() -> anyhow::Result<Decide> {
    let cedar = Cedar::new()?;
    Ok(Box::new(move || {
        Cedar::prepare("alice", "acme-admins")
            .map(|(request, entities)| cedar.allows(&request, &entities))
            .unwrap_or(false)
    }))
}

fn rego(admin: &str, member: &str) -> anyhow::Result<Decide> {
    let mut engine = regorus::Engine::new();
    engine.add_policy("rule.rego".into(), REGO_RULE.into())?;
    let (admin, member) = (
        regorus::Value::from_json_str(admin)?,
        regorus::Value::from_json_str(member)?,
    );
    let mut allows = move |input: &regorus::Value| {
        engine.set_input(input.clone());
        engine
            .eval_rule("data.tenantry.allow".into())
            .is_ok_and(|v| v == regorus::Value::from(true))
    };
    anyhow::ensure!(allows(&admin) && !allows(&member));
    Ok(Box::new(move || allows(&admin)))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, rounds, admin, member] = args.as_slice() else {
        anyhow::bail!("usage: tenantry-peers ROUNDS ADMIN_INPUT_JSON MEMBER_INPUT_JSON");
    };
    let rounds: usize = rounds.parse()?;
    let mut engines: Vec<(&str, Decide)> = vec![
        ("cedar 4: pre-built request and entities", cedar_prebuilt()?),
        (
            "cedar 4: entities and request from JSON",
            cedar_from_json()?,
        ),
        ("regorus 0.14: set_input + eval_rule", rego(admin, member)?),
    ];
    for (_, decide) in &mut engines {
        for _ in 0..WARM_UP {
            black_box(decide());
        }
    }
    let mut samples = vec![Vec::with_capacity(rounds); engines.len()];
    for _ in 0..rounds.div_ceil(BLOCK) {
        for ((_, decide), samples) in engines.iter_mut().zip(&mut samples) {
            for _ in 0..BLOCK {
                let t = Instant::now();
                black_box(decide());
                samples.push(t.elapsed().as_nanos());
            }
        }
    }
    for ((name, _), samples) in engines.iter().zip(samples) {
        let samples: Vec<String> = samples.iter().map(u128::to_string).collect();
        println!("{name}\t{}", samples.join(" "));
    }
    Ok(())
}
