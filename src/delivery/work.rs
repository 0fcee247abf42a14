//! One webhook's rows on their way: which of them are still to deliver, and its dedup ticket.

use super::dedup::Ticket;
use crate::schema::Row;

/// The rows of one webhook that are still to be delivered.
pub struct Work {
    pub rows: Vec<Row>,
    /// Where each row sits in the webhook, once some were delivered and others not (else `0..n`).
    positions: Option<Vec<u32>>,
    /// How many rows were handed to the attempt in flight (the rows leave `rows` meanwhile).
    count: usize,
    bytes: usize,
    ticket: Option<Ticket>,
}

impl Work {
    /// A webhook's rows, less any an earlier, interrupted delivery of it already wrote.
    pub fn new(mut rows: Vec<Row>, ticket: Option<Ticket>) -> Self {
        let delivered = ticket.as_ref().map_or(&[][..], Ticket::delivered);
        let positions = (!delivered.is_empty()).then(|| {
            let kept: Vec<u32> = (0..rows.len() as u32)
                .filter(|p| !delivered.contains(p))
                .collect();
            let mut position = 0;
            rows.retain(|_| {
                position += 1;
                !delivered.contains(&(position - 1))
            });
            kept
        });
        Work {
            count: rows.len(),
            bytes: rows.iter().map(Row::approx_bytes).sum(),
            rows,
            positions,
            ticket,
        }
    }

    /// About how many bytes of JSON the rows take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many rows went into the attempt.
    pub fn sent_count(&self) -> usize {
        self.count
    }

    /// Takes back the rows of a failed attempt, in order, each with whether it failed: the
    /// failed ones are this webhook's rows again; the others are recorded as delivered.
    pub fn take_back(&mut self, rows: impl Iterator<Item = (Row, bool)>) {
        let mut kept_rows = Vec::new();
        let mut kept_positions = Vec::new();
        for (index, (row, failed)) in rows.enumerate() {
            let position = self.positions.as_ref().map_or(index as u32, |p| p[index]);
            if failed {
                kept_rows.push(row);
                kept_positions.push(position);
            } else if let Some(ticket) = &mut self.ticket {
                ticket.record([position]);
            }
        }
        self.bytes = self.bytes * kept_rows.len() / self.count.max(1);
        self.count = kept_rows.len();
        self.rows = kept_rows;
        self.positions = Some(kept_positions);
    }

    /// Records rows `range` of [`Work::rows`] as written (spilled in a confirmed message): a
    /// retry after a later failure leaves them out.
    pub fn record_written(&mut self, range: std::ops::Range<usize>) {
        if let Some(ticket) = &mut self.ticket {
            let positions = self.positions.as_ref();
            ticket.record(range.map(|i| positions.map_or(i as u32, |p| p[i])));
        }
    }

    /// Every row is delivered or spilled: copies of the webhook are duplicates from now on.
    pub fn settle(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.settle();
        }
    }

    /// Every row is delivered or on the spill queue: copies are duplicates from now on.
    pub fn settle_spilled(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.settle_spilled();
        }
    }

    /// Whether the rows were written is unknown: copies are refused as in flight for a while.
    pub fn keep_in_flight(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.keep_in_flight();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::dedup::{Claim, Dedup};
    use crate::schema::{Provenance, Table};
    use chrono::Utc;
    use std::time::Duration;
    use tokio::time::Instant;

    fn rows(count: usize) -> Vec<Row> {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        (0..count)
            .map(|i| {
                let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
                row.text("Summary", Some(&i.to_string()));
                row
            })
            .collect()
    }

    async fn ticket(dedup: &std::sync::Arc<Dedup>) -> Ticket {
        match dedup
            .claim("k", Instant::now() + Duration::from_secs(1))
            .await
        {
            Claim::New(ticket) => ticket,
            _ => panic!("new"),
        }
    }

    #[tokio::test]
    async fn a_retry_after_a_partial_failure_sends_only_the_rows_not_yet_written() {
        let dedup = Dedup::new(Duration::from_secs(60));
        let mut work = Work::new(rows(4), Some(ticket(&dedup).await));
        let sent = std::mem::take(&mut work.rows);
        work.take_back(sent.into_iter().zip([false, true, false, true]));
        assert_eq!(work.rows.len(), 2);
        drop(work); // the attempt failed for rows 1 and 3: the key is released
        let retry = Work::new(rows(4), Some(ticket(&dedup).await));
        let summaries: Vec<_> = retry
            .rows
            .iter()
            .map(|r| r.get("Summary").unwrap().clone())
            .collect();
        assert_eq!(summaries, ["1", "3"]);
    }
}
