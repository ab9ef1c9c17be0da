//! Tenants' heavy policy work, off the paths every tenant shares.
//!
//! A fixture gate, a preview, a dry run and a plugin compilation run code or compile input
//! that a tenant chose, for up to seconds of CPU. They run here: on `policy_work_threads`
//! threads of their own, at a low scheduling priority (nice 10), so that the request threads
//! and the group-commit writer win the CPU whenever they want it; and at most
//! `quotas.policy_jobs_per_org` at once per tenant, a further one being refused with `429`
//! (queueing it would hold the client's connection and let one tenant fill the queue).
//!
//! A job keeps its tenant's slot until it finishes, even if the request that started it was
//! cancelled, so a tenant cannot run more jobs at once by hanging up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the job threads: below the request threads and the writer, above nothing.
const NICE: i32 = 10;

#[derive(Clone)]
pub struct PolicyJobs {
    queue: Arc<Mutex<mpsc::Sender<Job>>>,
    running: Arc<Mutex<HashMap<String, usize>>>,
    per_tenant: usize,
}

/// A tenant's share taken for a job (or a series of jobs, such as a publication's gate and its
/// retries); freed when the reservation and every job run under it are done.
#[derive(Clone)]
pub struct Reservation {
    /// Held for its `Drop` only.
    _slot: Arc<Slot>,
}

/// A tenant's running job; frees its slot when the job ends.
struct Slot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = running.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.tenant);
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
        })
    }

    /// Takes one of `tenant`'s job slots, or answers `429` when they are all in use.
    pub fn reserve(&self, tenant: &str) -> Result<Reservation> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let n = running.entry(tenant.to_owned()).or_insert(0);
        if *n >= self.per_tenant {
            return Err(Error::Busy(format!(
                "{} policy job{} of this organization already running (quota `policy_jobs_per_org`); retry when it has finished",
                *n,
                if *n == 1 { " is" } else { "s are" }
            )));
        }
        *n += 1;
        Ok(Reservation {
            _slot: Arc::new(Slot {
                running: Arc::clone(&self.running),
                tenant: tenant.to_owned(),
            }),
        })
    }

    /// Runs `job` on a policy thread within `tenant`'s share, and waits for its answer.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let reservation = self.reserve(tenant)?;
        self.run_reserved(&reservation, job).await
    }

    /// Runs `job` on a policy thread under a reservation already taken.
    pub async fn run_reserved<T: Send + 'static>(
        &self,
        reservation: &Reservation,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let slot = reservation.clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let boxed: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            drop(slot);
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
                jobs.run("a", move || {
                    let _ = wait.recv_timeout(Duration::from_secs(5));
                    1
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(jobs.run("a", || 2).await, Err(Error::Busy(_))));
        assert_eq!(jobs.run("b", || 3).await.unwrap(), 3);
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(
            jobs.run("a", || 4).await.unwrap(),
            4,
            "the slot is free again"
        );
    }

    #[tokio::test]
    async fn a_panicking_job_frees_its_slot() {
        let jobs = PolicyJobs::start(1, 1).unwrap();
        assert!(jobs.run("a", || panic!("boom")).await.is_err());
        assert_eq!(jobs.run("a", || 5).await.unwrap(), 5);
    }
}
