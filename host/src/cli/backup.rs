//! `tenantry backup` and `tenantry check`.
//!
//! A backup is fetched from the running server (only it can read its locked file), written to
//! `PATH.partial`, made durable, opened read-only and checked, and only then renamed to `PATH`:
//! a file at `PATH` is always a complete, sound copy. Restoring is stopping the server and
//! putting the file at `data/tenantry.redb`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::app::invariants::{self, Report};
use crate::domain::clock::Clock;
use crate::storage::Snapshot;

pub struct BackupArgs<'a> {
    pub path: &'a Path,
    pub server: &'a str,
    pub token: &'a str,
}

/// Downloads, verifies and keeps a backup, and prints its report; exit code 1 when the copy
/// breaks an invariant (it is then left at `PATH.partial` for inspection).
pub async fn backup(args: BackupArgs<'_>) -> anyhow::Result<i32> {
    let (report, written) = download(&args).await?;
    print_report(&report);
    if !report.is_sound() {
        println!(
            "kept at {} for inspection",
            partial_path(args.path).display()
        );
        return Ok(1);
    }
    println!(
        "backup written to {} ({written} bytes)",
        args.path.display()
    );
    Ok(0)
}

/// [`backup`] without the printing: the copy's report and size. The file is at `PATH` when the
/// report is sound, at `PATH.partial` otherwise.
pub async fn download(args: &BackupArgs<'_>) -> anyhow::Result<(Report, u64)> {
    if args.path.exists() {
        bail!(
            "`{}` already exists; a backup never overwrites a file",
            args.path.display()
        );
    }
    let partial = partial_path(args.path);
    let url = format!("{}/v1/platform/backup", args.server.trim_end_matches('/'));
    let mut response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(args.token)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {body}");
    }
    // Read before the body: the hint shrinks as the body is consumed.
    let expected = response.content_length();
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create `{}`", partial.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.context("the download broke off")? {
        file.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    if let Some(expected) = expected
        && expected != written
    {
        bail!("the download broke off after {written} of {expected} bytes");
    }
    file.sync_all()?;
    drop(file);
    let report = verify(&partial)?;
    if report.is_sound() {
        std::fs::rename(&partial, args.path)?;
        if let Some(dir) = args.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    Ok((report, written))
}

/// Opens a database file read-only and prints its record counts and every broken invariant;
/// exit code 1 when any is broken.
pub fn check(path: &Path) -> anyhow::Result<i32> {
    let report = verify(path)?;
    print_report(&report);
    Ok(i32::from(!report.is_sound()))
}

fn verify(path: &Path) -> anyhow::Result<Report> {
    let snapshot = Snapshot::open(path)
        .with_context(|| format!("`{}` is not a readable tenantry database", path.display()))?;
    let now = Clock::default().now();
    snapshot
        .read(|view| invariants::check(view, now))
        .map_err(|e| anyhow::anyhow!("checking `{}`: {e}", path.display()))
}

pub(super) fn print_report(report: &Report) {
    for (table, n) in &report.counts {
        println!("{table:>16}  {n}");
    }
    for v in &report.violations {
        println!("VIOLATION {v}");
    }
    println!("{} invariant violations", report.violations.len());
}

/// Where a download is written until it has been verified.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
