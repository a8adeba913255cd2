//! CPU time of this process and, with `--server-pid`, of the server under
//! load, over the timed window only, from `/proc/<pid>/stat` (Linux).
//!
//! Throughput alone cannot say which side was the bottleneck: on a machine
//! of two cores, one for the server and one for the load tool, both can sit
//! near 100%. Server CPU time per call is the cost of a call to the server,
//! whatever the load tool managed.

use serde::Serialize;

/// utime and stime are counted in USER_HZ ticks, which Linux fixes at 100 a
/// second for userspace.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds (user plus system, all threads) used so far by `pid`, or
/// `None` where `/proc` cannot say (not Linux, or the process is gone).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces, so
    // count fields from the last ')'. utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// CPU readings at the start of the timed window.
#[derive(Debug, Clone)]
pub struct CpuClock {
    server_pid: Option<u32>,
    server: Option<f64>,
    load: Option<f64>,
}

/// CPU used during the timed window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    /// The load tool's own CPU, as a share of one core (1.0 = one core busy).
    pub load_cores: f64,
    pub load_us_per_call: f64,
    /// The same for the process named by `--server-pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cores: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_us_per_call: Option<f64>,
}

impl CpuClock {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self { server_pid, server: server_pid.and_then(|pid| cpu_seconds(&pid.to_string())), load: cpu_seconds("self") }
    }

    /// CPU seconds used since `start`.
    pub fn spent(&self) -> Spent {
        Spent {
            load: cpu_seconds("self").zip(self.load).map(|(now, then)| now - then),
            server: self.server_pid.and_then(|pid| cpu_seconds(&pid.to_string())).zip(self.server).map(|(n, t)| n - t),
        }
    }

    /// What was used since `start`, over `elapsed_secs` and `calls`.
    pub fn stop(&self, elapsed_secs: f64, calls: u64) -> Option<CpuUse> {
        self.spent().over(elapsed_secs, calls)
    }
}

/// CPU seconds used, by the load tool and by the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    pub load: Option<f64>,
    pub server: Option<f64>,
}

impl Spent {
    pub fn add(self, other: Spent) -> Spent {
        let sum = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a + b);
        Spent { load: sum(self.load, other.load), server: sum(self.server, other.server) }
    }

    /// As shares of a core and per call; `None` if this process's own figure
    /// could not be read.
    pub fn over(self, elapsed_secs: f64, calls: u64) -> Option<CpuUse> {
        let per_call = |secs: f64| if calls == 0 { 0.0 } else { secs * 1e6 / calls as f64 };
        let load = self.load?;
        Some(CpuUse {
            load_cores: load / elapsed_secs,
            load_us_per_call: per_call(load),
            server_cores: self.server.map(|s| s / elapsed_secs),
            server_us_per_call: self.server.map(per_call),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time_and_a_missing_one_has_none() {
        assert!(cpu_seconds("self").is_some_and(|s| s >= 0.0));
        assert_eq!(cpu_seconds("999999999"), None);
    }
}
