//! Fitting rows into requests: values over the field limit are cut with a marker, a row too big
//! for a request on its own is cut further, and rows are grouped into JSON arrays under the size limit.

use super::DeliveryError;
use crate::schema::Row;

/// A destination's size limits, in bytes of uncompressed JSON.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub request_bytes: usize,
    pub field_bytes: usize,
}

/// Cutting stops here: below this a value is no longer worth keeping, and the row is refused.
const MIN_FIELD_BYTES: usize = 1024;

/// One row's JSON, remembering which row it came from (to cut it further after a 413).
#[derive(Clone, Debug)]
pub struct Encoded {
    pub index: usize,
    pub json: Vec<u8>,
}

/// How a destination writes one row as JSON.
pub type Encoder = fn(&Row) -> serde_json::Result<Vec<u8>>;

/// Encodes a row so that no value exceeds `field_bytes` and the row fits in a request alone.
pub fn fit(
    row: &Row,
    field_bytes: usize,
    limits: Limits,
    encode: Encoder,
) -> Result<Vec<u8>, DeliveryError> {
    // A text over the limit is cut before the row is written, rather than written whole (it
    // may be megabytes) only to be cut: the cut is the same either way.
    let precut;
    let row = if row.approx_bytes() > field_bytes {
        let mut cut = row.clone();
        cut.truncate_fields(field_bytes);
        precut = cut;
        &precut
    } else {
        row
    };
    let json = encode(row)?;
    // A value can only be over the limit if the whole row is.
    if json.len() <= field_bytes && json.len() + 2 <= limits.request_bytes {
        return Ok(json);
    }
    let mut row = row.clone();
    let mut field_bytes = field_bytes;
    loop {
        row.truncate_fields(field_bytes);
        let json = encode(&row)?;
        if json.len() + 2 <= limits.request_bytes {
            return Ok(json);
        }
        field_bytes /= 2;
        if field_bytes < MIN_FIELD_BYTES {
            return Err(DeliveryError::RowTooLarge { bytes: json.len() });
        }
    }
}

/// Encodes every row within the limits.
pub fn encode_all(
    rows: &[Row],
    limits: Limits,
    encode: Encoder,
) -> Result<Vec<Encoded>, DeliveryError> {
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            Ok(Encoded {
                index,
                json: fit(row, limits.field_bytes, limits, encode)?,
            })
        })
        .collect()
}

/// The rows as one request body, written straight into it, when each row is within the field
/// limit as it is and all of them fit in one request (the usual case): the bytes
/// [`encode_all`], [`chunks`] and [`json_array`] would make, without a buffer for every row.
/// `without` names a column left out, as the destination's encoder leaves it out. No rows make
/// no request, so no body.
pub fn whole(rows: &[Row], limits: Limits, without: Option<&str>) -> Option<Vec<u8>> {
    if rows.is_empty() {
        return None;
    }
    // A row's `approx_bytes` is at least the length of its JSON, with or without a column.
    let mut bytes = 2 + rows.len().saturating_sub(1);
    for row in rows {
        let row_bytes = row.approx_bytes();
        if row_bytes > limits.field_bytes {
            return None;
        }
        bytes += row_bytes;
    }
    if bytes > limits.request_bytes {
        return None;
    }
    let mut body = Vec::with_capacity(bytes);
    body.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        row.write_json(&mut body, without);
    }
    body.push(b']');
    Some(body)
}

