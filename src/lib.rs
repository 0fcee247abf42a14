//! Webhooks from Skytap, AuditWolf, Azure Monitor and StackState, verified and delivered to Log Analytics.
#![forbid(unsafe_code)]

pub mod app;
pub mod azure;
pub mod cli;
pub mod delivery;
pub mod destinations;
pub mod digits;
pub mod drain;
pub mod error;
pub mod gzip;
pub mod ingest;
pub mod schema;
pub mod server;
pub mod settings;
pub mod sources;
pub mod storage_queue;
pub mod storage_table;
pub mod telemetry;
pub mod timeouts;
