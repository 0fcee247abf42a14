//! Where rows go: the Logs Ingestion API, the HTTP Data Collector API, or local JSON Lines files
//! when no Azure settings are given.

pub mod batch;
pub mod data_collector;
pub mod local_file;
pub mod logs_ingestion;

pub use data_collector::{DataCollector, DataCollectorConfig};
pub use local_file::LocalFile;
pub use logs_ingestion::{LogsIngestion, LogsIngestionConfig};

use std::sync::Arc;

use crate::azure::identity::TokenError;
use crate::azure::send_phase::SendPhase;
use crate::schema::{Row, Table, TableName};

/// The configured destination. Exactly one is active.
#[derive(Debug)]
pub enum Destination {
    LogsIngestion(Box<LogsIngestion>),
    DataCollector(DataCollector),
    LocalFile(LocalFile),
}

/// Why rows were not delivered. Every variant is answered 503 so the sender retries (or spilled).
/// Cloneable, so one failed group commit can answer every webhook in the group.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the destination answered HTTP {status}: {body}")]
    Rejected {
        status: u16,
        body: String,
        /// The destination's `Retry-After`, in seconds, passed on to the sender.
        retry_after: Option<u64>,
        /// What an operator should change, when the status says.
        hint: Option<String>,
    },
    #[error("the destination could not be reached")]
    Unreachable(#[source] Arc<reqwest::Error>),
    #[error("the delivery deadline came before the rows were sent (they waited for a slot, a token or a connection)")]
    DeadlineExceeded,
    #[error(
        "the delivery deadline came while an attempt to deliver the rows was still in flight; \
         its outcome decides whether a retry is a duplicate"
    )]
    InFlight,
    #[error("no access token for the destination")]
    Token(#[from] TokenError),
    #[error(
        "a row is {bytes} bytes even with every value cut short, more than one request may carry"
    )]
    RowTooLarge { bytes: usize },
    #[error("could not append to {path}")]
    Write {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("could not encode the rows as JSON")]
    Encode(#[source] Arc<serde_json::Error>),
    #[error("the webhook could not be claimed durably (DURABLE_CLAIMS=required)")]
    Claims(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl From<serde_json::Error> for DeliveryError {
    fn from(error: serde_json::Error) -> Self {
        DeliveryError::Encode(Arc::new(error))
    }
}

impl DeliveryError {
    /// A request that could not be sent or answered.
    pub fn unreachable(error: reqwest::Error) -> Self {
        DeliveryError::Unreachable(Arc::new(error))
    }
}

impl DeliveryError {
    /// True when retrying cannot help until an operator fixes something (key, role, disk).
    pub fn needs_operator(&self) -> bool {
        // A redirect, or a 2xx other than the API's success, too: the endpoint setting points
        // at something other than the API (redirects are not followed).
        let permanent =
            |status: u16| (200..500).contains(&status) && status != 408 && status != 429;
        match self {
            DeliveryError::Rejected { status, .. } => permanent(*status),
            DeliveryError::Token(TokenError::Refused { status, .. }) => permanent(*status),
            DeliveryError::Token(_)
            | DeliveryError::Unreachable(_)
            | DeliveryError::DeadlineExceeded
            | DeliveryError::InFlight
            | DeliveryError::Claims(_) => false,
            DeliveryError::RowTooLarge { .. }
            | DeliveryError::Write { .. }
            | DeliveryError::Encode(_) => true,
        }
    }

    /// What to tell an operator to change, where the failure says.
    pub fn operator_hint(&self) -> Option<&str> {
        match self {
            DeliveryError::Rejected { hint, .. } => hint.as_deref(),
            DeliveryError::Token(TokenError::Refused { kind, .. }) if kind.contains("managed identity") => Some(
                "enable the Function App's managed identity, or set AZURE_CLIENT_ID to the client id \
                 of a user-assigned identity attached to the app",
            ),
            DeliveryError::Token(TokenError::Refused { .. }) => Some(
                "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (an expired secret is \
                 the usual cause) and AZURE_AUTHORITY_HOST for sovereign clouds",
            ),
            _ => None,
        }
    }

    /// 408, 429, 5xx, connection failures and timeouts may succeed later; other 4xx,
    /// encoding and disk errors will not.
    pub fn is_retryable(&self) -> bool {
        let transient = |status: u16| status == 408 || status == 429 || status >= 500;
        match self {
            DeliveryError::Rejected { status, .. } => transient(*status),
            DeliveryError::Token(TokenError::Refused { status, .. }) => transient(*status),
            DeliveryError::Unreachable(_)
            | DeliveryError::DeadlineExceeded
            | DeliveryError::InFlight
            | DeliveryError::Claims(_)
            | DeliveryError::Token(_) => true,
            DeliveryError::RowTooLarge { .. }
            | DeliveryError::Write { .. }
            | DeliveryError::Encode(_) => false,
        }
    }

    /// True when the destination asked us to slow down (429), rather than failed.
    pub fn is_throttled(&self) -> bool {
        matches!(self, DeliveryError::Rejected { status: 429, .. })
    }

    /// Seconds the sender should wait, when the destination said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            DeliveryError::Rejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The rows of one `send` that the destination did not accept, by index, and why.
#[derive(Debug)]
pub struct Unsent {
    pub error: DeliveryError,
    pub rows: Vec<usize>,
}

impl Unsent {
    /// Every row unsent: for failures before the first request.
    pub fn all(rows: &[Row]) -> impl FnOnce(DeliveryError) -> Unsent + '_ {
        move |error| Unsent {
            error,
            rows: (0..rows.len()).collect(),
        }
    }
}

impl Destination {
    /// A short name for logs and the health endpoint.
    pub fn name(&self) -> &'static str {
        match self {
            Destination::LogsIngestion(_) => "logs_ingestion",
            Destination::DataCollector(_) => "data_collector",
            Destination::LocalFile(_) => "local_file",
        }
    }

    /// The most bytes one value may take: longer ones are cut (with the marker) on delivery,
    /// and a spilled row keeps at least this much of each value when it can.
    pub fn field_bytes(&self) -> usize {
        match self {
            Destination::DataCollector(_) => data_collector::LIMITS.field_bytes,
            Destination::LogsIngestion(_) | Destination::LocalFile(_) => {
                logs_ingestion::LIMITS.field_bytes
            }
        }
    }

    /// Bytes of row JSON worth gathering into one group: what one request may carry.
    pub fn group_bytes(&self) -> usize {
        match self {
            Destination::LogsIngestion(_) => logs_ingestion::LIMITS.request_bytes,
            Destination::DataCollector(_) | Destination::LocalFile(_) => 4 * 1024 * 1024,
        }
    }

    /// One attempt to deliver rows to one table: no retries (the caller owns time and retries).
    /// On failure, says which rows were not accepted; the others were. `phase` learns when a
    /// request may have reached the destination, and stops any that has not by its abandonment.
    pub async fn send(
        &self,
        table: Table,
        name: &TableName,
        rows: &[Row],
        phase: &Arc<SendPhase>,
    ) -> Result<(), Unsent> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Destination::LogsIngestion(client) => client.send(table, rows, phase).await,
            Destination::DataCollector(client) => client.send(name, rows, phase).await,
            Destination::LocalFile(sink) => {
                if !phase.send() {
                    return Err(Unsent::all(rows)(DeliveryError::DeadlineExceeded));
                }
                sink.append(name, rows).await.map_err(Unsent::all(rows))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16) -> DeliveryError {
        DeliveryError::Rejected {
            status,
            body: String::new(),
            retry_after: None,
            hint: None,
        }
    }

    #[test]
    fn an_answer_that_is_not_the_apis_success_nor_transient_needs_an_operator() {
        // A 2xx other than the API's own success and a redirect both mean the endpoint setting
        // points at something else: retrying the same address cannot help.
        for status in [200, 202, 204, 301, 307, 400, 403, 404, 413] {
            let error = rejected(status);
            assert!(error.needs_operator(), "{status}");
            assert!(!error.is_retryable(), "{status}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            let error = rejected(status);
            assert!(!error.needs_operator(), "{status}");
            assert!(error.is_retryable(), "{status}");
        }
    }
}
