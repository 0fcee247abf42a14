//! The spill: rows the destination would not take in time are put on a Storage queue as
//! gzip-compressed, base64-encoded messages of at most 64 KB, and delivered later by `drain`.

use std::io::Read;

use base64::{engine::general_purpose::STANDARD, Engine};
use flate2::{read::GzDecoder, Compression};
use serde::Deserialize;
use serde_json::{Map, Value};

use std::time::Duration;

use crate::gzip;
use crate::schema::{Row, Table};
use crate::storage_queue::{QueueError, StorageQueue};
use crate::telemetry::excerpt;
use crate::timeouts::Timeouts;

/// The queue `drain/function.json` listens on, unless `SPILL_QUEUE` says otherwise.
pub const DEFAULT_QUEUE: &str = "webhook-spill";
/// A queue message holds at most 64 KiB of text; keep a margin.
pub const MAX_MESSAGE_TEXT: usize = 64_000;
/// The most JSON one message inflates to. A drained message is inflated whole and parsed into
/// values, and deflate alone would let 48 KB of gzip stand for about 50 MB: a message written
/// elsewhere, or damaged, that inflates further is refused unread, and rows that compress
/// better than that are split across messages.
pub const MAX_MESSAGE_JSON: usize = 4 * 1024 * 1024;
/// The smallest value a row is cut to before it is refused as unspillable.
const MIN_FIELD_BYTES: usize = 256;
/// The format this build writes and the only one it reads: a message of another version (from
/// a newer build, after a rollback) is refused, so it waits for a build that understands it.
const VERSION: u32 = 1;

/// What a message carries: one table's rows.
#[derive(Deserialize)]
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
/// message holds a run of consecutive rows. A lone row too large for a message has its values
/// cut, first to `field_bytes` (what direct delivery keeps), then shorter only if it must.
pub fn encode(table: Table, rows: &[Row], field_bytes: usize) -> Result<Vec<Message>, SpillError> {
    // Each row is written as JSON once; a split only regroups and compresses again.
    let json: Vec<Vec<u8>> = rows.iter().map(|row| row.to_json(None)).collect();
    let mut messages = Vec::new();
    let mut pending = Vec::new();
    pending.push(0..rows.len());
    while let Some(range) = pending.pop() {
        let text = message_text(table, &json[range.clone()]);
        if let Some(text) = text.filter(|text| text.len() <= MAX_MESSAGE_TEXT) {
            messages.push(Message { text, rows: range });
        } else if range.len() > 1 {
            let middle = range.start + range.len() / 2;
            pending.extend([middle..range.end, range.start..middle]);
        } else {
            let text = shrink(table, rows[range.start].clone(), field_bytes)?;
            messages.push(Message { text, rows: range });
        }
    }
    Ok(messages)
}

/// Cuts a lone row's values (with the visible marker) until its message fits.
fn shrink(table: Table, mut row: Row, field_bytes: usize) -> Result<String, SpillError> {
    let mut limit = field_bytes;
    while limit >= MIN_FIELD_BYTES {
        row.truncate_fields(limit);
        let text = message_text(table, &[row.to_json(None)]);
        if let Some(text) = text.filter(|text| text.len() <= MAX_MESSAGE_TEXT) {
            return Ok(text);
        }
        limit /= 2;
    }
    Err(SpillError::RowTooLarge)
}

/// A `Spilled` message of rows already written as JSON, compressed and base64-encoded; `None`
/// when its JSON is over [`MAX_MESSAGE_JSON`].
fn message_text(table: Table, rows: &[Vec<u8>]) -> Option<String> {
    let mut json = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 64);
    json.extend_from_slice(format!("{{\"v\":{VERSION},\"table\":").as_bytes());
    serde_json::to_writer(&mut json, table.default_name()).expect("a name serialises");
    json.extend_from_slice(b",\"rows\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(row);
    }
    json.extend_from_slice(b"]}");
    (json.len() <= MAX_MESSAGE_JSON)
        .then(|| STANDARD.encode(gzip::compress(&json, Compression::default())))
}

