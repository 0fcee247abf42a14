//! One attempt: a group's request in a delivery slot, abandoned with nothing sent if the
//! earliest deadline comes before its request leaves, and its outcome answering every webhook.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Commit, Lane, Pending, State};
use crate::azure::send_phase::SendPhase;
use crate::delivery::pacing::FIRST_BACKOFF;
use crate::destinations::{DeliveryError, Unsent};
use crate::schema::Row;

impl Lane {
    /// Starts an attempt in the slot dispatch counted for it; the attempt takes its group when
    /// the delivery runtime gets to it.
    pub(super) fn start(self: &Arc<Self>) {
        let lane = Arc::clone(self);
        // The slot is made inside the task: a task dropped unpolled (the runtime is going away)
        // must not take the lane's lock, which this thread holds.
        self.runtime.spawn(async move {
            let mut slot = Slot { lane, held: true };
            if let Some((group, phase, saturated)) = slot.take_group() {
                slot.attempt(group, phase, saturated).await;
            }
        });
    }

    /// One request for a group, in a delivery slot; its outcome answers every webhook in it.
    /// Abandoned, with nothing sent, if the earliest deadline in the group comes first.
    async fn attempt(
        self: &Arc<Self>,
        slot: &mut Slot,
        mut group: Vec<Pending>,
        phase: Arc<SendPhase>,
        saturated: bool,
    ) {
        let rows: Vec<Row> = group
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.work.rows))
            .collect();
        let started = Instant::now();
        let deadline = group.iter().map(|p| p.deadline).min().unwrap_or(started);
        let result = {
            let send = self.destination.send(self.table, &self.name, &rows, &phase);
            tokio::pin!(send);
            tokio::select! {
                result = &mut send => result,
                () = tokio::time::sleep_until(deadline) => {
                    if phase.abandon() {
                        Err(Unsent::all(&rows)(DeliveryError::DeadlineExceeded))
                    } else {
                        send.await
                    }
                }
            }
        };
        let now = Instant::now();
        let mut answers = Vec::with_capacity(group.len());
        let mut state = self.lock();
        slot.free(&mut state);
        for pending in &group {
            state.sending.remove(&pending.id);
        }
        match result {
            Ok(()) => {
                state.concurrency.succeeded(now - started, saturated, now);
                state.pacing.succeeded();
                for mut pending in group {
                    pending.work.settle();
                    answers.push((pending.reply, Commit::Delivered));
                }
            }
            Err(unsent) => {
                let error = unsent.error.clone();
                return_rows(&mut group, rows, unsent);
                let resume = self.pause_after(&mut state, &error, now);
                for mut pending in group {
                    // Its rows all landed; only other webhooks' rows failed.
                    if pending.work.rows.is_empty() {
                        pending.work.settle();
                        answers.push((pending.reply, Commit::Delivered));
                        continue;
                    }
                    let time_left = pending.deadline.saturating_duration_since(resume);
                    let worth_retrying = resume_worthwhile(&error, &state, time_left);
                    if worth_retrying && !pending.reply.is_closed() {
                        state.parked.push((resume, pending));
                    } else {
                        let returned = Commit::Returned(Box::new(pending.work), error.clone());
                        answers.push((pending.reply, returned));
                    }
                }
            }
        }
        self.dispatch(&mut state);
        drop(state);
        for (reply, answer) in answers {
            // A webhook whose waiter is gone drops its work here, which releases its key.
            let _ = reply.send(answer);
        }
    }

    /// After a failure: the table's concurrency shrinks and [`Pacing`] says when the group may
    /// be tried again.
    fn pause_after(&self, state: &mut State, error: &DeliveryError, now: Instant) -> Instant {
        if error.is_retryable() {
            state.concurrency.backed_off(now);
        }
        let resume = state.pacing.failed(error, now);
        let wait_ms = resume.saturating_duration_since(now).as_millis() as u64;
        tracing::debug!(table = %self.name, error = %error, wait_ms, "Pausing the table's deliveries.");
        resume
    }
}

/// A delivery slot held by one attempt. Dropping it unfreed (the attempt panicked) gives the
/// slot back and wakes the lane, so a panic never wedges the table.
struct Slot {
    lane: Arc<Lane>,
    held: bool,
}

impl Slot {
    async fn attempt(mut self, group: Vec<Pending>, phase: Arc<SendPhase>, saturated: bool) {
        let lane = Arc::clone(&self.lane);
        lane.attempt(&mut self, group, phase, saturated).await;
    }

    /// The group this slot was held for, and whether every slot was busy as it left; `None`,
    /// with the slot given back, when nothing may leave now.
    fn take_group(&mut self) -> Option<(Vec<Pending>, Arc<SendPhase>, bool)> {
        let lane = Arc::clone(&self.lane);
        let mut state = lane.lock();
        let taken = lane.take_group(&mut state);
        let saturated = state.in_flight >= state.concurrency.limit();
        if taken.is_none() {
            self.free(&mut state);
        }
        lane.dispatch(&mut state);
        taken.map(|(group, phase)| (group, phase, saturated))
    }

    fn free(&mut self, state: &mut State) {
        if std::mem::take(&mut self.held) {
            state.in_flight -= 1;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            let lane = Arc::clone(&self.lane);
            let mut state = lane.lock();
            self.free(&mut state);
            lane.dispatch(&mut state);
        }
    }
}

/// A retry is worth queueing when the failure may pass and an attempt fits before the deadline.
fn resume_worthwhile(error: &DeliveryError, state: &State, time_left: Duration) -> bool {
    let rtt = state.concurrency.rtt().unwrap_or(FIRST_BACKOFF);
    error.is_retryable() && time_left > rtt * 2
}

/// Gives each webhook of a failed group back the rows the destination did not accept, and
/// records on its ticket the ones it did.
fn return_rows(group: &mut [Pending], rows: Vec<Row>, unsent: Unsent) {
    let mut failed = vec![false; rows.len()];
    for index in unsent.rows {
        failed[index] = true;
    }
    let mut rows = rows.into_iter().zip(failed);
    for pending in group {
        let count = pending.work.sent_count();
        pending.work.take_back(rows.by_ref().take(count));
    }
}
