//! The four webhook sources: telling them apart, verifying them, and turning them into rows.

mod auditwolf;
mod azure_monitor;
pub mod json;
pub mod secure_webhook;
mod skytap;
mod stackstate;
pub mod verify;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use json::PayloadError;
pub use verify::{
    sign_auditwolf, Credentials, Gate, Secrets, Subscriptions, Verified, Verifier, VerifyError,
};

use crate::schema::Batch;

/// A service that sends webhooks to this handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Skytap,
    AuditWolf,
    AzureMonitor,
    StackState,
}

impl Source {
    /// The source's name, as in its route and the `Source` column.
    pub fn name(self) -> &'static str {
        match self {
            Source::Skytap => "skytap",
            Source::AuditWolf => "auditwolf",
            Source::AzureMonitor => "azuremonitor",
            Source::StackState => "stackstate",
        }
    }

    /// Classifies a body by its top-level discriminators, in the order
    /// `schemaId`, `category`, `notificationId` + `event`, `awid` + `type`.
    pub fn detect(body: &[u8]) -> Result<Source, PayloadError> {
        let value = json::parse(body)?;
        let has = |key: &str| value.get(key).is_some_and(|v| !v.is_null());
        if has("schemaId") {
            Ok(Source::AzureMonitor)
        } else if has("category") {
            Ok(Source::Skytap)
        } else if has("notificationId") && has("event") {
            Ok(Source::StackState)
        } else if has("awid") && has("type") {
            Ok(Source::AuditWolf)
        } else {
            Err(PayloadError::Unrecognised(
                "a Skytap, AuditWolf, Azure Monitor or StackState webhook \
                 (top-level `schemaId`, `category`, `notificationId` and `event`, or `awid` and `type`)",
            ))
        }
    }
}

/// Turns a verified webhook into rows for its table.
pub fn normalise(webhook: Verified<'_>, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    let value: Value = json::parse(webhook.body())?;
    if !value.is_object() {
        return Err(PayloadError::Unrecognised("a JSON object"));
    }
    match webhook.source() {
        Source::Skytap => skytap::rows(&value, received),
        Source::AuditWolf => auditwolf::rows(&value, received),
        Source::AzureMonitor => azure_monitor::rows(&value, received),
        Source::StackState => stackstate::rows(&value, received),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart_by_their_discriminators() {
        let cases: [(&str, Source); 4] = [
            (
                r#"{"schemaId":"x","category":"usage"}"#,
                Source::AzureMonitor,
            ),
            (r#"{"category":"usage"}"#, Source::Skytap),
            (r#"{"notificationId":"n","event":{}}"#, Source::StackState),
            (r#"{"awid":"a","type":"task.create"}"#, Source::AuditWolf),
        ];
        for (body, source) in cases {
            assert_eq!(Source::detect(body.as_bytes()), Ok(source), "{body}");
        }
    }

    #[test]
    fn an_unknown_shape_or_non_json_is_not_classified() {
        assert!(matches!(
            Source::detect(br#"{"hello":"world"}"#),
            Err(PayloadError::Unrecognised(_))
        ));
        assert!(matches!(
            Source::detect(b"not json"),
            Err(PayloadError::NotJson(_))
        ));
    }
}
