//! StackState (SUSE Observability) notifications: one row per open, update or close.
//!
//! See the webhook channel's OpenAPI spec, `spec_webhook/webhook.api.yaml` in StackVista/stackstate-openapi.

use actix_web::http::header::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::json::{self, Json, PayloadError};
use super::proof::{header, required, VerifyError};
use super::verify::Secrets;
use crate::schema::{writable, Batch, Provenance, Row, Table};

/// StackState's secret token header.
const TOKEN_HEADER: &str = "X-StackState-Webhook-Token";

/// The proof: the token header holds one of `tokens` (`STACKSTATE_TOKENS`, required).
pub fn prove(tokens: Option<&Secrets>, headers: &HeaderMap) -> Result<(), VerifyError> {
    let tokens = required(tokens, "STACKSTATE_TOKENS", "stackstate")?;
    if !tokens.matches_token(header(headers, TOKEN_HEADER)?) {
        return Err(VerifyError::BadHeaderToken(TOKEN_HEADER));
    }
    Ok(())
}

/// Turns a StackState notification into one row; time is `triggeredTimeMs`, or receipt for a close.
pub fn rows(envelope: &Json<'_>, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    let notification_id = json::required_id(envelope, "/notificationId")?;
    let event_type = json::required_text(envelope, "/event/type")?;
    if event_type != "open" && event_type != "close" {
        return Err(json::unexpected(
            "/event/type",
            event_type,
            "`open` or `close`",
        ));
    }
    let triggered = json::at(envelope, "/event/triggeredTimeMs")
        .and_then(Json::as_i64)
        .and_then(DateTime::from_timestamp_millis)
        .and_then(writable);
    let provenance = Provenance {
        source: "stackstate",
        message_id: Some(notification_id.clone()),
        received,
    };
    // The docs' close example carries the channel metadata under `tags`; the spec says `metadata`.
    let metadata = envelope.get("metadata").or_else(|| envelope.get("tags"));
    let mut row = Row::new(
        Table::StackState,
        &provenance,
        triggered.unwrap_or(received),
    );
    row.text("NotificationId", Some(&notification_id))
        .text("EventType", Some(event_type))
        .text("State", json::text(envelope, "/event/state"))
        .text("EventTitle", json::text(envelope, "/event/title"))
        .text("Reason", json::text(envelope, "/event/reason"))
        .time("TriggeredTime", triggered)
        .text("MonitorName", json::text(envelope, "/monitor/name"))
        .text(
            "MonitorIdentifier",
            json::id(envelope, "/monitor/identifier").as_deref(),
        )
        .text("ComponentName", json::text(envelope, "/component/name"))
        .text(
            "ComponentIdentifier",
            json::text(envelope, "/component/identifier"),
        )
        .text("ComponentType", json::text(envelope, "/component/type"))
        .dynamic("ComponentTags", json::at(envelope, "/component/tags"))
        .text(
            "NotificationConfiguration",
            json::text(envelope, "/notificationConfiguration/name"),
        )
        .dynamic("Metadata", metadata)
        .raw_event_of(envelope);
    Ok(Batch {
        table: Table::StackState,
        rows: vec![row],
        // A notification is opened, updated and closed under one id: the event tells them apart.
        key: format!(
            "stackstate:{notification_id}:{:x}",
            Sha256::digest(envelope.get("event").map_or("null".into(), Json::to_json))
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_its_required_tokens_the_proof_names_the_setting() {
        let error = prove(None, &HeaderMap::new()).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("STACKSTATE_TOKENS is not set"));
    }
    use serde_json::json;

    #[test]
    fn a_close_takes_the_receipt_time_and_metadata_from_tags() {
        let received = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let envelope = json!({"notificationId": "n1", "event": {"type": "close", "reason": "ConfigRemoved"}, "tags": {"team": "A"}});
        let batch = rows(&json::tree(&envelope), received).unwrap();
        let row = &batch.rows[0];
        assert_eq!(
            row.get("TimeGenerated"),
            Some(json!("2023-11-14T22:13:20Z"))
        );
        assert_eq!(row.get("Metadata"), Some(json!({"team": "A"})));
    }

    #[test]
    fn an_unknown_event_type_is_rejected_by_name() {
        let envelope = json!({"notificationId": "n1", "event": {"type": "reopen"}});
        let error = rows(&json::tree(&envelope), Utc::now())
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "`event.type` is `reopen`, expected `open` or `close`"
        );
    }
}
