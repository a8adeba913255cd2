//! Which connections a listener keeps, in one of two ways ([`Admission`]):
//!
//! - [`Admission::Queue`] (the gRPC ports): a slot is taken *before* the
//!   accept, so at the cap the next connection waits in the kernel's
//!   backlog until one closes;
//! - [`Admission::BySource`] (the HTTP listener): decided right after the
//!   accept, so the accept loop never waits for a slot and one client's
//!   sockets cannot hold the others in the backlog ([`Sources`]):
//!
//! - at most `max_connections` open in all;
//! - at most `max_connections_per_source` from one source (an IPv4 address,
//!   or an IPv6 /64: one host usually holds a whole /64);
//! - the last [`RESERVED_SHARE`] of `max_connections` only for a source
//!   holding fewer than [`RESERVED_PER_SOURCE`], so a few sources at their
//!   cap still leave room for everyone else.
//!
//! A connection keeps its [`Slot`] until it closes.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How a listener decides which connections it keeps.
#[derive(Debug, Clone)]
pub enum Admission {
    /// At most this many open; the next waits, unaccepted, for a slot.
    Queue(Arc<Semaphore>),
    /// Accept, then keep or reset by the per-source rules.
    BySource(Sources),
}

impl Admission {
    /// At most `max` connections; the next waits in the backlog.
    pub fn queue(max: usize) -> Self {
        Self::Queue(Arc::new(Semaphore::new(max)))
    }

    /// At most `max` connections, `per_source` from one source, the last
    /// quarter kept for sources with few.
    pub fn by_source(max: usize, per_source: usize) -> Self {
        Self::BySource(Sources::new(max, per_source))
    }
}

/// A kept connection's place, given back when the connection is dropped.
#[derive(Debug)]
pub enum Slot {
    /// A place under [`Admission::Queue`]'s cap.
    Queued(OwnedSemaphorePermit),
    /// A place in [`Sources`]' counts.
    Counted(Counted),
}

/// One part in this of the connections is kept for sources with few.
pub const RESERVED_SHARE: usize = 4;
/// A source holding fewer connections than this may use the kept part.
pub const RESERVED_PER_SOURCE: usize = 4;

/// Where connections come from, as counted: IPv4 addresses (IPv4-mapped
/// IPv6 ones too) one by one, IPv6 addresses by their /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => Self(IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())),
            v4 => Self(v4),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            v4 => write!(f, "{v4}"),
        }
    }
}

/// Why a connection was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open.
    Full,
    /// Its source holds `max_connections_per_source`.
    SourceFull,
    /// Only the kept part is free, and its source holds too many for it.
    ReservedForOthers,
}

impl Refused {
    /// The limit, as logs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "the listener's connection limit",
            Self::SourceFull => "the per-source connection limit",
            Self::ReservedForOthers => "the part of the connections kept for sources with few",
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<Source, usize>,
}

/// The open connections' counts by source, and the limits they are held to.
#[derive(Debug, Clone)]
pub struct Sources {
    open: Arc<Mutex<Open>>,
    max: usize,
    per_source: usize,
    /// Past this many open, only sources under [`RESERVED_PER_SOURCE`] get in.
    unreserved: usize,
}

impl Sources {
    /// At most `max` open, `per_source` from one source.
    pub fn new(max: usize, per_source: usize) -> Self {
        Self { open: Arc::default(), max, per_source, unreserved: max - max / RESERVED_SHARE }
    }

    /// A place for a connection from `peer`, or why there is none.
    pub fn admit(&self, peer: IpAddr) -> Result<Counted, Refused> {
        let source = Source::from(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let held = open.by_source.get(&source).copied().unwrap_or(0);
        if open.total >= self.max {
            return Err(Refused::Full);
        }
        if held >= self.per_source {
            return Err(Refused::SourceFull);
        }
        if open.total >= self.unreserved && held >= RESERVED_PER_SOURCE {
            return Err(Refused::ReservedForOthers);
        }
        open.total += 1;
        *open.by_source.entry(source).or_insert(0) += 1;
        Ok(Counted { open: self.open.clone(), source })
    }

    /// Connections open now.
    #[cfg(test)]
    fn total(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

/// A kept connection's place in [`Sources`]' counts, given back when dropped.
#[derive(Debug)]
pub struct Counted {
    open: Arc<Mutex<Open>>,
    source: Source,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(held) = open.by_source.get_mut(&self.source) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// Refused connections are logged at most this often, with their count.
const REFUSAL_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Refused connections, logged at most once per [`REFUSAL_LOG_EVERY`] with
/// how many there were since, so a flood of them does not flood the log.
#[derive(Debug, Default)]
pub struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    /// Counts a refusal of `peer`'s connection at `why`, on `listener`
    /// (its name and flags in the log).
    pub fn note(&mut self, listener: &str, peer: SocketAddr, why: Refused) {
        self.since_logged += 1;
        tracing::debug!(listener, %peer, limit = why.as_str(), "connection refused");
        if self.logged_at.is_some_and(|at| at.elapsed() < REFUSAL_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            listener,
            refused = self.since_logged,
            last_source = %Source::from(peer.ip()),
            limit = why.as_str(),
            "connections refused at a limit"
        );
        self.since_logged = 0;
        self.logged_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max: usize, per_source: usize) -> Sources {
        Sources::new(max, per_source)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_source_gets_its_cap_and_no_more_while_another_still_gets_in() {
        let a = admission(64, 16);
        let held: Vec<Counted> = (0..16).filter_map(|_| a.admit(ip("10.0.0.1")).ok()).collect();
        assert_eq!(held.len(), 16);
        assert_eq!(a.admit(ip("10.0.0.1")).err(), Some(Refused::SourceFull));
        assert!(a.admit(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn the_last_quarter_is_kept_for_sources_with_fewer_than_four_connections() {
        let a = admission(64, 16);
        let mut held = Vec::new();
        for source in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            held.extend((0..16).filter_map(|_| a.admit(ip(source)).ok()));
        }
        assert_eq!(held.len(), 48);
        // A fourth hog gets only what a small source may have of the rest.
        held.extend((0..16).filter_map(|_| a.admit(ip("10.0.0.4")).ok()));
        assert_eq!(held.len(), 48 + RESERVED_PER_SOURCE);
        assert_eq!(a.admit(ip("10.0.0.4")).err(), Some(Refused::ReservedForOthers));
        // Everyone else still gets in, up to the total.
        let others: Vec<Counted> = (5..=255).filter_map(|n| a.admit(ip(&format!("10.0.0.{n}"))).ok()).collect();
        assert_eq!(others.len(), 64 - 48 - RESERVED_PER_SOURCE);
        assert_eq!(a.admit(ip("10.0.1.1")).err(), Some(Refused::Full));
    }

    #[test]
    fn a_closed_connection_gives_its_slot_back() {
        let a = admission(2, 1);
        let first = a.admit(ip("10.0.0.1"));
        assert_eq!(a.admit(ip("10.0.0.1")).err(), Some(Refused::SourceFull));
        drop(first);
        assert_eq!(a.total(), 0);
        assert!(a.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn ipv6_sources_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(Source::from(ip("2001:db8:1:2:3::4")), Source::from(ip("2001:db8:1:2:ffff::1")));
        assert_ne!(Source::from(ip("2001:db8:1:2::1")), Source::from(ip("2001:db8:1:3::1")));
        assert_eq!(Source::from(ip("::ffff:10.0.0.1")), Source::from(ip("10.0.0.1")));
        assert_eq!(Source::from(ip("2001:db8:1:2:3::4")).to_string(), "2001:db8:1:2::/64");
    }
}
