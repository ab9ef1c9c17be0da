//! Hand-overs: an owner hands the organization to one of its admins; the operator moves a
//! customer to another service provider.
//!
//! Moving a customer re-checks what depended on its provider: the `authorize` decision is
//! asked with the old provider's layer and again with the new one's (either may refuse); the
//! plan must be one the new provider may assign (a platform plan, or one of its own given in
//! the request); the old provider's remote-support requests and grants end at once, and
//! changes it asked for that wait for consent are superseded. Everything is audited in the
//! organization and both providers, and all three hear of it.

use serde::Deserialize;
use serde_json::json;

use super::App;
use super::access::{self, load_org};
use super::actor::Actor;
use super::change_requests::announce;
use super::journal::{audit, audit_as, emit};
use super::orgs::{Created, assignable_plan};
use super::quotas::Quotas;
use crate::domain::change_request::ChangeStatus;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PlanId, UserId};
use crate::domain::member::{Membership, MembershipStatus, Role};
use crate::domain::org::{Hierarchy, ManagedBy, Org, OrgStatus};
use crate::domain::privilege::Standing;
use crate::domain::remote_support::SupportStatus;
use crate::error::{Error, Result};
use crate::policy::Subject;
use crate::storage::{Tx, View};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"user_id": "0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31"}))]
#[serde(deny_unknown_fields)]
pub struct OwnershipTransfer {
    pub user_id: UserId,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"service_provider_id": "0192f1a4-7c3e-7b1a-9c55-2f0e8d6b4a10"}))]
#[serde(deny_unknown_fields)]
pub struct Move {
    pub service_provider_id: OrgId,
    /// A plan the new provider may assign, when the organization's plan is the old provider's.
    pub plan_id: Option<PlanId>,
}

const INVALID_MOVE: &str = "move is invalid";

/// Ends what the old provider held on the organization: its people's remote-support requests
/// (denied) and grants (ended), and the changes it asked for (superseded).
fn end_old_provider_access(tx: &Tx<'_>, org: &Org, old: OrgId, now: Timestamp) -> Result<()> {
    let view = tx.view();
    let why = "the organization moved to another service provider".to_owned();
    for id in view.remote_support_on(org.id)? {
        let Some(mut r) = view.remote_support(id)? else {
            continue;
        };
        if r.provider_id != old {
            continue;
        }
        let (status, event) = match r.status_at(now) {
            SupportStatus::Pending => (SupportStatus::Denied, "denied"),
            SupportStatus::Granted => (SupportStatus::Ended, "ended"),
            _ => continue,
        };
        r.status = status;
        if status == SupportStatus::Ended {
            r.ends_at = Some(now);
        }
        r.record(event, now, None, Some(why.clone()));
        tx.put_remote_support(&r)?;
        for to in [org.id, old] {
            emit(
                tx,
                to,
                "remote_support.changed",
                json!({"request_id": r.id, "org_id": org.id, "status": r.status}),
                now,
            )?;
        }
    }
    for id in view.change_requests_of(org.id)? {
        if let Some(mut r) = view.change_request(id)?
            && r.status == ChangeStatus::Pending
        {
            r.status = ChangeStatus::Superseded;
            r.decided_at = Some(now);
            tx.put_change_request(&r)?;
        }
    }
    Ok(())
}

/// The new provider for a move: an active service provider, not the current one. An id that
/// names nothing is bad input (422); an organization that cannot serve is a conflict (409).
fn new_provider(view: &View<'_>, org: &Org, to: OrgId) -> Result<Org> {
    let provider = load_org(view, to).map_err(|_| {
        Error::field(
            INVALID_MOVE,
            "service_provider_id",
            format!("organization `{to}` does not exist"),
        )
    })?;
    let problem = if provider.id == org.id {
        Some("an organization is not its own service provider".to_owned())
    } else if provider.hierarchy != Hierarchy::Supernode {
        Some(format!(
            "`{}` is not a service provider",
            provider.tenant_id
        ))
    } else if provider.status != OrgStatus::Active {
        Some(format!("`{}` is suspended", provider.tenant_id))
    } else if Some(provider.id) == org.service_provider_id {
        Some(format!(
            "`{}` already serves this organization",
            provider.tenant_id
        ))
    } else {
        None
    };
    match problem {
        Some(reason) => Err(Error::Conflict(format!(
            "the organization cannot move there: {reason}"
        ))),
        None => Ok(provider),
    }
}

