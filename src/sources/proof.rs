//! What a request must prove and why a proof failed, with the checks every source's proof is
//! made of: a required secret, a header, an optional query token.

use actix_web::http::header::HeaderMap;

use super::azure_monitor::bearer::BearerError;
use super::verify::Secrets;
use crate::azure::is_guid;

/// What a request must prove, by the function it came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The Functions host checked a function key; the source's own proof is checked as set.
    FunctionKey,
    /// An anonymous function: only an Entra ID bearer token (a secure webhook) is proof.
    EntraToken,
}

/// Subscription ids, lower-case, whose Azure Monitor alerts are accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscriptions(Vec<String>);

impl Subscriptions {
    /// Splits a comma-separated list of subscription ids (GUIDs); `None` when it holds none.
    pub fn parse_list(value: &str) -> Result<Option<Subscriptions>, String> {
        let mut ids = Vec::new();
        for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !is_guid(id) {
                return Err(format!("`{id}` is not a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)"));
            }
            ids.push(id.to_ascii_lowercase());
        }
        Ok((!ids.is_empty()).then_some(Subscriptions(ids)))
    }

    pub(super) fn admits(&self, id: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(id))
    }
}

/// Why a webhook was not accepted: not authentic (401), from a subscription not allowed (403),
/// or not checkable yet because Entra ID's signing keys could not be fetched (503).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error(
        "{setting} is not set, so {sender} webhooks cannot be verified; set it in the app settings"
    )]
    NotConfigured {
        setting: &'static str,
        sender: &'static str,
    },
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header does not match the body under any configured secret")]
    BadSignature(&'static str),
    #[error("the {0} header is not base64: it must be the base64 of the body's HMAC-SHA256")]
    SignatureNotBase64(&'static str),
    #[error("the {0} header does not match any configured token")]
    BadHeaderToken(&'static str),
    #[error("the `{0}` query parameter is missing")]
    MissingQueryToken(&'static str),
    #[error("the `{0}` query parameter does not match any configured token")]
    BadQueryToken(&'static str),
    #[error(transparent)]
    Bearer(#[from] BearerError),
    #[error("{0}, and there is no Authorization bearer token either: send a valid `tokenid` or an Entra ID token")]
    NoProof(Box<VerifyError>),
    #[error("the alert's subscription {0} is not in AZURE_MONITOR_SUBSCRIPTIONS")]
    SubscriptionNotAllowed(String),
    #[error(
        "the alert names no subscription, and AZURE_MONITOR_SUBSCRIPTIONS accepts only listed ones"
    )]
    NoSubscription,
}

/// A request through an anonymous function when secure webhooks are not set up.
pub(super) fn no_secure_webhooks() -> VerifyError {
    VerifyError::NotConfigured {
        setting: "AZURE_MONITOR_TENANT_ID",
        sender: "Azure Monitor secure",
    }
}

/// The secrets of a source that cannot be verified without them, or the setting to set.
pub(super) fn required<'c>(
    secrets: Option<&'c Secrets>,
    setting: &'static str,
    sender: &'static str,
) -> Result<&'c Secrets, VerifyError> {
    secrets.ok_or(VerifyError::NotConfigured { setting, sender })
}

pub(super) fn header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Checks an optional query token: no configured tokens means none is required.
pub(super) fn query_token(
    tokens: Option<&Secrets>,
    query: &str,
    param: &'static str,
) -> Result<(), VerifyError> {
    let Some(tokens) = tokens else { return Ok(()) };
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let presented = pairs
        .iter()
        .find(|(name, _)| name == param)
        .map(|(_, value)| value.as_str())
        .ok_or(VerifyError::MissingQueryToken(param))?;
    if tokens.matches_token(presented) {
        Ok(())
    } else {
        Err(VerifyError::BadQueryToken(param))
    }
}
