//! How many requests a table may have in flight: a slow start, then additive increase while the
//! destination keeps up, multiplicative decrease when it throttles, fails or slows down (after
//! Vector's adaptive request concurrency and TCP's congestion control).

use std::time::Duration;

use tokio::time::Instant;

/// One request per table to start with: webhooks that arrive meanwhile form the next group.
const INITIAL: f64 = 1.0;
/// The most requests one table has in flight.
pub const MAX: f64 = 16.0;
/// Below this round trip, waiting for the one request in flight costs a webhook less than a
/// second request would cost the destination's quota, so the limit does not grow.
const GROW_ABOVE: Duration = Duration::from_millis(5);
/// A round trip this many times the moving average means the destination is struggling.
const SLOW_FACTOR: f64 = 2.0;
/// Weight of the newest round trip in the moving average.
const ALPHA: f64 = 0.2;

/// The adaptive limit of one table.
#[derive(Debug)]
pub struct Concurrency {
    limit: f64,
    /// Moving average of round trips, once one is known.
    rtt: Option<Duration>,
    /// At most one decrease per round trip: one slow burst is one signal, not many.
    last_decrease: Option<Instant>,
    /// Until the first decrease, each saturated success adds a slot, so the limit doubles every
    /// round trip (TCP's slow start): at 50 ms a new instance's table reaches [`MAX`] in about
    /// half a second, not in the two seconds one slot per round trip took, while every webhook
    /// waited longer.
    slow_start: bool,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            limit: INITIAL,
            rtt: None,
            last_decrease: None,
            slow_start: true,
        }
    }
}

impl Concurrency {
    /// Requests that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// The moving average of successful round trips, once one is known.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// A request succeeded after `rtt`; `saturated` when every slot was busy as it was sent.
    pub fn succeeded(&mut self, rtt: Duration, saturated: bool, now: Instant) {
        let average = self.rtt.unwrap_or(rtt);
        if rtt.as_secs_f64() > average.as_secs_f64() * SLOW_FACTOR {
            self.decrease(0.9, now);
        } else if saturated && average >= GROW_ABOVE {
            // +1 per request doubles the limit every round trip; +1/limit per request is +1 per
            // round trip's worth of requests.
            let step = if self.slow_start {
                1.0
            } else {
                1.0 / self.limit
            };
            self.limit = (self.limit + step).min(MAX);
        }
        self.rtt = Some(average.mul_f64(1.0 - ALPHA) + rtt.mul_f64(ALPHA));
    }

    /// The destination throttled (429) or failed: halve. A failure's duration says nothing of
    /// the destination's round trip (a timeout lasts 30 s), so it stays out of the average.
    pub fn backed_off(&mut self, now: Instant) {
        self.decrease(0.5, now);
    }

    fn decrease(&mut self, factor: f64, now: Instant) {
        let window = self.rtt.unwrap_or_default();
        if self.last_decrease.is_some_and(|at| now < at + window) {
            return;
        }
        self.limit = (self.limit * factor).max(INITIAL);
        self.last_decrease = Some(now);
        self.slow_start = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Duration = Duration::from_millis(50);

    fn grown(requests: usize) -> Concurrency {
        let mut concurrency = Concurrency::default();
        for _ in 0..requests {
            concurrency.succeeded(SLOW, true, Instant::now());
        }
        concurrency
    }

    #[test]
    fn a_saturated_slow_destination_doubles_its_slots_every_round_trip_up_to_the_max() {
        // Each request of a round trip's worth adds a slot: 1, 2, 4, 8, 16.
        assert_eq!(grown(1).limit(), 2);
        assert_eq!(grown(1 + 2).limit(), 4);
        assert_eq!(grown(1 + 2 + 4 + 8).limit(), MAX as usize);
        assert_eq!(grown(1000).limit(), MAX as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_decrease_the_limit_grows_by_about_one_slot_per_round_trip() {
        let mut concurrency = grown(1000);
        concurrency.backed_off(Instant::now());
        assert_eq!(concurrency.limit(), 8);
        for _ in 0..8 {
            concurrency.succeeded(SLOW, true, Instant::now());
        }
        assert_eq!(concurrency.limit(), 8, "{:?}", concurrency.limit);
        for _ in 0..12 {
            concurrency.succeeded(SLOW, true, Instant::now());
        }
        assert_eq!(concurrency.limit(), 10, "{:?}", concurrency.limit);
    }

    #[test]
    fn a_fast_or_idle_destination_keeps_one_slot() {
        let (mut fast, mut idle) = (Concurrency::default(), Concurrency::default());
        for _ in 0..100 {
            fast.succeeded(Duration::from_millis(1), true, Instant::now());
            idle.succeeded(SLOW, false, Instant::now());
        }
        assert_eq!((fast.limit(), idle.limit()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_limit_once_per_round_trip() {
        let mut concurrency = grown(1000);
        concurrency.backed_off(Instant::now());
        concurrency.backed_off(Instant::now());
        assert_eq!(concurrency.limit(), 8);
        tokio::time::advance(SLOW).await;
        concurrency.backed_off(Instant::now());
        assert_eq!(concurrency.limit(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_attempt_leaves_the_round_trip_average_to_successes() {
        let mut concurrency = grown(1000);
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(30)).await;
            concurrency.backed_off(Instant::now());
        }
        assert_eq!(concurrency.rtt(), Some(SLOW));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rising_round_trip_shrinks_the_limit() {
        let mut concurrency = grown(1000);
        tokio::time::advance(SLOW).await;
        concurrency.succeeded(SLOW * 4, true, Instant::now());
        assert_eq!(concurrency.limit(), 14);
    }
}