impl App {
    /// The owner hands the organization to one of its active admins, and becomes an admin.
    pub async fn transfer_ownership(
        &self,
        actor: Actor,
        org: OrgId,
        transfer: OwnershipTransfer,
    ) -> Result<Created> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let to = transfer.user_id;
            let access = app.access(
                &view,
                actor,
                org,
                "org.transfer_ownership",
                json!({"user_id": to}),
            )?;
            if !matches!(
                access.standing(),
                Some(Standing::Member(Role::Owner) | Standing::Operator)
            ) {
                return Err(Error::Forbidden {
                    reason: "ownership is handed over by the owner".into(),
                    layer: "platform".into(),
                });
            }
            if access.org.managed_by != ManagedBy::Customer {
                return Err(Error::Conflict(
                    "a provider-managed organization has no owner: switch it to customer-managed, naming the owner".into(),
                ));
            }
            let target: Option<Membership> = view.membership(org, to)?;
            let Some(mut target) = target.filter(|m| m.status == MembershipStatus::Active) else {
                return Err(Error::field(
                    "ownership transfer is invalid",
                    "user_id",
                    format!("`{to}` is not an active member of this organization"),
                ));
            };
            if target.role != Role::Admin {
                return Err(Error::Conflict(format!(
                    "ownership goes to an active admin; `{to}` is `{}`",
                    target.role.as_str()
                )));
            }
            for mut m in view.all_members_of(org)? {
                if m.role == Role::Owner {
                    m.role = Role::Admin;
                    tx.put_membership(&m)?;
                }
            }
            target.role = Role::Owner;
            tx.put_membership(&target)?;
            audit(
                tx,
                &access,
                "org.transfer_ownership",
                Some(to.to_string()),
                now,
            )?;
            announce(
                tx,
                &access.org,
                "org.owner_changed",
                json!({"org_id": org, "owner": to}),
                now,
            )?;
            Ok(Created {
                org: access.org,
                owner_invitation_token: None,
                owner_invitation_mailed: false,
                pending: None,
            })
        })
        .await
    }

    /// The operator moves a customer to another service provider (module docs).
    pub async fn move_org(&self, actor: Actor, org: OrgId, request: Move) -> Result<Org> {
        if !actor.is_operator() {
            return Err(Error::Forbidden {
                reason:
                    "only the platform operator moves an organization to another service provider"
                        .into(),
                layer: "platform".into(),
            });
        }
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let resource = json!({"to": request.service_provider_id, "plan_id": request.plan_id});
            let access = app.access(&view, actor, org, "org.move", resource.clone())?;
            let Some(old) = access.org.service_provider_id else {
                return Err(Error::Conflict(format!(
                    "organization `{}` has no service provider to move from",
                    access.org.tenant_id
                )));
            };
            let provider = new_provider(&view, &access.org, request.service_provider_id)?;
            Quotas::check(
                "customers_per_provider",
                view.customers_of(provider.id)?.len(),
                1,
                app.settings.quotas.customers_per_provider,
                "raise the quota, or move fewer customers",
            )?;
            // The new provider's layer has its say on the same question.
            let input = access.policy_input("org.move", resource, now);
            let subject = Subject {
                provider: Some(provider.id),
                org: Some(org),
            };
            access::forbid_unless_allowed(app.ask(subject, input))?;
            let mut next = access.org.clone();
            let plan_id = request.plan_id.or(next.plan_id);
            if let Some(plan_id) = plan_id {
                let plan = assignable_plan(&view, plan_id, Some(provider.id)).map_err(|_| {
                    Error::field(
                        INVALID_MOVE,
                        "plan_id",
                        format!(
                            "plan `{plan_id}` is not one `{}` may assign; give `plan_id`: a platform plan or one of its own",
                            provider.tenant_id
                        ),
                    )
                })?;
                let over = super::plans::usage(&view, &next, now)?.exceeding(&plan.limits);
                if !over.is_empty() {
                    return Err(Error::Exceeded {
                        title: "plan is too small for the organization".into(),
                        fields: over,
                    });
                }
                next.plan_id = Some(plan.id);
                next.plan_features = plan.features.clone();
            }
            end_old_provider_access(tx, &access.org, old, now)?;
            next.service_provider_id = Some(provider.id);
            next.updated_at = now;
            tx.update_org(&access.org, &next)?;
            let target = Some(format!("{old} -> {}", provider.id));
            audit(tx, &access, "org.move", target.clone(), now)?;
            for side in [old, provider.id] {
                audit_as(tx, side, actor, "org.move", target.clone(), None, now)?;
            }
            let data = json!({"org_id": org, "from": old, "to": provider.id});
            for to in [org, old, provider.id] {
                emit(tx, to, "org.provider_changed", data.clone(), now)?;
            }
            Ok(next)
        })
        .await
    }
}
