//! The delivery layer: owns de-duplication, group commit, the destination, retries and the
//! spill, behind one call, [`Delivery::submit`], with one [`Outcome`].
//!
//! Exactly once on one instance: a webhook's key is claimed before its rows leave; an attempt
//! whose request may have reached the destination (its body started to leave) is never
//! abandoned and its outcome settles the key, while one that sent nothing by the deadline is;
//! rows are spilled only when no attempt for them can still commit, and a spill records the rows
//! of every message the queue confirmed. The windows left: an attempt that times out on our side
//! ([`Timeouts::attempt`]) and commits at the destination anyway, and a queue put whose outcome
//! is unknown, which keeps the key in flight (refused) for the de-duplication window.
//!
//! Across instances and restarts the key is also claimed in Table storage ([`claims`]) before
//! its rows leave and settled there before the 2xx; the window that stays open is an owner that
//! dies with an attempt at the destination, whose rows the instance taking over writes again
//! (counted in its WARN line).

pub mod claims;
mod concurrency;
pub mod dedup;
mod lane;
mod pacing;
pub mod spill;
mod work;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::time::Instant;

use claims::{Claims, ClaimsMode, Durable, Lease};
use dedup::{Claim, Dedup, Ticket, TicketEnd};
use lane::{Commit, Lane};
use work::Work;

use crate::azure::send_phase::SendPhase;
use crate::destinations::{DeliveryError, Destination};
use crate::schema::{Batch, Table, TableNames};
use crate::storage_queue::{QueueError, StorageQueue};
use crate::telemetry::chain;
use crate::timeouts::Timeouts;

/// How a submitted webhook fared.
#[derive(Debug)]
pub enum Outcome {
    /// Every row was accepted by the destination.
    Delivered,
    /// The destination failed; every row is on the spill queue, for the drain.
    Spilled,
    /// The same webhook was already delivered: nothing was written again.
    Duplicate,
    /// Not delivered; the sender should retry (after `Retry-After`, when the error says).
    Failed(DeliveryError),
}

/// Dedup, group commit, destination and spill, built once.
pub struct Delivery {
    destination: Arc<Destination>,
    /// One lane per table, in the order of [`Table::ALL`].
    lanes: Vec<Arc<Lane>>,
    dedup: Option<Arc<Dedup>>,
    /// Durable claims in the app's Table storage, across instances and restarts.
    claims: Option<Arc<Claims>>,
    /// When claims last fell back to memory with a WARN line.
    fallback_warned: Mutex<Option<Instant>>,
    spill: Option<Arc<StorageQueue>>,
    timeouts: Timeouts,
    /// Where spills run: a runtime that outlives the HTTP workers.
    runtime: Handle,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("destination", &self.destination.name())
            .field("spill", &self.spill)
            .field("dedup", &self.dedup.is_some())
            .field("claims", &self.claims.is_some())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Builds the layer; its attempts run on the current runtime, so call it inside the one that
    /// lives longest. `dedup_window` zero turns de-duplication off (durable claims too); `spill`
    /// `None` answers failures instead of queueing them; `claims` `None` de-duplicates in this
    /// instance's memory only.
    pub fn new(
        destination: Destination,
        tables: &TableNames,
        spill: Option<StorageQueue>,
        claims: Option<Claims>,
        dedup_window: Duration,
        timeouts: Timeouts,
    ) -> Self {
        let destination = Arc::new(destination);
        let lanes = Table::ALL
            .into_iter()
            .map(|table| {
                let name = tables.name(table).clone();
                Lane::new(table, name, Arc::clone(&destination))
            })
            .collect();
        Delivery {
            destination,
            lanes,
            dedup: (!dedup_window.is_zero()).then(|| Dedup::new(dedup_window)),
            claims: claims
                .filter(|c| c.mode() != ClaimsMode::Off && !dedup_window.is_zero())
                .map(Arc::new),
            fallback_warned: Mutex::new(None),
            spill: spill.map(Arc::new),
            timeouts,
            runtime: Handle::current(),
        }
    }

    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    pub fn spill_queue(&self) -> Option<&StorageQueue> {
        self.spill.as_deref()
    }

    /// Delivers a webhook's rows by `deadline`, or spills them, exactly once per key.
    pub async fn submit(&self, batch: Batch, deadline: Instant) -> Outcome {
        self.deliver(batch, deadline, self.spill.as_ref()).await
    }

    /// Delivers rows taken from the spill queue (`key` names the message): never spilled again.
    pub async fn redeliver(&self, batch: Batch, deadline: Instant) -> Outcome {
        self.deliver(batch, deadline, None).await
    }

    /// Waits until no attempt is queued or in flight, at most `within`; true if none is.
    pub async fn settled(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        for lane in &self.lanes {
            if !lane.settled(deadline).await {
                return false;
            }
        }
        true
    }

