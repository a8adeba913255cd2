//! How the follower reports the auth service staying out of reach: the
//! first failure as a warning, then one summary a minute for as long as it
//! lasts (not a line per retry), and one line when it is back.

use std::{fmt::Display, time::Duration};

use tokio::time::Instant;

/// How often an outage is summarised while it lasts.
pub(super) const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What [`Outage::failed`] logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Logged {
    /// The first failure of an outage, as a warning.
    First,
    /// A summary of the failures so far.
    Summary { failures: u64 },
    /// Nothing: a summary was logged less than [`SUMMARY_EVERY`] ago.
    Nothing,
}

/// One dependency's outage, if one is going on.
#[derive(Debug)]
pub(super) struct Outage {
    what: &'static str,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    since: Instant,
    failures: u64,
    reported: Instant,
}

impl Outage {
    /// `what` names the dependency in the log ("revocation feed").
    pub(super) fn new(what: &'static str) -> Self {
        Self { what, current: None }
    }

    /// One more failed attempt; `feed_age_secs` is how stale the denylist is.
    pub(super) fn failed(&mut self, error: &dyn Display, feed_age_secs: Option<u64>) -> Logged {
        let now = Instant::now();
        let what = self.what;
        match &mut self.current {
            None => {
                self.current = Some(Current { since: now, failures: 1, reported: now });
                tracing::warn!(error = %error, feed_age_secs = ?feed_age_secs, "{what} unavailable; retrying with backoff");
                Logged::First
            }
            Some(current) => {
                current.failures += 1;
                if now.duration_since(current.reported) < SUMMARY_EVERY {
                    return Logged::Nothing;
                }
                current.reported = now;
                let (failures, down_secs) = (current.failures, now.duration_since(current.since).as_secs());
                tracing::warn!(
                    error = %error,
                    failures,
                    down_secs,
                    feed_age_secs = ?feed_age_secs,
                    "{what} still unavailable"
                );
                Logged::Summary { failures }
            }
        }
    }

    /// The dependency answered; ends the outage, if there was one, with a
    /// line saying how long it lasted. Returns the failures it counted.
    pub(super) fn recovered(&mut self) -> u64 {
        let Some(current) = self.current.take() else { return 0 };
        let down_secs = current.since.elapsed().as_secs();
        tracing::info!(failures = current.failures, down_secs, "{} restored", self.what);
        current.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_logged_once_then_summarised_each_minute_not_at_every_retry() {
        let mut outage = Outage::new("revocation feed");
        assert_eq!(outage.failed(&"refused", None), Logged::First);
        // A retry every 10 s (the longest backoff) for five minutes.
        let mut logged = Vec::new();
        for _ in 0..30 {
            tokio::time::advance(Duration::from_secs(10)).await;
            match outage.failed(&"refused", Some(1)) {
                Logged::Nothing => {}
                other => logged.push(other),
            }
        }
        assert_eq!(
            logged,
            [6, 12, 18, 24, 30].map(|n| Logged::Summary { failures: n + 1 }),
            "a summary a minute, counting every failure"
        );
        assert_eq!(outage.recovered(), 31);
        assert_eq!(outage.recovered(), 0, "recovered once");
        assert_eq!(outage.failed(&"refused", None), Logged::First, "a new outage is reported at once");
    }
}
