//! Small reads that share one snapshot: under load, the reads that authenticate concurrent
//! requests ride one round trip instead of one each.
//!
//! Every read closure on PostgreSQL opens its snapshot with a round trip (`BEGIN` and the
//! record cache's catch-up), even when everything it looks up is in the cache. A request's
//! first read, its token, is such a read, and under load dozens of them wait at the same
//! moment. So a reader queues its closure and, if no reader is leading, leads: it takes every
//! closure queued, opens one snapshot (after all of them were queued, so each sees every write
//! acknowledged before its request began), runs them one after another on its thread, and
//! wakes their readers. The readers that queued while it ran are the next group, led by one of
//! them. A closure runs exactly once, on some reader's thread, so it must own what it uses
//! (`Send + 'static`); that is why only small reads written for it use it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::storage::{StorageError, View};

/// A queued read: given the group's snapshot, or why there is none.
pub type Job = Box<dyn FnOnce(Result<&View<'_>, &StorageError>) + Send>;

#[derive(Default)]
pub struct ReadGroup {
    state: Mutex<State>,
    /// Signalled when a group has run: its readers take their results, and one of the readers
    /// still queued leads the next.
    ran: Condvar,
}

#[derive(Default)]
struct State {
    queued: Vec<Job>,
    leading: bool,
}

type Slot<T> = Arc<Mutex<Option<Result<T, crate::Error>>>>;

impl ReadGroup {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in the snapshot of the next group; `run` runs a group's jobs in one snapshot.
    pub fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error> + Send + 'static,
        run: impl Fn(Vec<Job>),
    ) -> Result<T, crate::Error> {
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let filled = Arc::clone(&slot);
        let job: Job = Box::new(move |snapshot| {
            let out = match snapshot {
                Ok(view) => {
                    std::panic::catch_unwind(AssertUnwindSafe(|| f(view))).unwrap_or_else(|_| {
                        Err(StorageError::Internal("a read panicked".into()).into())
                    })
                }
                Err(error) => Err(again(error).into()),
            };
            *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(out);
        });
        let mut state = self.state();
        state.queued.push(job);
        loop {
            // Filled by a leader before it took the state to signal `ran`, so never missed.
            if let Some(out) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return out;
            }
            if state.leading {
                state = self.ran.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.leading = true;
            let group = std::mem::take(&mut state.queued);
            drop(state);
            run(group);
            state = self.state();
            state.leading = false;
            self.ran.notify_all();
        }
    }
}

/// The error of a group's snapshot, for each of its readers.
fn again(error: &StorageError) -> StorageError {
    match error {
        StorageError::Unavailable => StorageError::Unavailable,
        StorageError::Full => StorageError::Full,
        StorageError::Closed => StorageError::Closed,
        other => StorageError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    /// Readers arriving while a group runs form the next group, and every reader gets its own
    /// result exactly once, whichever thread ran its closure.
    #[test]
    fn every_reader_gets_its_own_result_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let group = Arc::new(ReadGroup::default());
        let groups = Arc::new(Mutex::new(Vec::new()));
        let readers: Vec<_> = (0..32_u64)
            .map(|n| {
                let (db, group, groups) =
                    (Arc::clone(&db), Arc::clone(&group), Arc::clone(&groups));
                std::thread::spawn(move || {
                    group.read(
                        move |view| {
                            assert!(view.is_snapshot());
                            Ok(n * 10)
                        },
                        |jobs: Vec<Job>| {
                            groups.lock().unwrap().push(jobs.len());
                            let txn = db.begin_read().unwrap();
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            for job in jobs {
                                job(Ok(&View::read(&txn)));
                            }
                        },
                    )
                })
            })
            .collect();
        let answers: Vec<u64> = readers
            .into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .collect();
        assert_eq!(answers, (0..32).map(|n| n * 10).collect::<Vec<_>>());
        let sizes = groups.lock().unwrap();
        assert_eq!(
            sizes.iter().sum::<usize>(),
            32,
            "each closure ran once: {sizes:?}"
        );
    }

    /// Without a snapshot (the database is gone), every reader of the group is told why.
    #[test]
    fn a_group_without_a_snapshot_answers_each_reader() {
        let group = ReadGroup::default();
        let answer = group.read(
            |_view| Ok(1),
            |jobs: Vec<Job>| {
                for job in jobs {
                    job(Err(&StorageError::Unavailable));
                }
            },
        );
        assert!(matches!(
            answer,
            Err(crate::Error::Storage(StorageError::Unavailable))
        ));
    }
}
