//! The alternating modes: two or three calls measured in alternating slices
//! of one run, and their ratios.
//!
//! - `compare`: public GetStatus (the baseline) against GetMyProfile with one
//!   reused token, on the same server: the reused-token throughput ratio
//!   (ratio 1) and the p99 latency ratio (ratio 3).
//! - `compare-floor`: the same two, and a third side in turn with them: public
//!   GetStatus carrying that token's `authorization` value in a header the
//!   server never reads. Its ratio to the public call is what the token's
//!   bytes alone cost, the ceiling of ratio 1 on this machine with this
//!   client; GetMyProfile's ratio to it is what authpair's auth and the
//!   larger answer cost on top.
//! - `compare-fresh`: GetMyProfile with a fresh token every call, on the
//!   naive EdDSA interceptor server at `--baseline` (the baseline) and on
//!   authpair's resource service: the fresh-token ratio (ratio 2).
//!
//! On a shared machine the host's speed drifts: back-to-back 10-second runs
//! of the same build have differed by a third. Two separate runs then
//! compare two different machines. Alternating short slices (ABBA order, or
//! ABC CBA, so no side always goes first) puts both calls under the same
//! conditions, and the median of each pair's ratio shrugs off a slice that
//! hit a burst from a neighbour.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

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
    /// What is measured against: public GetStatus (`compare`,
    /// `compare-floor`) or the naive EdDSA server (`compare-fresh`).
    pub baseline: Side,
    /// GetMyProfile on authpair's resource service.
    pub measured: Side,
    /// Measured calls/s over baseline calls/s, all slices together.
    pub throughput_ratio: f64,
    /// The median over rounds of (measured calls/s ÷ baseline calls/s).
    pub median_pair_ratio: f64,
    /// Measured p99 over baseline p99.
    pub p99_ratio: f64,
    /// Server CPU per baseline call over per measured call, if both servers'
    /// pids were given: the throughput ratio a load tool that is never the
    /// bottleneck would see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cost_ratio: Option<f64>,
    /// `compare-floor`: the third side, public GetStatus carrying the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
}

/// What carrying the token costs (`compare-floor`): a server that did
/// nothing with it would reach `throughput_ratio` of the public call, the
/// ceiling of ratio 1 on this machine with this client.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// GetStatus carrying the token, over all its slices.
    pub side: Side,
    /// Carrying calls/s over public calls/s, all slices together.
    pub throughput_ratio: f64,
    /// The median over rounds of the same ratio.
    pub median_pair_ratio: f64,
    /// Server CPU per public call over per carrying call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cost_ratio: Option<f64>,
    /// Measured (reused-token) calls/s over carrying calls/s: what
    /// authpair's auth and GetMyProfile's larger answer keep of the ceiling.
    pub measured_over_ceiling: f64,
    /// Server CPU per carrying call over per reused-token call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_server_cost_over_ceiling: Option<f64>,
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
        let out = drive(&self.call, &self.channels, concurrency, began + length, None, None).await?;
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

