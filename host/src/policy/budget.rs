//! A budget of CPU time for a batch of policy evaluations (a fixture gate, a preview, a dry
//! run), measured on the running thread's own CPU clock: what the batch costs the machine, not
//! how long a low-priority thread waited for a core.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct CpuBudget {
    started: Duration,
    limit: Duration,
}

/// CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

impl CpuBudget {
    /// Starts counting on the calling thread; the budget belongs to that thread.
    pub fn start(limit: Duration) -> Self {
        Self {
            started: thread_cpu(),
            limit,
        }
    }

    pub fn used(&self) -> Duration {
        thread_cpu().saturating_sub(self.started)
    }

    pub fn exceeded(&self) -> bool {
        self.used() > self.limit
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_spends_the_budget_and_sleeping_does_not() {
        let budget = CpuBudget::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!budget.exceeded(), "sleeping used {:?}", budget.used());
        let mut x = 0_u64;
        while !budget.exceeded() {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(budget.used() > Duration::from_millis(20));
        assert!(x > 0);
    }
}
