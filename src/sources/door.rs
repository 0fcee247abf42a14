//! The one door into `sources/`: a request's parts and its body in, a verified and authorised
//! [`Batch`] out, or why it was refused. Precheck → body → detect → verify → parse (once) →
//! rows → authorise; nothing else in the crate turns bytes into a batch.

use std::future::Future;

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};

use super::azure_monitor::bearer::{bearer, SecureWebhook, SecureWebhookConfig};
use super::json::{self, Json, PayloadError};
use super::proof::{no_secure_webhooks, Gate, Subscriptions, VerifyError};
use super::verify::Secrets;
use super::{auditwolf, azure_monitor, skytap, stackstate, Source};
use crate::schema::{Batch, Row};
use crate::timeouts::Timeouts;

/// The secrets each source is verified with. Required for AuditWolf and StackState.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// `AUDITWOLF_SECRETS`
    pub auditwolf: Option<Secrets>,
    /// `STACKSTATE_TOKENS`
    pub stackstate: Option<Secrets>,
    /// `AZURE_MONITOR_TOKENS`: when set, `?tokenid=` must match one.
    pub azure_monitor: Option<Secrets>,
    /// `SKYTAP_TOKENS`: when set, `?token=` must match one.
    pub skytap: Option<Secrets>,
    /// `AZURE_MONITOR_TENANT_ID` and `AZURE_MONITOR_AUDIENCE`: when set, an Azure Monitor
    /// request needs a valid Entra ID bearer token, or else a valid `tokenid`.
    pub secure_webhook: Option<SecureWebhookConfig>,
    /// `AZURE_MONITOR_SUBSCRIPTIONS`: when set, only these subscriptions' alerts are accepted.
    pub azure_monitor_subscriptions: Option<Subscriptions>,
}

/// A webhook request as the door sees it, before its body.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The source its function serves, or `None` to detect it from the body.
    pub route: Option<Source>,
    pub gate: Gate,
    pub headers: &'a HeaderMap,
    /// The raw query string.
    pub query: &'a str,
}

/// A webhook let in: its source and its rows.
#[derive(Debug)]
pub struct Admitted {
    pub source: Source,
    pub batch: Batch,
}

/// Why a webhook was not let in, and its source when that was known.
#[derive(Debug)]
pub struct Refused<E> {
    pub source: Option<Source>,
    pub reason: Refusal<E>,
}

#[derive(Debug)]
pub enum Refusal<E> {
    /// The body could not be read (the reader's own error).
    Body(E),
    /// The body is not a webhook this handler understands.
    Payload(PayloadError),
    /// The request did not prove where it came from, or is not allowed.
    Verify(VerifyError),
}

/// Everything webhooks are let in with, shared by every request.
#[derive(Debug)]
pub struct Verifier {
    credentials: Credentials,
    secure_webhook: Option<SecureWebhook>,
}

/// Witness that a webhook's bytes passed its source's proof: only [`Verifier::verify`] makes
/// one, and rows are only made with one.
struct Verified {
    source: Source,
}

impl Verifier {
    /// Nothing is fetched until a request needs it.
    pub fn new(credentials: &Credentials, timeouts: &Timeouts) -> Self {
        Verifier {
            secure_webhook: credentials
                .secure_webhook
                .clone()
                .map(|config| SecureWebhook::new(config, timeouts)),
            credentials: credentials.clone(),
        }
    }

    /// Lets a webhook in: refuses what the headers alone refuse before `body` is read, then
    /// verifies the body's exact bytes, parses them once into rows and authorises those.
    pub async fn admit<E>(
        &self,
        request: &Request<'_>,
        body: impl Future<Output = Result<Bytes, E>>,
        received: DateTime<Utc>,
    ) -> Result<Admitted, Refused<E>> {
        let mut source = request.route;
        let refused = |source, reason| Refused { source, reason };
        self.precheck(request)
            .map_err(|e| refused(source, Refusal::Verify(e)))?;
        let body = body.await.map_err(|e| refused(source, Refusal::Body(e)))?;
        // A route names its source; the generic one reads it from the body, before the proof.
        let parsed = match source {
            Some(_) => None,
            None => {
                let value = json::parse(&body).map_err(|e| refused(None, Refusal::Payload(e)))?;
                let detected = Source::detect(&value);
                source = Some(detected.map_err(|e| refused(None, Refusal::Payload(e)))?);
                Some(value)
            }
        };
        let source = source.expect("routed or detected");
        let fail = |reason| refused(Some(source), reason);
        let verified = self
            .verify(source, request, &body)
            .await
            .map_err(|e| fail(Refusal::Verify(e)))?;
        let value = match parsed {
            Some(value) => value,
            None => json::parse(&body).map_err(|e| fail(Refusal::Payload(e)))?,
        };
        let mut batch = rows(&verified, &value, received).map_err(|e| fail(Refusal::Payload(e)))?;
        batch.rows.iter_mut().for_each(Row::shrink_to_fit);
        if source == Source::AzureMonitor {
            let allowed = self.credentials.azure_monitor_subscriptions.as_ref();
            azure_monitor::authorise(allowed, &batch).map_err(|e| fail(Refusal::Verify(e)))?;
        }
        Ok(Admitted { source, batch })
    }

    /// What can be refused from the headers alone: on an anonymous function, a request without
    /// a bearer token (or with secure webhooks not set up), as the full check would refuse it.
    fn precheck(&self, request: &Request<'_>) -> Result<(), VerifyError> {
        match (request.gate, &self.secure_webhook) {
            (Gate::FunctionKey, _) => Ok(()),
            (Gate::EntraToken, None) => Err(no_secure_webhooks()),
            (Gate::EntraToken, Some(_)) => {
                bearer(request.headers).map(drop).map_err(VerifyError::from)
            }
        }
    }

    /// Checks the proof `source` asks of a request through its gate, over the exact bytes.
    async fn verify(
        &self,
        source: Source,
        request: &Request<'_>,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let c = &self.credentials;
        let (headers, query) = (request.headers, request.query);
        match (source, request.gate) {
            (Source::AzureMonitor, gate) => {
                let entra = self.secure_webhook.as_ref();
                azure_monitor::prove(gate, c.azure_monitor.as_ref(), entra, headers, query).await?
            }
            (_, Gate::EntraToken) => return Err(no_secure_webhooks()),
            (Source::AuditWolf, _) => auditwolf::prove(c.auditwolf.as_ref(), headers, body)?,
            (Source::StackState, _) => stackstate::prove(c.stackstate.as_ref(), headers)?,
            (Source::Skytap, _) => skytap::prove(c.skytap.as_ref(), query)?,
        }
        Ok(Verified { source })
    }
}

/// Turns a verified webhook's parsed body into rows for its table.
fn rows(
    verified: &Verified,
    value: &Json<'_>,
    received: DateTime<Utc>,
) -> Result<Batch, PayloadError> {
    if !value.is_object() {
        return Err(PayloadError::Unrecognised("a JSON object"));
    }
    match verified.source {
        Source::Skytap => skytap::rows(value, received),
        Source::AuditWolf => auditwolf::rows(value, received),
        Source::AzureMonitor => azure_monitor::rows(value, received),
        Source::StackState => stackstate::rows(value, received),
    }
}
