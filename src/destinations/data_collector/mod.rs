//! The HTTP Data Collector API (SharedKey): sign and send one POST per table per webhook.
//!
//! See <https://learn.microsoft.com/azure/azure-monitor/logs/data-collector-api>.

mod config;
mod service;
mod signature;

pub use config::{DataCollectorConfig, SharedKey, WorkspaceId};
pub use service::{request_chunks, DataCollector, LIMITS};
pub use signature::{authorization, string_to_sign};
