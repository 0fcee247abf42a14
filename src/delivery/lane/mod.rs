//! Adaptive group commit for one table. A webhook goes out at once when a delivery slot is free;
//! webhooks that arrive while every slot is busy, or while the destination is paused after a
//! failure or a 429, wait together and leave as one request when a slot frees up. A slot's group
//! is taken when the delivery runtime runs its attempt, so webhooks that arrive while that
//! runtime is busy join it (no timer: an idle runtime takes the group at once). An attempt,
//! once sent, is never abandoned: its outcome settles each webhook's key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

mod attempt;

use super::concurrency::Concurrency;
use super::pacing::Pacing;
use super::work::Work;
use crate::azure::send_phase::SendPhase;
use crate::destinations::{DeliveryError, Destination};
use crate::schema::{Table, TableName};

/// Most rows one group carries; the destination still splits its requests by size.
const MAX_GROUP_ROWS: usize = 2_000;

/// How one webhook's rows fared.
pub enum Commit {
    /// The destination accepted every row, and the key is settled.
    Delivered,
    /// No attempt for these rows can still commit: they are the caller's again, to spill or fail.
    Returned(Box<Work>, DeliveryError),
    /// The deadline came while an attempt was in flight; its outcome settles the key.
    InFlight,
}

/// The table's queue and slots.
pub struct Lane {
    table: Table,
    name: TableName,
    destination: Arc<Destination>,
    group_bytes: usize,
    /// Where attempts run: a runtime that outlives the HTTP workers.
    runtime: Handle,
    state: Mutex<State>,
    /// Woken whenever the lane becomes idle.
    idle: Notify,
}

struct State {
    queue: VecDeque<Pending>,
    /// Webhooks of failed groups, each waiting out its backoff before it rejoins the queue.
    parked: Vec<(Instant, Pending)>,
    in_flight: usize,
    /// A slot is held for a group that its attempt has not taken yet: the attempt takes every
    /// webhook queued by the time the delivery runtime runs it, so while that runtime is busy,
    /// arrivals join the group instead of waiting for the next one.
    gathering: bool,
    concurrency: Concurrency,
    pacing: Pacing,
    /// When the next wake-up is due, if one is scheduled.
    wake_at: Option<Instant>,
    /// The phase of the attempt each webhook in flight is in, by webhook id: a webhook whose
    /// deadline comes before its attempt's request left abandons the attempt.
    sending: HashMap<u64, Arc<SendPhase>>,
    next_id: u64,
}

struct Pending {
    id: u64,
    work: Work,
    deadline: Instant,
    reply: oneshot::Sender<Commit>,
}

