//! Recognising a webhook the sender already delivered (senders retry; Log Analytics does not
//! de-duplicate). Keys live in memory as 16-byte digests for a window: a restart, or another
//! instance, forgets them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::HashTable;
use sha2::{Digest as _, Sha256};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// What identifies a webhook: the first 128 bits of SHA-256 over its key.
type Digest = [u8; 16];

/// At most this many settled keys are remembered. Each costs about 37 bytes, all of it set
/// aside up front: its digest and time in the expiry queue (24), and a 4-byte index entry with
/// its table's slack (13): ~3.7 MB, which never grows, nor is copied to grow.
pub const CAPACITY: usize = 100_000;

/// How a key's delivery ended.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    /// Every row was delivered (or spilled): a copy is a duplicate.
    Done,
    /// Whether the rows were written is unknown (a queue put that timed out): a copy is refused
    /// as in flight until the window ends, rather than written twice.
    Unknown,
    /// Released part-way: a copy is new, and delivers only the rows in `Keys::partial`.
    Partial,
}

/// A key whose delivery ended, at this second of the window clock.
#[derive(Clone, Copy)]
struct Ended {
    at: u32,
    outcome: Outcome,
    key: Digest,
}

/// Digests are already uniformly random: their first eight bytes are the hash.
#[derive(Clone, Copy, Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*byte) << (8 * i);
        }
    }
}

type DigestMap<V> = HashMap<Digest, V, std::hash::BuildHasherDefault<DigestHasher>>;

/// The index's hash of a digest: its first eight bytes, as [`DigestHasher`] takes them.
fn hash(key: &Digest) -> u64 {
    u64::from_le_bytes(key[..8].try_into().expect("a digest has 16 bytes"))
}

/// The entry of `ended` with sequence number `seq`, given the front's.
fn entry_at(ended: &VecDeque<Ended>, front: u32, seq: u32) -> &Ended {
    &ended[seq.wrapping_sub(front) as usize]
}

struct Keys {
    /// Keys whose attempt may still commit; a copy waits for the outcome.
    in_flight: HashSet<Digest, std::hash::BuildHasherDefault<DigestHasher>>,
    /// Keys whose delivery ended, in the order they ended, for expiry and the size cap.
    ended: VecDeque<Ended>,
    /// The sequence number of `ended`'s front; each entry's is one more than the one before.
    front: u32,
    /// For each key that is done or unknown, the sequence number of its latest entry in
    /// `ended`: the digest is kept once, there.
    settled: HashTable<u32>,
    /// Rows (by position) of webhooks whose delivery stopped part-way, and when: a retry
    /// delivers only the others. Rare, so kept apart.
    partial: DigestMap<(u32, Box<[u32]>)>,
}

impl Keys {
    fn new(capacity: usize) -> Self {
        Keys {
            in_flight: HashSet::default(),
            // One over the cap: an entry is added before the oldest goes.
            ended: VecDeque::with_capacity(capacity + 1),
            front: 0,
            // Twice the cap: as keys come and go the table fills with tombstones, which
            // hashbrown clears in place only while it is at most half full; fuller, it doubles.
            settled: HashTable::with_capacity(2 * (capacity + 1)),
            partial: DigestMap::default(),
        }
    }

    /// How `key` last ended, if it is done or unknown.
    fn outcome(&self, key: &Digest) -> Option<Outcome> {
        let entry = |seq: &u32| entry_at(&self.ended, self.front, *seq);
        let seq = self.settled.find(hash(key), |seq| entry(seq).key == *key)?;
        Some(entry(seq).outcome)
    }

    fn push(&mut self, ended: Ended) {
        let seq = self.front.wrapping_add(self.ended.len() as u32);
        self.ended.push_back(ended);
        if ended.outcome == Outcome::Partial {
            return;
        }
        let Keys {
            ended: entries,
            front,
            settled,
            ..
        } = self;
        let entry = |seq: &u32| entry_at(entries, *front, *seq);
        let key = &ended.key;
        // A key that ended again replaces its older entry, which stays in `ended` until it expires.
        settled
            .entry(
                hash(key),
                |seq| entry(seq).key == *key,
                |seq| hash(&entry(seq).key),
            )
            .insert(seq);
    }

