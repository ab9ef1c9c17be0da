//! Records with the indexes that serve them, at the level the use cases think in: insert an
//! organization, the live link between two organizations, the customers of a provider.
//!
//! This is the storage seam (ARCHITECTURE.md, "Where users outgrow one machine"): a use case
//! that goes through these functions does not know which index tables exist or which backend
//! holds them; the same functions run on the redb file and on PostgreSQL, where every unique
//! table's key is also a primary key. Uniqueness is answered as [`StorageError::Duplicate`],
//! which is what a unique constraint answers in SQL.
//!
//! [`StorageError::Duplicate`]: super::StorageError::Duplicate

pub mod change_requests;
pub mod decisions;
pub mod idempotency;
pub mod invitations;
pub mod journal;
pub mod layout_v3;
pub mod layout_v4;
pub mod layout_v5;
pub mod links;
pub mod mail;
pub mod members;
pub mod orgs;
pub mod plans;
pub mod plugins;
pub mod policies;
pub mod remote_support;
pub mod resources;
pub mod shares;
pub mod tokens;
pub mod users;
pub mod webhooks;

use serde::de::DeserializeOwned;

use super::tables::{Children, Records};
use super::{StorageError, Tx, View};
use crate::domain::clock::Timestamp;

/// Moves `id` in a deadline index from its old deadline to its new one.
fn move_deadline(
    tx: &Tx<'_>,
    index: Children,
    id: u128,
    old: Option<Timestamp>,
    new: Option<Timestamp>,
) -> Result<(), StorageError> {
    if old == new {
        return Ok(());
    }
    if let Some(at) = old {
        tx.remove_child(index, deadline_key(at), id)?;
    }
    if let Some(at) = new {
        tx.add_child(index, deadline_key(at), id)?;
    }
    Ok(())
}

/// A time as a deadline index key (times before 1970 sort first).
fn deadline_key(at: Timestamp) -> u128 {
    u128::try_from(at.0).unwrap_or(0)
}

/// The ids `index` lists under `parent`, typed by `id`.
fn ids<T>(
    view: &View<'_>,
    index: Children,
    parent: u128,
    id: fn(u128) -> T,
) -> Result<Vec<T>, StorageError> {
    Ok(view.children(index, parent)?.into_iter().map(id).collect())
}

