//! One webhook, start to finish: read the bytes, verify, classify, normalise, submit, answer.

use std::time::Instant;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use crate::app::AppState;
use crate::delivery::Outcome;
use crate::error::ApiError;
use crate::sources::{Admitted, Gate, Refusal, Refused, Request, Source};
use crate::telemetry::chain;

/// The answer to an accepted webhook: every row was delivered, or durably queued for delivery.
#[derive(Debug, Serialize)]
pub struct Accepted<'a> {
    pub source: &'static str,
    pub table: &'a str,
    pub rows: usize,
    /// True when the destination failed and the rows went to the spill queue instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub spilled: bool,
    /// True when the same webhook was already delivered: nothing was written again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// What the request log line says about a webhook, filled in as it is known.
#[derive(Default)]
struct Facts<'a> {
    source: Option<Source>,
    table: Option<&'a str>,
    rows: usize,
}

/// Handles a POST to a webhook function; `route` is its source, or `None` to detect it.
pub async fn ingest(
    function: &'static str,
    route: Option<Source>,
    gate: Gate,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let mut facts = Facts {
        source: route,
        ..Facts::default()
    };
    let result = accept(route, gate, &req, payload, &state, Utc::now(), &mut facts).await;
    let response = match &result {
        // Written as `HttpResponse::json` writes it, with the content type's value not parsed
        // into a new header value for every webhook.
        Ok(accepted) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(serde_json::to_vec(accepted).expect("an answer serialises")),
        Err(error) => error.error_response(),
    };
    let source = facts.source.map(Source::name).unwrap_or("unknown");
    let table = facts.table.unwrap_or("");
    let status = response.status().as_u16();
    // Milliseconds with three decimals (whole microseconds), from integers: formatting a float
    // to a precision is among the costliest steps of the line.
    let micros = started.elapsed().as_micros();
    let latency_ms = format_args!("{}.{:03}", micros / 1000, micros % 1000);
    let rows = facts.rows;
    match &result {
        // Spilled rows are safe but late, and the destination is failing: an operator should know.
        Ok(accepted) if accepted.spilled => tracing::warn!(
            function,
            source,
            table,
            rows,
            status,
            latency_ms = %latency_ms,
            outcome = "spilled",
            "Webhook spilled: the destination failed, so its rows wait in the spill queue for the drain."
        ),
        Ok(accepted) => tracing::info!(
            function,
            source,
            table,
            rows,
            status,
            latency_ms = %latency_ms,
            outcome = if accepted.duplicate { "duplicate" } else { "delivered" },
            "Webhook accepted."
        ),
        Err(ApiError::Delivery(e)) if e.needs_operator() => tracing::error!(
            function,
            source,
            table,
            rows,
            status,
            latency_ms = %latency_ms,
            error = chain(e),
            fix = e.operator_hint().unwrap_or("see the error"),
            "Webhook not delivered: the destination refused it; an operator must act."
        ),
        Err(ApiError::Delivery(e)) => tracing::warn!(
            function,
            source,
            table,
            rows,
            status,
            latency_ms = %latency_ms,
            error = chain(e),
            "Webhook not delivered: the destination failed; the sender will retry."
        ),
        Err(e) => {
            tracing::warn!(function, source, status, latency_ms = %latency_ms, error = chain(e), "Webhook rejected.")
        }
    }
    response
}

async fn accept<'s>(
    route: Option<Source>,
    gate: Gate,
    req: &HttpRequest,
    payload: web::Payload,
    state: &'s AppState,
    received: DateTime<Utc>,
    facts: &mut Facts<'s>,
) -> Result<Accepted<'s>, ApiError> {
    let request = Request {
        route,
        gate,
        headers: req.headers(),
        query: req.query_string(),
    };
    // The body goes out of scope once it is rows: only the rows wait for the destination.
    let body = read_body(req, payload, state.max_body_bytes);
    let admitted = state.verifier.admit(&request, body, received).await;
    let Admitted { source, batch } = admitted.map_err(|Refused { source, reason }| {
        facts.source = source;
        match reason {
            Refusal::Body(error) => error,
            Refusal::Payload(error) => ApiError::from(error),
            Refusal::Verify(error) => ApiError::from(error),
        }
    })?;
    facts.source = Some(source);
    let table = state.tables.name(batch.table).as_str();
    let rows = batch.rows.len();
    facts.table = Some(table);
    facts.rows = rows;
    let deadline = tokio::time::Instant::now() + state.timeouts.delivery;
    let (spilled, duplicate) = match state.delivery.submit(batch, deadline).await {
        Outcome::Delivered => (false, false),
        Outcome::Spilled => (true, false),
        Outcome::Duplicate => (false, true),
        Outcome::Failed(error) => return Err(error.into()),
    };
    Ok(Accepted {
        source: source.name(),
        table,
        rows,
        spilled,
        duplicate,
    })
}

/// Reads the raw body, refusing more than `limit` bytes before buffering them.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    Ok(body.freeze())
}
