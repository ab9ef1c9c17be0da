//! Resident memory of a process, from `/proc/{process}/status` (Linux), for the harnesses and
//! benchmarks that report it.

/// The `field` (`VmRSS:` now, `VmHWM:` the peak) of `process` (a pid, or `self`), in KiB.
pub fn status_kib(process: &str, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{process}/status"))
}