/// Up to `limit` records of `table` after `after`, in id (creation) order: the scans of
/// maintenance work (the sweeper, the invariant check, layout upgrades).
fn all<T: DeserializeOwned>(
    view: &View<'_>,
    table: Records,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<T>, StorageError> {
    Ok(view
        .scan::<T>(table, after, limit)?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

/// The contract of the record layer: what any backend behind it must keep. Written against the
/// functions, not the tables, so both backends run the same cases.
#[cfg(test)]
mod tests {
    use super::orgs::{Field, Terms};
    use crate::domain::clock::Timestamp;
    use crate::domain::credential::{ApiToken, Invitation};
    use crate::domain::ids::{InvitationId, PlanId, TokenId};
    use crate::domain::ids::{LinkId, OrgId, ResourceId, ShareId, UserId};
    use crate::domain::link::{Link, LinkStatus};
    use crate::domain::member::{Membership, MembershipStatus, Role, User};
    use crate::domain::org::{NewOrg, Org};
    use crate::domain::plan::{Limits, Plan};
    use crate::domain::resource::ResourceKind;
    use crate::domain::share::{Share, ShareStatus};
    use crate::error::Error;
    use crate::storage::Store;

    fn org(tenant_id: &str, name: &str) -> Org {
        NewOrg::example(tenant_id, name)
            .validate(&["default".to_owned()], Timestamp(0))
            .unwrap()
            .org
    }

    fn link(from: OrgId, to: OrgId, status: LinkStatus) -> Link {
        Link {
            id: LinkId::new(),
            from_org: from,
            to_org: to,
            status,
            created_at: Timestamp(0),
            expires_at: Timestamp(4_102_444_800_000), // 2100
            history: Vec::new(),
        }
    }

    /// An empty store on each backend: the embedded file, and a new PostgreSQL database when
    /// `TENANTRY_TEST_POSTGRES` names a server. Every contract holds on both.
    fn stores() -> Vec<(tempfile::TempDir, Store)> {
        let dir = tempfile::tempdir().unwrap();
        let file = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        let mut out = vec![(dir, file)];
        if let Some(server) = crate::storage::postgres::scratch::test_server() {
            let url = crate::storage::postgres::scratch::create_database(&server).unwrap();
            out.push((
                tempfile::tempdir().unwrap(),
                Store::connect(&url, 4).unwrap(),
            ));
        }
        out
    }

    #[tokio::test]
    async fn a_taken_tenant_id_is_a_conflict_and_writes_nothing() {
        for (_dir, store) in stores() {
            let first = org("acme", "Acme GmbH");
            let again = org("acme", "Another Acme");
            let inserted = first.clone();
            store
                .write(move |tx| Ok(tx.insert_org(&inserted)?))
                .await
                .unwrap();
            let refused = store.write(move |tx| Ok(tx.insert_org(&again)?)).await;
            assert!(
                matches!(&refused, Err(Error::Conflict(d)) if d.contains("`acme` is already taken")),
                "{refused:?}"
            );
            let found = store
                .read(|view| {
                    let terms =
                        view.org_terms_after(Terms::Global, Field::Name, "another", None, 10)?;
                    Ok((view.org_by_tenant("acme")?, terms))
                })
                .unwrap();
            assert_eq!(found, (Some(first.id), Vec::new()));
        }
    }

    #[tokio::test]
    async fn a_renamed_organization_is_found_by_its_new_name_only() {
        for (_dir, store) in stores() {
            let old = org("acme", "Acme GmbH");
            let mut new = old.clone();
            new.name = "Zeta AG".into();
            let id = old.id.key();
            store
                .write(move |tx| {
                    tx.insert_org(&old)?;
                    Ok(tx.update_org(&old, &new)?)
                })
                .await
                .unwrap();
            let (acme, zeta) = store
                .read(|view| {
                    Ok((
                        view.org_terms_after(Terms::Global, Field::Name, "acme", None, 10)?,
                        view.org_terms_after(Terms::Global, Field::Name, "zeta", None, 10)?,
                    ))
                })
                .unwrap();
            assert_eq!(acme, Vec::new());
            assert_eq!(zeta, vec![("zeta ag".to_owned(), id)]);
        }
    }

    #[tokio::test]
    async fn a_moved_customer_is_found_by_its_new_provider_only() {
        for (_dir, store) in stores() {
            let (first, second) = (OrgId::new(), OrgId::new());
            let mut old = org("acme", "Acme GmbH");
            old.service_provider_id = Some(first);
            let new = Org {
                service_provider_id: Some(second),
                ..old.clone()
            };
            let (before, after) = (old.clone(), new.clone());
            store
                .write(move |tx| {
                    tx.insert_org(&before)?;
                    Ok(tx.update_org(&before, &after)?)
                })
                .await
                .unwrap();
            let found = store
                .read(|view| {
                    let search = |provider| {
                        view.org_terms_after(
                            Terms::CustomersOf(provider),
                            Field::Name,
                            "acme",
                            None,
                            10,
                        )
                    };
                    Ok((
                        search(first)?.len(),
                        search(second)?.len(),
                        view.customers_of(first)?,
                        view.customers_of(second)?,
                    ))
                })
                .unwrap();
            assert_eq!(found, (0, 1, Vec::new(), vec![old.id]));
        }
    }

    #[tokio::test]
    async fn one_live_link_per_pair_and_an_ended_one_frees_the_pair() {
        for (_dir, store) in stores() {
            let (a, b) = (OrgId::new(), OrgId::new());
            let mut first = link(a, b, LinkStatus::Pending);
            let second = link(b, a, LinkStatus::Pending);
            let held = first.clone();
            let refused_second = second.clone();
            store
                .write(move |tx| Ok(tx.insert_link(&held)?))
                .await
                .unwrap();
            let refused = store
                .write(move |tx| Ok(tx.insert_link(&refused_second)?))
                .await;
            assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");

            first.change(LinkStatus::Declined, Timestamp(1), None);
            let declined = first.clone();
            store
                .write(move |tx| {
                    tx.put_link(&declined)?;
                    Ok(tx.insert_link(&second)?)
                })
                .await
                .unwrap();
            let live = store
                .read(|view| Ok(view.live_link_between(a, b)?))
                .unwrap();
            assert_eq!(live.map(|l| l.from_org), Some(b));
            let listed = store.read(|view| Ok(view.links_of(a)?.len())).unwrap();
            assert_eq!(listed, 2);
        }
    }

    /// The count that guards the team and channel quotas agrees with the listing, on a write
    /// as on a read, after a delete as after an insert.
    #[tokio::test]
    async fn an_organizations_resources_are_counted_as_they_are_listed() {
        use crate::domain::resource::Resource;
        for (_dir, store) in stores() {
            let (org, other) = (OrgId::new(), OrgId::new());
            let team = |org_id, n: usize| Resource {
                id: ResourceId::new(),
                org_id,
                kind: ResourceKind::Team,
                name: format!("team {n}"),
                channel_kind: None,
                member_ids: Vec::new(),
                created_at: Timestamp(0),
            };
            let teams: Vec<Resource> = (0..3).map(|n| team(org, n)).collect();
            let gone = teams[1].clone();
            let elsewhere = team(other, 9);
            let counted_while_writing = store
                .write(move |tx| {
                    for t in teams.iter().chain([&elsewhere]) {
                        tx.insert_resource(t)?;
                    }
                    tx.delete_resource(&gone)?;
                    Ok(tx.view().count_resources(org, ResourceKind::Team)?)
                })
                .await
                .unwrap();
            let (counted, listed, channels) = store
                .read(|view| {
                    Ok((
                        view.count_resources(org, ResourceKind::Team)?,
                        view.resources_of(org, ResourceKind::Team)?.len(),
                        view.count_resources(org, ResourceKind::Channel)?,
                    ))
                })
                .unwrap();
            assert_eq!(
                (counted_while_writing, counted, listed, channels),
                (2, 2, 2, 0)
            );
        }
    }

    #[tokio::test]
    async fn a_resource_is_shared_once_over_a_link_until_that_share_is_revoked() {
        for (_dir, store) in stores() {
            let (owner, peer, team) = (OrgId::new(), OrgId::new(), ResourceId::new());
            let share = |status| Share {
                id: ShareId::new(),
                link_id: LinkId::new(),
                owner_org: owner,
                peer_org: peer,
                resource_kind: ResourceKind::Team,
                resource_id: team,
                status,
                created_at: Timestamp(0),
                revoked_at: None,
                revoked_reason: None,
            };
            let first = share(ShareStatus::Active);
            let again = Share {
                id: ShareId::new(),
                ..first.clone()
            };
            let (kept, twice) = (first.clone(), again.clone());
            store
                .write(move |tx| Ok(tx.insert_share(&kept)?))
                .await
                .unwrap();
            let refused = store.write(move |tx| Ok(tx.insert_share(&twice)?)).await;
            assert!(
                matches!(&refused, Err(Error::Conflict(d)) if d == "this team is already shared over this link"),
                "{refused:?}"
            );

            let mut revoked = first;
            revoked.status = ShareStatus::Revoked;
            store
                .write(move |tx| {
                    tx.put_share(&revoked)?;
                    Ok(tx.insert_share(&again)?)
                })
                .await
                .unwrap();
            let (mine, theirs) = store
                .read(|view| {
                    Ok((
                        view.shares_of(owner)?.len(),
                        view.shares_of_resource(team)?.len(),
                    ))
                })
                .unwrap();
            assert_eq!((mine, theirs), (2, 2));
        }
    }

    #[tokio::test]
    async fn an_extension_is_one_members_and_is_free_again_when_they_go() {
        for (_dir, store) in stores() {
            let org = OrgId::new();
            let member = |extension: &str| Membership {
                org_id: org,
                user_id: UserId::new(),
                role: Role::Member,
                status: MembershipStatus::Active,
                team_ids: Vec::new(),
                created_at: Timestamp(0),
                invited_as: None,
                pin_hash: None,
                extension: Some(extension.to_owned()),
                pin_failures: 0,
                pin_locked_until: None,
            };
            let (mia, ben) = (member("101"), member("101"));
            let (kept, taken) = (mia.clone(), ben.clone());
            store
                .write(move |tx| {
                    // PostgreSQL refuses a membership of no organization.
                    tx.put(crate::storage::tables::ORGS, org.key(), &1u8)?;
                    Ok(tx.put_membership(&kept)?)
                })
                .await
                .unwrap();
            let refused = store.write(move |tx| Ok(tx.put_membership(&taken)?)).await;
            assert!(
                matches!(&refused, Err(Error::Conflict(d)) if d.contains("`101` is already another member's")),
                "{refused:?}"
            );
            let (holder, members) = store
                .read(|view| {
                    Ok((
                        view.member_by_extension(org, "101")?,
                        view.member_count(org)?,
                    ))
                })
                .unwrap();
            assert_eq!((holder, members), (Some(mia.user_id), 1));

            // Mia moves to 102: 101 is free for Ben; then Mia leaves and 102 is free too.
            let mut moved = mia.clone();
            moved.extension = Some("102".into());
            store
                .write(move |tx| {
                    tx.put_membership(&moved)?;
                    tx.put_membership(&ben)?;
                    Ok(tx.delete_membership(org, moved.user_id)?)
                })
                .await
                .unwrap();
            let found = store
                .read(|view| {
                    Ok((
                        view.member_by_extension(org, "101")?.is_some(),
                        view.member_by_extension(org, "102")?,
                        view.orgs_of(mia.user_id)?,
                    ))
                })
                .unwrap();
            assert_eq!(found, (true, None, Vec::new()));
        }
    }

    fn user(email: &str) -> User {
        User {
            id: UserId::new(),
            name: "Mia".into(),
            email: Some(email.into()),
            portal_access: true,
            pin_hash: None,
            created_at: Timestamp(0),
            claimed_at: None,
            password_hash: None,
        }
    }

    #[tokio::test]
    async fn an_address_is_one_accounts_whatever_its_case_until_that_account_lets_it_go() {
        for (_dir, store) in stores() {
            let mia = user("mia@acme.example");
            let (kept, other) = (mia.clone(), user("MIA@Acme.Example"));
            store
                .write(move |tx| Ok(tx.insert_user(&kept)?))
                .await
                .unwrap();
            let taken = other.clone();
            let refused = store.write(move |tx| Ok(tx.insert_user(&taken)?)).await;
            assert!(
                matches!(&refused, Err(Error::Conflict(d)) if d.contains("is another account's address")),
                "{refused:?}"
            );
            let erased = User {
                email: None,
                ..mia.clone()
            };
            let before = mia.clone();
            store
                .write(move |tx| {
                    tx.update_user(&before, &erased)?;
                    Ok(tx.insert_user(&other)?)
                })
                .await
                .unwrap();
            let holder = store
                .read(|view| Ok(view.user_by_email("mia@ACME.example")?))
                .unwrap();
            assert!(holder.is_some_and(|h| h != mia.id));
        }
    }

    /// A second token with a digest already taken (a broken random source) is refused, and
    /// the digest keeps naming the first: the file checks before writing, PostgreSQL's primary
    /// key refuses the write and the batch holding it.
    #[tokio::test]
    async fn a_taken_token_digest_is_refused_and_keeps_naming_its_token() {
        for (_dir, store) in stores() {
            let token = |name: &str| ApiToken {
                id: TokenId::new(),
                user_id: None,
                name: name.into(),
                digest: "d".repeat(64),
                created_at: Timestamp(0),
                revoked_at: None,
                expires_at: None,
                idle_until: None,
            };
            let (first, second) = (token("first"), token("second"));
            let stored = first.clone();
            store
                .write(move |tx| Ok(tx.insert_token(&stored)?))
                .await
                .unwrap();
            let refused = store.write(move |tx| Ok(tx.insert_token(&second)?)).await;
            assert!(refused.is_err(), "{refused:?}");
            let named = store
                .read(|view| Ok(view.token_by_digest(&"d".repeat(64))?.map(|t| t.id)))
                .unwrap();
            assert_eq!(named, Some(first.id));
        }
    }

    #[tokio::test]
    async fn a_deleted_token_or_invitation_is_named_by_its_digest_no_more() {
        for (_dir, store) in stores() {
            let (owner, org) = (UserId::new(), OrgId::new());
            let token = ApiToken {
                id: TokenId::new(),
                user_id: Some(owner),
                name: "cli".into(),
                digest: "t".repeat(64),
                created_at: Timestamp(0),
                revoked_at: None,
                expires_at: None,
                idle_until: None,
            };
            let invitation = Invitation {
                id: InvitationId::new(),
                org_id: org,
                user_id: owner,
                digest: "i".repeat(64),
                created_at: Timestamp(0),
                expires_at: Timestamp(1),
                used_at: None,
                to_claimed_identity: false,
                resets_password: false,
            };
            let (t, i) = (token.clone(), invitation.clone());
            store
                .write(move |tx| {
                    tx.insert_token(&t)?;
                    Ok(tx.insert_invitation(&i)?)
                })
                .await
                .unwrap();
            let found = store
                .read(|view| {
                    Ok((
                        view.token_by_digest(&"t".repeat(64))?.map(|t| t.id),
                        view.invitation_by_digest(&"i".repeat(64))?.map(|i| i.id),
                        view.tokens_of(owner)?,
                        view.invitations_of_org(org)?,
                    ))
                })
                .unwrap();
            assert_eq!(
                found,
                (
                    Some(token.id),
                    Some(invitation.id),
                    vec![token.id],
                    vec![invitation.id]
                )
            );
            store
                .write(move |tx| {
                    tx.delete_tokens_of(owner)?;
                    Ok(tx.delete_invitation(invitation.id)?)
                })
                .await
                .unwrap();
            let gone = store
                .read(|view| {
                    Ok((
                        view.token_by_digest(&"t".repeat(64))?.is_none(),
                        view.invitation_by_digest(&"i".repeat(64))?.is_none(),
                        view.tokens_of(owner)?.is_empty(),
                        view.invitations_of_org(org)?.is_empty(),
                        view.invitations_to(owner)?.is_empty(),
                    ))
                })
                .unwrap();
            assert_eq!(gone, (true, true, true, true, true));
        }
    }

    #[tokio::test]
    async fn a_plan_name_is_unique_among_one_owners_plans_whatever_its_case() {
        for (_dir, store) in stores() {
            let provider = OrgId::new();
            let plan = |owner, name: &str| Plan {
                id: PlanId::new(),
                name: name.into(),
                owner_org_id: owner,
                limits: Limits::default(),
                features: Vec::new(),
                created_at: Timestamp(0),
                retired_at: None,
            };
            let (gold, platform_gold) = (plan(Some(provider), "Gold"), plan(None, "Gold"));
            let again = plan(Some(provider), "GOLD");
            let (a, b) = (gold.clone(), platform_gold.clone());
            store
                .write(move |tx| {
                    tx.insert_plan(&a)?;
                    Ok(tx.insert_plan(&b)?)
                })
                .await
                .unwrap();
            let refused = store.write(move |tx| Ok(tx.insert_plan(&again)?)).await;
            assert!(
                matches!(&refused, Err(Error::Conflict(d)) if d == "a plan named `GOLD` already exists"),
                "{refused:?}"
            );
            // Renamed, its old name is free again; deleted, it leaves its provider's list.
            let renamed = Plan {
                name: "Platinum".into(),
                ..gold.clone()
            };
            let (before, reuse) = (gold.clone(), plan(Some(provider), "gold"));
            let reused = reuse.id;
            store
                .write(move |tx| {
                    tx.update_plan(&before, &renamed)?;
                    tx.insert_plan(&reuse)?;
                    Ok(tx.delete_plan(before.id)?)
                })
                .await
                .unwrap();
            let listed = store.read(|view| Ok(view.plans_of(provider)?)).unwrap();
            assert_eq!(listed, vec![reused]);
        }
    }

    #[tokio::test]
    async fn a_pending_link_is_due_at_its_expiry_and_not_once_it_is_accepted() {
        for (_dir, store) in stores() {
            let mut pending = link(OrgId::new(), OrgId::new(), LinkStatus::Pending);
            pending.expires_at = Timestamp(1_000);
            let (expiring, other) = (pending.clone(), {
                let mut l = link(OrgId::new(), OrgId::new(), LinkStatus::Pending);
                l.expires_at = Timestamp(5_000);
                l
            });
            store
                .write(move |tx| {
                    tx.insert_link(&expiring)?;
                    Ok(tx.insert_link(&other)?)
                })
                .await
                .unwrap();
            let due = |at| {
                store
                    .read(move |view| Ok(view.links_due(Timestamp(at), 10)?))
                    .unwrap()
            };
            assert_eq!(due(999), Vec::new());
            assert_eq!(due(1_000), vec![pending.id]);
            assert_eq!(due(5_000).len(), 2);

            pending.change(LinkStatus::Active, Timestamp(500), None);
            let accepted = pending.clone();
            store
                .write(move |tx| Ok(tx.put_link(&accepted)?))
                .await
                .unwrap();
            assert_eq!(due(1_000), Vec::new());
        }
    }

    #[tokio::test]
    async fn queued_mail_is_due_at_its_next_attempt_and_gone_once_sent() {
        use crate::domain::mail::{QueuedMail, Recipient};
        use crate::mail::MailKind;

        for (_dir, store) in stores() {
            let mail = |at| {
                let to = Recipient::Address("mia@acme.example".into());
                QueuedMail::new(MailKind::Invitation, OrgId::new(), None, to, Timestamp(at))
            };
            let (now, later) = (mail(1_000), mail(2_000));
            let (a, b) = (now.clone(), later.clone());
            store
                .write(move |tx| {
                    tx.put_queued_mail(&a)?;
                    Ok(tx.put_queued_mail(&b)?)
                })
                .await
                .unwrap();
            let due = |at| {
                store
                    .read(move |view| Ok(view.mail_due(Timestamp(at), None, 10)?))
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>()
            };
            assert_eq!(due(1_500), vec![now.id]);
            // Retried later: due again only then; sent: due never.
            let mut retried = now.clone();
            retried.next_attempt_at = Timestamp(3_000);
            let sent = later.id;
            store
                .write(move |tx| {
                    tx.put_queued_mail(&retried)?;
                    Ok(tx.delete_queued_mail(sent)?)
                })
                .await
                .unwrap();
            assert_eq!(due(2_500), Vec::new());
            assert_eq!(due(3_000), vec![now.id]);
        }
    }

    #[tokio::test]
    async fn due_mail_is_read_page_by_page_without_skipping_or_repeating() {
        use crate::domain::mail::{QueuedMail, Recipient};
        use crate::mail::MailKind;

        for (_dir, store) in stores() {
            // Three due at the same moment and one later: pages of one walk all four in order.
            let queued: Vec<QueuedMail> = [1_000, 1_000, 1_000, 2_000]
                .into_iter()
                .map(|at| {
                    let to = Recipient::Address("mia@acme.example".into());
                    QueuedMail::new(MailKind::Invitation, OrgId::new(), None, to, Timestamp(at))
                })
                .collect();
            let all = queued.clone();
            store
                .write(move |tx| {
                    for mail in &all {
                        tx.put_queued_mail(mail)?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            let mut seen = Vec::new();
            let mut after: Option<QueuedMail> = None;
            loop {
                let page = store
                    .read(|view| Ok(view.mail_due(Timestamp(5_000), after.as_ref(), 1)?))
                    .unwrap();
                let Some(last) = page.last().cloned() else {
                    break;
                };
                seen.extend(page.iter().map(|m| m.id));
                after = Some(last);
            }
            let mut expected: Vec<_> = queued[..3].iter().map(|m| m.id).collect();
            expected.sort_by_key(|id| id.key());
            expected.push(queued[3].id);
            assert_eq!(seen, expected);
        }
    }

    #[tokio::test]
    async fn an_endpoints_delivery_log_keeps_exactly_the_newest_it_may() {
        use crate::app::webhooks::KEPT_DELIVERIES;
        use crate::domain::ids::{DeliveryId, EntryId, WebhookId};
        use crate::domain::webhook::Delivery;

        for (_dir, store) in stores() {
            let webhook = WebhookId::new();
            let attempts: Vec<Delivery> = (0..=KEPT_DELIVERIES)
                .map(|n| Delivery {
                    id: DeliveryId::new(),
                    event_id: EntryId::new(),
                    event_type: "org.updated".into(),
                    at: Timestamp(n as i64),
                    attempt: 1,
                    ok: true,
                    status_code: Some(200),
                    error: None,
                    duration_ms: 1,
                })
                .collect();
            let logged = attempts.clone();
            store
                .write(move |tx| {
                    for delivery in &logged {
                        tx.log_delivery(webhook, delivery, KEPT_DELIVERIES)?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            let kept = store
                .read(|view| Ok(view.deliveries(webhook, KEPT_DELIVERIES + 10)?))
                .unwrap();
            // One past the limit: the oldest went, the newest stayed, newest first.
            assert_eq!(kept.len(), KEPT_DELIVERIES);
            assert_eq!(kept[0].id, attempts[KEPT_DELIVERIES].id);
            assert!(kept.iter().all(|d| d.id != attempts[0].id));
        }
    }

    /// The seam holds: outside `storage/`, no source file names a table (a use case asks for
    /// records, so a second backend replaces only what is below the seam).
    #[tokio::test]
    async fn the_decision_log_keeps_its_newest_up_to_its_bound_and_knows_its_size() {
        use crate::storage::records::decisions::DecisionRecord;
        for (_dir, store) in stores() {
            let org = org("acme", "Acme GmbH");
            let records: Vec<DecisionRecord> = (0..5)
                .map(|i| DecisionRecord::stand_in(Some(org.id), i))
                .collect();
            let (first, rest) = records.split_at(2);
            let (first, rest) = (first.to_vec(), rest.to_vec());
            let log = store.decision_log();
            log.write(move |tx| Ok(tx.append_decisions(first.iter())?))
                .await
                .unwrap();
            log.write(move |tx| Ok(tx.append_decisions(rest.iter())?))
                .await
                .unwrap();
            let trimmed = log
                .write(|tx| Ok(tx.trim_decisions(3, None, 100)?))
                .await
                .unwrap();
            assert_eq!(trimmed, 2, "the two past the bound of three");
            let (count, kept) = log
                .read(|view| Ok((view.decision_count()?, view.decisions_of(org.id, None, 10)?)))
                .unwrap();
            assert_eq!(count, 3);
            let kept: Vec<i64> = kept.iter().map(|d| d.at.0).collect();
            assert_eq!(kept, vec![2, 3, 4], "the oldest went");
            let rows = store
                .record_counts()
                .unwrap()
                .into_iter()
                .find(|(table, _)| *table == "decision_order")
                .unwrap()
                .1;
            assert_eq!(rows, 3, "the kept count is the rows'");
        }
    }

    /// The lease of an `Idempotency-Key` claim, at its edge: held until `until`, taken over at
    /// it (its server died mid-request), free again once released.
    #[tokio::test]
    async fn an_idempotency_claim_holds_until_its_lease_ends() {
        for (_dir, store) in stores() {
            let claim = |now: i64, until: i64| {
                store.write(move |tx| {
                    Ok(tx.claim_idempotency_key("k", Timestamp(now), Timestamp(until))?)
                })
            };
            assert!(claim(0, 1_000).await.unwrap(), "free");
            assert!(!claim(0, 1_000).await.unwrap(), "held by the first");
            assert!(!claim(999, 1_999).await.unwrap(), "held until its end");
            assert!(claim(1_000, 2_000).await.unwrap(), "taken over at its end");
            store
                .write(|tx| Ok(tx.release_idempotency_key("k")?))
                .await
                .unwrap();
            assert!(claim(1_001, 2_001).await.unwrap(), "free once released");

            // Pruning forgets exactly the claims whose lease has ended, page by page.
            for (key, until) in [("a", 3_000), ("b", 5_000), ("c", 3_000)] {
                store
                    .write(move |tx| {
                        Ok(tx.claim_idempotency_key(key, Timestamp(2_500), Timestamp(until))?)
                    })
                    .await
                    .unwrap();
            }
            let prune = |after: Option<String>| {
                store.write(move |tx| {
                    Ok(tx.forget_lapsed_claims(Timestamp(3_000), after.as_deref(), 2)?)
                })
            };
            assert_eq!(prune(None).await.unwrap(), (1, Some("b".into())), "a and b");
            assert_eq!(
                prune(Some("b".into())).await.unwrap(),
                (2, Some("k".into())),
                "c and k, a full page"
            );
            assert_eq!(prune(Some("k".into())).await.unwrap(), (0, None), "the end");
            assert_eq!(prune(None).await.unwrap(), (0, None), "only b is left");
            let held = store
                .write(|tx| {
                    Ok(tx.claim_idempotency_key("b", Timestamp(3_000), Timestamp(9_000))?)
                })
                .await
                .unwrap();
            assert!(!held, "b is still held by its live claim");
        }
    }

    #[test]
    fn no_file_outside_storage_names_a_table() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if !path.ends_with("storage") {
                        walk(&path, out);
                    }
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 50, "the walk found the sources");
        let naming: Vec<_> = files
            .iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                text.contains("tables::") || text.contains("storage::tables")
            })
            .collect();
        assert!(naming.is_empty(), "these name storage tables: {naming:?}");
    }
}
