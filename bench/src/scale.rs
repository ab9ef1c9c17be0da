//! Scale: one population shape at 1,000 and at 100,000 organizations (ten memberships and four
//! active links per customer, one provider per thousand organizations with its own Rhai layer,
//! one customer in a hundred with a Wasm plugin of its own bound to its own layer: 999 distinct
//! components at 100,000),
//! loaded through the library's bulk path.
//!
//! Each size is loaded by one child process and measured by a fresh one, so start-up reads a
//! closed file and the resident memory is that of a process which opened the population and
//! served the measured calls, not of the one that generated it. `scale-api` loads a smaller
//! population through the HTTP API instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantry::Settings;
use tenantry::app::actor::Actor;
use tenantry::app::bulk::{Batch, BulkLink, BulkOrg};
use tenantry::app::members::validate_member;
use tenantry::app::policies::{Target, VersionBody};
use tenantry::app::{App, PageRequest, invariants};
use tenantry::domain::ids::{OrgId, TokenId, UserId};
use tenantry::domain::member::Role;
use tenantry::policy::Hook;
use tenantry::storage::postgres::scratch;
use tenantry_e2e::rng::Rng;
use tenantry_e2e::{OPERATOR_TOKEN, TestServer, org_body};

use crate::inputs::PORTAL_INVITES_ONLY;
use crate::stats::{Summary, report};

/// Organizations per provider; each size has `orgs / PER_PROVIDER` providers (at least one).
const PER_PROVIDER: usize = 1_000;
/// Members of each customer besides its owner.
const MEMBERS: usize = 9;
/// Customers per bulk batch: 1,000 organizations and 10,000 memberships in one transaction.
const ORGS_PER_BATCH: usize = 1_000;
const LINKS_PER_BATCH: usize = 20_000;
/// Every this many customers, one has a Wasm plugin of its own bound to its own layer.
const PLUGIN_EVERY: usize = 100;
/// Calls per measured operation, on organizations drawn uniformly from the whole population.
const SAMPLES: usize = 20_000;

