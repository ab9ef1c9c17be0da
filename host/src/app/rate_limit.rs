//! Request quotas: a token bucket per principal (a user, whatever number of tokens they hold,
//! or the operator), so one runaway client (or a stolen credential) cannot take the server from
//! every other tenant; and one per client address for what is asked without a credential
//! (accepting an invitation) or with a bad one (a 401), so guessing costs the guesser.
//!
//! Buckets live in memory only: a restart refills them, which errs on the side of serving.
//! The map holds one small entry per token seen recently; entries whose bucket would be full
//! again are dropped when the map grows past [`PRUNE_AT`], so its size stays bounded by the
//! number of tokens active within one refill period.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;

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
}

const PRUNE_AT: usize = 100_000;
/// The most buckets kept at once.
const HARD_CAP: usize = 1_000_000;

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

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    by_caller: HashMap<Caller, Bucket>,
    /// The size past which the next admission drops full buckets; raised when nothing could be
    /// dropped, so a map of busy callers is not scanned on every request.
    prune_at: usize,
}

struct Bucket {
    available: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(Buckets {
                by_caller: HashMap::new(),
                prune_at: PRUNE_AT,
            }),
        }
    }

    /// Takes one request from `caller`'s bucket, or says how long until one is available.
    pub fn admit(&self, caller: Caller) -> Result<(), Duration> {
        if self.limit.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.limit.per_second);
        let burst = f64::from(self.limit.burst.max(1));
        let now = Instant::now();
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = &mut *guard;
        if buckets.by_caller.len() >= buckets.prune_at {
            let refill = Duration::from_secs_f64(burst / rate);
            buckets
                .by_caller
                .retain(|_, b| now.duration_since(b.at) < refill);
            buckets.prune_at = (buckets.by_caller.len() * 2).max(PRUNE_AT);
        }
        // Past the hard cap, callers not seen yet share one bucket: memory stays bounded
        // whatever number of addresses a flood comes from.
        let caller =
            if buckets.by_caller.len() >= HARD_CAP && !buckets.by_caller.contains_key(&caller) {
                Caller::Address(None)
            } else {
                caller
            };
        let bucket = buckets.by_caller.entry(caller).or_insert(Bucket {
            available: burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.available = (bucket.available + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.available) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 3,
        });
        let (a, b) = (Caller::User(UserId::new()), Caller::Operator);
        for _ in 0..3 {
            assert!(limiter.admit(a).is_ok());
        }
        let wait = limiter.admit(a).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(
            limiter.admit(b).is_ok(),
            "another principal has its own bucket"
        );
    }

    #[test]
    fn an_ipv6_client_is_one_bucket_per_64() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
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
        let limiter = RateLimiter::new(RateLimit {
            per_second: 0,
            burst: 0,
        });
        let a = Caller::Address(None);
        assert!((0..10_000).all(|_| limiter.admit(a).is_ok()));
    }
}
