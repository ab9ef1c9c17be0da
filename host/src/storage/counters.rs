//! Counters that guard against abuse: request quotas (token buckets) and counted attempts
//! (PIN guesses). They must hold across every server that shares a store, or *n* servers would
//! give a client *n* times its quota and an attacker *n* times the guesses.
//!
//! On the embedded file one server is all there is, so they live in its memory ([`InMemory`]).
//! On PostgreSQL they live in the database ([`super::postgres::counters`]), in an `UNLOGGED`
//! table: nothing in it is worth a WAL flush, and a database crash that empties it errs on the
//! side of serving, as a restart of one server does on the file. Either way the clock is the
//! counter's own (the process's monotonic clock, or the database's), never a server's wall
//! clock, so servers whose clocks disagree still share one window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StorageError;

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: f64,
}

/// What [`Counters::draw`] took from a bucket.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    /// Whole requests granted, at most what was asked.
    pub granted: u32,
    /// What is left in the bucket, fractions included: with nothing granted, the wait until
    /// one request is available is `(1 - available) / per_second`.
    pub available: f64,
}

impl Drawn {
    /// How long until the bucket holds one request again.
    pub fn wait(&self, bucket: Bucket) -> Duration {
        Duration::from_secs_f64(((1.0 - self.available) / bucket.per_second).max(0.0))
    }
}

/// When a count starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// `window` after the count's first attempt: at most `limit` attempts per window.
    Window,
    /// After `window` without any attempt: for counts of attempts in flight, which are counted
    /// down as they end; the reset only forgets the attempts of a server that died mid-way.
    Quiet,
}

/// What [`Counters::count_up`] counted.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// The attempt was counted (the count was below the limit).
    pub admitted: bool,
    /// The count with this attempt (when admitted).
    pub count: u32,
    /// When the count's window started, in the counter's clock; [`Counters::count_down`]
    /// takes it back so a count-down never lands in a later window.
    pub since: i64,
    /// How long until the window ends (with [`Reset::Window`]).
    pub left: Duration,
}

/// Quotas and counted attempts, shared by every server of a store.
pub trait Counters: Send + Sync {
    /// Takes up to `want` requests from the bucket `key` (full when first seen).
    fn draw(&self, key: &str, bucket: Bucket, want: u32) -> Result<Drawn, StorageError>;

    /// Counts one attempt under `key` if fewer than `limit` are counted in its window.
    fn count_up(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        reset: Reset,
    ) -> Result<Counted, StorageError>;

    /// Takes one attempt back from `key`'s window that started `since` (an attempt that
    /// turned out right, or ended).
    fn count_down(&self, key: &str, since: i64) -> Result<(), StorageError>;

    /// Forgets buckets and counts untouched for `idle` (which must exceed every bucket's refill
    /// time and every window): they are full, or at zero, again. An implementation may also
    /// forget earlier what it knows to be full or over.
    fn forget_idle(&self, idle: Duration) -> Result<usize, StorageError>;

    /// Whether other servers count here too: a server then draws requests in small leases
    /// instead of one by one, so that a quota costs a round trip per lease
    /// ([`crate::app::rate_limit`]).
    fn is_shared(&self) -> bool;
}

/// The most live entries kept in memory, per kind. Past it, quotas of callers not seen yet
/// share one bucket (a flood from a million addresses costs bounded memory and slows only the
/// newcomers), and counted attempts not seen yet are refused: sharing a count would let one
/// tenant's guesses use up another's, and not counting would let guesses through.
const HARD_CAP: usize = 1_000_000;
/// The size past which the next new key first forgets the entries that are over.
const PRUNE_AT: usize = 100_000;

/// One server's counters, in its memory.
pub struct InMemory {
    epoch: Instant,
    entries: Mutex<Entries>,
}

/// Quotas and counts apart, so that a flood of one cannot push the other into its overflow.
struct Entries {
    buckets: Table,
    counts: Table,
}

struct Table {
    by_key: HashMap<String, Entry>,
    prune_at: usize,
    /// [`HARD_CAP`], smaller in tests.
    cap: usize,
}

struct Entry {
    /// A bucket's requests, or a count.
    value: f64,
    /// When the count's window started (micros of the counter's clock).
    since: i64,
    /// The last draw or count (micros).
    touched: i64,
    /// From when the entry is as good as new (a bucket refilled, a count's window over), so
    /// forgetting it changes nothing.
    over_at: i64,
}

/// The bucket shared by the quotas that found the map full.
const OVERFLOW_KEY: &str = "\u{0}overflow";

