//! Any rows through both destinations' request builders: every row exactly once across the
//! requests, each request within its API's size limit, every value within its field limit,
//! a Logs Ingestion request within 30 minutes of `TimeGenerated` and its gzip round-tripping.

#![no_main]

use std::collections::BTreeSet;
use std::io::Read;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use webhook_ingest::destinations::batch::{json_array, Encoded};
use webhook_ingest::destinations::{data_collector, logs_ingestion};
use webhook_ingest_fuzz::{assert_fields_within, AnyRow};

#[derive(Arbitrary, Debug)]
struct Input {
    rows: Vec<AnyRow>,
}

/// The rows' indices, each once, across the chunks.
fn assert_each_row_once(chunks: &[Vec<Encoded>], rows: usize) {
    let indices: Vec<usize> = chunks.iter().flatten().map(|r| r.index).collect();
    let distinct: BTreeSet<usize> = indices.iter().copied().collect();
    assert_eq!(indices.len(), rows, "a row is missing or repeated");
    assert_eq!(distinct.len(), rows, "a row is repeated");
}

fuzz_target!(|input: Input| {
    // Long texts up to 1.25 MiB in all: over Logs Ingestion's 1 MB request and every value's
    // limit, without paying for megabytes more (the Data Collector's 30 MB is out of reach).
    let mut budget = 1280 * 1024;
    let rows: Vec<_> = input
        .rows
        .iter()
        .map(|row| row.build_within(&mut budget))
        .collect();
    let Some(first) = rows.first() else { return };
    let rows: Vec<_> = rows
        .iter()
        .filter(|r| r.table() == first.table())
        .cloned()
        .collect();

    if let Ok(chunks) = logs_ingestion::request_chunks(&rows) {
        assert_each_row_once(&chunks, rows.len());
        let limits = logs_ingestion::LIMITS;
        for chunk in &chunks {
            let array = json_array(chunk);
            assert!(array.len() <= limits.request_bytes, "{} bytes", array.len());
            let mut json = Vec::new();
            let body = logs_ingestion::request_body(chunk);
            flate2::read::GzDecoder::new(body.as_slice())
                .read_to_end(&mut json)
                .unwrap();
            assert_eq!(json, array, "gzip round trip");
            let times: Vec<i64> = assert_fields_within(&array, limits.field_bytes)
                .iter()
                .filter_map(|row| row.get("TimeGenerated")?.as_str().map(str::to_owned))
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .unwrap()
                        .timestamp()
                })
                .collect();
            if let (Some(min), Some(max)) = (times.iter().min(), times.iter().max()) {
                assert!(max - min <= 30 * 60, "a request spans {} s", max - min);
            }
        }
    }
    if let Ok(chunks) = data_collector::request_chunks(&rows) {
        assert_each_row_once(&chunks, rows.len());
        let limits = data_collector::LIMITS;
        for chunk in &chunks {
            let array = json_array(chunk);
            assert!(array.len() <= limits.request_bytes, "{} bytes", array.len());
            for row in assert_fields_within(&array, limits.field_bytes) {
                assert!(
                    !row.contains_key("TimeGenerated"),
                    "TimeGenerated is reserved"
                );
            }
        }
    }
});
