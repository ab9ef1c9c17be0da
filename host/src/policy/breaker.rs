//! A circuit breaker per policy version and organization decided for, so a hostile or broken
//! policy cannot spend the server's CPU on every request of its tenant.
//!
//! The sandbox bounds one call (fuel, operations, memory, wall clock), but a tenant whose
//! policy always runs to its limit would still cost up to that limit per request, and on a
//! small machine that is other tenants' latency. After [`TRIP_AFTER`] failed calls in a row,
//! the version is skipped for a cool-off: its layer answers `deny` (`quarantined`) at once.
//! That is fail-closed and stays within the tenant that bound the policy (the engine applies
//! breakers to the provider and organization layers only; the platform's own policies are the
//! operator's and always run): during a cool-off the tenant's requests are denied even where
//! the policy would have allowed, which is the price of a policy that keeps failing. The
//! cool-off doubles on each trip up to [`MAX_COOLOFF`]; one call that answers closes it. A new
//! version starts closed.
//!
//! A provider's version decides for all its customers, so its breakers are kept per customer
//! ([`Breakers`]): a customer whose requests make the provider's policy fail quarantines that
//! policy for its own requests, never for its sibling customers'. A breaker exists only while
//! its organization's calls are failing; the common case (no failures) reads one map under a
//! shared lock and finds nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The breakers of one policy version, one per organization it decides for (key 0: decisions
/// about no organization).
#[derive(Debug, Default)]
pub struct Breakers {
    by_org: RwLock<HashMap<u128, Arc<Breaker>>>,
}

impl Breakers {
    fn find(&self, org: u128) -> Option<Arc<Breaker>> {
        let map = self.by_org.read().unwrap_or_else(|e| e.into_inner());
        map.get(&org).cloned()
    }

    /// `Err((remaining, failures))` while `org`'s breaker is open.
    pub fn admit(&self, org: u128) -> Result<(), (Duration, u32)> {
        match self.find(org) {
            None => Ok(()),
            Some(b) => b.admit().map_err(|wait| (wait, b.failures())),
        }
    }

    /// Organizations for which this version is skipped now.
    pub fn open(&self) -> usize {
        let map = self.by_org.read().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|b| b.admit().is_err()).count()
    }

    /// Records how a call for `org` ended (`None`: it answered in time).
    pub fn record(&self, org: u128, fault: Option<&str>) {
        match (fault, self.find(org)) {
            (None, None) => {}
            (None, Some(_)) => {
                // Answered: the organization's breaker closes, and is forgotten.
                let mut map = self.by_org.write().unwrap_or_else(|e| e.into_inner());
                map.remove(&org);
            }
            (Some(_), Some(b)) => b.record(fault),
            (Some(_), None) => {
                let breaker = {
                    let mut map = self.by_org.write().unwrap_or_else(|e| e.into_inner());
                    Arc::clone(map.entry(org).or_default())
                };
                breaker.record(fault);
            }
        }
    }
}

/// Failures at a resource limit in a row that open the breaker.
pub const TRIP_AFTER: u32 = 3;
const FIRST_COOLOFF: Duration = Duration::from_secs(1);
pub const MAX_COOLOFF: Duration = Duration::from_secs(60);

/// Faults that are not the policy's doing: an input the host could not convert.
const NOT_THE_POLICY: [&str; 2] = ["invalid_input", "quarantined"];

#[derive(Debug, Default)]
pub struct Breaker {
    failures: AtomicU32,
    /// Milliseconds since [`epoch`] until which calls are skipped; 0 when closed.
    open_until_ms: AtomicU64,
    /// The next cool-off, in milliseconds; 0 before the first trip.
    cooloff_ms: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Breaker {
    /// `Err(remaining)` while the breaker is open.
    pub fn admit(&self) -> Result<(), Duration> {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return Ok(());
        }
        let now = now_ms();
        if now < until {
            Err(Duration::from_millis(until - now))
        } else {
            Ok(())
        }
    }

    /// Records how a call ended: `None` when it answered, or its fault kind.
    pub fn record(&self, fault: Option<&str>) {
        match fault {
            Some(kind) if !NOT_THE_POLICY.contains(&kind) => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= TRIP_AFTER {
                    let cooloff = match self.cooloff_ms.load(Ordering::Relaxed) {
                        0 => FIRST_COOLOFF.as_millis() as u64,
                        ms => (ms * 2).min(MAX_COOLOFF.as_millis() as u64),
                    };
                    self.cooloff_ms.store(cooloff, Ordering::Relaxed);
                    self.open_until_ms
                        .store(now_ms().saturating_add(cooloff).max(1), Ordering::Relaxed);
                    tracing::warn!(failures, cooloff_ms = cooloff, "policy quarantined");
                    crate::metrics::record_quarantine();
                }
            }
            Some(_) => {}
            None => {
                if self.failures.load(Ordering::Relaxed) != 0 {
                    self.failures.store(0, Ordering::Relaxed);
                    self.open_until_ms.store(0, Ordering::Relaxed);
                    self.cooloff_ms.store(0, Ordering::Relaxed);
                }
            }
        }
    }

    /// Failures at a limit in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_failures_in_a_row_and_resets_on_success() {
        let breaker = Breaker::default();
        breaker.record(Some("out_of_fuel"));
        breaker.record(Some("invalid_input"));
        breaker.record(Some("trap"));
        assert!(
            breaker.admit().is_ok(),
            "two failures of the policy do not trip it"
        );
        breaker.record(Some("operation_limit"));
        let wait = breaker.admit().unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= FIRST_COOLOFF);
        breaker.record(None);
        assert!(breaker.admit().is_ok());
        assert_eq!(breaker.failures(), 0);
    }

    #[test]
    fn one_organizations_failures_quarantine_the_policy_for_it_alone() {
        let breakers = Breakers::default();
        for _ in 0..TRIP_AFTER {
            breakers.record(1, Some("operation_limit"));
        }
        assert!(breakers.admit(1).is_err());
        assert!(breakers.admit(2).is_ok(), "a sibling is unaffected");
        breakers.record(2, None);
        assert!(breakers.admit(1).is_err());
    }

    #[test]
    fn each_trip_doubles_the_cooloff_up_to_the_cap() {
        let breaker = Breaker::default();
        let mut last = Duration::ZERO;
        for _ in 0..10 {
            breaker.record(Some("deadline"));
            breaker.record(Some("deadline"));
            breaker.record(Some("deadline"));
            let wait = breaker.admit().unwrap_err();
            assert!(wait >= last.min(MAX_COOLOFF - Duration::from_millis(50)));
            last = wait;
        }
        assert!(last > MAX_COOLOFF - Duration::from_secs(1) && last <= MAX_COOLOFF);
    }
}
