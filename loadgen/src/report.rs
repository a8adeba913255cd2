//! What a run measured.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::Serialize;

use crate::{Mode, compare::Comparison, cpu::CpuUse, drive::FreshTokens};

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// From latencies in microseconds (sorted in place).
    pub fn from_micros(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            f64::from(samples[i]) / 1000.0
        };
        Self { count: samples.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: Mode,
    pub method: String,
    pub connections: usize,
    pub concurrency: usize,
    pub elapsed_secs: f64,
    pub calls: u64,
    pub calls_per_sec: f64,
    pub latency: LatencySummary,
    /// Calls per gRPC status code name.
    pub statuses: BTreeMap<String, u64>,
    /// Statuses this mode does not expect, with counts; non-empty fails the run.
    pub unexpected: BTreeMap<String, u64>,
    /// CPU used during the timed window (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
    /// `login` mode: Refresh and GetJwks latency while logins run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_calls: Option<LatencySummary>,
    /// `mixed` mode: time from Logout returning to the resource service
    /// rejecting the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_propagation: Option<LatencySummary>,
    /// `mixed` mode: the side traffic's calls per `"<step> <code>"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_statuses: Option<BTreeMap<String, u64>>,
    /// `mixed` mode: time until the first rejection was *answered*, which
    /// includes the probe's own queueing at the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_observed: Option<LatencySummary>,
    /// `compare` mode: both sides and their ratios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// `enumeration` mode: unknown user vs wrong password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<Enumeration>,
    /// `fresh` and `compare-fresh` (authpair's side): whether every call
    /// really brought a token the server had not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_tokens: Option<FreshTokens>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Enumeration {
    pub unknown_user: LatencySummary,
    pub wrong_password: LatencySummary,
    /// |median(unknown) - median(wrong password)|
    pub median_gap_ms: f64,
}

