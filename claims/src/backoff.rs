//! Exponential backoff with jitter: the one retry pacing of the workspace
//! (the key fetcher, the revocation feed, the auth service's log listener).

use std::time::Duration;

/// Waits that double from `first` to `max`, each drawn in [d/2, d] so that
/// many restarting services spread their retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starting at `first`, growing to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, max, next: first }
    }

    /// The wait before the next attempt; the one after is twice as long, up
    /// to the maximum.
    pub fn next_wait(&mut self) -> Duration {
        let wait = with_jitter(self.next);
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// Starts over from the first wait, after an attempt that succeeded.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A wait in [d/2, d].
fn with_jitter(d: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let fraction = if getrandom::getrandom(&mut byte).is_ok() { f64::from(byte[0]) / 255.0 } else { 1.0 };
    d.mul_f64(0.5 + 0.5 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_their_jitter_up_to_the_maximum_and_start_over_on_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let bounds = [100, 200, 400, 700, 700];
        for top in bounds {
            let wait = backoff.next_wait();
            let top = Duration::from_millis(top);
            assert!(wait >= top / 2 && wait <= top, "{wait:?} outside [{:?}, {top:?}]", top / 2);
        }
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(100));
    }
}
