//! The Logs Ingestion API (DCR-based, Entra ID): gzip-compressed JSON arrays of at most 1 MB,
//! posted to a data collection rule's stream per table.
//!
//! See <https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>.

mod config;
mod service;

pub use config::{default_audience, DcrId, LogsIngestionConfig};
pub use service::{request_body, request_chunks, stream_url, LogsIngestion, API_VERSION, LIMITS};