    fn pop_front(&mut self) {
        let Some(oldest) = self.ended.pop_front() else {
            return;
        };
        let seq = self.front;
        self.front = seq.wrapping_add(1);
        // A key that ended again later has a later entry (or rows); this one is stale.
        if oldest.outcome == Outcome::Partial {
            let current = |(since, _): &(u32, Box<[u32]>)| *since == oldest.at;
            if self.partial.get(&oldest.key).is_some_and(current) {
                self.partial.remove(&oldest.key);
            }
        } else if let Ok(current) = self.settled.find_entry(hash(&oldest.key), |s| *s == seq) {
            current.remove();
        }
    }
}

/// Remembers settled webhook keys for `window`, at most [`CAPACITY`] of them.
pub struct Dedup {
    keys: Mutex<Keys>,
    /// Woken whenever a key in flight settles or is released.
    changed: Notify,
    epoch: Instant,
    window: u32,
    capacity: usize,
}

/// The outcome of claiming a key.
pub enum Claim {
    /// Ours to deliver; settle or drop the ticket when the outcome is known.
    New(Ticket),
    /// Already delivered within the window.
    Duplicate,
    /// Another copy's attempt was still in flight at the deadline.
    Busy,
}

/// A claimed key. Dropping it unsettled releases the key, remembering the rows already delivered.
pub struct Ticket {
    dedup: Arc<Dedup>,
    key: Digest,
    delivered: Vec<u32>,
    settled: bool,
    /// Told how the ticket ended, for whoever holds the key's durable claim.
    watcher: Option<oneshot::Sender<TicketEnd>>,
}

/// How a ticket ended, as its watcher learns it.
#[derive(Clone, Debug, PartialEq)]
pub enum TicketEnd {
    /// Every row was delivered.
    Settled,
    /// Every row was delivered or spilled, some of them spilled.
    Spilled,
    /// Released: these rows (by position) were delivered, the others were not.
    Released(Vec<u32>),
    /// Nobody knows whether the rows were written.
    Unknown,
}

impl Dedup {
    pub fn new(window: Duration) -> Arc<Self> {
        Self::with_capacity(window, CAPACITY)
    }

    fn with_capacity(window: Duration, capacity: usize) -> Arc<Self> {
        Arc::new(Dedup {
            keys: Mutex::new(Keys::new(capacity)),
            changed: Notify::new(),
            epoch: Instant::now(),
            window: u32::try_from(window.as_secs()).unwrap_or(u32::MAX),
            capacity,
        })
    }

    /// Claims `key`. A copy of a webhook whose attempt is in flight waits for its outcome, until
    /// `deadline`: delivered → duplicate, failed → ours.
    pub async fn claim(self: &Arc<Self>, key: &str, deadline: Instant) -> Claim {
        let digest = digest(key);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut keys = self.lock();
                self.expire(&mut keys, self.now());
                match keys.outcome(&digest) {
                    Some(Outcome::Done) => return Claim::Duplicate,
                    Some(Outcome::Unknown) => return Claim::Busy,
                    _ if keys.in_flight.contains(&digest) => {}
                    _ => {
                        keys.in_flight.insert(digest);
                        let delivered = keys.partial.remove(&digest).map(|(_, rows)| rows);
                        return Claim::New(Ticket {
                            dedup: Arc::clone(self),
                            key: digest,
                            delivered: delivered.map(Vec::from).unwrap_or_default(),
                            settled: false,
                            watcher: None,
                        });
                    }
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Claim::Busy;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn expire(&self, keys: &mut Keys, now: u32) {
        while let Some(oldest) = keys.ended.front() {
            if now.saturating_sub(oldest.at) < self.window && keys.ended.len() <= self.capacity {
                break;
            }
            keys.pop_front();
        }
    }

    fn finish(&self, key: Digest, delivered: &mut Vec<u32>, end: End) {
        let at = self.now();
        let mut keys = self.lock();
        keys.in_flight.remove(&key);
        let outcome = match end {
            End::Settled => Some(Outcome::Done),
            End::Unknown => Some(Outcome::Unknown),
            End::Released if delivered.is_empty() => None,
            End::Released => {
                let rows = std::mem::take(delivered).into_boxed_slice();
                keys.partial.insert(key, (at, rows));
                Some(Outcome::Partial)
            }
        };
        if let Some(outcome) = outcome {
            keys.push(Ended { at, outcome, key });
            // Back within the cap at once, so `ended` never grows past what was set aside.
            self.expire(&mut keys, at);
        }
        drop(keys);
        self.changed.notify_waiters();
    }
}

/// How a ticket ended.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Settled,
    Released,
    Unknown,
}

fn digest(key: &str) -> Digest {
    let hash = Sha256::digest(key.as_bytes());
    hash[..16].try_into().expect("SHA-256 has 32 bytes")
}

impl Ticket {
    /// The key's digest in hex: 32 characters, safe in any storage key.
    pub fn digest_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Learns how this ticket ends (settled, released or unknown), whoever ends it.
    pub fn watch(&mut self) -> oneshot::Receiver<TicketEnd> {
        let (sender, receiver) = oneshot::channel();
        self.watcher = Some(sender);
        receiver
    }