impl Report {
    pub fn new(mode: Mode, method: &str, connections: usize, concurrency: usize, elapsed: Duration) -> Self {
        Self {
            mode,
            method: method.to_owned(),
            connections,
            concurrency,
            elapsed_secs: elapsed.as_secs_f64(),
            calls: 0,
            calls_per_sec: 0.0,
            latency: LatencySummary::default(),
            statuses: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            cpu: None,
            side_calls: None,
            revocation_propagation: None,
            revocation_observed: None,
            side_statuses: None,
            enumeration: None,
            comparison: None,
            fresh_tokens: None,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency;
        writeln!(
            f,
            "mode {}: {} ({} connections, {} concurrent)",
            self.mode, self.method, self.connections, self.concurrency
        )?;
        writeln!(f, "  {} calls in {:.2} s = {:.0} calls/s", self.calls, self.elapsed_secs, self.calls_per_sec)?;
        // `compare` mode reports latency per side, below.
        if self.comparison.is_none() {
            writeln!(
                f,
                "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            )?;
        }
        for (code, count) in &self.statuses {
            writeln!(f, "  {code}: {count}")?;
        }
        if let Some(cpu) = &self.cpu {
            write!(f, "  cpu: load tool {:.2} cores, {:.2} µs/call", cpu.load_cores, cpu.load_us_per_call)?;
            if let (Some(cores), Some(per_call)) = (cpu.server_cores, cpu.server_us_per_call) {
                write!(f, "; server {cores:.2} cores, {per_call:.2} µs/call")?;
            }
            if let Some(hashing) = cpu.server_hashing_cores {
                write!(f, ", of which hashing threads {hashing:.2} cores")?;
            }
            writeln!(f)?;
        }
        if let Some(side) = &self.side_calls {
            writeln!(
                f,
                "  Refresh/GetJwks meanwhile: {} calls, p99 {:.3} ms, max {:.3} ms",
                side.count, side.p99_ms, side.max_ms
            )?;
        }
        if let Some(rev) = &self.revocation_propagation {
            writeln!(
                f,
                "  revocation propagation: {} trials, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms{}",
                rev.count,
                rev.p50_ms,
                rev.p99_ms,
                rev.max_ms,
                // Nearest rank: below 100 samples the p99 is the largest.
                if rev.count < 100 { " (under 100 trials, p99 is the maximum: run longer)" } else { "" }
            )?;
        }
        if let Some(side) = &self.side_statuses {
            writeln!(f, "  side traffic:")?;
            for (step, count) in side {
                writeln!(f, "    {step}: {count}")?;
            }
        }
        if let Some(FreshTokens { pool, reused }) = self.fresh_tokens {
            if reused == 0 {
                writeln!(f, "  fresh tokens: every call brought a new one (pool {pool})")?;
            } else {
                writeln!(
                    f,
                    "  fresh tokens: {reused} calls reused one, as the pool of {pool} ran out: \
                     not a fresh-token figure (raise --fresh-tokens)"
                )?;
            }
        }
        if let Some(e) = &self.enumeration {
            writeln!(
                f,
                "  unknown user p50 {:.3} ms, wrong password p50 {:.3} ms: median gap {:.3} ms",
                e.unknown_user.p50_ms, e.wrong_password.p50_ms, e.median_gap_ms
            )?;
        }
        if let Some(c) = &self.comparison {
            let carrying = c.ceiling.as_ref().map(|ceiling| ("carrying", &ceiling.side));
            for (name, side) in [("baseline", &c.baseline), ("measured", &c.measured)].into_iter().chain(carrying) {
                let l = &side.latency;
                write!(
                    f,
                    "  {name} {} at {}: {} calls, {:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms",
                    side.method, side.url, side.calls, side.calls_per_sec, l.p50_ms, l.p99_ms
                )?;
                if let Some(us) = side.cpu.as_ref().and_then(|c| c.server_us_per_call) {
                    write!(f, ", server {us:.2} µs/call")?;
                }
                writeln!(f)?;
            }
            write!(
                f,
                "  {} pairs of {} ms slices: measured/baseline throughput {:.3} (median pair {:.3}), p99 {:.3}",
                c.pairs, c.slice_ms, c.throughput_ratio, c.median_pair_ratio, c.p99_ratio
            )?;
            if let Some(r) = c.server_cost_ratio {
                write!(f, ", server cost baseline/measured {r:.3}")?;
            }
            writeln!(f)?;
            if let Some(ceiling) = &c.ceiling {
                write!(
                    f,
                    "  ceiling (carrying: the token sent, never read): carrying/baseline throughput {:.3} \
                     (median round {:.3}); measured/carrying {:.3}",
                    ceiling.throughput_ratio, ceiling.median_pair_ratio, ceiling.measured_over_ceiling
                )?;
                if let (Some(c), Some(m)) = (ceiling.server_cost_ratio, ceiling.measured_server_cost_over_ceiling) {
                    write!(f, "; server cost baseline/carrying {c:.3}, carrying/measured {m:.3}")?;
                }
                writeln!(f)?;
            }
        }
        for (code, count) in &self.unexpected {
            writeln!(f, "  UNEXPECTED {code}: {count}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        let s = LatencySummary::from_micros(&mut samples);
        assert_eq!((s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(LatencySummary::from_micros(&mut []).p99_ms, 0.0);
    }

    #[test]
    fn a_report_names_its_mode_as_the_mode_flag_spells_it() {
        let report = Report::new(Mode::CompareFresh, "m", 1, 1, std::time::Duration::from_secs(1));
        assert!(report.to_string().starts_with("mode compare-fresh: m "), "{report}");
    }

    #[test]
    fn a_revocation_p99_from_fewer_than_100_trials_is_called_the_maximum_it_is() {
        let printed = |trials: u32| {
            let mut report = Report::new(Mode::Mixed, "m", 1, 1, std::time::Duration::from_secs(1));
            let mut samples: Vec<u32> = (1..=trials).collect();
            report.revocation_propagation = Some(LatencySummary::from_micros(&mut samples));
            report.to_string()
        };
        let few = printed(99);
        assert!(few.contains("p99 0.099 ms, max 0.099 ms (under 100 trials, p99 is the maximum"), "{few}");
        assert!(!printed(100).contains("under 100 trials"));
    }
}
