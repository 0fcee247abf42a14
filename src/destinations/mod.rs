//! Where rows go: the HTTP Data Collector API, or local JSON Lines files when no Azure settings are given.

pub mod data_collector;
pub mod local_file;

pub use data_collector::{DataCollector, DataCollectorConfig};
pub use local_file::LocalFile;

use crate::schema::{Row, TableName};

/// The configured destination. Exactly one is active.
#[derive(Debug)]
pub enum Destination {
    DataCollector(DataCollector),
    LocalFile(LocalFile),
}

/// Why rows were not delivered. Every variant is answered 503 so the sender retries.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the destination answered HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("the destination could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("could not append to {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode the rows as JSON")]
    Encode(#[from] serde_json::Error),
}

impl DeliveryError {
    /// True when retrying cannot help until an operator fixes something (key, workspace, disk).
    pub fn needs_operator(&self) -> bool {
        match self {
            DeliveryError::Rejected { status, .. } => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            DeliveryError::Write { .. } | DeliveryError::Encode(_) => true,
            DeliveryError::Unreachable(_) => false,
        }
    }
}

impl Destination {
    /// A short name for logs and the health endpoint.
    pub fn name(&self) -> &'static str {
        match self {
            Destination::DataCollector(_) => "data_collector",
            Destination::LocalFile(_) => "local_file",
        }
    }

    /// Delivers one webhook's rows to one table; returns only once they are accepted.
    pub async fn deliver(&self, table: &TableName, rows: &[Row]) -> Result<(), DeliveryError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Destination::DataCollector(client) => client.send(table, rows).await,
            Destination::LocalFile(sink) => sink.append(table, rows).await,
        }
    }
}