impl Default for InMemory {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            entries: Mutex::new(Entries {
                buckets: Table::default(),
                counts: Table::default(),
            }),
        }
    }
}

impl Default for Table {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            prune_at: PRUNE_AT,
            cap: HARD_CAP,
        }
    }
}

impl Table {
    /// `key`'s entry, made by `new` when first seen, keeping the table bounded: `None` when it
    /// is full of live entries.
    fn entry(&mut self, key: &str, now: i64, new: impl FnOnce(i64) -> Entry) -> Option<&mut Entry> {
        if !self.by_key.contains_key(key) {
            if self.by_key.len() >= self.prune_at.min(self.cap) {
                self.forget(now, Duration::MAX);
                self.prune_at = (self.by_key.len() * 2).max(PRUNE_AT);
            }
            if self.by_key.len() >= self.cap {
                return None;
            }
            self.by_key.insert(key.to_owned(), new(now));
        }
        self.by_key.get_mut(key)
    }

    /// Forgets the entries that are over, or untouched for `idle`.
    fn forget(&mut self, now: i64, idle: Duration) -> usize {
        let before = self.by_key.len();
        let idle = micros(idle);
        self.by_key
            .retain(|_, e| e.over_at > now && now.saturating_sub(e.touched) < idle);
        before - self.by_key.len()
    }
}

