//! Group commit: webhooks for the same table that arrive within a few milliseconds of each other
//! share one outbound request, and each is answered when that request is acknowledged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use super::{DeliveryError, Destination};
use crate::schema::{Row, Table, TableName};
use crate::settings::TableNames;

/// Most rows one group carries; the destination still splits its requests by size.
const MAX_GROUP_ROWS: usize = 2_000;
/// Groups of one table being delivered at once.
const MAX_IN_FLIGHT: usize = 4;
/// Webhooks waiting for a group before new ones wait for room.
const QUEUE_DEPTH: usize = 4_096;

/// One webhook's rows waiting for its group. A failure hands the rows back for the spill.
struct Pending {
    rows: Vec<Row>,
    deadline: Instant,
    reply: oneshot::Sender<Result<(), (DeliveryError, Vec<Row>)>>,
}

/// A committer task per table, in front of the destination.
#[derive(Debug)]
pub struct GroupCommit {
    queues: HashMap<Table, mpsc::Sender<Pending>>,
}

impl GroupCommit {
    /// Starts one committer per table on the current runtime; `window` is how long a group
    /// waits for company after its first webhook.
    pub fn start(destination: Arc<Destination>, tables: &TableNames, window: Duration) -> Self {
        let queues = Table::ALL
            .into_iter()
            .map(|table| {
                let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
                let name = tables.name(table).clone();
                tokio::spawn(commit(
                    table,
                    name,
                    Arc::clone(&destination),
                    receiver,
                    window,
                ));
                (table, sender)
            })
            .collect();
        GroupCommit { queues }
    }

    /// Delivers one webhook's rows with whatever else arrives for the table at the same time.
    /// On failure the rows come back with the error, so the caller can spill them.
    pub async fn deliver(
        &self,
        table: Table,
        rows: Vec<Row>,
        deadline: Instant,
    ) -> Result<(), (DeliveryError, Vec<Row>)> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            rows,
            deadline,
            reply,
        };
        if let Err(refused) = self.queues[&table].send(pending).await {
            return Err((DeliveryError::DeadlineExceeded, refused.0.rows));
        }
        answer
            .await
            .unwrap_or_else(|_| Err((DeliveryError::DeadlineExceeded, Vec::new())))
    }
}

/// Gathers a group, hands it to a delivery task, and starts the next.
async fn commit(
    table: Table,
    name: TableName,
    destination: Arc<Destination>,
    mut queue: mpsc::Receiver<Pending>,
    window: Duration,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let closes = Instant::now() + window;
        let mut group = Group::new(first);
        // Linger for company, at most `window`...
        while !group.is_full() {
            match tokio::time::timeout_at(closes, queue.recv()).await {
                Ok(Some(pending)) => group.push(pending),
                Ok(None) | Err(_) => break,
            }
        }
        // ...then keep gathering for as long as every delivery slot is busy.
        let permit = loop {
            tokio::select! {
                permit = Arc::clone(&in_flight).acquire_owned() => break permit.expect("never closed"),
                Some(pending) = queue.recv(), if !group.is_full() => group.push(pending),
            }
        };
        let (destination, name) = (Arc::clone(&destination), name.clone());
        tokio::spawn(async move {
            deliver_group(&destination, table, &name, group.pending).await;
            drop(permit);
        });
    }
}

/// The webhooks of one outbound request.
struct Group {
    pending: Vec<Pending>,
    rows: usize,
}

impl Group {
    fn new(first: Pending) -> Self {
        Group {
            rows: first.rows.len(),
            pending: vec![first],
        }
    }

    fn push(&mut self, pending: Pending) {
        self.rows += pending.rows.len();
        self.pending.push(pending);
    }

    fn is_full(&self) -> bool {
        self.rows >= MAX_GROUP_ROWS
    }
}

async fn deliver_group(
    destination: &Destination,
    table: Table,
    name: &TableName,
    group: Vec<Pending>,
) {
    let deadline = group
        .iter()
        .map(|p| p.deadline)
        .min()
        .expect("a group has one webhook");
    let mut all = Vec::with_capacity(group.iter().map(|p| p.rows.len()).sum());
    let mut replies = Vec::with_capacity(group.len());
    for pending in group {
        replies.push((pending.rows.len(), pending.reply));
        all.extend(pending.rows);
    }
    let result = destination.deliver(table, name, &all, deadline).await;
    let mut rows = all.into_iter();
    for (count, reply) in replies {
        let answer = match &result {
            Ok(()) => Ok(()),
            Err(error) => Err((error.clone(), rows.by_ref().take(count).collect())),
        };
        // A webhook whose sender went away no longer waits for its answer.
        let _ = reply.send(answer);
    }
}
