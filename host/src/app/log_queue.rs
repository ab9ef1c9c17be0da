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
//! its own decisions past that. A user with organizations in three shares (ids are random, so
//! three organizations fall in three shares four times in five) can empty the pool: two shares
//! take 7,168 of its 7,680 places, a third the rest. Every other share still has its reserve.
//! A place comes back when the writer takes the decision, and under a flood the queue drains
//! first in, first out, so the reserve is what a share's organizations can have waiting while
//! a full queue is written (about a second at the writer's measured rate): 512 decisions a
//! second shared by a sixteenth of the organizations, enough for a quiet share, not for a busy
//! one at 100,000 organizations. Without the reserve, four flooding shares filled the whole
//! queue and every other organization's decisions were dropped.
//!
//! Decisions about no organization (a user's own tokens, the plan list) share one share that
//! any signed-in user can fill: they drop only decisions of that kind, which no organization's
//! log lists, but that share draws on the pool like any other (up to 3,584 of its places), so
//! one user's flood of them and one organization's flood empty the pool between them.
//!
//! Exact per-organization accounting would need a map behind a lock on every decision. A share
//! costs one atomic add while its reserve has room, two past it, and a refused decision only
//! reads the pool's count, which every share past its reserve shares, and does not write it.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// The most decisions waiting to be written: a few tens of MiB.
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
/// can be off by the admissions caught between their two adds, so the bounds hold to within as
/// many decisions as there are threads deciding.
#[derive(Debug, Default)]
pub struct LogQueue {
    shares: [AtomicUsize; SHARES + 1],
    /// Places of the pool in use. Signed: while an admission that took a share past its
    /// reserve has not yet added its place, the writer may give back one of that share's
    /// places past the reserve, and subtract it first.
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
        // Refused before touching the pool's count when it is full: under a flood that
        // emptied it, refusals leave the count every share past its reserve uses alone.
        if queued >= MAX_PER_SHARE || self.pool.load(Ordering::Relaxed) >= POOL as isize {
            self.undo_without_pool(share);
            return false;
        }
        if self.pool.fetch_add(1, Ordering::Relaxed) < POOL as isize {
            return true;
        }
        self.give_back(share, 1);
        false
    }

    /// Undoes an admission's step up past the reserve without the pool: the step up owed the
    /// pool a place and the step down gives one back, unless the writer took the share down to
    /// its reserve in between, when the owed place is added now.
    fn undo_without_pool(&self, share: usize) {
        if self.shares[share].fetch_sub(1, Ordering::Relaxed) <= RESERVED_PER_SHARE {
            self.pool.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives back `n` places of `share`, each taken by an [`admit`](Self::admit) that is
    /// ordered before this call (the recorder's channel orders them).
    fn give_back(&self, share: usize, n: usize) {
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

    /// The attack the reserve holds against: organizations in three shares flood until the
    /// pool is empty; every other share, the one of decisions about no organization included,
    /// still queues its whole reserve, and not one decision more.
    #[test]
    fn floods_in_three_shares_leave_every_other_share_its_reserve() {
        let queue = LogQueue::default();
        let flooded: usize = (0..3).map(|share| admitted(&queue, share, 10_000)).sum();
        assert_eq!(flooded, 3 * RESERVED_PER_SHARE + POOL);
        for share in 3..=SHARES {
            assert_eq!(
                admitted(&queue, share, RESERVED_PER_SHARE + 1),
                RESERVED_PER_SHARE,
                "share {share}"
            );
        }
        assert_eq!(queue.queued(), MAX_QUEUED_DECISIONS);
    }

    /// One share alone takes its reserve and the pool up to a quarter of the queue; what it is
    /// refused past that leaves the pool's count alone.
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

    /// Two threads flood three shares (enough to empty the pool and be refused) while a third
    /// gives back what was admitted until they are done: no share ever holds more than its
    /// bound and a place per flooding thread, and once all is given back nothing is left
    /// counted (a leak would shrink the queue for good).
    #[test]
    fn concurrent_admissions_and_give_backs_leave_nothing_counted() {
        use std::sync::atomic::AtomicBool;
        let queue = LogQueue::default();
        let taken: [AtomicUsize; 3] = Default::default();
        let done = AtomicBool::new(false);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let flooders: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        for i in 0..300_000 {
                            let share = i % 3;
                            if queue.admit(key_of_share(share)) {
                                // Released to the thread giving back, as the channel does.
                                taken[share].fetch_add(1, Ordering::Release);
                            }
                        }
                    })
                })
                .collect();
            scope.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    for (share, count) in taken.iter().enumerate() {
                        // Given back only past twice the reserve, so the shares reach the pool
                        // whatever the scheduling; a share holds at least what it gives back.
                        if count.load(Ordering::Acquire) >= 2 * RESERVED_PER_SHARE {
                            let held = queue.shares[share].load(Ordering::Relaxed);
                            most.fetch_max(held, Ordering::Relaxed);
                            queue.give_back(share, count.swap(0, Ordering::Acquire));
                        }
                    }
                }
            });
            for flooder in flooders {
                flooder.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        for (share, count) in taken.iter().enumerate() {
            queue.give_back(share, count.load(Ordering::Acquire));
        }
        assert_eq!((queue.queued(), queue.pool_used()), (0, 0));
        let most = most.into_inner();
        assert!(
            most > RESERVED_PER_SHARE && most <= MAX_PER_SHARE + 2,
            "{most}"
        );
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
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any order of admissions and give-backs admits exactly what the rule says (the
        /// reserve, else a quarter of the queue and a place in the pool), and the pool counts
        /// what the shares hold past their reserves.
        #[test]
        fn admissions_follow_the_rule(steps in proptest::collection::vec(
            prop_oneof![
                // Long runs of one share, to reach the reserve, the pool and the bound.
                (0..=SHARES, 1..4_500usize).prop_map(|(s, n)| vec![Step::Admit(s); n]),
                any_step().prop_map(|s| vec![s]),
            ],
            1..24,
        )) {
            let queue = LogQueue::default();
            // The model: what each share holds, and the places past the reserves.
            let mut held = [0_usize; SHARES + 1];
            let mut pool = 0_usize;
            for step in steps.into_iter().flatten() {
                match step {
                    Step::Admit(share) => {
                        let expected = held[share] < 512
                            || (held[share] < 4_096 && pool < 7_680);
                        prop_assert_eq!(queue.admit(key_of_share(share)), expected);
                        if expected {
                            pool += usize::from(held[share] >= 512);
                            held[share] += 1;
                        }
                    }
                    Step::GiveBack(share, n) => {
                        let n = n.min(held[share]);
                        let past_reserve = |h: usize| h.saturating_sub(512);
                        pool -= past_reserve(held[share]) - past_reserve(held[share] - n);
                        queue.give_back(share, n);
                        held[share] -= n;
                    }
                }
                prop_assert_eq!(queue.pool_used(), pool as isize);
            }
            prop_assert!(queue.queued() <= 16_384);
        }
    }
}
