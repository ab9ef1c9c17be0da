//! Request quotas: a token bucket per principal (a user, whatever number of tokens they hold,
//! or the operator), so one runaway client (or a stolen credential) cannot take the server from
//! every other tenant; and one per client address for what is asked without a credential
//! (accepting an invitation) or with a bad one (a 401), so guessing costs the guesser.
//!
//! The buckets are the store's counters ([`crate::storage::counters`]): in memory on the
//! embedded file, where a restart refills them (which errs on the side of serving), and in the
//! database on PostgreSQL, so a caller spreading requests over several servers still gets one
//! quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::storage::StorageError;
#[cfg(test)]
use crate::storage::counters::InMemory;
use crate::storage::counters::{Bucket, Counters};
#[cfg(test)]
use crate::storage::counters::{Counted, Drawn, Reset};

/// Whose bucket a request takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    User(UserId),
    Operator,
    /// An unauthenticated request, by the address it came from (`None`: not known, e.g. a
    /// request made in-process; they share one bucket). See [`Caller::address`].
    Address(Option<std::net::IpAddr>),
}

impl Caller {
    /// The bucket of a client address: an IPv6 client is counted by its /64, the block one
    /// subscriber is given, so walking through its addresses buys no more requests.
    pub fn address(address: Option<std::net::IpAddr>) -> Self {
        Self::Address(address.map(|a| match a {
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                std::net::IpAddr::V6((u128::from(v6) & !((1_u128 << 64) - 1)).into())
            }
            other => other,
        }))
    }

    /// The bucket's key in the counters.
    fn key(self) -> String {
        match self {
            Self::User(user) => format!("quota:user:{user}"),
            Self::Operator => "quota:operator".into(),
            Self::Address(Some(address)) => format!("quota:address:{address}"),
            Self::Address(None) => "quota:address:unknown".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second per principal, and per address without a credential;
    /// 0 turns limiting off.
    pub per_second: u32,
    /// Requests a principal (or an address) may make at once after being idle.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 1_000,
        }
    }
}

impl RateLimit {
    fn bucket(self) -> Bucket {
        Bucket {
            per_second: f64::from(self.per_second),
            burst: f64::from(self.burst.max(1)),
        }
    }

    /// How many requests a server draws at once from a shared bucket: a tenth of a second's
    /// worth (and of the burst), so a busy caller costs about ten round trips a second per
    /// server, and what one server holds unused is at most that much of the quota.
    fn lease_size(self) -> u32 {
        (self.per_second / 10).min(self.burst / 10).max(1)
    }
}

/// How long a server keeps requests it drew and did not use: a lease cannot carry a quota
/// over into a later second.
const LEASE_LIFE: Duration = Duration::from_secs(1);
/// Leases kept before the idle ones are dropped; when most are live the next prune waits for
/// twice as many, so a crowd of callers does not make every request walk the map.
const LEASES_PRUNE_AT: usize = 100_000;

/// Admits requests against the quotas of [`crate::storage::counters`]. On one server each
/// request takes one from its bucket in memory. Where servers share the counters (PostgreSQL),
/// a server draws a small lease of requests per caller ([`RateLimit::lease_size`]) and admits
/// from it until it is used up or a second old: one round trip per lease, not per request.
/// Requests a server drew and did not use are lost to the caller's other servers for that
/// second, so with *n* servers a caller may get up to `n x lease` fewer requests than its
/// quota in a second, never more.
pub struct RateLimiter {
    limit: RateLimit,
    counters: Arc<dyn Counters>,
    leases: Mutex<Leases>,
}

struct Leases {
    by_caller: HashMap<Caller, Arc<Mutex<Lease>>>,
    prune_at: usize,
}

#[derive(Default)]
struct Lease {
    left: u32,
    until: Option<Instant>,
    /// The shared bucket said "empty" and is not worth asking again before then.
    refused_until: Option<Instant>,
}

/// Why a request was not admitted.
pub enum Refusal {
    /// The quota is used up: one request is available after this long.
    Wait(Duration),
    /// The shared counters could not be reached.
    Unavailable(StorageError),
}

impl RateLimiter {
    pub fn new(limit: RateLimit, counters: Arc<dyn Counters>) -> Self {
        Self {
            limit,
            counters,
            leases: Mutex::new(Leases {
                by_caller: HashMap::new(),
                prune_at: LEASES_PRUNE_AT,
            }),
        }
    }

    /// Takes one request from `caller`'s quota.
    pub fn admit(&self, caller: Caller) -> Result<(), Refusal> {
        if self.limit.per_second == 0 {
            return Ok(());
        }
        if !self.counters.is_shared() {
            return self.draw(caller, 1).map(|_| ());
        }
        let lease = {
            let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            if leases.by_caller.len() >= leases.prune_at {
                let now = Instant::now();
                leases.by_caller.retain(|_, lease| {
                    lease.try_lock().map_or(true, |l| {
                        l.until.is_some_and(|until| until > now)
                            || l.refused_until.is_some_and(|until| until > now)
                    })
                });
                leases.prune_at = (leases.by_caller.len() * 2).max(LEASES_PRUNE_AT);
            }
            Arc::clone(leases.by_caller.entry(caller).or_default())
        };
        // One draw at a time per caller on this server. A request of the same caller that
        // finds a draw under way does not wait for its round trip (that would park a worker
        // thread on a lock): it draws its own single request.
        let Ok(mut lease) = lease.try_lock() else {
            return self.draw(caller, 1).map(|_| ());
        };
        let now = Instant::now();
        if let Some(until) = lease.refused_until.filter(|until| *until > now) {
            // Refused a moment ago: refuse again here, without a round trip per request.
            return Err(Refusal::Wait(until - now));
        }
        if lease.left > 0 && lease.until.is_some_and(|until| until > now) {
            lease.left -= 1;
            return Ok(());
        }
        match self.draw(caller, self.limit.lease_size()) {
            Ok(granted) => {
                lease.left = granted - 1;
                lease.until = Some(now + LEASE_LIFE);
                lease.refused_until = None;
                Ok(())
            }
            Err(Refusal::Wait(wait)) => {
                lease.refused_until = Some(now + wait);
                Err(Refusal::Wait(wait))
            }
            Err(unavailable) => Err(unavailable),
        }
    }

