//! AuditWolf cloud-governance events: one row per webhook.
//!
//! See <https://www.auditwolf.com/help/webhook-reference>.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::json::{self, PayloadError};
use crate::schema::{Batch, Provenance, Row, Table};

/// Turns an AuditWolf event into one row.
pub fn rows(event: &Value, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    json::required_object(event, "").map_err(|_| PayloadError::Unrecognised("a JSON object"))?;
    let account = json::required_text(event, "/awid")?;
    let id = json::required_id(event, "/id")?;
    let key = format!("auditwolf:{id}");
    let provenance = Provenance {
        source: "auditwolf",
        message_id: Some(id),
        received,
    };
    let event_type = json::required_text(event, "/type")?;
    let time = json::required_time(event, "/timestamp")?;
    let mut row = Row::new(Table::AuditWolf, &provenance, time);
    row.text("AccountId", Some(account))
        .text("ObjectId", json::id(event, "/objectid").as_deref())
        .text("EventType", Some(event_type))
        .text("Severity", json::text(event, "/severity"))
        .text("SubscriptionId", json::text(event, "/subscriptionId"))
        .text("ResourceId", json::text(event, "/resourceId"))
        .text("ResourceName", json::text(event, "/resourceName"))
        .text("Summary", json::text(event, "/summary"))
        .text("Uri", json::text(event, "/uri"))
        .raw_event(event);
    Ok(Batch {
        table: Table::AuditWolf,
        rows: vec![row],
        key,
    })
}
