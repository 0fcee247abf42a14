//! Recognising a webhook the sender already delivered (senders retry; Log Analytics does not
//! de-duplicate). Keys live in memory for a window: a restart, or another instance, forgets them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How a key stands.
#[derive(Clone)]
enum Entry {
    /// A request with this key is delivering now; the channel says how it ended.
    InFlight(watch::Receiver<Option<bool>>),
    /// Delivered (or spilled); `order` says when.
    Done,
}

#[derive(Default)]
struct Keys {
    entries: HashMap<String, Entry>,
    /// Delivered keys in the order they were delivered, for expiry and the size cap.
    order: VecDeque<(Instant, String)>,
}

/// Remembers delivered webhook keys for `window`, at most `capacity` of them.
#[derive(Clone)]
pub struct Deduplicator {
    keys: Arc<Mutex<Keys>>,
    window: Duration,
    capacity: usize,
}

impl std::fmt::Debug for Deduplicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deduplicator")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// The outcome of claiming a key.
pub enum Claim {
    /// First sight (or the earlier attempt failed): deliver, then call [`Delivery::done`].
    New(Delivery),
    /// Already delivered within the window.
    Duplicate,
}

/// A claimed key. Dropping it without [`Delivery::done`] releases the key for a retry.
pub struct Delivery {
    dedup: Deduplicator,
    key: String,
    outcome: watch::Sender<Option<bool>>,
    finished: bool,
}

impl Deduplicator {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Deduplicator {
            keys: Arc::default(),
            window,
            capacity,
        }
    }

    /// Claims `key`. A concurrent request with the same key waits for the first one's outcome.
    pub async fn claim(&self, key: &str) -> Claim {
        loop {
            let mut waiting = {
                let mut keys = self.keys.lock().expect("dedup lock");
                self.expire(&mut keys);
                match keys.entries.get(key) {
                    Some(Entry::Done) => return Claim::Duplicate,
                    Some(Entry::InFlight(receiver)) => receiver.clone(),
                    None => {
                        let (outcome, receiver) = watch::channel(None);
                        keys.entries
                            .insert(key.to_owned(), Entry::InFlight(receiver));
                        return Claim::New(Delivery {
                            dedup: self.clone(),
                            key: key.to_owned(),
                            outcome,
                            finished: false,
                        });
                    }
                }
            };
            // Wait for the request in flight; then look again (delivered → duplicate, failed → ours).
            let _ = waiting.wait_for(Option::is_some).await;
        }
    }

    fn expire(&self, keys: &mut Keys) {
        let now = Instant::now();
        while let Some((at, _)) = keys.order.front() {
            if now.duration_since(*at) < self.window && keys.order.len() <= self.capacity {
                break;
            }
            let (_, key) = keys.order.pop_front().expect("front exists");
            if matches!(keys.entries.get(&key), Some(Entry::Done)) {
                keys.entries.remove(&key);
            }
        }
    }
}

impl Delivery {
    /// Records the key as delivered.
    pub fn done(mut self) {
        let now = Instant::now();
        let mut keys = self.dedup.keys.lock().expect("dedup lock");
        keys.entries.insert(self.key.clone(), Entry::Done);
        keys.order.push_back((now, self.key.clone()));
        self.finished = true;
        self.outcome.send_replace(Some(true));
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.finished {
            self.dedup
                .keys
                .lock()
                .expect("dedup lock")
                .entries
                .remove(&self.key);
            self.outcome.send_replace(Some(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedup() -> Deduplicator {
        Deduplicator::new(Duration::from_secs(60), 3)
    }

    #[tokio::test]
    async fn a_delivered_key_is_a_duplicate_and_a_failed_one_is_not() {
        let dedup = dedup();
        let Claim::New(first) = dedup.claim("a").await else {
            panic!("new")
        };
        first.done();
        assert!(matches!(dedup.claim("a").await, Claim::Duplicate));
        let Claim::New(failed) = dedup.claim("b").await else {
            panic!("new")
        };
        drop(failed);
        assert!(matches!(dedup.claim("b").await, Claim::New(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_expire_after_the_window_or_beyond_the_capacity() {
        let dedup = dedup();
        for key in ["a", "b", "c", "d"] {
            let Claim::New(delivery) = dedup.claim(key).await else {
                panic!("new")
            };
            delivery.done();
        }
        assert!(
            matches!(dedup.claim("a").await, Claim::New(_)),
            "over capacity, the oldest goes"
        );
        assert!(matches!(dedup.claim("d").await, Claim::Duplicate));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(dedup.claim("d").await, Claim::New(_)));
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_waits_for_the_first_delivery() {
        let dedup = dedup();
        let Claim::New(first) = dedup.claim("k").await else {
            panic!("new")
        };
        let second = tokio::spawn({
            let dedup = dedup.clone();
            async move { matches!(dedup.claim("k").await, Claim::Duplicate) }
        });
        tokio::task::yield_now().await;
        first.done();
        assert!(second.await.unwrap());
    }
}
