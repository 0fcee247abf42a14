//! When a table's next request may start: staggered by a round trip over the slots while it is
//! busy, a pause when the destination says how long to wait, and a jittered backoff after
//! failures. Pure: it reads the clock only
//! through the `now` it is given.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokio::time::Instant;

use crate::destinations::DeliveryError;

/// The first pause after a failure; it doubles after each failure in a row up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The longest a destination's `Retry-After` pauses a table: a larger value (or a hostile one)
/// would leave every later webhook to spill or fail for as long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(crate::azure::http::MAX_RETRY_AFTER);

/// One table's pacing state.
#[derive(Debug)]
pub struct Pacing {
    /// No request starts before this: the destination said how long to wait.
    paused_until: Option<Instant>,
    /// When the last request that grouped webhooks started.
    last_grouped_start: Option<Instant>,
    backoff: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            paused_until: None,
            last_grouped_start: None,
            backoff: FIRST_BACKOFF,
        }
    }
}

impl Pacing {
    /// The end of the destination's pause, or `None` once it is over (or there is none).
    pub fn paused(&mut self, now: Instant) -> Option<Instant> {
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
        }
        self.paused_until
    }

    /// The earliest the next request may start, if later than now. An idle table (nothing in
    /// flight) sends at once; a busy one (its last group carried more than one webhook) staggers
    /// its requests by a round trip divided by the slots, so that slots free up one by one and
    /// the webhooks arriving meanwhile leave together. There is no fixed minimum: a destination
    /// that answers at once is not made to wait, and one that throttles answers 429, which
    /// pauses the table (see [`Pacing::failed`]).
    pub fn next_start(
        &self,
        in_flight: usize,
        slots: usize,
        rtt: Option<Duration>,
    ) -> Option<Instant> {
        if in_flight == 0 {
            return None;
        }
        let slots = u32::try_from(slots.max(1)).unwrap_or(u32::MAX);
        let spacing = rtt? / slots;
        self.last_grouped_start?.checked_add(spacing)
    }

    /// A request started at `now`, carrying more than one webhook when `grouped`.
    pub fn started(&mut self, now: Instant, grouped: bool) {
        self.last_grouped_start = grouped.then_some(now);
    }

    /// A request succeeded: the next failure starts the backoff afresh.
    pub fn succeeded(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// A request failed at `now`: returns when its webhooks may be tried again. A destination's
    /// `Retry-After` (at most [`MAX_RETRY_AFTER`]) or a 429 pauses the whole table, so that one
    /// request then carries every webhook that waited; other failures back off with jitter.
    pub fn failed(&mut self, error: &DeliveryError, now: Instant) -> Instant {
        if !error.is_retryable() {
            return now;
        }
        let wait = match error.retry_after() {
            Some(seconds) => Duration::from_secs(seconds).min(MAX_RETRY_AFTER),
            None => jitter(self.backoff),
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        let resume = now + wait;
        if error.is_throttled() || error.retry_after().is_some() {
            self.paused_until = Some(self.paused_until.map_or(resume, |t| t.max(resume)));
        }
        resume
    }
}

/// A random duration in `[0, max]` ("full jitter"), so retrying instances do not move in step.
fn jitter(max: Duration) -> Duration {
    let random = RandomState::new().hash_one(std::time::SystemTime::now());
    max.mul_f64((random % 10_000) as f64 / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, retry_after: Option<u64>) -> DeliveryError {
        DeliveryError::Rejected {
            status,
            body: String::new(),
            retry_after,
            hint: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_any_size_pauses_the_table_for_at_most_a_minute() {
        for seconds in [1_000_000_000, u64::MAX] {
            let mut pacing = Pacing::default();
            let now = Instant::now();
            let resume = pacing.failed(&refused(429, Some(seconds)), now);
            assert_eq!(resume, now + MAX_RETRY_AFTER, "{seconds}");
            assert_eq!(pacing.paused(now), Some(now + MAX_RETRY_AFTER));
            assert_eq!(pacing.paused(now + MAX_RETRY_AFTER), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_retry_after_is_honoured_and_a_refusal_is_not_retried() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        assert_eq!(
            pacing.failed(&refused(503, Some(7)), now),
            now + Duration::from_secs(7)
        );
        assert_eq!(pacing.failed(&refused(403, None), now), now);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_with_jitter_up_to_two_seconds_and_a_success_resets() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        for _ in 0..10 {
            let resume = pacing.failed(&refused(500, None), now);
            assert!(resume <= now + MAX_BACKOFF);
        }
        assert_eq!(pacing.backoff, MAX_BACKOFF);
        assert_eq!(pacing.paused(now), None, "a 500 does not pause the table");
        pacing.succeeded();
        assert_eq!(pacing.backoff, FIRST_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_table_never_waits_and_a_busy_one_staggers_by_round_trip_over_slots() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        pacing.started(now, true);
        let rtt = Some(Duration::from_secs(30));
        assert_eq!(pacing.next_start(0, 4, rtt), None, "nothing in flight");
        assert_eq!(
            pacing.next_start(1, 4, rtt),
            Some(now + Duration::from_millis(7_500))
        );
        assert_eq!(
            pacing.next_start(1, 1, None),
            None,
            "no round trip measured: no wait"
        );
        let instant = Some(Duration::from_micros(100));
        assert_eq!(
            pacing.next_start(1, 4, instant),
            Some(now + Duration::from_micros(25)),
            "no fixed minimum for a destination that answers at once"
        );
        pacing.started(now, false);
        assert_eq!(pacing.next_start(1, 1, rtt), None, "a lone webhook");
    }
}
