//! One webhook, start to finish: read the bytes, verify, classify, normalise, deliver, answer.

use std::time::Instant;

use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use crate::dedup::Claim;
use crate::destinations::DeliveryError;
use crate::error::{chain, ApiError};
use crate::schema::{Batch, Row, Table, TableName};
use crate::server::AppState;
use crate::sources::{normalise, verify::verify, Source};
use crate::spill;
use crate::storage_queue::StorageQueue;

/// The answer to an accepted webhook: every row was delivered, or durably queued for delivery.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub source: &'static str,
    pub table: String,
    pub rows: usize,
    /// True when the destination failed and the rows went to the spill queue instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub spilled: bool,
    /// True when the same webhook was already delivered: nothing was written again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The most a spill may take after the delivery deadline, within the senders' patience.
pub const SPILL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the request log line says about a webhook, filled in as it is known.
#[derive(Default)]
struct Facts {
    source: Option<Source>,
    table: Option<String>,
    rows: usize,
}

/// Handles a POST to a webhook function; `route` is its source, or `None` to detect it.
pub async fn ingest(
    function: &'static str,
    route: Option<Source>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started) + state.delivery_timeout;
    let mut facts = Facts {
        source: route,
        ..Facts::default()
    };
    let result = accept(
        route,
        &req,
        payload,
        &state,
        Utc::now(),
        deadline,
        &mut facts,
    )
    .await;
    let response = match &result {
        Ok(accepted) => HttpResponse::Ok().json(accepted),
        Err(error) => error.error_response(),
    };
    let source = facts.source.map(Source::name).unwrap_or("unknown");
    let table = facts.table.as_deref().unwrap_or("");
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(_) => tracing::info!(
            function,
            source,
            table,
            rows = facts.rows,
            status,
            latency_ms,
            "Webhook delivered."
        ),
        Err(ApiError::Delivery(e)) if e.needs_operator() => tracing::error!(
            function,
            source,
            table,
            rows = facts.rows,
            status,
            latency_ms,
            error = chain(e),
            fix = e.operator_hint().unwrap_or("see the error"),
            "Webhook not delivered: the destination refused it; an operator must act."
        ),
        Err(ApiError::Delivery(e)) => tracing::warn!(
            function,
            source,
            table,
            rows = facts.rows,
            status,
            latency_ms,
            error = chain(e),
            "Webhook not delivered: the destination failed; the sender will retry."
        ),
        Err(e) => {
            tracing::warn!(function, source, status, latency_ms, error = %e, "Webhook rejected.")
        }
    }
    response
}

async fn accept(
    route: Option<Source>,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    received: DateTime<Utc>,
    deadline: tokio::time::Instant,
    facts: &mut Facts,
) -> Result<Accepted, ApiError> {
    let body = read_body(req, payload, state.max_body_bytes).await?;
    let source = match route {
        Some(source) => source,
        None => Source::detect(&body)?,
    };
    facts.source = Some(source);
    let webhook = verify(
        source,
        &state.credentials,
        req.headers(),
        req.query_string(),
        &body,
    )?;
    let batch = normalise(webhook, received)?;
    let table = state.tables.name(batch.table);
    facts.table = Some(table.to_string());
    facts.rows = batch.rows.len();
    let mut accepted = Accepted {
        source: source.name(),
        table: table.to_string(),
        rows: batch.rows.len(),
        spilled: false,
        duplicate: false,
    };
    let claim = match &state.dedup {
        Some(dedup) => Some(dedup.claim(&batch.key).await),
        None => None,
    };
    let delivery = match claim {
        Some(Claim::Duplicate) => {
            accepted.duplicate = true;
            return Ok(accepted);
        }
        Some(Claim::New(delivery)) => Some(delivery),
        None => None,
    };
    let Batch {
        table: kind, rows, ..
    } = batch;
    accepted.spilled = deliver_or_spill(state, kind, table, rows, deadline).await?;
    if let Some(delivery) = delivery {
        delivery.done();
    }
    Ok(accepted)
}

/// Delivers the rows (grouped with others when group commit is on); if the destination fails,
/// spills them. Returns whether they were spilled.
async fn deliver_or_spill(
    state: &AppState,
    kind: Table,
    table: &TableName,
    rows: Vec<Row>,
    deadline: tokio::time::Instant,
) -> Result<bool, ApiError> {
    let expected = rows.len();
    let delivered = match &state.group {
        Some(group) => group.deliver(kind, rows, deadline).await,
        None => match state
            .destination
            .deliver(kind, table, &rows, deadline)
            .await
        {
            Ok(()) => Ok(()),
            Err(error) => Err((error, rows)),
        },
    };
    match (delivered, &state.spill) {
        (Ok(()), _) => Ok(false),
        (Err((error, _)), None) => Err(error.into()),
        // Rows lost inside the handler cannot be spilled: the sender must send them again.
        (Err((error, rows)), Some(_)) if rows.len() != expected => Err(error.into()),
        (Err((error, rows)), Some(queue)) => spill_rows(queue, kind, &rows, error).await,
    }
}

/// Puts rows the destination refused on the spill queue; if that fails too, the webhook is a 503.
async fn spill_rows(
    queue: &StorageQueue,
    table: Table,
    rows: &[Row],
    error: DeliveryError,
) -> Result<bool, ApiError> {
    let spilled = tokio::time::timeout(SPILL_TIMEOUT, spill::spill(queue, table, rows)).await;
    match spilled {
        Ok(Ok(messages)) => {
            tracing::warn!(
                queue = queue.name(),
                messages,
                rows = rows.len(),
                error = chain(&error),
                fix = error.operator_hint().unwrap_or(""),
                "Delivery failed; rows spilled to the queue for the drain function."
            );
            Ok(true)
        }
        Ok(Err(spill_error)) => {
            tracing::error!(
                queue = queue.name(),
                error = chain(&spill_error),
                "Spill failed; the webhook is answered 503."
            );
            Err(error.into())
        }
        Err(_) => {
            tracing::error!(
                queue = queue.name(),
                "Spill timed out; the webhook is answered 503."
            );
            Err(error.into())
        }
    }
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