impl Lane {
    /// A lane whose attempts run on the current runtime.
    pub fn new(table: Table, name: TableName, destination: Arc<Destination>) -> Arc<Self> {
        Arc::new(Lane {
            table,
            name,
            group_bytes: destination.group_bytes(),
            destination,
            runtime: Handle::current(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                parked: Vec::new(),
                in_flight: 0,
                gathering: false,
                concurrency: Concurrency::default(),
                pacing: Pacing::default(),
                wake_at: None,
                sending: HashMap::new(),
                next_id: 0,
            }),
            idle: Notify::new(),
        })
    }

    /// Delivers one webhook's rows, alone or with others, and waits for the outcome until
    /// `deadline` (time spent waiting for a slot included).
    pub async fn commit(self: &Arc<Self>, work: Work, deadline: Instant) -> Commit {
        let (reply, mut answer) = oneshot::channel();
        let id = {
            let mut state = self.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.queue.push_back(Pending {
                id,
                work,
                deadline,
                reply,
            });
            self.dispatch(&mut state);
            id
        };
        if let Ok(outcome) = tokio::time::timeout_at(deadline, &mut answer).await {
            // A lost reply means the runtime is going away: nothing is known.
            return outcome.unwrap_or(Commit::InFlight);
        }
        let phase = {
            let mut state = self.lock();
            if let Some(pending) = state.withdraw(id) {
                return Commit::Returned(Box::new(pending.work), DeliveryError::DeadlineExceeded);
            }
            state.sending.get(&id).cloned()
        };
        match phase {
            // In an attempt whose request has not left: it is abandoned and answers at once.
            Some(phase) if phase.abandon() => answer.await.unwrap_or(Commit::InFlight),
            // Answered as the deadline struck, or in an attempt that may commit.
            _ => answer.try_recv().unwrap_or(Commit::InFlight),
        }
    }

    /// True when nothing is queued, parked or in flight.
    fn is_idle(&self) -> bool {
        self.lock().is_idle()
    }

    /// Waits until the lane is idle, or `deadline`.
    pub async fn settled(&self, deadline: Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.is_idle();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts groups while slots are free and the destination is not paused, and arranges to
    /// come back when a pause or a backoff ends.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        let now = Instant::now();
        state.unpark(now);
        let paused = state.pacing.paused(now);
        let mut spaced_until = None;
        if paused.is_none()
            && !state.gathering
            && !state.queue.is_empty()
            && state.in_flight < state.concurrency.limit()
        {
            match state.next_start().filter(|next| *next > now) {
                Some(next) => spaced_until = Some(next),
                None => {
                    state.in_flight += 1;
                    state.gathering = true;
                    self.start();
                }
            }
        }
        let parked = state.parked.iter().map(|(at, _)| *at);
        let next = parked.chain(paused).chain(spaced_until).min();
        if let Some(at) = next.filter(|at| state.wake_at.is_none_or(|due| *at < due)) {
            state.wake_at = Some(at);
            self.runtime.spawn(Arc::clone(self).wake(at));
        }
        if state.is_idle() {
            self.idle.notify_waiters();
        }
    }

    async fn wake(self: Arc<Self>, at: Instant) {
        tokio::time::sleep_until(at).await;
        let mut state = self.lock();
        if state.wake_at == Some(at) {
            state.wake_at = None;
        }
        self.dispatch(&mut state);
    }

    /// Takes the group for the slot held while it gathered: `None` when nothing may leave now
    /// (every webhook it was held for has gone, or the destination paused the table meanwhile).
    fn take_group(&self, state: &mut State) -> Option<(Vec<Pending>, Arc<SendPhase>)> {
        state.gathering = false;
        let now = Instant::now();
        if state.pacing.paused(now).is_some() {
            return None;
        }
        let group = self.oldest(&mut state.queue);
        if group.is_empty() {
            return None;
        }
        state.pacing.started(now, group.len() > 1);
        let phase = SendPhase::new();
        for pending in &group {
            state.sending.insert(pending.id, Arc::clone(&phase));
        }
        Some((group, phase))
    }

    /// The oldest waiting webhooks, up to the group's row and byte bounds (at least one).
    fn oldest(&self, queue: &mut VecDeque<Pending>) -> Vec<Pending> {
        let (mut rows, mut bytes) = (0, 0);
        let mut group = Vec::new();
        while let Some(next) = queue.front() {
            let full = rows + next.work.rows.len() > MAX_GROUP_ROWS
                || bytes + next.work.bytes() > self.group_bytes;
            if !group.is_empty() && full {
                break;
            }
            let pending = queue.pop_front().expect("front exists");
            // A webhook whose request went away is not sent: its sender saw no 2xx.
            if pending.reply.is_closed() {
                continue;
            }
            rows += pending.work.rows.len();
            bytes += pending.work.bytes();
            group.push(pending);
        }
        group
    }
}

impl State {
    /// The earliest the next request may start, if it must wait.
    fn next_start(&self) -> Option<Instant> {
        let (in_flight, slots) = (self.in_flight, self.concurrency.limit());
        self.pacing
            .next_start(in_flight, slots, self.concurrency.rtt())
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.queue.is_empty() && self.parked.is_empty()
    }

    /// Takes a webhook that is still waiting (queued or parked) out of the lane.
    fn withdraw(&mut self, id: u64) -> Option<Pending> {
        if let Some(index) = self.queue.iter().position(|p| p.id == id) {
            return self.queue.remove(index);
        }
        let index = self.parked.iter().position(|(_, p)| p.id == id)?;
        Some(self.parked.swap_remove(index).1)
    }