/// Reads a message back into its table and rows.
pub fn decode(text: &str) -> Result<(Table, Vec<Row>), SpillError> {
    let malformed = |what: &str| SpillError::Malformed(what.to_owned());
    let gzip = STANDARD
        .decode(text.trim())
        .map_err(|_| malformed("not base64"))?;
    let mut json = Vec::new();
    GzDecoder::new(gzip.as_slice())
        .take(MAX_MESSAGE_JSON as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|_| malformed("not gzip"))?;
    if json.len() > MAX_MESSAGE_JSON {
        return Err(malformed(&format!(
            "it inflates past {MAX_MESSAGE_JSON} bytes, the most a spilled batch holds"
        )));
    }
    let spilled: Spilled = serde_json::from_slice(&json).map_err(|e| malformed(&e.to_string()))?;
    if spilled.v != VERSION {
        return Err(malformed(&format!(
            "format version {} is not version {VERSION}, the one this build reads",
            spilled.v
        )));
    }
    let table = Table::ALL
        .into_iter()
        .find(|t| t.default_name() == spilled.table)
        .ok_or_else(|| malformed(&format!("unknown table {}", excerpt(&spilled.table, 64))))?;
    let mut rows = Vec::with_capacity(spilled.rows.len());
    for values in spilled.rows {
        if let Some(name) = values.keys().find(|name| table.position(name).is_none()) {
            let name = excerpt(name, 64);
            return Err(malformed(&format!(
                "column {name} is not declared in table {}",
                spilled.table
            )));
        }
        rows.push(Row::from_values(table, values));
    }
    Ok((table, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Provenance;
    use chrono::Utc;

    const FIELD_BYTES: usize = 64_000;

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
        let messages = encode(Table::AuditWolf, &rows, FIELD_BYTES).unwrap();
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
        let messages = encode(Table::AuditWolf, &rows, FIELD_BYTES).unwrap();
        assert!(messages.len() > 1);
        assert!(messages.iter().all(|m| m.text.len() <= MAX_MESSAGE_TEXT));
        for message in &messages {
            assert_eq!(decode(&message.text).unwrap().1, rows[message.rows.clone()]);
        }
        let covered: usize = messages.iter().map(|m| m.rows.len()).sum();
        assert_eq!(covered, 100);
    }

    fn gzip_base64(json: &serde_json::Value) -> String {
        let text = serde_json::to_vec(json).unwrap();
        STANDARD.encode(gzip::compress(&text, Compression::default()))
    }

    #[test]
    fn a_message_of_another_version_or_with_undeclared_columns_is_refused() {
        let from_newer =
            gzip_base64(&serde_json::json!({"v": 2, "table": "AuditWolf", "rows": []}));
        let error = decode(&from_newer).err().unwrap().to_string();
        assert!(error.contains("version 2"), "{error}");
        let new_column = gzip_base64(
            &serde_json::json!({"v": 1, "table": "AuditWolf", "rows": [{"Summary": "a", "Added": 1}]}),
        );
        let error = decode(&new_column).err().unwrap().to_string();
        assert!(error.contains("column Added"), "{error}");
    }

    #[test]
    fn a_lone_large_row_keeps_as_much_of_each_value_as_direct_delivery_does() {
        // Random hex: about half compressible, so the row only fits once cut, and 64 KB fits.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let hex: String = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from_digit((state % 16) as u32, 16).unwrap()
            })
            .collect();
        let large = row(&hex);
        let messages = encode(Table::AuditWolf, std::slice::from_ref(&large), FIELD_BYTES).unwrap();
        let (_, decoded) = decode(&messages[0].text).unwrap();
        let mut direct = large.clone();
        direct.truncate_fields(FIELD_BYTES);
        assert_eq!(decoded, [direct]);
    }

    #[test]
    fn a_message_that_inflates_past_the_cap_is_refused_unread() {
        // 5 MiB of one byte deflates to a few kilobytes: well within a message's 64 KB.
        let bomb = STANDARD.encode(gzip::compress(
            &vec![b' '; MAX_MESSAGE_JSON + 1024 * 1024],
            Compression::default(),
        ));
        assert!(bomb.len() <= MAX_MESSAGE_TEXT);
        let error = decode(&bomb).err().unwrap().to_string();
        assert!(error.contains("inflates past"), "{error}");
    }

    #[test]
    fn rows_that_compress_well_are_split_so_that_no_message_inflates_past_the_cap() {
        // Ten rows of a megabyte each compress to about ten kilobytes together.
        let rows: Vec<Row> = (0..10).map(|_| row(&"a".repeat(1 << 20))).collect();
        let messages = encode(Table::AuditWolf, &rows, 2 << 20).unwrap();
        assert!(messages.len() >= 3, "{} messages", messages.len());
        for message in &messages {
            assert!(message.text.len() <= MAX_MESSAGE_TEXT);
            assert_eq!(decode(&message.text).unwrap().1, rows[message.rows.clone()]);
        }
        let covered: usize = messages.iter().map(|m| m.rows.len()).sum();
        assert_eq!(covered, 10);
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
