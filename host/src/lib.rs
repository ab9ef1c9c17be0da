//! tenantry: a multi-tenant organization host with programmable policies.
//!
//! # Core concepts
//! - **Domain** ([`domain`]): organizations, members, teams and channels, links, shares and
//!   remote-support grants, with their validation. No I/O.
//! - **Storage** ([`storage`]): one redb file; every write goes through a group-commit writer
//!   and is acknowledged only once durable.
//! - **Policies** ([`policy`]): every decision asks the `authorize`, `link`, `share` or
//!   `remote_support` hook at up to three layers (platform, service provider, organization)
//!   and combines the answers: any deny wins, otherwise an allow is needed.
//! - **Use cases** ([`app`]): one transaction each: authorize, check invariants, write, journal.
//! - **HTTP** ([`api`]): axum routes translating JSON to use cases and errors to problem+json.
//! - **Console** ([`console`]): server-rendered pages over the same use cases, for people.

/// Every program that runs the host (the server, its tests, the benchmarks) allocates through
/// mimalloc: a request allocates and frees hundreds of small values across two threads, and
/// glibc's allocator spent about a sixth of the server's CPU on it under load (`perf` of
/// `tenantry-bench http`, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod mail;
pub mod metrics;
pub mod policy;
pub mod storage;
#[cfg(test)]
mod test_support;
pub mod trace_context;
pub mod webhooks;

pub use app::App;
pub use config::Settings;
pub use error::{Error, Result};