/// `tokens`: the fresh tokens for `compare-fresh`, the one reused for the
/// other two.
pub async fn compare(tokens: Vec<String>, opts: &Options) -> anyhow::Result<Report> {
    let connections = opts.connections.max(1);
    let resource = connect(&opts.resource, connections).await?;
    let (title, baseline, measured, ceiling) = if opts.mode == Mode::CompareFresh {
        let url = opts.baseline.as_deref().context("compare-fresh needs --baseline, the naive server's URL")?;
        let fresh = Call::profile(tokens)?;
        let naive = Tally::new(fresh.again_from_the_start(), url, connect(url, connections).await?, opts.baseline_pid);
        let ours = Tally::new(fresh, &opts.resource, resource, opts.server_pid);
        ("GetMyProfile with a fresh token every call: naive EdDSA interceptor vs authpair", naive, ours, None)
    } else {
        let token = tokens.first().context("no token to reuse")?;
        // One set of connections for every side: the same server.
        let public = Tally::new(Call::Status, &opts.resource, resource.clone(), opts.server_pid);
        let reused = Tally::new(Call::profile([token.clone()])?, &opts.resource, resource.clone(), opts.server_pid);
        let carrying = (opts.mode == Mode::CompareFloor)
            .then(|| Call::status_carrying(token))
            .transpose()?
            .map(|call| Tally::new(call, &opts.resource, resource, opts.server_pid));
        let title = if carrying.is_some() {
            "GetStatus, GetStatus carrying a token nothing reads, and GetMyProfile (one token reused)"
        } else {
            "GetStatus vs GetMyProfile (one token reused)"
        };
        (title, public, reused, carrying)
    };
    let concurrency = connections * opts.streams.max(1);
    let length = Duration::from_millis(opts.slice_ms.max(50));
    let mut sides: Vec<Tally> = [baseline, measured].into_iter().chain(ceiling).collect();
    // Per round, each side's calls/s over the baseline's: [measured, ceiling].
    let mut pair_ratios: [Vec<f64>; 2] = Default::default();
    let start = Instant::now();
    let end = start + opts.duration();
    for round in 0.. {
        // A B C, then C B A: every side spends as long first as last.
        let mut order: Vec<usize> = (0..sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut rates = vec![0.0; sides.len()];
        for side in order {
            rates[side] = sides[side].slice(concurrency, length).await?;
        }
        for (ratios, rate) in pair_ratios.iter_mut().zip(&rates[1..]) {
            ratios.push(rate / rates[0]);
        }
        if Instant::now() >= end {
            break;
        }
    }
    let elapsed = start.elapsed();
    let median = |ratios: &mut Vec<f64>| {
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let pairs = pair_ratios[0].len();
    let [measured_median, ceiling_median] = pair_ratios.each_mut().map(median);

    let mut report = Report::new(opts.mode, title, connections, concurrency, elapsed);
    let mut statuses = BTreeMap::new();
    for tally in &sides {
        for (code, n) in tally.outcome.status_names() {
            *statuses.entry(code).or_default() += n;
        }
    }
    if opts.mode == Mode::CompareFresh {
        report.fresh_tokens = sides[1].call.token_reuse();
    }
    let mut sides: Vec<Side> = sides.iter_mut().map(Tally::side).collect();
    report.calls = sides.iter().map(|side| side.calls).sum();
    report.calls_per_sec = report.calls as f64 / elapsed.as_secs_f64();
    report.unexpected =
        statuses.iter().filter(|(code, _)| code.as_str() != "Ok").map(|(c, n)| (c.clone(), *n)).collect();
    report.statuses = statuses;
    let server_us = |side: &Side| side.cpu.as_ref().and_then(|c| c.server_us_per_call);
    let cost_ratio =
        |baseline: &Side, measured: &Side| server_us(baseline).zip(server_us(measured)).map(|(b, m)| b / m);
    let ceiling = sides.get(2).map(|carrying| {
        let (public, reused) = (&sides[0], &sides[1]);
        Ceiling {
            throughput_ratio: carrying.calls_per_sec / public.calls_per_sec,
            median_pair_ratio: ceiling_median,
            server_cost_ratio: cost_ratio(public, carrying),
            measured_over_ceiling: reused.calls_per_sec / carrying.calls_per_sec,
            measured_server_cost_over_ceiling: cost_ratio(carrying, reused),
            side: carrying.clone(),
        }
    });
    sides.truncate(2);
    let (Some(measured), Some(baseline)) = (sides.pop(), sides.pop()) else {
        anyhow::bail!("a comparison has two sides")
    };
    report.comparison = Some(Comparison {
        slice_ms: length.as_millis() as u64,
        pairs,
        throughput_ratio: measured.calls_per_sec / baseline.calls_per_sec,
        median_pair_ratio: measured_median,
        p99_ratio: measured.latency.p99_ms / baseline.latency.p99_ms,
        server_cost_ratio: cost_ratio(&baseline, &measured),
        baseline,
        measured,
        ceiling,
    });
    Ok(report)
}
