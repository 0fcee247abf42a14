//! Azure Monitor action-group alerts: their rows, their proof (a `tokenid` query token or an
//! Entra ID bearer token from a secure webhook) and the subscription allowlist. Only `bearer`
//! is public (its settings and errors); rows are made only behind the door.

pub mod bearer;
mod rows;

use actix_web::http::header::HeaderMap;

pub(super) use rows::rows;

use super::proof::{no_secure_webhooks, query_token, Gate, Subscriptions, VerifyError};
use super::verify::Secrets;
use crate::schema::Batch;
use bearer::{BearerError, SecureWebhook};

/// The query parameter carrying the token (Microsoft's `tokenid` convention).
const TOKEN_PARAM: &str = "tokenid";

/// The proof. With secure webhooks set up (`entra`) either proof suffices: a valid `tokenid`
/// (not on an anonymous function, where it would stand in for the function key), else a valid
/// bearer token. Without them, `tokenid` when `tokens` (`AZURE_MONITOR_TOKENS`) are set.
pub(super) async fn prove(
    gate: Gate,
    tokens: Option<&Secrets>,
    entra: Option<&SecureWebhook>,
    headers: &HeaderMap,
    query: &str,
) -> Result<(), VerifyError> {
    let Some(entra) = entra else {
        return match gate {
            Gate::FunctionKey => query_token(tokens, query, TOKEN_PARAM),
            Gate::EntraToken => Err(no_secure_webhooks()),
        };
    };
    let tokenid = match (gate, tokens) {
        (Gate::FunctionKey, Some(_)) => match query_token(tokens, query, TOKEN_PARAM) {
            Ok(()) => return Ok(()),
            Err(wrong) => Some(wrong),
        },
        _ => None,
    };
    // Boxed: the token check (which may fetch signing keys) is a kilobyte of state that every
    // webhook's future would otherwise carry.
    match (Box::pin(entra.check(headers)).await, tokenid) {
        (Ok(()), _) => Ok(()),
        // Neither proof: say what was wrong with the `tokenid` as well.
        (Err(BearerError::Missing), Some(wrong)) => Err(VerifyError::NoProof(Box::new(wrong))),
        (Err(token), _) => Err(token.into()),
    }
}

/// Checks the alert's rows against `allowed` (`AZURE_MONITOR_SUBSCRIPTIONS`), whatever proved it.
pub(super) fn authorise(allowed: Option<&Subscriptions>, batch: &Batch) -> Result<(), VerifyError> {
    let Some(allowed) = allowed else {
        return Ok(());
    };
    for row in &batch.rows {
        let subscription = row
            .text_of("SubscriptionId")
            .ok_or(VerifyError::NoSubscription)?;
        if !allowed.admits(&subscription) {
            let quoted = crate::telemetry::excerpt(&subscription, 64).into_owned();
            return Err(VerifyError::SubscriptionNotAllowed(quoted));
        }
    }
    Ok(())
}