    fn lane(&self, table: Table) -> &Arc<Lane> {
        &self.lanes[table.index()]
    }

    async fn deliver(
        &self,
        batch: Batch,
        deadline: Instant,
        spill: Option<&Arc<StorageQueue>>,
    ) -> Outcome {
        let mut ticket = match &self.dedup {
            None => None,
            Some(dedup) => match dedup.claim(&batch.key, deadline).await {
                Claim::New(ticket) => Some(ticket),
                Claim::Duplicate => return Outcome::Duplicate,
                Claim::Busy => return Outcome::Failed(DeliveryError::InFlight),
            },
        };
        // The claim's outcome is recorded by its own task, which learns it from the ticket:
        // it is recorded even if this request goes away, or its attempt ends after the answer.
        let claimed = match (&self.claims, &mut ticket) {
            // Boxed: its state is kilobytes that every webhook's future would otherwise carry
            // while it waits, durable claims on or off.
            (Some(claims), Some(ticket)) => {
                Box::pin(self.claim(claims, ticket, batch.rows.len(), deadline)).await
            }
            _ => Ok(None),
        };
        let recorded = match claimed {
            Ok(Some((lease, ended))) => {
                let claims = Arc::clone(self.claims.as_ref().expect("claimed, so claims are on"));
                let (done, recorded) = oneshot::channel();
                self.runtime.spawn(async move {
                    finish_claim(claims, lease, ended).await;
                    let _ = done.send(());
                });
                Some(recorded)
            }
            Ok(None) => None,
            Err(outcome) => {
                if let (Outcome::Duplicate, Some(ticket)) = (&outcome, ticket) {
                    // Remembered here too: the next copy never touches Storage.
                    ticket.settle();
                }
                return outcome;
            }
        };
        let mut work = Work::new(batch.rows, ticket);
        let outcome = if work.rows.is_empty() {
            work.settle();
            Outcome::Delivered
        } else {
            match self.lane(batch.table).commit(work, deadline).await {
                Commit::Delivered => Outcome::Delivered,
                Commit::InFlight => Outcome::Failed(DeliveryError::InFlight),
                Commit::Returned(work, error) => match spill {
                    Some(queue) => Box::pin(self.spill(queue, batch.table, *work, error)).await,
                    // Dropping the work releases the key, remembering any rows already written.
                    None => Outcome::Failed(error),
                },
            }
        };
        if let (Outcome::Delivered | Outcome::Spilled, Some(recorded)) = (&outcome, recorded) {
            // Committed in Storage before the sender hears 2xx.
            let _ = recorded.await;
        }
        outcome
    }

    /// Claims the ticket's key durably. `Ok(None)`: no durable claim (Storage is unreachable
    /// and the mode allows falling back to this instance's memory); `Err`: the answer.
    async fn claim(
        &self,
        claims: &Claims,
        ticket: &mut Ticket,
        rows: usize,
        deadline: Instant,
    ) -> Result<Option<(Lease, oneshot::Receiver<TicketEnd>)>, Outcome> {
        let t = &self.timeouts;
        let lease = claims::lease_for(deadline, t.spill, t.attempt, t.connect);
        let digest = ticket.digest_hex();
        let claimed =
            tokio::time::timeout_at(deadline, claims.claim(&digest, deadline, lease)).await;
        let error = match claimed {
            Ok(Ok(Durable::Ours(lease))) => {
                if lease.unrecorded {
                    tracing::warn!(
                        claim = digest,
                        unknown_rows = rows.saturating_sub(lease.delivered.len()),
                        "Took over a claim whose holder stopped mid-delivery: rows it may have sent without recording the answer are written again."
                    );
                }
                ticket.record(lease.delivered.iter().copied());
                let ended = ticket.watch();
                return Ok(Some((lease, ended)));
            }
            Ok(Ok(Durable::Duplicate)) => return Err(Outcome::Duplicate),
            Ok(Ok(Durable::Busy)) => return Err(Outcome::Failed(DeliveryError::InFlight)),
            Ok(Err(error)) => ClaimError::Storage(error),
            Err(_) => ClaimError::Timeout,
        };
        if claims.mode() == ClaimsMode::Required {
            return Err(Outcome::Failed(DeliveryError::Claims(Arc::new(error))));
        }
        self.warn_fallback(&error);
        Ok(None)
    }

