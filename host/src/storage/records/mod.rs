//! Records with the indexes that serve them, at the level the use cases think in: insert an
//! organization, the live link between two organizations, the customers of a provider.
//!
//! This is where the storage seam is moving (ARCHITECTURE.md, "Where users outgrow one
//! machine"): a use case that goes through these functions does not know which index tables
//! exist, so a relational backend can keep the same invariants with its own unique
//! constraints and indexes. Uniqueness is answered as [`StorageError::Duplicate`], which is
//! what a unique constraint answers in SQL.
//!
//! [`StorageError::Duplicate`]: super::StorageError::Duplicate

pub mod links;
pub mod orgs;

#[cfg(test)]
mod tests {
    use super::orgs::{Field, Terms};
    use crate::domain::clock::Timestamp;
    use crate::domain::ids::{LinkId, OrgId};
    use crate::domain::link::{Link, LinkStatus};
    use crate::domain::org::{NewOrg, Org, OwnerDetails};
    use crate::error::Error;
    use crate::storage::Store;

    fn org(tenant_id: &str, name: &str) -> Org {
        NewOrg {
            name: Some(name.into()),
            tenant_id: Some(tenant_id.into()),
            account_type: Some("business_user".into()),
            managed_by: Some("customer".into()),
            remote_support_requires_approval: Some(true),
            country: Some("DE".into()),
            currency: Some("EUR".into()),
            owner: Some(OwnerDetails {
                name: "O".into(),
                email: "o@acme.example".into(),
            }),
            ..NewOrg::default()
        }
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

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_taken_tenant_id_is_a_conflict_and_writes_nothing() {
        let (_dir, store) = store();
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

    #[tokio::test]
    async fn a_renamed_organization_is_found_by_its_new_name_only() {
        let (_dir, store) = store();
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

    #[tokio::test]
    async fn one_live_link_per_pair_and_an_ended_one_frees_the_pair() {
        let (_dir, store) = store();
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