    /// Positions of the webhook's rows an earlier, interrupted delivery already wrote.
    pub fn delivered(&self) -> &[u32] {
        &self.delivered
    }

    /// Notes rows (by position) the destination accepted while others failed.
    pub fn record(&mut self, positions: impl IntoIterator<Item = u32>) {
        self.delivered.extend(positions);
    }

    /// Every row is delivered (or spilled): later copies are duplicates.
    pub fn settle(self) {
        self.end(End::Settled, TicketEnd::Settled);
    }

    /// Every row is delivered or on the spill queue: later copies are duplicates.
    pub fn settle_spilled(self) {
        self.end(End::Settled, TicketEnd::Spilled);
    }

    /// Nobody knows whether the rows were written: later copies are refused as in flight until
    /// the window ends, rather than risk writing them twice.
    pub fn keep_in_flight(self) {
        self.end(End::Unknown, TicketEnd::Unknown);
    }

    fn end(mut self, end: End, told: TicketEnd) {
        self.settled = true;
        self.tell(told);
        self.dedup.finish(self.key, &mut self.delivered, end);
    }

    fn tell(&mut self, end: TicketEnd) {
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.send(end);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.tell(TicketEnd::Released(self.delivered.clone()));
            self.dedup
                .finish(self.key, &mut self.delivered, End::Released);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    async fn claim(dedup: &Arc<Dedup>, key: &str) -> Ticket {
        match dedup.claim(key, soon()).await {
            Claim::New(ticket) => ticket,
            _ => panic!("{key} should be new"),
        }
    }

    #[tokio::test]
    async fn a_settled_key_is_a_duplicate_and_a_released_one_is_not() {
        let dedup = Dedup::with_capacity(Duration::from_secs(60), 3);
        claim(&dedup, "a").await.settle();
        assert!(matches!(dedup.claim("a", soon()).await, Claim::Duplicate));
        drop(claim(&dedup, "b").await);
        assert!(matches!(dedup.claim("b", soon()).await, Claim::New(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_expire_after_the_window_or_beyond_the_capacity() {
        let dedup = Dedup::with_capacity(Duration::from_secs(60), 3);
        for key in ["a", "b", "c", "d"] {
            claim(&dedup, key).await.settle();
        }
        assert!(
            matches!(dedup.claim("a", soon()).await, Claim::New(_)),
            "over capacity, the oldest goes"
        );
        assert!(matches!(dedup.claim("d", soon()).await, Claim::Duplicate));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(dedup.claim("d", soon()).await, Claim::New(_)));
    }

    #[tokio::test]
    async fn a_copy_waits_for_the_attempt_in_flight_and_learns_its_outcome() {
        let dedup = Dedup::new(Duration::from_secs(60));
        let first = claim(&dedup, "k").await;
        let copy = tokio::spawn({
            let dedup = Arc::clone(&dedup);
            async move { matches!(dedup.claim("k", soon()).await, Claim::Duplicate) }
        });
        tokio::task::yield_now().await;
        first.settle();
        assert!(copy.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_still_waiting_at_its_deadline_is_busy() {
        let dedup = Dedup::new(Duration::from_secs(60));
        let _first = claim(&dedup, "k").await;
        let deadline = Instant::now() + Duration::from_secs(1);
        assert!(matches!(dedup.claim("k", deadline).await, Claim::Busy));
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_whose_outcome_is_unknown_is_busy_until_the_window_ends() {
        let dedup = Dedup::new(Duration::from_secs(60));
        claim(&dedup, "k").await.keep_in_flight();
        assert!(matches!(dedup.claim("k", soon()).await, Claim::Busy));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(dedup.claim("k", soon()).await, Claim::New(_)));
    }

    #[tokio::test]
    async fn a_watcher_learns_how_the_ticket_ended() {
        let dedup = Dedup::new(Duration::from_secs(60));
        let mut settled = claim(&dedup, "a").await;
        let ended = settled.watch();
        settled.settle();
        assert_eq!(ended.await.unwrap(), TicketEnd::Settled);
        let mut released = claim(&dedup, "b").await;
        let ended = released.watch();
        released.record([1]);
        drop(released);
        assert_eq!(ended.await.unwrap(), TicketEnd::Released(vec![1]));
        let mut spilled = claim(&dedup, "c").await;
        let ended = spilled.watch();
        spilled.settle_spilled();
        assert_eq!(ended.await.unwrap(), TicketEnd::Spilled);
        assert!(matches!(dedup.claim("c", soon()).await, Claim::Duplicate));
    }

    #[tokio::test]
    async fn a_key_settled_after_a_partial_delivery_outlives_the_older_entry() {
        let dedup = Dedup::with_capacity(Duration::from_secs(60), 2);
        let mut first = claim(&dedup, "k").await;
        first.record([0]);
        drop(first);
        claim(&dedup, "k").await.settle();
        claim(&dedup, "a").await.settle();
        // Over the cap, the partial entry of "k" went; its later settling stays.
        assert!(matches!(dedup.claim("k", soon()).await, Claim::Duplicate));
        claim(&dedup, "b").await.settle();
        assert!(
            matches!(dedup.claim("k", soon()).await, Claim::New(_)),
            "now its settling went too"
        );
    }

    #[tokio::test]
    async fn positions_in_the_expiry_queue_wrap_around() {
        let dedup = Dedup::with_capacity(Duration::from_secs(60), 3);
        dedup.lock().front = u32::MAX - 1;
        for key in ["a", "b", "c", "d", "e"] {
            claim(&dedup, key).await.settle();
        }
        for key in ["c", "d", "e"] {
            assert!(
                matches!(dedup.claim(key, soon()).await, Claim::Duplicate),
                "{key}"
            );
        }
        assert!(matches!(dedup.claim("b", soon()).await, Claim::New(_)));
    }

    #[tokio::test]
    async fn the_tables_never_grow_past_what_was_set_aside() {
        let dedup = Dedup::with_capacity(Duration::from_secs(60), 100);
        let set_aside = {
            let keys = dedup.lock();
            (keys.ended.capacity(), keys.settled.allocation_size())
        };
        for i in 0..1_000 {
            claim(&dedup, &i.to_string()).await.settle();
        }
        let keys = dedup.lock();
        assert_eq!((keys.ended.len(), keys.settled.len()), (100, 100));
        assert_eq!(
            (keys.ended.capacity(), keys.settled.allocation_size()),
            set_aside
        );
    }

    #[tokio::test]
    async fn a_retry_after_a_partial_delivery_learns_which_rows_were_written() {
        let dedup = Dedup::new(Duration::from_secs(60));
        let mut first = claim(&dedup, "k").await;
        first.record([0, 2]);
        drop(first);
        let retry = claim(&dedup, "k").await;
        assert_eq!(retry.delivered(), &[0, 2]);
    }
}
