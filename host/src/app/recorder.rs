//! The recorder: entries that are observed outside a write transaction (decisions, reads made
//! under a remote-support grant) are queued here and written in batches by one task, so
//! recording never adds a write to the decision path.
//!
//! A recorded entry is committed moments after the decision. Decisions go to the log's own
//! store ([`crate::storage::Store::decision_log`]: a file of its own beside the embedded one)
//! as a relaxed write ([`crate::storage::Store::write_relaxed`]): durable with the log's next
//! durable commit, a second later at most, so a crash loses at most the last second of log
//! entries, never a domain change, and the log costs no fsync of its own. Audit entries go to
//! the domain store and are durable before the next batch is taken. Each batch also removes as many
//! of the oldest decisions as take the log past `decision_log_max_entries`, so the count bound
//! holds at every commit whatever the rate of decisions (a timer alone let a busy log overshoot
//! by one interval's worth: 2× the bound in the soak run).
//!
//! The writing task lingers [`LINGER`] after the first entry of a batch before it takes the
//! rest, so one commit carries hundreds of decisions under load instead of the handful that
//! arrived while the previous commit ran: a redb commit has a cost of its own (the pages it
//! dirties above the leaves, their checksums, the allocator's state) that small batches paid
//! per decision, and a waiting receiver had every decision wake it (a thread switch on the
//! request's path). A reader that must see what was recorded ([`Recorder::settled`]) cuts the
//! linger short.
//!
//! The queue holds at most [`MAX_QUEUED_DECISIONS`] decisions, shared out among organizations
//! with a reserve for each share ([`super::log_queue`]). Past its share's bound a decision is
//! counted in `tenantry_decision_log_dropped_total` and not logged: deciding must never wait for
//! the log (the group-commit writer decides inside its transactions, and would wait on itself),
//! and an unbounded queue let an in-process load of 16,000 decisions a second grow the heap by
//! 330 MiB (`tenantry-bench scale`). Audit entries are never dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::domain::ids::OrgId;
use crate::domain::journal::AuditEntry;
use crate::storage::Store;

use super::decisions::DecisionRecord;
use super::log_queue::{LogQueue, MAX_QUEUED_DECISIONS};

enum Entry {
    Audit(OrgId, AuditEntry),
    Decision(Box<DecisionRecord>),
}

/// The most entries written in one transaction: a quarter of the queue's bound, so a full
/// queue is four batches.
const BATCH: usize = MAX_QUEUED_DECISIONS / 4;

/// How long the writing task waits for more entries after the first of a batch: unnoticeable
/// next to the second within which a relaxed commit becomes durable.
const LINGER: Duration = Duration::from_millis(20);

/// The longest [`Recorder::settled`] waits: a flooded queue does not hold up its caller.
const SETTLE_AT_MOST: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<Entry>,
    /// Places of the queue held by decisions sent and not yet taken by the writing task.
    places: Arc<LogQueue>,
    /// Entries sent so far, and how many of them the writing task has written (or failed to).
    sent: Arc<AtomicU64>,
    handled: watch::Receiver<u64>,
    /// Ends the writing task's linger: someone waits for what is queued.
    hurry: Arc<Notify>,
}

impl Recorder {
    /// Starts the writing task; it ends when the last `Recorder` is dropped. The decision log
    /// is kept to at most `max_decisions` entries.
    pub fn start(store: Store, max_decisions: u64) -> Self {
        Self::lingering(store, max_decisions, LINGER)
    }

