//! `compare` mode: public GetStatus against GetMyProfile with one reused
//! token, in alternating slices of one run.
//!
//! On a shared machine the host's speed drifts: back-to-back 10-second runs
//! of the same build have differed by a third. Two separate runs then
//! compare two different machines. Alternating short slices (ABBA order, so
//! neither side always goes first) puts both calls under the same
//! conditions, and the median of each pair's ratio shrugs off a slice that
//! hit a burst from a neighbour.

use std::time::{Duration, Instant};

use serde::Serialize;
use tonic::transport::Channel;

use crate::{
    LatencySummary, Options, Report,
    cpu::{CpuClock, CpuUse, Spent},
    drive::{Call, Outcome, connect, drive},
    setup,
};

/// One side of the comparison, over all its slices.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub method: String,
    pub calls: u64,
    pub calls_per_sec: f64,
    pub latency: LatencySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub slice_ms: u64,
    pub pairs: usize,
    pub public: Side,
    pub reuse: Side,
    /// Reuse calls/s over public calls/s, all slices together.
    pub throughput_ratio: f64,
    /// The median over pairs of (reuse calls/s ÷ public calls/s).
    pub median_pair_ratio: f64,
    /// Reuse p99 over public p99.
    pub p99_ratio: f64,
    /// Server CPU per public call over per reuse call, if `--server-pid`
    /// was given: the throughput ratio a load tool that is never the
    /// bottleneck would see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cost_ratio: Option<f64>,
}

/// What one side accumulates.
struct Tally {
    call: Call,
    outcome: Outcome,
    elapsed: Duration,
    spent: Spent,
}

impl Tally {
    fn new(call: Call) -> Self {
        Self {
            call,
            outcome: Outcome::new(),
            elapsed: Duration::ZERO,
            spent: Spent { load: Some(0.0), server: Some(0.0) },
        }
    }

    /// One slice; returns its calls per second.
    async fn slice(
        &mut self,
        channels: &[Channel],
        concurrency: usize,
        length: Duration,
        server_pid: Option<u32>,
    ) -> anyhow::Result<f64> {
        let cpu = CpuClock::start(server_pid);
        let began = Instant::now();
        let out = drive(&self.call, channels, concurrency, began + length, None).await?;
        // Until the last call of the slice has come back, so no call of one
        // side overlaps the next slice.
        let elapsed = began.elapsed();
        self.spent = self.spent.add(cpu.spent());
        self.elapsed += elapsed;
        let calls = out.latencies.len();
        self.outcome.add(out);
        Ok(calls as f64 / elapsed.as_secs_f64())
    }

    fn side(&mut self) -> Side {
        let calls = self.outcome.latencies.len() as u64;
        let secs = self.elapsed.as_secs_f64();
        Side {
            method: self.call.method().to_owned(),
            calls,
            calls_per_sec: calls as f64 / secs,
            latency: LatencySummary::from_micros(&mut self.outcome.latencies),
            cpu: self.spent.over(secs, calls),
        }
    }
}

pub async fn compare(auth: &Channel, admin: &str, opts: &Options) -> anyhow::Result<Report> {
    let users = setup::users(auth, admin, 1).await?;
    let reuse = Call::profile(users.into_iter().map(|(_, _, tokens)| tokens.access_token))?;
    let channels = connect(&opts.resource, opts.connections.max(1)).await?;
    let concurrency = channels.len() * opts.streams.max(1);
    let length = Duration::from_millis(opts.slice_ms.max(50));
    let mut sides = [Tally::new(Call::Status), Tally::new(reuse)];
    let mut pair_ratios = Vec::new();
    let start = Instant::now();
    let end = start + opts.duration();
    loop {
        let order = if pair_ratios.len() % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rates = [0.0; 2];
        for side in order {
            rates[side] = sides[side].slice(&channels, concurrency, length, opts.server_pid).await?;
        }
        pair_ratios.push(rates[1] / rates[0]);
        if Instant::now() >= end {
            break;
        }
    }
    let elapsed = start.elapsed();
    pair_ratios.sort_by(f64::total_cmp);
    let [public_tally, reuse_tally] = &mut sides;
    let (public, reuse) = (public_tally.side(), reuse_tally.side());

    let mut report =
        Report::new(opts.mode, "GetStatus vs GetMyProfile (one token reused)", channels.len(), concurrency, elapsed);
    let mut statuses = public_tally.outcome.status_names();
    for (code, n) in reuse_tally.outcome.status_names() {
        *statuses.entry(code).or_default() += n;
    }
    report.calls = public.calls + reuse.calls;
    report.calls_per_sec = report.calls as f64 / elapsed.as_secs_f64();
    report.unexpected =
        statuses.iter().filter(|(code, _)| code.as_str() != "Ok").map(|(c, n)| (c.clone(), *n)).collect();
    report.statuses = statuses;
    let server_us = |side: &Side| side.cpu.as_ref().and_then(|c| c.server_us_per_call);
    report.comparison = Some(Comparison {
        slice_ms: length.as_millis() as u64,
        pairs: pair_ratios.len(),
        throughput_ratio: reuse.calls_per_sec / public.calls_per_sec,
        median_pair_ratio: pair_ratios[pair_ratios.len() / 2],
        p99_ratio: reuse.latency.p99_ms / public.latency.p99_ms,
        server_cost_ratio: server_us(&public).zip(server_us(&reuse)).map(|(p, r)| p / r),
        public,
        reuse,
    });
    Ok(report)
}
