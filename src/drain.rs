//! The `drain` function: the Functions host hands it one spilled queue message (invocation mode)
//! and it delivers the rows. A failure answers 500, so the host retries the message later and,
//! after `maxDequeueCount` tries, moves it to the poison queue.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app::AppState;
use crate::delivery::{spill, Outcome};
use crate::schema::Batch;
use crate::telemetry::chain;

/// The queue-trigger binding's name in `drain/function.json`.
pub const BINDING: &str = "message";

/// Handles `POST /drain` from the Functions host.
pub async fn drain(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    match deliver(&body, &state).await {
        Ok(log) => {
            tracing::info!(
                function = "drain",
                outcome = log.as_str(),
                "Spilled rows delivered."
            );
            invocation_result(200, log)
        }
        Err(log) => {
            tracing::error!(
                function = "drain",
                error = log.as_str(),
                "Spilled rows not delivered; the host will retry the message."
            );
            invocation_result(500, log)
        }
    }
}

/// Delivers one message's rows through the delivery layer (never spilled again). The message
/// text is the key: a message retried after its rows were committed is a duplicate.
async fn deliver(body: &[u8], state: &AppState) -> Result<String, String> {
    let text = message_text(body)?;
    let (table, rows) = spill::decode(&text).map_err(|e| e.to_string())?;
    let name = state.tables.name(table);
    let count = rows.len();
    let deadline = Instant::now() + state.timeouts.drain;
    let batch = Batch {
        table,
        rows,
        key: format!("spill:{text}"),
    };
    match state.delivery.redeliver(batch, deadline).await {
        Outcome::Delivered | Outcome::Spilled => {
            Ok(format!("delivered {count} spilled rows to {name}"))
        }
        Outcome::Duplicate => Ok(format!(
            "the {count} spilled rows were already delivered to {name}"
        )),
        Outcome::Failed(e) => Err(format!("delivering {count} rows to {name}: {}", chain(&e))),
    }
}

/// `Data.message` of the invocation request. The host may pass a string value JSON-encoded a
/// second time (quotes included), so a value that is itself a JSON string is decoded again.
fn message_text(body: &[u8]) -> Result<String, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("the invocation is not JSON: {e}"))?;
    let value = request
        .pointer(&format!("/Data/{BINDING}"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the invocation has no string Data.{BINDING}"))?;
    match serde_json::from_str::<String>(value) {
        Ok(inner) => Ok(inner),
        Err(_) => Ok(value.to_owned()),
    }
}

/// The invocation-mode answer: always JSON; a non-2xx status fails the invocation.
fn invocation_result(status: u16, log: String) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("a valid status");
    HttpResponse::build(status).json(json!({ "Outputs": {}, "Logs": [log], "ReturnValue": null }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_read_whether_or_not_the_host_encoded_it_twice() {
        let once = br#"{"Data": {"message": "H4sIAAAA"}, "Metadata": {"DequeueCount": 1}}"#;
        assert_eq!(message_text(once).unwrap(), "H4sIAAAA");
        let twice = br#"{"Data": {"message": "\"H4sIAAAA\""}, "Metadata": {"DequeueCount": "1"}}"#;
        assert_eq!(message_text(twice).unwrap(), "H4sIAAAA");
        assert!(message_text(br#"{"Data": {}}"#).is_err());
    }
}
