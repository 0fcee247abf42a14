//! The one error type at the HTTP boundary, and the one place that maps it to a status code.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::azure::signing_keys::FAILED_FETCH_BACKOFF;
use crate::destinations::DeliveryError;
use crate::sources::azure_monitor::bearer::BearerError;
use crate::sources::{PayloadError, VerifyError};
use crate::telemetry::excerpt;

/// The most bytes of an answer's message: with every value quoted briefly it never gets here,
/// but no answer may grow with what a sender wrote (an answer stays under 1 KiB).
const MAX_MESSAGE_BYTES: usize = 900;

/// Seconds a sender is asked to wait before retrying after a delivery failure.
pub const RETRY_AFTER_SECONDS: u64 = 30;

/// Why a webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)")]
    TooLarge { limit: usize },
    #[error("the request body is empty: send the webhook's JSON with a Content-Length header")]
    EmptyBody,
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("the rows were not delivered ({}); retry later", delivery_summary(.0))]
    Delivery(#[from] DeliveryError),
}

/// What the sender is told about a failed delivery: the kind, never the destination's details.
fn delivery_summary(error: &DeliveryError) -> String {
    match error {
        DeliveryError::Rejected { status, .. } => format!("Log Analytics answered HTTP {status}"),
        DeliveryError::Unreachable(_) => "Log Analytics could not be reached".into(),
        DeliveryError::DeadlineExceeded => "Log Analytics did not answer in time".into(),
        DeliveryError::InFlight => {
            "an earlier attempt is still in flight; a retry learns its outcome".into()
        }
        DeliveryError::Token(_) => "no access token for Log Analytics".into(),
        DeliveryError::RowTooLarge { .. } => "a row is too large for Log Analytics".into(),
        DeliveryError::Write { .. } => "the local file could not be written".into(),
        DeliveryError::Encode(_) => "the rows could not be encoded".into(),
        DeliveryError::Claims(_) => "the webhook could not be claimed in Storage".into(),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::EmptyBody | ApiError::BodyRead(_) | ApiError::Payload(_) => {
                StatusCode::BAD_REQUEST
            }
            // The action group retries a 503; the keys may be back (or fetched again) by then.
            ApiError::Verify(VerifyError::Bearer(
                BearerError::KeysUnavailable { .. } | BearerError::KeyNotYetKnown { .. },
            )) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Verify(
                VerifyError::SubscriptionNotAllowed(_) | VerifyError::NoSubscription,
            ) => StatusCode::FORBIDDEN,
            ApiError::Verify(_) => StatusCode::UNAUTHORIZED,
            ApiError::Delivery(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let retry_after = match self {
            ApiError::Delivery(error) => Some(
                error
                    .retry_after()
                    .unwrap_or(RETRY_AFTER_SECONDS)
                    .clamp(1, 3600),
            ),
            ApiError::Verify(VerifyError::Bearer(BearerError::KeysUnavailable { .. })) => {
                Some(FAILED_FETCH_BACKOFF.as_secs())
            }
            ApiError::Verify(VerifyError::Bearer(BearerError::KeyNotYetKnown {
                retry_after,
                ..
            })) => Some(*retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let message = self.to_string();
        response.json(json!({ "error": excerpt(&message, MAX_MESSAGE_BYTES) }))
    }
}
