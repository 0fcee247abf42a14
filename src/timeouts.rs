//! Every time budget the handler has, built once from the settings: the one owner of time.

use std::time::Duration;

/// How long each kind of wait may last. Every outbound client and every wait takes its budget
/// from here; nothing else holds a timeout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// `DELIVERY_TIMEOUT_SECONDS`: from the moment a webhook is submitted to its answer,
    /// waiting for a delivery slot and retries included.
    pub delivery: Duration,
    /// One outbound HTTP request, start to finish. An attempt is never abandoned before this,
    /// even past the delivery deadline: its outcome settles the webhook's key.
    pub attempt: Duration,
    /// Opening a connection to any Azure endpoint.
    pub connect: Duration,
    /// Putting a failed webhook's rows on the spill queue, after the delivery deadline.
    pub spill: Duration,
    /// Fetching Entra ID's signing keys (metadata and key set) for a secure webhook: well
    /// within the ~10 s an action group waits for an answer.
    pub keys: Duration,
    /// One drained queue message: there is no sender waiting, so longer than a webhook.
    pub drain: Duration,
}

impl Timeouts {
    /// The budgets around a delivery deadline.
    pub fn new(delivery: Duration) -> Self {
        Timeouts {
            delivery,
            attempt: Duration::from_secs(30),
            connect: Duration::from_secs(5),
            spill: Duration::from_secs(5),
            keys: Duration::from_secs(5),
            drain: Duration::from_secs(60),
        }
    }

    /// How long a stopping server lets requests in flight finish: a webhook's deadline plus its
    /// spill, or a drained message's budget, whichever is longer.
    pub fn shutdown_grace(&self) -> Duration {
        (self.delivery + self.spill).max(self.drain) + Duration::from_secs(1)
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::new(Duration::from_secs(8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopping_server_waits_out_a_webhook_and_a_drained_message_alike() {
        for delivery in [0.1, 8.0, 200.0] {
            let timeouts = Timeouts::new(Duration::from_secs_f64(delivery));
            let grace = timeouts.shutdown_grace();
            assert!(grace > timeouts.drain, "{delivery}");
            assert!(grace > timeouts.delivery + timeouts.spill, "{delivery}");
        }
    }
}
