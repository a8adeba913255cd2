//! CPU time of this process and, with `--server-pid`, of the server under
//! load, over the timed window only, from `/proc/<pid>/stat` (Linux).
//!
//! Throughput alone cannot say which side was the bottleneck: on a machine
//! of two cores, one for the server and one for the load tool, both can sit
//! near 100%. Server CPU time per call is the cost of a call to the server,
//! whatever the load tool managed.
//!
//! The auth service's password-hashing threads are also read on their own
//! (`/proc/<pid>/task`, by thread name). Their share of the server's cores
//! during `login` mode is the login target's bound (4a), measured in the
//! same window as the logins: a separately timed hash moves with the host.

use serde::Serialize;

/// utime and stime are counted in USER_HZ ticks, which Linux fixes at 100 a
/// second for userspace.
const TICKS_PER_SEC: f64 = 100.0;

/// The name the auth service gives its password-hashing threads
/// (`argon2-0`, `argon2-1`, ...; `auth-service/src/identity/password.rs`).
pub const HASHING_THREADS: &str = "argon2-";

/// CPU seconds (user plus system, all threads) used so far by `pid`, or
/// `None` where `/proc` cannot say (not Linux, or the process is gone).
fn cpu_seconds(pid: &str) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds used so far by the threads of `pid` whose name starts with
/// `prefix`; `None` if `/proc` cannot say or no thread has that name.
fn threads_cpu_seconds(pid: u32, prefix: &str) -> Option<f64> {
    let mut found = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread that ends between the listing and this read is skipped.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let name = stat.find('(').zip(stat.rfind(')')).map(|(open, close)| &stat[open + 1..close]);
        if name.is_some_and(|name| name.starts_with(prefix)) {
            *found.get_or_insert(0.0) += stat_cpu_seconds(&stat)?;
        }
    }
    found
}

/// utime plus stime from a `/proc/.../stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
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
    hashing: Option<f64>,
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
    /// The share of a core used by the server's password-hashing threads
    /// (only a server that has them: the auth service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_hashing_cores: Option<f64>,
}

impl CpuClock {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            server: server_pid.and_then(|pid| cpu_seconds(&pid.to_string())),
            hashing: server_pid.and_then(|pid| threads_cpu_seconds(pid, HASHING_THREADS)),
            load: cpu_seconds("self"),
        }
    }

    /// CPU seconds used since `start`.
    pub fn spent(&self) -> Spent {
        Spent {
            load: cpu_seconds("self").zip(self.load).map(|(now, then)| now - then),
            server: self.server_pid.and_then(|pid| cpu_seconds(&pid.to_string())).zip(self.server).map(|(n, t)| n - t),
            hashing: self
                .server_pid
                .and_then(|pid| threads_cpu_seconds(pid, HASHING_THREADS))
                .zip(self.hashing)
                .map(|(n, t)| n - t),
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
    pub hashing: Option<f64>,
}

impl Spent {
    pub fn add(self, other: Spent) -> Spent {
        let sum = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a + b);
        Spent {
            load: sum(self.load, other.load),
            server: sum(self.server, other.server),
            hashing: sum(self.hashing, other.hashing),
        }
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
            server_hashing_cores: self.hashing.map(|s| s / elapsed_secs),
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

    #[test]
    fn a_threads_cpu_time_is_read_by_its_name() -> Result<(), Box<dyn std::error::Error>> {
        use std::sync::{Arc, Barrier, mpsc};
        let pid = std::process::id();
        assert_eq!(threads_cpu_seconds(pid, "no-such-thread"), None);
        // One thread busy for 300 ms of wall time, one idle; both wait at the
        // barrier until the readings are taken, so both are still listed.
        let readings_taken = Arc::new(Barrier::new(3));
        let (worked, work_done) = mpsc::channel();
        let idle = {
            let readings_taken = readings_taken.clone();
            std::thread::Builder::new().name("cpu-idle-0".into()).spawn(move || {
                readings_taken.wait();
            })?
        };
        let busy = {
            let readings_taken = readings_taken.clone();
            std::thread::Builder::new().name("cpu-busy-0".into()).spawn(move || {
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed() < std::time::Duration::from_millis(300) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
                let _ = worked.send(x);
                readings_taken.wait();
            })?
        };
        work_done.recv()?;
        let busy_secs = threads_cpu_seconds(pid, "cpu-busy-").ok_or("the busy thread was not found");
        let idle_secs = threads_cpu_seconds(pid, "cpu-idle-").ok_or("the idle thread was not found");
        readings_taken.wait();
        busy.join().map_err(|_| "the busy thread panicked")?;
        idle.join().map_err(|_| "the idle thread panicked")?;
        let (busy_secs, idle_secs) = (busy_secs?, idle_secs?);
        // A 100-a-second clock: 300 ms of spinning reads as at least 0.1 s
        // unless the host took most of it away; the idle thread's own reads
        // as (almost) nothing, whatever the rest of the process used.
        assert!(busy_secs >= 0.1, "the busy thread used {busy_secs} s");
        assert!(idle_secs < 0.05, "the idle thread used {idle_secs} s");
        Ok(())
    }
}
