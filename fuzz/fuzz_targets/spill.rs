//! Any queue text through the drain's decoder (never panics, refuses what it does not
//! understand), and any rows through the spill's encoder and back: every row once, in order,
//! unchanged unless it had to be cut to fit, each message within the queue's limit.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use webhook_ingest::delivery::spill::{decode, encode, MAX_MESSAGE_TEXT};
use webhook_ingest::schema::Table;
use webhook_ingest_fuzz::{assert_typed, AnyRow};

#[derive(Arbitrary, Debug)]
enum Input {
    Text(String),
    Rows {
        table: u8,
        rows: Vec<AnyRow>,
        field_bytes: u16,
    },
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(text) => {
            if let Ok((table, rows)) = decode(&text) {
                assert!(rows.iter().all(|row| row.table() == table));
            }
        }
        Input::Rows {
            table,
            rows,
            field_bytes,
        } => {
            let table = Table::ALL[usize::from(table) % Table::ALL.len()];
            // Long texts up to 256 KiB in all: four times a message, more than any value's limit.
            let mut budget = 256 * 1024;
            let rows: Vec<_> = rows
                .iter()
                .map(|row| row.build_within(&mut budget))
                .filter(|row| row.table() == table)
                .collect();
            let field_bytes = 1024 + usize::from(field_bytes);
            let Ok(messages) = encode(table, &rows, field_bytes) else {
                return;
            };
            let mut decoded = Vec::new();
            let mut next = 0;
            for message in &messages {
                assert!(
                    message.text.len() <= MAX_MESSAGE_TEXT,
                    "{} bytes",
                    message.text.len()
                );
                assert_eq!(message.rows.start, next, "messages cover the rows in order");
                next = message.rows.end;
                let (back, rows) = decode(&message.text).expect("a spilled message decodes");
                assert_eq!(back, table);
                assert_eq!(rows.len(), message.rows.len());
                decoded.extend(rows);
            }
            assert_eq!(next, rows.len(), "every row is in a message");
            for (original, back) in rows.iter().zip(&decoded) {
                assert_typed(back);
                if back.get("Truncated").is_none() || original.get("Truncated").is_some() {
                    assert_eq!(original, back, "a row came back changed");
                }
            }
        }
    }
});
