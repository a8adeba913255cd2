//! The alternating modes: two targets measured in alternating slices of one
//! run, and their ratios.
//!
//! - `compare`: public GetStatus (the baseline) against GetMyProfile with one
//!   reused token, on the same server: issue 7's ratios 1 and 3.
//! - `compare-fresh`: GetMyProfile with a fresh token every call, on the
//!   naive EdDSA interceptor server at `--baseline` (the baseline) and on
//!   authpair's resource service: issue 7's ratio 2.
//!
//! On a shared machine the host's speed drifts: back-to-back 10-second runs
//! of the same build have differed by a third. Two separate runs then
//! compare two different machines. Alternating short slices (ABBA order, so
//! neither side always goes first) puts both calls under the same
//! conditions, and the median of each pair's ratio shrugs off a slice that
//! hit a burst from a neighbour.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tonic::transport::Channel;

use crate::{
    LatencySummary, Mode, Options, Report,
    cpu::{CpuClock, CpuUse, Spent},
    drive::{Call, Outcome, connect, drive},
};

/// One side of the comparison, over all its slices.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub method: String,
    /// The server this side called.
    pub url: String,
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
    /// What is measured against: public GetStatus (`compare`) or the naive
    /// EdDSA server (`compare-fresh`).
    pub baseline: Side,
    /// GetMyProfile on authpair's resource service.
    pub measured: Side,
    /// Measured calls/s over baseline calls/s, all slices together.
    pub throughput_ratio: f64,
    /// The median over pairs of (measured calls/s ÷ baseline calls/s).
    pub median_pair_ratio: f64,
    /// Measured p99 over baseline p99.
    pub p99_ratio: f64,
    /// Server CPU per baseline call over per measured call, if both servers'
    /// pids were given: the throughput ratio a load tool that is never the
    /// bottleneck would see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cost_ratio: Option<f64>,
}

/// What one side accumulates.
struct Tally {
    call: Call,
    url: String,
    channels: Vec<Channel>,
    server_pid: Option<u32>,
    outcome: Outcome,
    elapsed: Duration,
    spent: Spent,
}

impl Tally {
    fn new(call: Call, url: &str, channels: Vec<Channel>, server_pid: Option<u32>) -> Self {
        Self {
            call,
            url: url.to_owned(),
            channels,
            server_pid,
            outcome: Outcome::new(),
            elapsed: Duration::ZERO,
            spent: Spent { load: Some(0.0), server: Some(0.0), hashing: None },
        }
    }

    /// One slice; returns its calls per second.
    async fn slice(&mut self, concurrency: usize, length: Duration) -> anyhow::Result<f64> {
        let cpu = CpuClock::start(self.server_pid);
        let began = Instant::now();
        let out = drive(&self.call, &self.channels, concurrency, began + length, None).await?;
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
            url: self.url.clone(),
            calls,
            calls_per_sec: calls as f64 / secs,
            latency: LatencySummary::from_micros(&mut self.outcome.latencies),
            cpu: self.spent.over(secs, calls),
        }
    }
}

/// `tokens`: the fresh tokens for `compare-fresh`, the one reused for `compare`.
pub async fn compare(tokens: Vec<String>, opts: &Options) -> anyhow::Result<Report> {
    let connections = opts.connections.max(1);
    let resource = connect(&opts.resource, connections).await?;
    let (title, baseline, measured) = if opts.mode == Mode::CompareFresh {
        let url = opts.baseline.as_deref().context("compare-fresh needs --baseline, the naive server's URL")?;
        let fresh = Call::profile(tokens)?;
        let naive = Tally::new(fresh.again_from_the_start(), url, connect(url, connections).await?, opts.baseline_pid);
        let ours = Tally::new(fresh, &opts.resource, resource, opts.server_pid);
        ("GetMyProfile with a fresh token every call: naive EdDSA interceptor vs authpair", naive, ours)
    } else {
        let reuse = Call::profile(tokens)?;
        // One set of connections for both sides: the same server.
        let public = Tally::new(Call::Status, &opts.resource, resource.clone(), opts.server_pid);
        let reused = Tally::new(reuse, &opts.resource, resource, opts.server_pid);
        ("GetStatus vs GetMyProfile (one token reused)", public, reused)
    };
    let concurrency = connections * opts.streams.max(1);
    let length = Duration::from_millis(opts.slice_ms.max(50));
    let mut sides = [baseline, measured];
    let mut pair_ratios = Vec::new();
    let start = Instant::now();
    let end = start + opts.duration();
    loop {
        let order = if pair_ratios.len() % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rates = [0.0; 2];
        for side in order {
            rates[side] = sides[side].slice(concurrency, length).await?;
        }
        pair_ratios.push(rates[1] / rates[0]);
        if Instant::now() >= end {
            break;
        }
    }
    let elapsed = start.elapsed();
    pair_ratios.sort_by(f64::total_cmp);
    let [baseline_tally, measured_tally] = &mut sides;
    let (baseline, measured) = (baseline_tally.side(), measured_tally.side());

    let mut report = Report::new(opts.mode, title, connections, concurrency, elapsed);
    let mut statuses = baseline_tally.outcome.status_names();
    for (code, n) in measured_tally.outcome.status_names() {
        *statuses.entry(code).or_default() += n;
    }
    report.calls = baseline.calls + measured.calls;
    report.calls_per_sec = report.calls as f64 / elapsed.as_secs_f64();
    report.unexpected =
        statuses.iter().filter(|(code, _)| code.as_str() != "Ok").map(|(c, n)| (c.clone(), *n)).collect();
    report.statuses = statuses;
    if opts.mode == Mode::CompareFresh {
        report.fresh_tokens = measured_tally.call.token_reuse();
    }
    let server_us = |side: &Side| side.cpu.as_ref().and_then(|c| c.server_us_per_call);
    report.comparison = Some(Comparison {
        slice_ms: length.as_millis() as u64,
        pairs: pair_ratios.len(),
        throughput_ratio: measured.calls_per_sec / baseline.calls_per_sec,
        median_pair_ratio: pair_ratios[pair_ratios.len() / 2],
        p99_ratio: measured.latency.p99_ms / baseline.latency.p99_ms,
        server_cost_ratio: server_us(&baseline).zip(server_us(&measured)).map(|(b, m)| b / m),
        baseline,
        measured,
    });
    Ok(report)
}
