//! Property test: whatever sequence of link operations runs, no organization exceeds its
//! active-link cap and no pair has more than one live link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use proptest::prelude::*;
use tenantry::app::actor::Actor;
use tenantry::app::links::{LinkAction, NewLink};
use tenantry::app::plans::NewPlan;
use tenantry::domain::ids::{LinkId, OrgId, TokenId};
use tenantry::domain::link::{Link, LinkStatus, pair_key};
use tenantry::domain::org::NewOrg;
use tenantry::domain::plan::Limits;
use tenantry::storage::tables;
use tenantry::{App, Settings};

const ORGS: usize = 5;
const CAP: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Invite(usize, usize),
    Act(usize, u8),
    Unlink(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    // Weighted towards invites and accepts so that sequences reach the cap often.
    prop_oneof![
        3 => (0..ORGS, 0..ORGS).prop_map(|(a, b)| Op::Invite(a, b)),
        4 => (0..64usize, 0..6u8).prop_map(|(l, a)| Op::Act(l, a)),
        1 => (0..64usize, any::<bool>()).prop_map(|(l, side)| Op::Unlink(l, side)),
    ]
}

async fn setup(dir: &std::path::Path) -> (App, Vec<OrgId>) {
    let settings = Settings {
        data_dir: dir.to_path_buf(),
        policies: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
        ..Settings::default()
    };
    let app = App::build(settings).await.unwrap().app;
    let operator = Actor {
        token_id: TokenId::new(),
        user_id: None,
    };
    let limits = Limits {
        max_active_links: CAP as u32,
        ..Limits::default()
    };
    let plan = app
        .create_plan(
            operator,
            NewPlan {
                name: "small".into(),
                limits,
                features: vec![],
                owner_org_id: None,
            },
        )
        .await
        .unwrap();
    let mut orgs = Vec::new();
    for i in 0..ORGS {
        let body = NewOrg {
            name: Some(format!("org {i}")),
            tenant_id: Some(format!("org-{i}")),
            account_type: Some("business_user".into()),
            managed_by: Some("service_provider".into()),
            remote_support_requires_approval: Some(false),
            country: Some("DE".into()),
            currency: Some("EUR".into()),
            plan: Some(plan.id),
            ..NewOrg::default()
        };
        orgs.push(app.create_org(operator, body).await.unwrap().org.id);
    }
    (app, orgs)
}

fn check_invariants(app: &App, orgs: &[OrgId]) -> Result<(), TestCaseError> {
    let links: Vec<Link> = app
        .store
        .read(|view| {
            Ok(view
                .scan::<Link>(tables::LINKS, None, 10_000)?
                .into_iter()
                .map(|(_, l)| l)
                .collect())
        })
        .unwrap();
    let mut active: HashMap<OrgId, usize> = HashMap::new();
    let mut live: HashMap<String, usize> = HashMap::new();
    for link in &links {
        if link.status == LinkStatus::Active {
            *active.entry(link.from_org).or_default() += 1;
            *active.entry(link.to_org).or_default() += 1;
        }
        if link.status.is_live() {
            *live
                .entry(pair_key(link.from_org, link.to_org))
                .or_default() += 1;
            let indexed = app
                .store
                .read(|view| {
                    Ok(view.unique(
                        tables::LIVE_LINK_BY_PAIR,
                        &pair_key(link.from_org, link.to_org),
                    )?)
                })
                .unwrap();
            prop_assert_eq!(
                indexed,
                Some(link.id.0.as_u128()),
                "live link missing from the pair index"
            );
        }
    }
    for org in orgs {
        prop_assert!(active.get(org).copied().unwrap_or(0) <= CAP, "cap exceeded");
    }
    prop_assert!(
        live.values().all(|n| *n == 1),
        "two live links for one pair"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn link_cap_and_one_live_link_per_pair_hold(ops in prop::collection::vec(op(), 10..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(async {
            let (app, orgs) = setup(dir.path()).await;
            let operator = Actor { token_id: TokenId::new(), user_id: None };
            let mut links: Vec<(LinkId, OrgId, OrgId)> = Vec::new();
            for op in ops {
                match op {
                    Op::Invite(a, b) => {
                        if let Ok(view) = app.create_link(operator, orgs[a], NewLink { target_org_id: orgs[b], target_region: None }).await {
                            links.push((view.id, orgs[a], orgs[b]));
                        }
                    }
                    Op::Act(i, action) if !links.is_empty() => {
                        let (id, from, to) = links[i % links.len()];
                        let (org, action) = match action {
                            0..=2 => (to, LinkAction::Accept),
                            3 => (to, LinkAction::Decline),
                            4 => (from, LinkAction::Cancel),
                            _ => (from, LinkAction::Resend),
                        };
                        let _ = app.act_on_link(operator, org, id, action).await;
                    }
                    Op::Unlink(i, side) if !links.is_empty() => {
                        let (id, from, to) = links[i % links.len()];
                        let _ = app.unlink(operator, if side { from } else { to }, id).await;
                    }
                    _ => {}
                }
                check_invariants(&app, &orgs)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