impl InMemory {
    fn now(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX)
    }

    /// Counters that keep at most `cap` live entries of each kind.
    #[cfg(test)]
    fn with_cap(cap: usize) -> Self {
        let counters = Self::default();
        {
            let mut entries = counters.entries();
            entries.buckets.cap = cap;
            entries.counts.cap = cap;
        }
        counters
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Counters for InMemory {
    fn draw(&self, key: &str, bucket: Bucket, want: u32) -> Result<Drawn, StorageError> {
        let full = |now| Entry {
            value: bucket.burst,
            since: now,
            touched: now,
            over_at: now,
        };
        let now = self.now();
        let mut entries = self.entries();
        let buckets = &mut entries.buckets;
        let entry = match buckets.entry(key, now, full) {
            Some(entry) => entry,
            None => buckets
                .by_key
                .entry(OVERFLOW_KEY.to_owned())
                .or_insert_with(|| full(now)),
        };
        let elapsed = now.saturating_sub(entry.touched).max(0) as f64 / 1e6;
        let refilled = (entry.value + elapsed * bucket.per_second).min(bucket.burst);
        let granted = f64::from(want).min(refilled.floor()).max(0.0);
        entry.value = refilled - granted;
        entry.touched = now;
        let refill = (bucket.burst - entry.value) / bucket.per_second;
        entry.over_at = now.saturating_add(micros(Duration::from_secs_f64(refill.max(0.0))));
        Ok(Drawn {
            granted: granted as u32,
            available: entry.value,
        })
    }

    fn count_up(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        reset: Reset,
    ) -> Result<Counted, StorageError> {
        let zero = |now| Entry {
            value: 0.0,
            since: now,
            touched: now,
            over_at: now,
        };
        let now = self.now();
        let mut entries = self.entries();
        let Some(entry) = entries.counts.entry(key, now, zero) else {
            tracing::warn!("too many counted attempts in memory; refusing new ones");
            return Ok(Counted {
                admitted: false,
                count: limit,
                since: now,
                left: window,
            });
        };
        let from = match reset {
            Reset::Window => entry.since,
            Reset::Quiet => entry.touched,
        };
        if now.saturating_sub(from) >= micros(window) {
            entry.value = 0.0;
            entry.since = now;
        }
        entry.touched = now;
        entry.over_at = match reset {
            Reset::Window => entry.since,
            Reset::Quiet => now,
        }
        .saturating_add(micros(window));
        let admitted = entry.value < f64::from(limit);
        if admitted {
            entry.value += 1.0;
        }
        Ok(Counted {
            admitted,
            count: entry.value as u32,
            since: entry.since,
            left: Duration::from_micros(
                u64::try_from(entry.since + micros(window) - now).unwrap_or(0),
            ),
        })
    }

    fn count_down(&self, key: &str, since: i64) -> Result<(), StorageError> {
        let mut entries = self.entries();
        if let Some(entry) = entries
            .counts
            .by_key
            .get_mut(key)
            .filter(|e| e.since == since)
        {
            entry.value = (entry.value - 1.0).max(0.0);
        }
        Ok(())
    }

    fn forget_idle(&self, idle: Duration) -> Result<usize, StorageError> {
        let now = self.now();
        let mut entries = self.entries();
        Ok(entries.buckets.forget(now, idle) + entries.counts.forget(now, idle))
    }

    fn is_shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Bucket = Bucket {
        per_second: 1.0,
        burst: 3.0,
    };

    #[test]
    fn a_bucket_grants_its_burst_then_says_how_long_to_wait() {
        let counters = InMemory::default();
        assert_eq!(counters.draw("a", BUCKET, 2).unwrap().granted, 2);
        assert_eq!(
            counters.draw("a", BUCKET, 2).unwrap().granted,
            1,
            "what is left"
        );
        let empty = counters.draw("a", BUCKET, 1).unwrap();
        assert_eq!(empty.granted, 0);
        let wait = empty.wait(BUCKET);
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(
            counters.draw("b", BUCKET, 5).unwrap().granted,
            3,
            "its own bucket"
        );
    }

    #[test]
    fn a_window_admits_its_limit_and_a_count_down_gives_one_back() {
        let counters = InMemory::default();
        let window = Duration::from_secs(60);
        let first = counters.count_up("k", 2, window, Reset::Window).unwrap();
        assert!(first.admitted && first.count == 1);
        assert!(
            counters
                .count_up("k", 2, window, Reset::Window)
                .unwrap()
                .admitted
        );
        let refused = counters.count_up("k", 2, window, Reset::Window).unwrap();
        assert!(!refused.admitted);
        assert!(refused.left > Duration::from_secs(59));
        counters.count_down("k", first.since).unwrap();
        assert!(
            counters
                .count_up("k", 2, window, Reset::Window)
                .unwrap()
                .admitted
        );
        counters.count_down("k", first.since + 1).unwrap();
        assert!(
            !counters
                .count_up("k", 2, window, Reset::Window)
                .unwrap()
                .admitted,
            "a count-down of another window is ignored"
        );
    }

    #[test]
    fn a_count_starts_again_after_its_window_or_its_quiet() {
        let counters = InMemory::default();
        let short = Duration::from_millis(20);
        let admitted = |key: &str, reset| counters.count_up(key, 1, short, reset).unwrap().admitted;
        assert!(admitted("w", Reset::Window));
        assert!(!admitted("w", Reset::Window));
        assert!(admitted("q", Reset::Quiet));
        std::thread::sleep(Duration::from_millis(30));
        assert!(admitted("w", Reset::Window), "the window has passed");
        assert!(
            admitted("q", Reset::Quiet),
            "the count was quiet long enough"
        );
        assert_eq!(counters.forget_idle(Duration::ZERO).unwrap(), 2);
    }

    #[test]
    fn a_full_map_shares_one_bucket_among_newcomers_and_refuses_new_counts() {
        let counters = InMemory::with_cap(2);
        let slow = Bucket {
            per_second: 0.001,
            burst: 1.0,
        };
        assert_eq!(counters.draw("a", slow, 1).unwrap().granted, 1);
        assert_eq!(counters.draw("b", slow, 1).unwrap().granted, 1);
        assert_eq!(
            counters.draw("c", slow, 1).unwrap().granted,
            1,
            "the overflow's"
        );
        assert_eq!(
            counters.draw("d", slow, 1).unwrap().granted,
            0,
            "newcomers share the overflow bucket"
        );
        let window = Duration::from_secs(60);
        assert!(
            counters
                .count_up("x", 5, window, Reset::Window)
                .unwrap()
                .admitted
        );
        assert!(
            counters
                .count_up("y", 5, window, Reset::Window)
                .unwrap()
                .admitted
        );
        assert!(
            !counters
                .count_up("z", 5, window, Reset::Window)
                .unwrap()
                .admitted,
            "a count that cannot be kept is refused, never shared"
        );
        assert!(
            counters
                .count_up("x", 5, window, Reset::Window)
                .unwrap()
                .admitted,
            "quotas did not crowd the counts out, nor counts a known key"
        );
    }

    #[test]
    fn a_refilled_bucket_or_an_ended_window_is_forgotten_first() {
        let counters = InMemory::with_cap(2);
        let fast = Bucket {
            per_second: 1_000.0,
            burst: 1.0,
        };
        let slow = Bucket {
            per_second: 0.001,
            burst: 1.0,
        };
        counters.draw("a", fast, 1).unwrap();
        counters.draw("b", fast, 1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(counters.draw("c", slow, 1).unwrap().granted, 1);
        assert_eq!(
            counters.draw("d", slow, 1).unwrap().granted,
            1,
            "c and d have buckets of their own: the refilled a and b made room"
        );
        assert_eq!(
            counters.forget_idle(Duration::MAX).unwrap(),
            0,
            "c and d are not full yet"
        );
    }
}