    /// A WARN line at most once a minute while claims fall back to this instance's memory.
    fn warn_fallback(&self, error: &ClaimError) {
        let mut last = self
            .fallback_warned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            error = chain(error),
            "Durable claims are unavailable; de-duplication falls back to this instance's memory (at least once across instances) until Storage answers again."
        );
    }

    /// Puts rows no attempt can still commit on the spill queue, within the spill budget; if
    /// that fails too, the webhook has failed. The puts run in their own task: rows in messages
    /// the queue confirmed are recorded on the ticket (a retry leaves them out), and a put whose
    /// outcome is unknown keeps the key in flight, so no row is queued and delivered again.
    async fn spill(
        &self,
        queue: &Arc<StorageQueue>,
        table: Table,
        work: Work,
        error: DeliveryError,
    ) -> Outcome {
        let rows = work.rows.len();
        let field_bytes = self.destination.field_bytes();
        let messages = match spill::encode(table, &work.rows, field_bytes) {
            Ok(messages) => messages,
            Err(spill_error) => return spill_failed(queue, &spill_error, error),
        };
        let count = messages.len();
        let current = Arc::new(Mutex::new(SendPhase::new()));
        let puts = put_all(Arc::clone(queue), messages, work, Arc::clone(&current));
        let mut puts = self.runtime.spawn(puts);
        match tokio::time::timeout(self.timeouts.spill, &mut puts).await {
            Ok(Ok(Ok(()))) => {
                tracing::warn!(
                    queue = queue.name(),
                    messages = count,
                    rows,
                    error = chain(&error),
                    fix = error.operator_hint().unwrap_or(""),
                    "Delivery failed; rows spilled to the queue for the drain function."
                );
                Outcome::Spilled
            }
            Ok(Ok(Err(spill_error))) => spill_failed(queue, &spill_error, error),
            Ok(Err(panicked)) => spill_failed(queue, &panicked, error),
            Err(_) => {
                let phase = Arc::clone(&current.lock().unwrap_or_else(|p| p.into_inner()));
                if phase.abandon() {
                    // The put under way sent nothing: stop; the rows of confirmed messages stay
                    // recorded on the released key.
                    puts.abort();
                    return spill_failed(queue, &SpillTimedOut, error);
                }
                tracing::error!(
                    queue = queue.name(),
                    "Spill timed out with a put under way; the webhook is answered 503 and its key stays in flight until the put ends."
                );
                Outcome::Failed(DeliveryError::InFlight)
            }
        }
    }
}

/// Records how a held claim ended once its ticket ends.
async fn finish_claim(claims: Arc<Claims>, lease: Lease, ended: oneshot::Receiver<TicketEnd>) {
    let end = match ended.await {
        Ok(TicketEnd::Settled) => claims::End::Committed,
        Ok(TicketEnd::Spilled) => claims::End::Spilled,
        Ok(TicketEnd::Released(rows)) => claims::End::Released(rows),
        Ok(TicketEnd::Unknown) | Err(_) => claims::End::Unknown,
    };
    if let Err(error) = claims.finish(lease, end).await {
        tracing::warn!(
            error = chain(&error),
            "A durable claim's outcome could not be recorded; its lease runs out and another instance may take it over."
        );
    }
}

/// Why a durable claim could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("the claims table could not be used")]
    Storage(#[source] crate::storage_table::TableError),
    #[error("the claims table did not answer before the delivery deadline")]
    Timeout,
}

/// The spill budget ended before a put's message left.
#[derive(Debug, thiserror::Error)]
#[error(
    "the spill queue took longer than the spill budget; the put under way was abandoned unsent"
)]
struct SpillTimedOut;

/// Puts the messages in order, recording the rows of each confirmed one, and settles the work:
/// all queued → settled; a put refused or never sent → released (keeping the rows queued so
/// far); a put whose outcome is unknown → kept in flight. Each put's phase is published in
/// `current`, so the caller can abandon one that has not left yet.
async fn put_all(
    queue: Arc<StorageQueue>,
    messages: Vec<spill::Message>,
    mut work: Work,
    current: Arc<Mutex<Arc<SendPhase>>>,
) -> Result<(), QueueError> {
    for message in messages {
        let phase = SendPhase::new();
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&phase);
        match queue.put_gated(&message.text, &phase).await {
            Ok(()) => work.record_written(message.rows),
            Err(error) => {
                if error.outcome_unknown() {
                    tracing::error!(
                        queue = queue.name(),
                        error = chain(&error),
                        "A spill put may or may not have reached the queue; copies of the webhook are refused as in flight for the de-duplication window."
                    );
                    work.keep_in_flight();
                }
                return Err(error);
            }
        }
    }
    work.settle_spilled();
    Ok(())
}

fn spill_failed(
    queue: &StorageQueue,
    spill_error: &dyn std::error::Error,
    error: DeliveryError,
) -> Outcome {
    tracing::error!(
        queue = queue.name(),
        error = chain(spill_error),
        "Spill failed; the webhook is answered 503."
    );
    Outcome::Failed(error)
}
