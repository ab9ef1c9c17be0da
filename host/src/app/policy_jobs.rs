//! Tenants' heavy policy work, off the paths every tenant shares.
//!
//! A fixture gate, a preview, a dry run and a plugin compilation run code or compile input
//! that a tenant chose, for up to seconds of CPU. They run here: on `policy_work_threads`
//! threads of their own, at a low scheduling priority (nice 10), so that the request threads
//! and the group-commit writer win the CPU whenever they want it; at most
//! `quotas.policy_jobs_per_org` at once per organization and as many per principal (a person
//! acting for many organizations still runs one job at a time), a further one being refused
//! with `429`; and at most [`MAX_QUEUED`] jobs waiting or running in all, so no number of
//! tenants can make the queue grow without bound.
//!
//! A job keeps its tenant's slot until it finishes, even if the request that started it was
//! cancelled, so a tenant cannot run more jobs at once by hanging up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the job threads: below the request threads and the writer, above nothing.
const NICE: i32 = 10;

/// Jobs waiting or running at once, over every tenant.
pub const MAX_QUEUED: usize = 64;

#[derive(Clone)]
pub struct PolicyJobs {
    queue: Arc<Mutex<mpsc::Sender<Job>>>,
    running: Arc<Mutex<HashMap<String, usize>>>,
    per_tenant: usize,
    /// Jobs sent and not yet finished.
    queued: Arc<AtomicUsize>,
}

/// Shares taken for a job (or a series of jobs, such as a publication's gate and its retries):
/// the organization's and the principal's; freed when the reservation and every job run under
/// it are done.
#[derive(Clone)]
pub struct Reservation {
    /// Held for its `Drop` only.
    _slot: Arc<Slot>,
}

/// Running jobs' shares; freed when the job ends.
struct Slot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    keys: Vec<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            if let Some(n) = running.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    running.remove(key);
                }
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority (Linux niceness is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE) {
        tracing::warn!(error = %e, "cannot lower the priority of a policy job thread");
    }
}

impl PolicyJobs {
    pub fn start(threads: usize, per_tenant: usize) -> Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("tenantry-policy-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::Setup(format!("cannot start a policy job thread: {e}")))?;
        }
        Ok(Self {
            queue: Arc::new(Mutex::new(sender)),
            running: Arc::default(),
            per_tenant: per_tenant.max(1),
            queued: Arc::default(),
        })
    }

    /// Takes a job slot of `org` and of `principal`, or answers `429` when either has none free.
    pub fn reserve(&self, org: &str, principal: &str) -> Result<Reservation> {
        let keys = vec![format!("org:{org}"), format!("principal:{principal}")];
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            let n = running.get(key).copied().unwrap_or(0);
            if n >= self.per_tenant {
                let whose = if key.starts_with("org:") {
                    "this organization"
                } else {
                    "you"
                };
                return Err(Error::Busy(format!(
                    "{n} policy job{} of {whose} already running (quota `policy_jobs_per_org`); retry when it has finished",
                    if n == 1 { " is" } else { "s are" }
                )));
            }
        }
        for key in &keys {
            *running.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Reservation {
            _slot: Arc::new(Slot {
                running: Arc::clone(&self.running),
                keys,
            }),
        })
    }

    /// Runs `job` on a policy thread within the shares of `org` and `principal`, and waits
    /// for its answer.
    pub async fn run<T: Send + 'static>(
        &self,
        org: &str,
        principal: &str,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let reservation = self.reserve(org, principal)?;
        self.run_reserved(&reservation, job).await
    }

    /// Runs `job` on a policy thread under a reservation already taken.
    pub async fn run_reserved<T: Send + 'static>(
        &self,
        reservation: &Reservation,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Busy(
                "the server's policy job queue is full; retry in a moment".into(),
            ));
        }
        let slot = reservation.clone();
        let queued = Arc::clone(&self.queued);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            drop(slot);
            queued.fetch_sub(1, Ordering::AcqRel);
            // The requester may have gone away; the job's effects (none) do not matter then.
            let _ = reply.send(outcome);
        });
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(boxed)
            .map_err(|_| Error::Setup("the policy job threads have stopped".into()))?;
        match answer.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(Error::Setup("a policy job panicked".into())),
            Err(_) => Err(Error::Setup("the policy job threads have stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_tenant_runs_one_job_at_a_time_and_others_are_not_held_up() {
        let jobs = PolicyJobs::start(2, 1).unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = {
            let jobs = jobs.clone();
            tokio::spawn(async move {
                jobs.run("a", "ann", move || {
                    let _ = wait.recv_timeout(Duration::from_secs(5));
                    1
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            jobs.run("a", "bob", || 2).await,
            Err(Error::Busy(_))
        ));
        assert!(
            matches!(jobs.run("b", "ann", || 2).await, Err(Error::Busy(_))),
            "one principal, one job, whatever the organization"
        );
        assert_eq!(jobs.run("b", "bob", || 3).await.unwrap(), 3);
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(
            jobs.run("a", "ann", || 4).await.unwrap(),
            4,
            "the slot is free again"
        );
    }

    #[tokio::test]
    async fn a_panicking_job_frees_its_slot() {
        let jobs = PolicyJobs::start(1, 1).unwrap();
        assert!(jobs.run("a", "ann", || panic!("boom")).await.is_err());
        assert_eq!(jobs.run("a", "ann", || 5).await.unwrap(), 5);
    }
}
