//! Percentiles over samples, printed one line per measurement.

use std::time::Duration;

/// p50 and p99 of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sorts `samples`, prints `name n p50 p99 max` and returns the summary.
pub fn report(name: &str, mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let summary = Summary {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    };
    println!(
        "{name:<52} n={:<7} p50={:>10.2?} p99={:>10.2?} max={:>10.2?}",
        samples.len(),
        summary.p50,
        summary.p99,
        samples[samples.len() - 1]
    );
    summary
}

/// `a / b` as a ratio of p50s.
pub fn ratio(a: Summary, b: Summary) -> f64 {
    a.p50.as_secs_f64() / b.p50.as_secs_f64()
}
