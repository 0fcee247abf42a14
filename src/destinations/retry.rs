//! Retrying a failed request inside the webhook's time budget: exponential backoff with full
//! jitter, honouring `Retry-After`, and never retrying what cannot succeed.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokio::time::Instant;

use super::DeliveryError;
use crate::identity::TokenError;

/// The first backoff; it doubles after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl DeliveryError {
    /// 408, 429, 5xx, connection failures and timeouts may succeed later; other 4xx,
    /// encoding and disk errors will not.
    pub fn is_retryable(&self) -> bool {
        let transient = |status: u16| status == 408 || status == 429 || status >= 500;
        match self {
            DeliveryError::Rejected { status, .. } => transient(*status),
            DeliveryError::Token(TokenError::Refused { status, .. }) => transient(*status),
            DeliveryError::Unreachable(_) | DeliveryError::DeadlineExceeded => true,
            DeliveryError::Token(_) => true,
            DeliveryError::RowTooLarge { .. }
            | DeliveryError::Write { .. }
            | DeliveryError::Encode(_) => false,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the next try would end past `deadline`.
pub async fn retrying<T, F, Fut>(deadline: Instant, mut attempt: F) -> Result<T, DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DeliveryError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut last: Option<DeliveryError> = None;
    loop {
        let error = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            // The destination's own answer says more than "out of time", if there was one.
            Err(_) => return Err(last.unwrap_or(DeliveryError::DeadlineExceeded)),
        };
        if !error.is_retryable() {
            return Err(error);
        }
        let wait = match error.retry_after() {
            Some(seconds) => Duration::from_secs(seconds),
            None => jitter(backoff),
        };
        if Instant::now() + wait >= deadline {
            return Err(error);
        }
        tracing::debug!(error = %error, wait_ms = wait.as_millis() as u64, "Retrying the destination.");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        last = Some(error);
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
    use std::sync::atomic::{AtomicU32, Ordering};

    fn rejected(status: u16, retry_after: Option<u64>) -> DeliveryError {
        DeliveryError::Rejected {
            status,
            body: String::new(),
            retry_after,
            hint: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        let result = retrying(deadline, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(rejected(500, None)),
                1 => Err(rejected(429, Some(1))),
                _ => Ok("done"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        for status in [400, 401, 403, 404, 413] {
            let calls = AtomicU32::new(0);
            let deadline = Instant::now() + Duration::from_secs(10);
            let result: Result<(), _> = retrying(deadline, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(rejected(status, None))
            })
            .await;
            assert!(result.is_err());
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{status}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_deadline_gives_up_at_once() {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let result: Result<(), _> =
            retrying(deadline, || async { Err(rejected(503, Some(60))) }).await;
        assert!(matches!(
            result,
            Err(DeliveryError::Rejected { status: 503, .. })
        ));
        assert!(Instant::now() - started < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_cut_by_the_deadline_reports_the_previous_failure() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(2);
        let result: Result<(), _> = retrying(deadline, || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(rejected(500, None));
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await;
        assert!(matches!(
            result,
            Err(DeliveryError::Rejected { status: 500, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_cut_at_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let result: Result<(), _> = retrying(deadline, || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await;
        assert!(matches!(result, Err(DeliveryError::DeadlineExceeded)));
    }
}