    /// Draws up to `want` requests (at least one, or a refusal).
    fn draw(&self, caller: Caller, want: u32) -> Result<u32, Refusal> {
        let bucket = self.limit.bucket();
        let drawn = self
            .counters
            .draw(&caller.key(), bucket, want)
            .map_err(Refusal::Unavailable)?;
        if drawn.granted == 0 {
            return Err(Refusal::Wait(drawn.wait(bucket)));
        }
        Ok(drawn.granted)
    }
}

impl super::App {
    /// Forgets, every ten minutes, the quotas and counts nobody touched for an hour (or a full
    /// refill, if longer): they are full, or at zero, again. Keeps the shared tables (and the
    /// memory of one server) proportional to the callers of the last hour.
    pub async fn forget_idle_counters(self) {
        let limit = self.settings.rate_limit;
        let refill = Duration::from_secs(
            u64::from(limit.burst.checked_div(limit.per_second).unwrap_or(0)) + 1,
        );
        let idle = refill.max(Duration::from_secs(3_600));
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let counters = self.store.counters();
            match tokio::task::spawn_blocking(move || counters.forget_idle(idle)).await {
                Ok(Err(error)) => tracing::warn!(%error, "forgetting idle quotas failed"),
                Err(error) => tracing::warn!(%error, "forgetting idle quotas failed"),
                Ok(Ok(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(
            RateLimit { per_second, burst },
            Arc::new(InMemory::default()),
        )
    }

    fn wait(refusal: Refusal) -> Duration {
        match refusal {
            Refusal::Wait(wait) => wait,
            Refusal::Unavailable(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = limiter(1, 3);
        let (a, b) = (Caller::User(UserId::new()), Caller::Operator);
        for _ in 0..3 {
            assert!(limiter.admit(a).is_ok());
        }
        let wait = wait(limiter.admit(a).err().unwrap());
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(
            limiter.admit(b).is_ok(),
            "another principal has its own bucket"
        );
    }

    #[test]
    fn an_ipv6_client_is_one_bucket_per_64() {
        let limiter = limiter(1, 2);
        let a: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.admit(Caller::address(Some(a))).is_ok());
        assert!(limiter.admit(Caller::address(Some(b))).is_ok());
        assert!(limiter.admit(Caller::address(Some(a))).is_err(), "same /64");
        assert!(
            limiter.admit(Caller::address(Some(c))).is_ok(),
            "another /64"
        );
        let v4: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(Caller::address(Some(v4)), Caller::Address(Some(v4)));
    }

    #[test]
    fn zero_turns_limiting_off() {
        let limiter = limiter(0, 0);
        let a = Caller::Address(None);
        assert!((0..10_000).all(|_| limiter.admit(a).is_ok()));
    }

    /// The in-memory counters, claiming to be shared (so the limiter leases) and counting
    /// how often they are asked.
    #[derive(Default)]
    struct SharedCounters {
        inner: InMemory,
        draws: std::sync::atomic::AtomicUsize,
    }

    impl Counters for SharedCounters {
        fn draw(&self, key: &str, bucket: Bucket, want: u32) -> Result<Drawn, StorageError> {
            self.draws
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.draw(key, bucket, want)
        }
        fn count_up(
            &self,
            key: &str,
            limit: u32,
            window: Duration,
            reset: Reset,
        ) -> Result<Counted, StorageError> {
            self.inner.count_up(key, limit, window, reset)
        }
        fn count_down(&self, key: &str, since: i64) -> Result<(), StorageError> {
            self.inner.count_down(key, since)
        }
        fn forget_idle(&self, idle: Duration) -> Result<usize, StorageError> {
            self.inner.forget_idle(idle)
        }
        fn is_shared(&self) -> bool {
            true
        }
    }

    #[test]
    fn shared_counters_are_asked_once_per_lease_and_once_per_refusal() {
        let counters = Arc::new(SharedCounters::default());
        let limiter = RateLimiter::new(
            RateLimit {
                per_second: 20,
                burst: 20,
            },
            counters.clone(),
        );
        let caller = Caller::User(UserId::new());
        let admitted = (0..30).filter(|_| limiter.admit(caller).is_ok()).count();
        assert_eq!(admitted, 20, "the burst, never more");
        let draws = counters.draws.load(std::sync::atomic::Ordering::Relaxed);
        // Ten leases of two, then one refused draw; the other nine refusals are remembered.
        assert_eq!(draws, 11);
        let wait = wait(limiter.admit(caller).err().unwrap());
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(50));
    }
}
