//! Latency percentiles of a measured run.

use std::time::Duration;

/// The `p` quantile (0..=1) of `latencies`, in milliseconds; 0 when there are none.
pub fn percentile_ms(latencies: &[Duration], p: f64) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