    /// [`Recorder::start`] with the writing task waiting `linger` for more entries.
    fn lingering(store: Store, max_decisions: u64, linger: Duration) -> Self {
        let (queue, mut entries) = mpsc::unbounded_channel::<Entry>();
        let places = Arc::new(LogQueue::default());
        let taken = Arc::clone(&places);
        let (handle, handled) = watch::channel(0_u64);
        let hurry = Arc::new(Notify::new());
        let hurried = Arc::clone(&hurry);
        tokio::spawn(async move {
            while let Some(first) = entries.recv().await {
                if entries.len() + 1 < BATCH {
                    tokio::select! {
                        () = tokio::time::sleep(linger) => {}
                        () = hurried.notified() => {}
                    }
                }
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match entries.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let entries_in_batch = batch.len() as u64;
                let mut audits = Vec::new();
                let mut decisions = Vec::new();
                for entry in batch {
                    match entry {
                        Entry::Audit(org, e) => audits.push((org, e)),
                        Entry::Decision(d) => decisions.push(d),
                    }
                }
                taken.give_back_batch(decisions.iter().map(|d| d.org_key()));
                // Decisions wait for the log's next durable commit (at most a second): the log
                // costs no fsync of its own. Audit entries of reads under a grant are what a
                // customer checks a provider by, and are durable before the next batch is taken.
                // Both at once: on PostgreSQL, where the log is the same store, they are two
                // jobs of one group-commit batch, not two round trips one after the other.
                let log = async {
                    if decisions.is_empty() {
                        return;
                    }
                    let added = decisions.len();
                    let written = store
                        .decision_log()
                        .write_relaxed(move |tx| {
                            tx.append_decisions(decisions.iter().map(AsRef::as_ref))?;
                            // Only the count bound, and at most what this batch added: the
                            // pruner's timer handles age and any larger excess.
                            tx.trim_decisions(max_decisions, None, added)?;
                            Ok(())
                        })
                        .await;
                    if let Err(e) = written {
                        tracing::error!(error = %e, "could not write decisions to the log");
                    }
                };
                let audit = async {
                    if audits.is_empty() {
                        return;
                    }
                    // Appended in bulk: one statement on PostgreSQL.
                    let written = store
                        .write(move |tx| {
                            Ok(tx.append_audits(audits.iter().map(|(org, e)| (*org, e)))?)
                        })
                        .await;
                    if let Err(e) = written {
                        tracing::error!(error = %e, "could not write audit entries of reads under a grant");
                    }
                };
                tokio::join!(log, audit);
                handle.send_modify(|handled| *handled += entries_in_batch);
            }
        });
        Self {
            queue,
            places,
            sent: Arc::new(AtomicU64::new(0)),
            handled,
            hurry,
        }
    }

    /// Waits until every entry queued before the call is written (at most
    /// [`SETTLE_AT_MOST`]): for a reader of the log that must see the decisions made before it
    /// asked (a preview replays them).
    pub async fn settled(&self) {
        let target = self.sent.load(Ordering::Acquire);
        let mut handled = self.handled.clone();
        self.hurry.notify_one();
        let _ =
            tokio::time::timeout(SETTLE_AT_MOST, handled.wait_for(|done| *done >= target)).await;
    }