    /// Moves parked webhooks whose backoff is over to the front of the queue, oldest first.
    fn unpark(&mut self, now: Instant) {
        if self.parked.iter().all(|(at, _)| *at > now) {
            return;
        }
        let (mut due, parked): (Vec<_>, Vec<_>) =
            self.parked.drain(..).partition(|(at, _)| *at <= now);
        self.parked = parked;
        due.sort_by_key(|(_, p)| std::cmp::Reverse(p.id));
        for (_, pending) in due {
            self.queue.push_front(pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::data_collector::{DataCollectorConfig, SharedKey, WorkspaceId};
    use crate::destinations::DataCollector;
    use crate::schema::{Provenance, Row};
    use crate::timeouts::Timeouts;
    use chrono::Utc;
    use std::time::Duration;

    /// A lane whose destination accepts connections and never answers: every attempt stays in
    /// flight, so the test sees exactly what waits and what was sent.
    fn silent_lane() -> (Arc<Lane>, std::net::TcpListener) {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = DataCollectorConfig {
            workspace_id: WorkspaceId::parse("11111111-2222-3333-4444-555555555555").unwrap(),
            shared_key: SharedKey::parse("dGVzdA==").unwrap(),
            endpoint: format!("http://{}", silent.local_addr().unwrap())
                .parse()
                .unwrap(),
        };
        let destination =
            Destination::DataCollector(DataCollector::new(config, &Timeouts::default()));
        let name = TableName::parse("AuditWolf").unwrap();
        (
            Lane::new(Table::AuditWolf, name, Arc::new(destination)),
            silent,
        )
    }

    fn work() -> Work {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        Work::new(
            vec![Row::new(Table::AuditWolf, &provenance, Utc::now())],
            None,
        )
    }

    fn counts(lane: &Lane) -> (usize, usize) {
        let state = lane.lock();
        (state.in_flight, state.queue.len())
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_table_sends_at_once_and_a_busy_one_makes_the_next_group_wait() {
        let (lane, _silent) = silent_lane();
        let deadline = Instant::now() + Duration::from_secs(1);
        let first = tokio::spawn({
            let lane = Arc::clone(&lane);
            async move { lane.commit(work(), deadline).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(counts(&lane), (1, 0), "sent on arrival, no linger");
        assert_eq!(
            lane.lock().next_start(),
            None,
            "a lone webhook does not make the next one wait"
        );
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let lane = Arc::clone(&lane);
                tokio::spawn(async move { lane.commit(work(), deadline).await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(
            counts(&lane),
            (1, 3),
            "the next group gathers behind the busy slot"
        );
        drop((first, waiting));
    }

    #[tokio::test(start_paused = true)]
    async fn webhooks_that_arrive_before_the_delivery_runtime_takes_the_group_join_it() {
        let (lane, _silent) = silent_lane();
        let deadline = Instant::now() + Duration::from_secs(1);
        // The three commits run before the attempt the first one started, as they would on the
        // HTTP workers while the delivery runtime is busy.
        let commits: Vec<_> = (0..3)
            .map(|_| {
                let lane = Arc::clone(&lane);
                tokio::spawn(async move { lane.commit(work(), deadline).await })
            })
            .collect();
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(counts(&lane), (1, 0), "one request carries all three");
        assert_eq!(lane.lock().sending.len(), 3);
        drop(commits);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_still_gathering_when_the_table_is_paused_waits_out_the_pause() {
        let (lane, _silent) = silent_lane();
        let deadline = Instant::now() + Duration::from_secs(5);
        // Polled once, the commit holds a slot for its group; a 429 with `Retry-After: 1` pauses
        // the table before the delivery runtime takes the group.
        let commit = lane.commit(work(), deadline);
        tokio::pin!(commit);
        tokio::select! {
            biased;
            _ = &mut commit => unreachable!("the destination never answers"),
            () = std::future::ready(()) => {}
        }
        assert!(lane.lock().gathering);
        let throttled = DeliveryError::Rejected {
            status: 429,
            body: String::new(),
            retry_after: Some(1),
            hint: None,
        };
        lane.lock().pacing.failed(&throttled, Instant::now());
        tokio::task::yield_now().await;
        assert_eq!(
            counts(&lane),
            (0, 1),
            "the slot is given back, the webhook waits"
        );
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert_eq!(counts(&lane), (1, 0), "sent once the pause is over");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_covers_waiting_for_a_slot_and_an_attempt_in_flight_is_not_abandoned() {
        let (lane, _silent) = silent_lane();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(1);
        let (sent, waited) = tokio::join!(lane.commit(work(), deadline), async {
            tokio::task::yield_now().await;
            lane.commit(work(), deadline).await
        });
        assert_eq!(Instant::now(), deadline, "both answered at the deadline");
        assert!(matches!(sent, Commit::InFlight));
        assert!(
            matches!(waited, Commit::Returned(ref w, DeliveryError::DeadlineExceeded) if w.rows.len() == 1),
            "never sent, so its rows are the caller's again"
        );
        assert_eq!(counts(&lane), (1, 0), "the attempt is still in flight");
    }
}