/// The shipped example plugins, bound in turn with their configuration.
const PLUGINS: [(&str, Hook, &str); 4] = [
    ("invite_roles", Hook::Authorize, "{}"),
    (
        "region_fence",
        Hook::Link,
        r#"{"allowed": [["eu-central", "eu-central"]]}"#,
    ),
    ("share_allowlist", Hook::Share, r##"{"tag": "#shared"}"##),
    (
        "business_hours",
        Hook::RemoteSupport,
        r#"{"time_zone": "Europe/Berlin"}"#,
    ),
];

/// The database a PostgreSQL scale run's child processes share (`run` makes it).
const DATABASE_VARIABLE: &str = "TENANTRY_BENCH_DATABASE_URL";

/// `TENANTRY_BENCH_CACHE_MIB` sets the store's cache (`storage_cache_mib`, 128 by default:
/// redb's page cache, or PostgreSQL's record cache), to show what a cache holding the whole
/// population changes.
fn settings(data: &Path) -> Settings {
    let defaults = Settings::default();
    Settings {
        database_url: std::env::var(DATABASE_VARIABLE).ok(),
        storage_cache_mib: std::env::var("TENANTRY_BENCH_CACHE_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.storage_cache_mib),
        data_dir: data.to_path_buf(),
        policies: tenantry_e2e::policies_dir(),
        regions: vec!["eu-central".into(), "us-east".into()],
        operator_token: Some(OPERATOR_TOKEN.into()),
        ..defaults
    }
}

fn customer_slug(i: usize) -> String {
    format!("org-{i:06}")
}

/// A customer as a migration would hand it over: validated by the API's rules.
fn customer(i: usize, provider: OrgId) -> anyhow::Result<BulkOrg> {
    let slug = customer_slug(i);
    let mut body = org_body(&slug, "business_user", "customer", i.is_multiple_of(2));
    body["name"] = json!(format!("Org {i:06}"));
    body["service_provider_id"] = json!(provider);
    let members = (0..MEMBERS)
        .map(|m| {
            let email = format!("user{m}@{slug}.example");
            let role = if m == 0 { "admin" } else { "member" };
            validate_member(
                Some(&format!("User {m}")),
                Some(&email),
                Some(role),
                true,
                None,
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(BulkOrg {
        org: serde_json::from_value(body)?,
        members,
    })
}

fn child(what: &str, data: &Path, orgs: usize, database: Option<&str>) -> anyhow::Result<()> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args([what, &data.display().to_string(), &orgs.to_string()]);
    if let Some(url) = database {
        command.env(DATABASE_VARIABLE, url);
    }
    let status = command.status()?;
    anyhow::ensure!(status.success(), "`{what}` failed: {status}");
    Ok(())
}

/// The PostgreSQL server of a `TENANTRY_TEST_BACKEND=postgres` run.
fn postgres_server() -> anyhow::Result<Option<String>> {
    if tenantry_e2e::Backend::of_this_run() != tenantry_e2e::Backend::Postgres {
        return Ok(None);
    }
    let server = scratch::test_server().ok_or_else(|| {
        anyhow::anyhow!(
            "a PostgreSQL scale run needs {}; `.ci/postgres start DIR` starts one",
            scratch::TEST_SERVER_VARIABLE
        )
    })?;
    Ok(Some(server))
}

/// `scale`: both sizes, each loaded and measured by its own processes, then the ratios. On
/// PostgreSQL each size has a database of its own, dropped once measured.
pub fn run() -> anyhow::Result<()> {
    let server = postgres_server()?;
    let mut figures = Vec::new();
    for orgs in [1_000, 100_000] {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        println!("-- {orgs} organizations");
        let database = match &server {
            Some(server) => Some(scratch::create_database(server)?),
            None => None,
        };
        let children = child("scale-populate", &data, orgs, database.as_deref())
            .and_then(|()| child("scale-measure", &data, orgs, database.as_deref()));
        if let (Some(server), Some(database)) = (&server, &database) {
            scratch::drop_database(server, database)?;
        }
        children?;
        let summary: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("data/summary.json"))?)?;
        figures.push(summary);
    }
    let [small, large] = &figures[..] else {
        unreachable!("two sizes")
    };
    println!("-- 100,000 vs 1,000 organizations (p50 ratio, p99 ratio; target <= 1.5x)");
    for op in [
        "get organization",
        "list links",
        "name-prefix search",
        "full decision",
    ] {
        let ratio =
            |q: &str| large[op][q].as_f64().unwrap_or(0.0) / small[op][q].as_f64().unwrap_or(1.0);
        println!(
            "{op:<24} p50 {:.2}x  p99 {:.2}x",
            ratio("p50_ns"),
            ratio("p99_ns")
        );
    }
    Ok(())
}

/// `scale-populate DIR N`: loads N organizations into a new store at DIR through the bulk path.
pub async fn populate(data: &Path, orgs: usize) -> anyhow::Result<()> {
    let app = App::build(settings(data)).await?.app;
    let operator = app.authenticate(OPERATOR_TOKEN)?;
    let started = Instant::now();
    let providers = (orgs / PER_PROVIDER).max(1);
    let provider_batch = Batch {
        orgs: (0..providers)
            .map(|p| {
                let slug = format!("sp-{p:04}");
                Ok(BulkOrg {
                    org: serde_json::from_value(org_body(
                        &slug,
                        "service_provider",
                        "customer",
                        true,
                    ))?,
                    members: Vec::new(),
                })
            })
            .collect::<anyhow::Result<_>>()?,
        links: Vec::new(),
    };
    let providers = app.bulk_load(operator, provider_batch).await?.orgs;
    let count = orgs - providers.len();
    let mut customers = Vec::with_capacity(count);
    let mut members = 0;
    for start in (0..count).step_by(ORGS_PER_BATCH) {
        let batch = Batch {
            orgs: (start..count.min(start + ORGS_PER_BATCH))
                .map(|i| customer(i, providers[i % providers.len()]))
                .collect::<anyhow::Result<_>>()?,
            links: Vec::new(),
        };
        let loaded = app.bulk_load(operator, batch).await?;
        members += loaded.members;
        customers.extend(loaded.orgs);
    }
    let loaded_orgs = started.elapsed();
    // Each customer invites its next two neighbours (around the ring): four active links each.
    let links: Vec<BulkLink> = (0..count)
        .flat_map(|i| {
            let from = customers[i];
            [1, 2].map(|d| BulkLink {
                from,
                to: customers[(i + d) % count],
            })
        })
        .collect();
    for chunk in links.chunks(LINKS_PER_BATCH) {
        app.bulk_load(
            operator,
            Batch {
                orgs: Vec::new(),
                links: chunk.to_vec(),
            },
        )
        .await?;
    }
    let loaded_all = started.elapsed();
    println!(
        "bulk load: {} organizations and {members} memberships in {loaded_orgs:.1?}, {} links in {:.1?}",
        providers.len() + customers.len(),
        links.len(),
        loaded_all - loaded_orgs
    );

    bind_policies(&app, operator, &providers, &customers).await?;
    let now = app.clock.now();
    let report = invariants::check_store(&app.store, now)?;
    anyhow::ensure!(report.is_sound(), "{:?}", report.violations);
    println!("invariants: sound over {:?}", report.counts);
    Ok(())
}

/// Each provider's Rhai layer, and a plugin on every PLUGIN_EVERY-th customer's own layer: the
/// shipped plugins in turn (capability-free builds, as in the other measurements), each
/// customer's made a distinct component.
async fn bind_policies(
    app: &App,
    operator: Actor,
    providers: &[OrgId],
    customers: &[OrgId],
) -> anyhow::Result<()> {
    let started = Instant::now();
    for &sp in providers {
        let body = VersionBody {
            source: Some(PORTAL_INVITES_ONLY.into()),
            plugin: None,
            config: None,
            fixtures: Vec::new(),
        };
        app.put_policy(operator, Target::Customers(sp), Hook::Authorize, body)
            .await?;
    }
    let mut bound = 0;
    for (n, &org) in customers.iter().step_by(PLUGIN_EVERY).enumerate() {
        let (name, hook, config) = PLUGINS[n % PLUGINS.len()];
        // Each customer its own component, so start-up loads as many artifacts as bindings.
        let component =
            tenantry_e2e::plugins::variant(&tenantry_e2e::plugins::bare_plugin(name), n);
        let record = app
            .upload_plugin(operator, tenantry::app::plugins::Owner(None), component)
            .await?;
        bound += 1;
        let body = VersionBody {
            source: None,
            plugin: Some(record.sha256),
            config: Some(serde_json::from_str(config)?),
            fixtures: Vec::new(),
        };
        app.put_policy(operator, Target::Org(org), hook, body)
            .await?;
    }
    println!(
        "bound: {} provider Rhai layers and {} organization plugins in {:.1?}",
        providers.len(),
        bound,
        started.elapsed()
    );
    Ok(())
}

/// A customer's id and its owner, as the measured calls act.
struct Sampled {
    org: OrgId,
    owner: Actor,
    /// Its name's first digits, which exactly ten organizations share at every size.
    prefix: String,
}

fn owner_of(app: &App, operator: Actor, org: OrgId) -> anyhow::Result<Actor> {
    let page = app.list_members(
        operator,
        org,
        &tenantry::app::members::MemberFilter::default(),
        PageRequest {
            limit: MEMBERS + 1,
            after: None,
        },
    )?;
    let owner: UserId = page
        .items
        .iter()
        .find(|m| m.role == Role::Owner)
        .map(|m| m.user_id)
        .ok_or_else(|| anyhow::anyhow!("organization {org} has no owner"))?;
    Ok(Actor {
        token_id: TokenId::new(),
        user_id: Some(owner),
    })
}

fn time<T>(samples: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    samples.push(started.elapsed());
    out
}

/// `scale-measure DIR N`: opens the store at DIR (start-up), measures, writes `summary.json`.
pub async fn measure(data: &Path, orgs: usize) -> anyhow::Result<()> {
    let settings = settings(data);
    let started = Instant::now();
    let app = App::build(settings.clone()).await?.app;
    let startup = started.elapsed();
    let operator = app.authenticate(OPERATOR_TOKEN)?;
    let bytes = match (&settings.database_url, postgres_server()?) {
        (Some(database), Some(server)) => scratch::database_size(&server, database)?,
        _ => std::fs::metadata(settings.database_path())?.len(),
    };
    println!(
        "start-up (open, {} bindings with their plugin artifacts, platform files): {startup:.1?}; stored {:.1} MiB",
        app.policies.snapshot().len(),
        bytes as f64 / (1 << 20) as f64
    );
    print_memory("memory after start-up")?;

    // Customers by slug, drawn uniformly.
    let count = orgs - (orgs / PER_PROVIDER).max(1);
    let find = |i: usize| -> anyhow::Result<OrgId> {
        let page = app.search(operator, &customer_slug(i), 1, None)?;
        page.items
            .first()
            .map(|o| o.id)
            .ok_or_else(|| anyhow::anyhow!("no {}", customer_slug(i)))
    };
    let mut rng = Rng::new(20_261_201);
    let mut sample = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = rng.below(count as u64) as usize;
        let org = find(i)?;
        sample.push(Sampled {
            org,
            owner: owner_of(&app, operator, org)?,
            prefix: format!("org {:05}", rng.below((count / 10) as u64)),
        });
    }
    let mut deciding = Vec::new();
    // The customers with `invite_roles` on their own layer decide with three layers.
    for i in (0..count).step_by(PLUGIN_EVERY * PLUGINS.len()) {
        let org = find(i)?;
        deciding.push((org, owner_of(&app, operator, org)?));
    }

    let page = PageRequest {
        limit: 50,
        after: None,
    };
    let mut figures = serde_json::Map::new();
    let mut record = |name: &str, summary: Summary| {
        figures.insert(
            name.to_owned(),
            json!({"p50_ns": summary.p50.as_nanos() as u64, "p99_ns": summary.p99.as_nanos() as u64}),
        );
    };
    for round in ["warm-up", "measured"] {
        let (mut get, mut links, mut search, mut decide) = (vec![], vec![], vec![], vec![]);
        for (n, s) in sample.iter().enumerate() {
            let org = time(&mut get, || app.get_org(s.owner, s.org))?;
            anyhow::ensure!(org.id == s.org);
            let listed = time(&mut links, || {
                app.list_links(s.owner, s.org, None, None, page)
            })?;
            anyhow::ensure!(
                listed.items.len() == 4,
                "four links each, not {}",
                listed.items.len()
            );
            let found = time(&mut search, || {
                app.search(operator, &s.prefix, page.limit, None)
            })?;
            anyhow::ensure!(
                found.items.len() == 10,
                "`{}` names ten, not {}",
                s.prefix,
                found.items.len()
            );
            let (org, owner) = deciding[n % deciding.len()];
            let invite = json!({"role": "member", "portal_access": true});
            time(&mut decide, || {
                app.store.read(|view| {
                    app.access(view, owner, org, "member.invite", invite)
                        .map(|_| ())
                })
            })?;
            if n % 1_000 == 0 {
                // Lets the recorder write the decision log, as it would on a server.
                tokio::task::yield_now().await;
            }
        }
        if round == "measured" {
            record("get organization", report("get organization (owner)", get));
            record("list links", report("list links (owner, 4 active)", links));
            record(
                "name-prefix search",
                report("name-prefix search (operator, 10 hits)", search),
            );
            record(
                "full decision",
                report(
                    "full decision: member.invite, 3 layers (Rhai+Rhai+Wasm)",
                    decide,
                ),
            );
        }
    }
    let dropped = tenantry::metrics::decisions_dropped();
    println!(
        "decision log: {dropped} decisions dropped by the full recorder queue (in-process flood)"
    );
    if let Ok(wasm) = app.policies.wasm() {
        let idle = wasm.idle_memory();
        println!(
            "wasm pool: {} idle memory slots kept warm, {:.1} MiB resident in them",
            idle.warm_slots,
            idle.resident_bytes as f64 / f64::from(1 << 20)
        );
    }
    let (rss, peak) = print_memory("memory")?;
    figures.insert("startup_ms".into(), json!(startup.as_millis() as u64));
    figures.insert("rss_kib".into(), json!(rss));
    figures.insert("peak_kib".into(), json!(peak));
    std::fs::write(data.join("summary.json"), serde_json::to_vec(&figures)?)?;
    Ok(())
}

/// `scale-api N`: N organizations of the same shape through the HTTP API, 16 clients at once.
pub async fn through_api(orgs: usize) -> anyhow::Result<()> {
    let server = std::sync::Arc::new(
        TestServer::spawn_with(tenantry_e2e::policies_dir(), tenantry_e2e::unthrottled).await?,
    );
    let started = Instant::now();
    let (sp, _) = server.provider("api-sp").await;
    let slugs: Vec<usize> = (0..orgs - 1).collect();
    let created = fan_out(&server, slugs, |server, i| {
        let sp = sp.clone();
        async move {
        let slug = customer_slug(i);
        let mut body = org_body(&slug, "business_user", "customer", true);
        body["service_provider_id"] = json!(sp);
        let org = server.create_org(&server.operator, body).await.id();
        for m in 0..MEMBERS {
            let role = if m == 0 { "admin" } else { "member" };
            let member = json!({"name": format!("User {m}"), "email": format!("user{m}@{slug}.example"), "role": role});
            let a = server.post(&format!("/v1/orgs/{org}/members"), &server.operator, member).await;
            anyhow::ensure!(a.status.is_success(), "invite: {:?}", a.body);
        }
        Ok(org)
    }})
    .await?;
    let orgs_done = started.elapsed();
    let pairs: Vec<(String, String)> = (0..created.len())
        .flat_map(|i| {
            [1, 2].map(|d| (created[i].clone(), created[(i + d) % created.len()].clone()))
        })
        .collect();
    let link_count = pairs.len();
    fan_out(&server, pairs, |server, (from, to)| async move {
        let a = server
            .post(
                &format!("/v1/orgs/{from}/links"),
                &server.operator,
                json!({"target_org_id": to}),
            )
            .await;
        anyhow::ensure!(a.status.is_success(), "link: {:?}", a.body);
        let accept = format!("/v1/orgs/{to}/links/{}/accept", a.id());
        let b = server.post_empty(&accept, &server.operator).await;
        anyhow::ensure!(b.status.is_success(), "accept: {:?}", b.body);
        Ok(())
    })
    .await?;
    let requests = orgs * (1 + MEMBERS) + 2 * link_count;
    let elapsed = started.elapsed();
    println!(
        "through the API: {orgs} organizations, {} memberships in {orgs_done:.1?}; {link_count} links invited and accepted in {:.1?}; {requests} requests, {:.0}/s",
        orgs * (1 + MEMBERS),
        elapsed - orgs_done,
        requests as f64 / elapsed.as_secs_f64()
    );
    let now = server.clock().now();
    let report = invariants::check_store(&server.app().store, now)?;
    anyhow::ensure!(report.is_sound(), "{:?}", report.violations);
    let bytes = match (&server.database, postgres_server()?) {
        (Some(database), Some(admin)) => scratch::database_size(&admin, database)?,
        _ => {
            let file = server.data.path().join("tenantry.redb");
            let log = tenantry::storage::decision_log::path_beside(&file);
            std::fs::metadata(&file)?.len() + std::fs::metadata(log)?.len()
        }
    };
    println!(
        "invariants: sound; stored {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// Runs `job` over `items` with 16 requests in flight.
async fn fan_out<I, T, F, Fut>(
    server: &std::sync::Arc<TestServer>,
    items: Vec<I>,
    job: F,
) -> anyhow::Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(std::sync::Arc<TestServer>, I) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::with_capacity(items.len());
    for item in items {
        let permit = std::sync::Arc::clone(&semaphore).acquire_owned().await?;
        let run = job(std::sync::Arc::clone(server), item);
        tasks.push(tokio::spawn(async move {
            let out = run.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

/// The data directory argument of the child commands.
pub fn data_arg(args: &[String]) -> anyhow::Result<(PathBuf, usize)> {
    match args {
        [dir, orgs, ..] => Ok((PathBuf::from(dir), orgs.parse()?)),
        _ => anyhow::bail!("expected DIR ORGS"),
    }
}

/// Prints this process's resident memory, split into anonymous and file-backed pages (a
/// loaded plugin's code is file-backed: clean pages the kernel can take back); returns the
/// RSS and its peak in KiB.
fn print_memory(when: &str) -> anyhow::Result<(u64, u64)> {
    let kib = |field: &str| tenantry_e2e::memory::status_kib("self", field);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (rss, peak) = (kib("VmRSS:")?, kib("VmHWM:")?);
    println!(
        "{when}: RSS {:.1} MiB (heap and other anonymous {:.1}, file-backed {:.1}, shared {:.1}), peak {:.1} MiB",
        mib(rss),
        mib(kib("RssAnon:")?),
        mib(kib("RssFile:")?),
        mib(kib("RssShmem:")?),
        mib(peak)
    );
    Ok((rss, peak))
}