    fn send(&self, entry: Entry) -> bool {
        // Counted before it is sent, so a `settled` that began after this call waits for it.
        self.sent.fetch_add(1, Ordering::AcqRel);
        if self.queue.send(entry).is_err() {
            self.sent.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub fn audit(&self, org: OrgId, entry: AuditEntry) {
        self.send(Entry::Audit(org, entry));
    }

    /// Queues `record`, or counts it as dropped when its organization's share of the queue is
    /// full.
    pub fn decision(&self, record: DecisionRecord) {
        let org_key = record.org_key();
        if !self.places.admit(org_key) {
            crate::metrics::record_dropped_decision();
            return;
        }
        if !self.send(Entry::Decision(Box::new(record))) {
            self.places.give_back_batch([org_key]);
        }
    }
}

impl super::App {
    /// Waits until what was recorded so far is written (at most a couple of seconds): for
    /// measurements that count the recording's cost with the operations that caused it.
    pub async fn recorded(&self) {
        self.recorder.settled().await;
    }

    /// Before the process exits: what the recorder holds is written and made durable (an
    /// empty durable write persists every relaxed commit before it).
    pub async fn settle_for_exit(&self) {
        self.recorded().await;
        if let Err(e) = self.store.decision_log().write(|_| Ok(())).await {
            tracing::warn!(error = %e, "the last decision log entries may not have reached the disk");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::log_queue::{MAX_PER_SHARE, SHARES, share_of};
    use super::*;

    /// Decisions in `store`'s log.
    fn logged(store: &Store) -> u64 {
        store
            .decision_log()
            .read(|view| Ok(view.decision_count()?))
            .unwrap()
    }

    /// After `settled`, every decision queued before it is in the log, across several batches.
    #[tokio::test]
    async fn settled_waits_for_what_was_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        let recorder = Recorder::start(store.clone(), 1_000_000);
        let queued = BATCH + BATCH / 2;
        // About as many organizations, so no share of the queue fills.
        for i in 0..queued {
            let org = crate::domain::ids::OrgId::new();
            recorder.decision(DecisionRecord::stand_in(Some(org), i as i64));
        }
        recorder.settled().await;
        assert_eq!(logged(&store), queued as u64);
    }

    /// One organization's flood fills its own share of the queue and drops its own decisions
    /// past it; an organization of another share still has its decision queued and logged.
    #[tokio::test]
    async fn one_organizations_flood_fills_its_share_not_the_queue() {
        use crate::domain::ids::OrgId;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        // Nothing is taken from the queue until `settled` asks.
        let recorder = Recorder::lingering(store.clone(), 1_000_000, Duration::from_secs(3_600));
        let flooder = OrgId::new();
        let other = std::iter::repeat_with(OrgId::new)
            .find(|org| share_of(org.key()) != share_of(flooder.key()))
            .unwrap();
        for i in 0..MAX_PER_SHARE + 10 {
            recorder.decision(DecisionRecord::stand_in(Some(flooder), i as i64));
        }
        recorder.decision(DecisionRecord::stand_in(Some(other), 0));
        recorder.decision(DecisionRecord::stand_in(None, 0));
        recorder.settled().await;
        let (flooders, others, all) = store
            .decision_log()
            .read(|view| {
                Ok((
                    view.decisions_of(flooder, None, usize::MAX)?.len(),
                    view.decisions_of(other, None, usize::MAX)?.len(),
                    view.decision_count()?,
                ))
            })
            .unwrap();
        assert_eq!((flooders, others), (MAX_PER_SHARE, 1));
        assert_eq!(
            all,
            MAX_PER_SHARE as u64 + 2,
            "a decision about no organization has a share of its own"
        );
    }

    /// What the writer takes from a share is given back: a share filled to its bound and
    /// written takes an organization's decisions again (a leak would drop them for good).
    #[tokio::test]
    async fn a_share_written_out_takes_decisions_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        let recorder = Recorder::lingering(store.clone(), 1_000_000, Duration::from_secs(3_600));
        let org = crate::domain::ids::OrgId::new();
        for round in 1..=2 {
            for i in 0..MAX_PER_SHARE + 1 {
                recorder.decision(DecisionRecord::stand_in(Some(org), i as i64));
            }
            recorder.settled().await;
            assert_eq!(logged(&store), (round * MAX_PER_SHARE) as u64);
        }
    }

    /// Organizations in every share, and decisions about no organization, together queue no
    /// more than the queue's bound.
    #[tokio::test]
    async fn the_queue_holds_its_bound_across_shares() {
        use crate::domain::ids::OrgId;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        let recorder = Recorder::lingering(store.clone(), 1_000_000, Duration::from_secs(3_600));
        let mut one_per_share: Vec<Option<OrgId>> = vec![None; SHARES];
        while one_per_share.iter().any(Option::is_none) {
            let org = OrgId::new();
            one_per_share[share_of(org.key())].get_or_insert(org);
        }
        // The share of decisions about no organization is the last.
        one_per_share.push(None);
        for (i, org) in one_per_share
            .iter()
            .cycle()
            .take(2 * MAX_QUEUED_DECISIONS)
            .enumerate()
        {
            recorder.decision(DecisionRecord::stand_in(*org, i as i64));
        }
        recorder.settled().await;
        assert_eq!(logged(&store), MAX_QUEUED_DECISIONS as u64);
    }

    /// A reader that settles ends the writing task's wait for more entries: with a wait of an
    /// hour, what it queued is still written before `settled` gives up (2 s).
    #[tokio::test]
    async fn settling_cuts_the_wait_for_more_entries_short() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb"), 16 << 20).unwrap();
        let recorder = Recorder::lingering(store.clone(), 1_000_000, Duration::from_secs(3_600));
        for i in 0..3 {
            recorder.decision(DecisionRecord::stand_in(None, i));
        }
        recorder.settled().await;
        assert_eq!(logged(&store), 3);
    }
}
