//! The CPU time this process has used, from `/proc/self/stat` (Linux): the benchmarks that run
//! the server inside their own process divide it by the requests served. wrk runs as a child
//! process, so its CPU is not counted.

use std::time::Duration;

/// Clock ticks per second of `/proc`'s times (`USER_HZ`, 100 on every Linux ABI we run on).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system time of every thread of this process so far.
pub fn used() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/self/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime); `fields` starts at field 3.
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(index)
            .ok_or_else(|| anyhow::anyhow!("short /proc/self/stat"))?
            .parse()?)
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1_000 / TICKS_PER_SECOND))
}
