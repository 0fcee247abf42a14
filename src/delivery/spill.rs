//! The spill: rows the destination would not take in time are put on a Storage queue as
//! gzip-compressed, base64-encoded messages of at most 64 KB, and delivered later by `drain`.

use std::io::Read;

use base64::{engine::general_purpose::STANDARD, Engine};
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use std::time::Duration;

use crate::schema::{Row, Table};
use crate::storage_queue::{QueueError, StorageQueue};
use crate::timeouts::Timeouts;

/// The queue `drain/function.json` listens on, unless `SPILL_QUEUE` says otherwise.
pub const DEFAULT_QUEUE: &str = "webhook-spill";
/// A queue message holds at most 64 KiB of text; keep a margin.
const MAX_MESSAGE_TEXT: usize = 64_000;
/// The smallest value a row is cut to before it is refused as unspillable.
const MIN_FIELD_BYTES: usize = 256;

/// What a message carries: one table's rows.
#[derive(Serialize, Deserialize)]
struct Spilled {
    /// Format version.
    v: u32,
    /// The table's default name: stable even if the table is renamed before the drain runs.
    table: String,
    rows: Vec<Map<String, Value>>,
}

/// Why rows could not be spilled, or a message could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("the spill queue refused the rows")]
    Queue(#[from] QueueError),
    #[error("a row does not fit in a queue message even with every value cut short")]
    RowTooLarge,
    #[error("the queue message is not a spilled batch: {0}")]
    Malformed(String),
}

/// One queue message's text and which of the encoded rows it holds.
pub struct Message {
    pub text: String,
    pub rows: std::ops::Range<usize>,
}

/// What the Functions host appends to a queue's name for the queue it moves a message to after
/// `maxDequeueCount` failed tries (messages there expire after 7 days).
pub const POISON_SUFFIX: &str = "-poison";
/// What `drain` appends for its holding queue: where a message's last failed try puts it,
/// never to expire, until `handler replay-held` moves it back.
pub const HELD_SUFFIX: &str = "-held";

/// Moves every message of `from` (the holding or the poison queue) back to the spill queue, one
/// at a time, each hidden long enough for its put and delete. Returns the number moved.
pub async fn replay(
    spill: &StorageQueue,
    from: &StorageQueue,
    timeouts: &Timeouts,
) -> Result<usize, QueueError> {
    let visibility = replay_visibility(timeouts);
    let mut moved = 0;
    while let Some(message) = from.receive(1, visibility).await?.pop() {
        spill.put(&message.text).await?;
        from.delete(&message).await?;
        moved += 1;
    }
    Ok(moved)
}

/// How long a message being replayed stays hidden: its put and its delete, each at most a
/// connect and an attempt, with room to spare, so it never shows up in both queues.
fn replay_visibility(timeouts: &Timeouts) -> Duration {
    (timeouts.connect + timeouts.attempt) * 2 + Duration::from_secs(10)
}

/// Encodes rows into messages under the size limit, splitting the rows as needed; each
/// message holds a run of consecutive rows.
pub fn encode(table: Table, rows: &[Row]) -> Result<Vec<Message>, SpillError> {
    let mut messages = Vec::new();
    let mut pending = Vec::new();
    pending.push(0..rows.len());
    while let Some(range) = pending.pop() {
        let text = message_text(table, &rows[range.clone()]);
        if text.len() <= MAX_MESSAGE_TEXT {
            messages.push(Message { text, rows: range });
        } else if range.len() > 1 {
            let middle = range.start + range.len() / 2;
            pending.extend([middle..range.end, range.start..middle]);
        } else {
            let text = shrink(table, rows[range.start].clone())?;
            messages.push(Message { text, rows: range });
        }
    }
    Ok(messages)
}

/// Cuts a lone row's values (with the visible marker) until its message fits.
fn shrink(table: Table, mut row: Row) -> Result<String, SpillError> {
    let mut limit = 32_000;
    while limit >= MIN_FIELD_BYTES {
        row.truncate_fields(limit);
        let text = message_text(table, std::slice::from_ref(&row));
        if text.len() <= MAX_MESSAGE_TEXT {
            return Ok(text);
        }
        limit /= 2;
    }
    Err(SpillError::RowTooLarge)
}

fn message_text(table: Table, rows: &[Row]) -> String {
    let spilled = Spilled {
        v: 1,
        table: table.default_name().to_owned(),
        rows: rows.iter().map(Row::to_map).collect(),
    };
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    serde_json::to_writer(&mut gzip, &spilled).expect("rows serialise");
    STANDARD.encode(gzip.finish().expect("writing to memory cannot fail"))
}

/// Reads a message back into its table and rows.
pub fn decode(text: &str) -> Result<(Table, Vec<Row>), SpillError> {
    let malformed = |what: &str| SpillError::Malformed(what.to_owned());
    let gzip = STANDARD
        .decode(text.trim())
        .map_err(|_| malformed("not base64"))?;
    let mut json = Vec::new();
    GzDecoder::new(gzip.as_slice())
        .read_to_end(&mut json)
        .map_err(|_| malformed("not gzip"))?;
    let spilled: Spilled = serde_json::from_slice(&json).map_err(|e| malformed(&e.to_string()))?;
    let table = Table::ALL
        .into_iter()
        .find(|t| t.default_name() == spilled.table)
        .ok_or_else(|| malformed(&format!("unknown table {}", spilled.table)))?;
    let rows = spilled
        .rows
        .into_iter()
        .map(|values| Row::from_values(table, values))
        .collect();
    Ok((table, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Provenance;
    use chrono::Utc;

    fn row(summary: &str) -> Row {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Summary", Some(summary));
        row
    }

    #[test]
    fn a_replayed_message_stays_hidden_longer_than_its_put_and_delete_can_take() {
        let timeouts = Timeouts::default();
        let slowest = (timeouts.connect + timeouts.attempt) * 2;
        assert!(replay_visibility(&timeouts) > slowest);
    }

    #[test]
    fn rows_round_trip_through_a_message() {
        let rows = vec![row("a"), row("b")];
        let messages = encode(Table::AuditWolf, &rows).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].rows, 0..2);
        let (table, decoded) = decode(&messages[0].text).unwrap();
        assert_eq!(table, Table::AuditWolf);
        assert_eq!(decoded, rows);
    }

    #[test]
    fn many_rows_are_split_into_messages_under_64_kb() {
        // Incompressible text, so the size limit really bites.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = || {
            (0..3000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'a' + (state % 26) as u8)
                })
                .collect::<String>()
        };
        let rows: Vec<Row> = (0..100).map(|_| row(&noise())).collect();
        let messages = encode(Table::AuditWolf, &rows).unwrap();
        assert!(messages.len() > 1);
        assert!(messages.iter().all(|m| m.text.len() <= MAX_MESSAGE_TEXT));
        for message in &messages {
            assert_eq!(decode(&message.text).unwrap().1, rows[message.rows.clone()]);
        }
        let covered: usize = messages.iter().map(|m| m.rows.len()).sum();
        assert_eq!(covered, 100);
    }

    #[test]
    fn a_message_that_is_not_a_spilled_batch_is_malformed() {
        assert!(matches!(
            decode("not base64!"),
            Err(SpillError::Malformed(_))
        ));
        assert!(matches!(
            decode(&STANDARD.encode("plain")),
            Err(SpillError::Malformed(_))
        ));
    }
}
