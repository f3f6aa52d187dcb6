//! What a server process spent, read from `/proc/<pid>/stat` (user + system CPU time of all
//! its threads) and `/proc/<pid>/status` (resident memory now and at its peak).

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ProcSample {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// Of those, the seconds spent in the kernel (system calls: sockets, epoll, and on
    /// loopback the delivery into the receivers' sockets).
    pub kernel_s: f64,
    /// Resident set size now, KiB.
    pub rss_kb: u64,
    /// Peak resident set size, KiB.
    pub peak_rss_kb: u64,
    /// Resident anonymous memory now (heap, stacks), KiB: `rss_kb` without the pages of the
    /// binary and libraries, which grow as code paths are first run, not per participant.
    pub anon_kb: u64,
    pub threads: u64,
}

/// Reads `pid`; `None` if it is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (utime, stime, threads) = parse_stat(&stat)?;
    Some(ProcSample {
        cpu_s: (utime + stime) as f64 / ticks,
        kernel_s: stime as f64 / ticks,
        rss_kb: status_kb(&status, "VmRSS:")?,
        peak_rss_kb: status_kb(&status, "VmHWM:")?,
        anon_kb: status_kb(&status, "RssAnon:")?,
        threads,
    })
}

/// utime, stime (clock ticks) and the thread count from a `/proc/<pid>/stat` line. The
/// command name in parentheses may contain spaces and parentheses, so fields are counted
/// from the last `)`.
fn parse_stat(stat: &str) -> Option<(u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15, num_threads 20.
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?, f.get(17)?.parse().ok()?))
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// CPU time the hypervisor gave other guests while this machine wanted it ("steal", all CPUs
/// of `/proc/stat`), in ms since boot; `None` where the kernel does not say. A burst of it
/// during a run stalls whatever was running, the server included.
pub fn steal_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(parse_steal(&stat)? as f64 * 1_000.0 / ticks)
}

/// The steal ticks of the machine-wide `cpu` line of `/proc/stat` (its eighth number).
fn parse_steal(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// The 1-, 5- and 15-minute load averages of the machine, as `uptime` shows them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        let stat = "cpu  449692 0 47729 414216 2874 0 5571 3599 0 0\ncpu0 167978 0 22783 264811 575 0 4139 1852 0 0\n";
        assert_eq!(parse_steal(stat), Some(3599));
        assert_eq!(parse_steal("cpu0 1 2 3\n"), None, "only the machine-wide line counts");
        assert_eq!(parse_steal("cpu  1 2 3\n"), None, "an old kernel without the field");
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 7 0 12345 \
                    100000000 2500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some((250, 75, 7)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let s = sample(std::process::id()).expect("our own /proc entry");
        assert!(s.rss_kb > 0 && s.peak_rss_kb >= s.rss_kb);
        assert!(s.anon_kb > 0 && s.anon_kb <= s.rss_kb);
        assert!(s.threads >= 1);
        assert!(sample(u32::MAX).is_none());
        assert_eq!(loadavg().split(' ').count(), 3);
    }
}
