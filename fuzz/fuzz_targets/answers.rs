//! Any answer from Azure (a mode byte, then the answer) through the parsers that read one:
//! token responses (every lifetime bounded), `Retry-After` (at most a minute), Entra ID key
//! sets, Storage queue listings and table entities, and the excerpts that echo any answer
//! (bounded).

#![no_main]

use chrono::{DateTime, TimeDelta};
use libfuzzer_sys::fuzz_target;
use webhook_ingest::azure::http::{parse_retry_after, MAX_RETRY_AFTER};
use webhook_ingest::azure::identity::parse_token;
use webhook_ingest::azure::signing_keys::parse_key_set;
use webhook_ingest::storage_queue::parse_messages;
use webhook_ingest::storage_table::parse_entity;
use webhook_ingest::telemetry::excerpt;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 6 {
        0 => {
            let requested_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            if let Ok(token) = parse_token(&text, requested_at) {
                let lifetime = token.expires_at - requested_at;
                assert!(lifetime > TimeDelta::zero() && lifetime <= TimeDelta::hours(24));
                assert!(token.refresh_at <= token.expires_at && token.refresh_at >= requested_at);
            }
        }
        1 => assert!(parse_retry_after(rest) <= MAX_RETRY_AFTER),
        2 => {
            let _ = parse_key_set(rest);
        }
        3 => {
            let _ = parse_entity(&text);
        }
        4 => {
            // Every echo of an answer in a log line or an error is bounded.
            let limit = usize::from(rest.first().copied().unwrap_or(0));
            assert!(excerpt(&text, limit).len() <= limit + '…'.len_utf8());
        }
        _ => {
            for message in parse_messages(&text) {
                assert!(message.id.len() <= text.len() && message.text.len() <= text.len());
            }
        }
    }
});
