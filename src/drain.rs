//! The `drain` function: the Functions host hands it one spilled queue message (invocation mode)
//! and it delivers the rows. A failure answers 500, so the host retries the message later. The
//! last try the host allows (`maxDequeueCount` in host.json) does not fail: the message moves to
//! the holding queue, where it never expires, instead of the host's poison queue, where it would
//! expire after 7 days.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app::AppState;
use crate::delivery::{spill, Outcome};
use crate::schema::Batch;
use crate::telemetry::chain;

/// The queue-trigger binding's name in `drain/function.json`.
pub const BINDING: &str = "message";
/// `extensions.queues.maxDequeueCount` in host.json: the try with this `DequeueCount` is the last.
pub const MAX_DEQUEUE_COUNT: u32 = 30;

/// One invocation: the message text and which try this is, when the host says.
struct Invocation {
    text: String,
    dequeue_count: Option<u32>,
}

/// Handles `POST /drain` from the Functions host.
pub async fn drain(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let invocation = match invocation(&body) {
        Ok(invocation) => invocation,
        Err(log) => return failed(log),
    };
    let log = match deliver(&invocation.text, &state).await {
        Ok(log) => {
            tracing::info!(
                function = "drain",
                outcome = log.as_str(),
                "Spilled rows delivered."
            );
            return invocation_result(200, log);
        }
        Err(log) => log,
    };
    let last_try = invocation
        .dequeue_count
        .is_some_and(|count| count >= MAX_DEQUEUE_COUNT);
    match &state.held {
        Some(held) if last_try => match held.put(&invocation.text).await {
            Ok(()) => {
                tracing::error!(
                    function = "drain",
                    queue = held.name(),
                    error = log.as_str(),
                    fix = "fix the cause the error names, then run `handler replay-held` to deliver the held rows",
                    "Spilled rows held: every try failed, so the message waits in the holding queue, where it never expires; an operator must act."
                );
                invocation_result(200, format!("held in {}: {log}", held.name()))
            }
            Err(error) => failed(format!(
                "{log}; holding the message failed too: {}",
                chain(&error)
            )),
        },
        _ => failed(log),
    }
}

fn failed(log: String) -> HttpResponse {
    tracing::error!(
        function = "drain",
        error = log.as_str(),
        "Spilled rows not delivered; the host will retry the message."
    );
    invocation_result(500, log)
}

/// Delivers one message's rows through the delivery layer (never spilled again). The message
/// text is the key: a message retried after its rows were committed is a duplicate.
async fn deliver(text: &str, state: &AppState) -> Result<String, String> {
    let (table, rows) = spill::decode(text).map_err(|e| e.to_string())?;
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

/// `Data.message` and `Metadata.DequeueCount` of the invocation request. The host may pass a
/// string value JSON-encoded a second time (quotes included), so a value that is itself a JSON
/// string is decoded again; `DequeueCount` may come as a number or as text.
fn invocation(body: &[u8]) -> Result<Invocation, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("the invocation is not JSON: {e}"))?;
    let value = request
        .pointer(&format!("/Data/{BINDING}"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the invocation has no string Data.{BINDING}"))?;
    let dequeue_count = match request.pointer("/Metadata/DequeueCount") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => unquote(s).trim().parse().ok(),
        _ => None,
    };
    Ok(Invocation {
        text: unquote(value),
        dequeue_count,
    })
}

fn unquote(value: &str) -> String {
    serde_json::from_str::<String>(value).unwrap_or_else(|_| value.to_owned())
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
    fn the_message_and_its_try_are_read_whether_or_not_the_host_encoded_them_twice() {
        let once = br#"{"Data": {"message": "H4sIAAAA"}, "Metadata": {"DequeueCount": 1}}"#;
        let read = invocation(once).unwrap();
        assert_eq!(
            (read.text.as_str(), read.dequeue_count),
            ("H4sIAAAA", Some(1))
        );
        let twice =
            br#"{"Data": {"message": "\"H4sIAAAA\""}, "Metadata": {"DequeueCount": "\"30\""}}"#;
        let read = invocation(twice).unwrap();
        assert_eq!(
            (read.text.as_str(), read.dequeue_count),
            ("H4sIAAAA", Some(30))
        );
        let unknown = br#"{"Data": {"message": "x"}, "Metadata": {"DequeueCount": -1}}"#;
        assert_eq!(invocation(unknown).unwrap().dequeue_count, None);
        assert!(invocation(br#"{"Data": {}}"#).is_err());
    }
}