/// Groups rows, in order, into chunks whose JSON array stays within `request_bytes`.
pub fn chunks(rows: Vec<Encoded>, request_bytes: usize) -> Vec<Vec<Encoded>> {
    let mut chunks = Vec::new();
    let mut current: Vec<Encoded> = Vec::new();
    let mut size = 2; // the brackets
    for row in rows {
        let added = row.json.len() + usize::from(!current.is_empty());
        if !current.is_empty() && size + added > request_bytes {
            chunks.push(std::mem::take(&mut current));
            size = 2;
        }
        size += row.json.len() + usize::from(!current.is_empty());
        current.push(row);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// A chunk as one request body: the rows' indices and their JSON array. The rows' own JSON is
/// freed, so a request in flight holds its body once.
pub fn request(chunk: Vec<Encoded>) -> (Vec<usize>, Vec<u8>) {
    let body = json_array(&chunk);
    (chunk.iter().map(|r| r.index).collect(), body)
}

/// The JSON array of a chunk's rows.
pub fn json_array(rows: &[Encoded]) -> Vec<u8> {
    let mut body = Vec::with_capacity(rows.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&row.json);
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Provenance, Table, TRUNCATION_MARKER};
    use chrono::Utc;

    fn row(summary_bytes: usize) -> Row {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Summary", Some(&"x".repeat(summary_bytes)));
        row
    }

    fn encode(row: &Row) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(row)
    }

    const LIMITS: Limits = Limits {
        request_bytes: 10_000,
        field_bytes: 4_000,
    };

    #[test]
    fn chunks_stay_within_the_request_limit_and_keep_every_row_in_order() {
        let rows: Vec<Row> = (0..50).map(|_| row(900)).collect();
        let encoded = encode_all(&rows, LIMITS, encode).unwrap();
        let chunks = chunks(encoded, LIMITS.request_bytes);
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            let body = json_array(chunk);
            assert!(body.len() <= LIMITS.request_bytes, "{}", body.len());
            serde_json::from_slice::<serde_json::Value>(&body).unwrap();
        }
        let order: Vec<usize> = chunks.iter().flatten().map(|r| r.index).collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }

    /// The usual case written in one pass is byte for byte what the general path makes; a row
    /// over the field limit, or rows over the request limit, take the general path.
    #[test]
    fn rows_that_fit_as_they_are_are_written_straight_into_one_body() {
        let rows: Vec<Row> = (0..8).map(|i| row(100 * i)).collect();
        for without in [None, Some("TimeGenerated")] {
            let encode: Encoder = match without {
                None => |row| Ok(row.to_json(None)),
                Some(_) => |row| Ok(row.to_json(Some("TimeGenerated"))),
            };
            let chunks = chunks(
                encode_all(&rows, LIMITS, encode).unwrap(),
                LIMITS.request_bytes,
            );
            assert_eq!(chunks.len(), 1);
            assert_eq!(
                whole(&rows, LIMITS, without).unwrap(),
                json_array(&chunks[0])
            );
        }
        assert!(whole(&[], LIMITS, None).is_none(), "no rows, no request");
        assert!(
            whole(&[row(5_000)], LIMITS, None).is_none(),
            "over the field limit"
        );
        let many: Vec<Row> = (0..20).map(|_| row(900)).collect();
        assert!(
            whole(&many, LIMITS, None).is_none(),
            "over the request limit"
        );
    }

    #[test]
    fn a_long_value_is_cut_to_the_field_limit_with_a_marker() {
        let json = fit(&row(50_000), LIMITS.field_bytes, LIMITS, encode).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let summary = value["Summary"].as_str().unwrap();
        assert!(summary.len() <= LIMITS.field_bytes && summary.ends_with(TRUNCATION_MARKER));
        assert_eq!(value["Truncated"], "Summary");
    }

    #[test]
    fn a_row_too_big_for_a_request_is_cut_further_and_then_refused() {
        let tight = Limits {
            request_bytes: 3_000,
            field_bytes: 4_000,
        };
        let json = fit(&row(50_000), tight.field_bytes, tight, encode).unwrap();
        assert!(json.len() + 2 <= tight.request_bytes);
        let impossible = Limits {
            request_bytes: 200,
            field_bytes: 4_000,
        };
        assert!(matches!(
            fit(&row(50_000), impossible.field_bytes, impossible, encode),
            Err(DeliveryError::RowTooLarge { .. })
        ));
    }
}
