//! How many decisions the recorder may hold before it writes them, shared out among
//! organizations so that no tenant's flood takes another tenant's place in the log.
//!
//! Every decision counts against one of [`SHARES`] shares, picked by its organization
//! (decisions about no organization have a share of their own). The queue's
//! [`MAX_QUEUED_DECISIONS`] are divided in two:
//!
//! - each share has [`RESERVED_PER_SHARE`] places of its own, which no other share can take;
//! - the rest is a pool that any share draws on once its reserve is full, up to
//!   [`MAX_PER_SHARE`] in all for one share.
//!
//! One organization's flood therefore fills its own reserve and a part of the pool and drops
//! its own decisions past that; a user who owns organizations in several shares (ids are
//! random, so five organizations likely fall in four shares) can empty the pool, but every other
//! share still has its reserve: 512 decisions waiting at once, far more than one share's
//! organizations make in the 20 ms the writer lingers. Before the reserve (stop 49), four
//! flooding shares filled the whole queue and every other organization's decisions were
//! dropped from the log.
//!
//! Exact per-organization accounting would need a map behind a lock on every decision. A share
//! costs one atomic add while its reserve has room, and a second one (the pool's) past it.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// The most decisions waiting to be written: four of the recorder's full batches, a few tens
/// of MiB.
pub const MAX_QUEUED_DECISIONS: usize = 16_384;

/// How many shares the queue is divided into by organization; one more holds the decisions
/// about no organization.
pub const SHARES: usize = 16;

/// The most decisions one share may have waiting: a quarter of the queue.
pub const MAX_PER_SHARE: usize = MAX_QUEUED_DECISIONS / 4;

/// Places each share keeps whatever the others queue.
pub const RESERVED_PER_SHARE: usize = 512;

/// What the shares draw on past their reserves: the queue less every share's reserve (7,680).
pub const POOL: usize = MAX_QUEUED_DECISIONS - (SHARES + 1) * RESERVED_PER_SHARE;

const _: () = assert!(RESERVED_PER_SHARE < MAX_PER_SHARE && POOL > MAX_PER_SHARE);

/// The share the decisions about the organization `org_key` count against ([`SHARES`] for
/// none, key 0). Ids are UUID v7, whose last bits are random.
pub fn share_of(org_key: u128) -> usize {
    match org_key {
        0 => SHARES,
        key => (key % SHARES as u128) as usize,
    }
}

/// The places of the pool a share holds when `queued` of its decisions wait.
fn from_pool(queued: usize) -> usize {
    queued.saturating_sub(RESERVED_PER_SHARE)
}

/// The queue's places: taken when a decision is sent, given back when the writer takes it.
///
/// The pool's count always moves with the share's own count, by what that one step of the
/// share took from or gave back to the pool, so once no call is under way it is exactly the
/// sum of [`from_pool`] over the shares, whatever order the calls ran in. While calls run it
/// can be off by the calls under way, so the bounds hold to within as many decisions as there
/// are threads deciding.
#[derive(Debug, Default)]
pub struct LogQueue {
    shares: [AtomicUsize; SHARES + 1],
    /// Places of the pool in use. Signed: a give-back may land before the admission it
    /// follows has counted its place.
    pool: AtomicIsize,
}

impl LogQueue {
    /// Takes a place for a decision about the organization `org_key`; `false` when its share's
    /// reserve is full and the share is at [`MAX_PER_SHARE`] or the pool is empty.
    pub fn admit(&self, org_key: u128) -> bool {
        let share = share_of(org_key);
        let queued = self.shares[share].fetch_add(1, Ordering::Relaxed);
        if queued < RESERVED_PER_SHARE {
            return true;
        }
        let pool_used = self.pool.fetch_add(1, Ordering::Relaxed);
        if queued < MAX_PER_SHARE && pool_used < POOL as isize {
            return true;
        }
        self.give_back(share, 1);
        false
    }

    /// Gives back `n` places of `share` (taken by [`admit`](Self::admit)).
    pub fn give_back(&self, share: usize, n: usize) {
        let queued = self.shares[share].fetch_sub(n, Ordering::Relaxed);
        debug_assert!(queued >= n, "share {share} gave back {n} of {queued}");
        let freed = from_pool(queued) - from_pool(queued.saturating_sub(n));
        if freed > 0 {
            self.pool.fetch_sub(freed as isize, Ordering::Relaxed);
        }
    }

    /// Gives back what a batch of decisions about the organizations `org_keys` took: one
    /// subtraction per share the batch drew on (at most 17), not one per decision.
    pub fn give_back_batch(&self, org_keys: impl IntoIterator<Item = u128>) {
        let mut per_share = [0; SHARES + 1];
        for key in org_keys {
            per_share[share_of(key)] += 1;
        }
        for (share, n) in per_share.into_iter().enumerate() {
            if n > 0 {
                self.give_back(share, n);
            }
        }
    }

