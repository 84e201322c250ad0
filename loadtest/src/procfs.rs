//! Owns what the benchmark reads from Linux's /proc: a process's peak and current RSS and CPU
//! time, the whole machine's busy CPU time, and the facts about the machine that go into a
//! report.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::Context;

/// Memory and CPU of one process, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcessStats {
    /// Peak resident set size (`VmHWM`), KiB.
    pub(crate) peak_rss_kib: u64,
    /// Resident set size now (`VmRSS`), KiB.
    pub(crate) rss_kib: u64,
    /// User plus system CPU time, seconds.
    pub(crate) cpu_seconds: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub(crate) fn process_stats(pid: u32) -> anyhow::Result<ProcessStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    Ok(ProcessStats {
        peak_rss_kib: status_kib(&status, "VmHWM").context("VmHWM in /proc/<pid>/status")?,
        rss_kib: status_kib(&status, "VmRSS").context("VmRSS in /proc/<pid>/status")?,
        cpu_seconds: cpu_ticks(&pid.to_string())? as f64 / clock_ticks_per_second(),
    })
}

/// CPU seconds spent between [`CpuClock::start`] and [`CpuClock::stop`], by whom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSpent {
    /// This process.
    pub(crate) own: f64,
    /// The broker's VM, when its pid is known.
    pub(crate) broker: Option<f64>,
    /// Every CPU of the machine, whoever used it.
    pub(crate) machine: f64,
}

/// Measures [`CpuSpent`] over a span of time.
pub(crate) struct CpuClock {
    own_ticks: u64,
    broker: Option<(u32, u64)>,
    machine_ticks: u64,
}

impl CpuClock {
    pub(crate) fn start(broker_pid: Option<u32>) -> anyhow::Result<Self> {
        Ok(Self {
            own_ticks: cpu_ticks("self")?,
            broker: match broker_pid {
                Some(pid) => Some((pid, cpu_ticks(&pid.to_string())?)),
                None => None,
            },
            machine_ticks: machine_busy_ticks()?,
        })
    }

    pub(crate) fn stop(&self) -> anyhow::Result<CpuSpent> {
        let hz = clock_ticks_per_second();
        let since = |now: u64, then: u64| now.saturating_sub(then) as f64 / hz;
        Ok(CpuSpent {
            own: since(cpu_ticks("self")?, self.own_ticks),
            broker: match self.broker {
                Some((pid, then)) => Some(since(cpu_ticks(&pid.to_string())?, then)),
                None => None,
            },
            machine: since(machine_busy_ticks()?, self.machine_ticks),
        })
    }
}

/// utime + stime of `/proc/<process>/stat` (`process` is a pid or `self`), in ticks.
fn cpu_ticks(process: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{process}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    stat_cpu_ticks(&stat).with_context(|| format!("utime and stime in {path}"))
}

fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    busy_ticks(&stat).context("the cpu line of /proc/stat")
}

/// The machine a result was measured on.
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) memory_kib: u64,
    pub(crate) kernel: String,
    /// The 1-minute load average when the run started: anything else running on the machine
    /// skews the numbers, and this shows it.
    pub(crate) load_average: f64,
}

pub(crate) fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned()),
        memory_kib: status_kib(&meminfo, "MemTotal").unwrap_or(0),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0),
    }
}

/// `Key:   1234 kB` lines, as in /proc/<pid>/status and /proc/meminfo.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted from its last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of all CPUs from the aggregate `cpu` line of /proc/stat: everything but idle and
/// iowait. guest time is already inside user, so it is not added again.
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let field = |i: usize| values.get(i).copied().unwrap_or(0);
    Some(field(0) + field(1) + field(2) + field(5) + field(6) + field(7))
}

/// USER_HZ: what /proc counts CPU time in. Read once from `getconf` (sysconf needs unsafe code,
/// which the workspace forbids); 100 on every mainstream Linux.
fn clock_ticks_per_second() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|hz| *hz > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests;
