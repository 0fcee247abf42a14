//! Webhooks from Skytap, AuditWolf, Azure Monitor and StackState, verified and delivered to Log Analytics.
#![forbid(unsafe_code)]

pub mod dedup;
pub mod destinations;
pub mod drain;
pub mod error;
pub mod identity;
pub mod ingest;
pub mod schema;
pub mod server;
pub mod settings;
pub mod sources;
pub mod spill;
pub mod storage_queue;
pub mod telemetry;