    /// Decisions waiting, in all.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.shares.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    #[cfg(test)]
    fn pool_used(&self) -> isize {
        self.pool.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An organization key of each share, the last one (no organization) 0.
    fn key_of_share(share: usize) -> u128 {
        if share == SHARES {
            0
        } else {
            (SHARES + share) as u128
        }
    }

    fn admitted(queue: &LogQueue, share: usize, tries: usize) -> usize {
        (0..tries)
            .filter(|_| queue.admit(key_of_share(share)))
            .count()
    }

    /// The attack the reserve holds against: organizations in four shares flood until the
    /// pool is empty; every other share, the one of decisions about no organization included,
    /// still queues its whole reserve, and not one decision more.
    #[test]
    fn floods_in_four_shares_leave_every_other_share_its_reserve() {
        let queue = LogQueue::default();
        let flooded: usize = (0..4).map(|share| admitted(&queue, share, 10_000)).sum();
        assert_eq!(flooded, 4 * RESERVED_PER_SHARE + POOL);
        for share in 4..=SHARES {
            assert_eq!(
                admitted(&queue, share, RESERVED_PER_SHARE + 1),
                RESERVED_PER_SHARE,
                "share {share}"
            );
        }
        assert_eq!(queue.queued(), MAX_QUEUED_DECISIONS);
    }

    /// One share alone takes its reserve and the pool up to a quarter of the queue.
    #[test]
    fn one_share_holds_at_most_a_quarter_of_the_queue() {
        let queue = LogQueue::default();
        assert_eq!(admitted(&queue, 3, MAX_PER_SHARE + 100), MAX_PER_SHARE);
        assert_eq!(
            queue.pool_used(),
            (MAX_PER_SHARE - RESERVED_PER_SHARE) as isize
        );
    }

    /// Given back, a full share's places take decisions again, its pool places included.
    #[test]
    fn places_given_back_take_decisions_again() {
        let queue = LogQueue::default();
        assert_eq!(admitted(&queue, 0, MAX_PER_SHARE + 1), MAX_PER_SHARE);
        queue.give_back_batch(std::iter::repeat_n(key_of_share(0), MAX_PER_SHARE));
        assert_eq!((queue.queued(), queue.pool_used()), (0, 0));
        assert_eq!(admitted(&queue, 0, MAX_PER_SHARE + 1), MAX_PER_SHARE);
    }

    /// Threads admitting into one share while another gives back what was admitted: once all
    /// is given back, nothing is left counted (a leak would shrink the queue for good).
    #[test]
    fn concurrent_admissions_and_give_backs_leave_nothing_counted() {
        let queue = LogQueue::default();
        let taken = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..200_000 {
                        if queue.admit(key_of_share(5)) {
                            // Released to the thread giving back, as a channel would.
                            taken.fetch_add(1, Ordering::Release);
                        }
                    }
                });
            }
            scope.spawn(|| {
                for _ in 0..100_000 {
                    let n = taken.swap(0, Ordering::Acquire);
                    queue.give_back(5, n);
                }
            });
        });
        queue.give_back(5, taken.into_inner());
        assert_eq!((queue.queued(), queue.pool_used()), (0, 0));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Admit(usize),
        GiveBack(usize, usize),
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..=SHARES).prop_map(Step::Admit),
            1 => (0..=SHARES, 1..600usize).prop_map(|(s, n)| Step::GiveBack(s, n)),
        ]
    }

    proptest! {
        /// Any order of admissions and give-backs admits exactly what the rule says (the
        /// reserve, else a quarter of the queue and a place in the pool), and the pool counts
        /// what the shares hold past their reserves.
        #[test]
        fn admissions_follow_the_rule(steps in proptest::collection::vec(
            prop_oneof![
                // Long runs of one share, to reach the reserve and the pool.
                (0..=SHARES, 1..5_000usize).prop_map(|(s, n)| vec![Step::Admit(s); n]),
                any_step().prop_map(|s| vec![s]),
            ],
            1..40,
        )) {
            let queue = LogQueue::default();
            let mut held = [0_usize; SHARES + 1];
            for step in steps.into_iter().flatten() {
                match step {
                    Step::Admit(share) => {
                        let pool: usize = held.iter().copied().map(from_pool).sum();
                        let expected = held[share] < RESERVED_PER_SHARE
                            || (held[share] < MAX_PER_SHARE && pool < POOL);
                        prop_assert_eq!(queue.admit(key_of_share(share)), expected);
                        held[share] += usize::from(expected);
                    }
                    Step::GiveBack(share, n) => {
                        let n = n.min(held[share]);
                        queue.give_back(share, n);
                        held[share] -= n;
                    }
                }
                let pool: usize = held.iter().copied().map(from_pool).sum();
                prop_assert_eq!(queue.pool_used(), pool as isize);
                prop_assert!(queue.queued() <= MAX_QUEUED_DECISIONS);
            }
        }
    }
}
