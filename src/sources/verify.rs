//! Verifying a webhook over its raw bytes: AuditWolf's HMAC, StackState's header token, the
//! optional query tokens for Azure Monitor and Skytap, and Azure Monitor's Entra ID bearer
//! tokens. All secret comparisons are constant-time.

use actix_web::http::header::HeaderMap;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::secure_webhook::{bearer, SecureWebhook, SecureWebhookConfig, TokenError};
use super::Source;
use crate::azure::is_guid;
use crate::schema::Batch;
use crate::timeouts::Timeouts;

/// AuditWolf's signature header: base64(HMAC-SHA256(secret, body)).
pub const AUDITWOLF_SIGNATURE: &str = "x-auditwolf-webhook-sig";
/// StackState's secret token header.
pub const STACKSTATE_TOKEN: &str = "X-StackState-Webhook-Token";
/// Query parameter carrying the Azure Monitor token (Microsoft's `tokenid` convention).
pub const AZURE_MONITOR_TOKEN_PARAM: &str = "tokenid";
/// Query parameter carrying the Skytap token.
pub const SKYTAP_TOKEN_PARAM: &str = "token";

/// One or more live secrets for a source (several while rotating). `Debug` shows none of them.
#[derive(Clone)]
pub struct Secrets(Vec<SecretString>);

impl Secrets {
    /// Splits a comma-separated setting; `None` when it holds no secret at all.
    pub fn parse_list(value: &str) -> Option<Secrets> {
        let secrets: Vec<SecretString> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        (!secrets.is_empty()).then_some(Secrets(secrets))
    }

    /// True when `presented` equals one of the secrets. Every secret is compared, in constant
    /// time over SHA-256 digests, so neither the match nor the secrets' lengths leak by timing.
    fn matches_token(&self, presented: &str) -> bool {
        let presented = Sha256::digest(presented.as_bytes());
        self.0.iter().fold(false, |found, secret| {
            let expected = Sha256::digest(secret.expose_secret().as_bytes());
            found | bool::from(expected.ct_eq(&presented))
        })
    }

    /// True when `signature` is the HMAC-SHA256 of `body` under one of the secrets.
    fn matches_hmac(&self, body: &[u8], signature: &[u8]) -> bool {
        self.0.iter().fold(false, |found, secret| {
            let mut mac = hmac_for(secret.expose_secret());
            mac.update(body);
            found | mac.verify_slice(signature).is_ok()
        })
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets([{} redacted])", self.0.len())
    }
}

fn hmac_for(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Computes AuditWolf's signature for a body: base64(HMAC-SHA256(secret as UTF-8, body)).
pub fn sign_auditwolf(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac_for(secret);
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

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

    fn admits(&self, id: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(id))
    }
}

/// What a request must prove, by the function it came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The Functions host checked a function key; the source's own proof is checked as set.
    FunctionKey,
    /// An anonymous function: only an Entra ID bearer token (a secure webhook) is proof.
    EntraToken,
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
    Token(#[from] TokenError),
    #[error("{0}, and there is no Authorization bearer token either: send a valid `tokenid` or an Entra ID token")]
    NoProof(Box<VerifyError>),
    #[error("the alert's subscription {0} is not in AZURE_MONITOR_SUBSCRIPTIONS")]
    SubscriptionNotAllowed(String),
    #[error(
        "the alert names no subscription, and AZURE_MONITOR_SUBSCRIPTIONS accepts only listed ones"
    )]
    NoSubscription,
}

/// Everything webhooks are verified with, shared by every request.
#[derive(Debug)]
pub struct Verifier {
    credentials: Credentials,
    secure_webhook: Option<SecureWebhook>,
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

    /// What can be refused from the headers alone, before the body is read: on an anonymous
    /// function, a request without a bearer token (or with secure webhooks not configured).
    /// The answer is the one [`Verifier::verify`] would give after reading the body.
    pub fn precheck(&self, gate: Gate, headers: &HeaderMap) -> Result<(), VerifyError> {
        match (gate, &self.secure_webhook) {
            (Gate::FunctionKey, _) => Ok(()),
            (Gate::EntraToken, None) => Err(VerifyError::NotConfigured {
                setting: "AZURE_MONITOR_TENANT_ID",
                sender: "Azure Monitor secure",
            }),
            (Gate::EntraToken, Some(_)) => bearer(headers).map(drop).map_err(VerifyError::from),
        }
    }

    /// Verifies a webhook from `source` that came through a function with `gate`.
    pub async fn verify<'a>(
        &self,
        source: Source,
        gate: Gate,
        headers: &HeaderMap,
        query: &str,
        body: &'a [u8],
    ) -> Result<Verified<'a>, VerifyError> {
        match (source, gate, &self.secure_webhook) {
            (Source::AzureMonitor, _, Some(entra)) => {
                // Either proof suffices: a valid `tokenid` (not on an anonymous function,
                // where it would stand in for the function key), else a valid bearer token.
                let tokens = &self.credentials.azure_monitor;
                let tokenid = match (gate, tokens) {
                    (Gate::FunctionKey, Some(_)) => {
                        match query_token(tokens, query, AZURE_MONITOR_TOKEN_PARAM) {
                            Ok(()) => return Ok(Verified { source, body }),
                            Err(wrong) => Some(wrong),
                        }
                    }
                    _ => None,
                };
                match (entra.check(headers).await, tokenid) {
                    (Ok(()), _) => Ok(Verified { source, body }),
                    // Neither proof: say what was wrong with the `tokenid` as well.
                    (Err(TokenError::Missing), Some(wrong)) => {
                        Err(VerifyError::NoProof(Box::new(wrong)))
                    }
                    (Err(token), _) => Err(token.into()),
                }
            }
            (_, Gate::EntraToken, _) => Err(VerifyError::NotConfigured {
                setting: "AZURE_MONITOR_TENANT_ID",
                sender: "Azure Monitor secure",
            }),
            (_, Gate::FunctionKey, _) => verify(source, &self.credentials, headers, query, body),
        }
    }

    /// Checks a verified webhook's rows against `AZURE_MONITOR_SUBSCRIPTIONS`, whatever proved it.
    pub fn authorise(&self, source: Source, batch: &Batch) -> Result<(), VerifyError> {
        let Some(allowed) = &self.credentials.azure_monitor_subscriptions else {
            return Ok(());
        };
        if source != Source::AzureMonitor {
            return Ok(());
        }
        for row in &batch.rows {
            let subscription = row
                .get("SubscriptionId")
                .and_then(serde_json::Value::as_str)
                .ok_or(VerifyError::NoSubscription)?;
            if !allowed.admits(subscription) {
                let quoted = crate::telemetry::excerpt(subscription, 64).into_owned();
                return Err(VerifyError::SubscriptionNotAllowed(quoted));
            }
        }
        Ok(())
    }
}

/// A webhook whose bytes passed its source's verification. Only [`verify`] makes one.
#[derive(Debug)]
pub struct Verified<'a> {
    source: Source,
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    pub fn source(&self) -> Source {
        self.source
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// Verifies a webhook from `source` over the exact bytes received, by its secrets.
fn verify<'a>(
    source: Source,
    credentials: &Credentials,
    headers: &HeaderMap,
    query: &str,
    body: &'a [u8],
) -> Result<Verified<'a>, VerifyError> {
    match source {
        Source::AuditWolf => {
            let secrets = required(&credentials.auditwolf, "AUDITWOLF_SECRETS", source)?;
            let header = header(headers, AUDITWOLF_SIGNATURE)?;
            let signature = STANDARD
                .decode(header.trim())
                .map_err(|_| VerifyError::SignatureNotBase64(AUDITWOLF_SIGNATURE))?;
            if !secrets.matches_hmac(body, &signature) {
                return Err(VerifyError::BadSignature(AUDITWOLF_SIGNATURE));
            }
        }
        Source::StackState => {
            let tokens = required(&credentials.stackstate, "STACKSTATE_TOKENS", source)?;
            if !tokens.matches_token(header(headers, STACKSTATE_TOKEN)?) {
                return Err(VerifyError::BadHeaderToken(STACKSTATE_TOKEN));
            }
        }
        Source::AzureMonitor => {
            query_token(&credentials.azure_monitor, query, AZURE_MONITOR_TOKEN_PARAM)?
        }
        Source::Skytap => query_token(&credentials.skytap, query, SKYTAP_TOKEN_PARAM)?,
    }
    Ok(Verified { source, body })
}

fn required<'c>(
    secrets: &'c Option<Secrets>,
    setting: &'static str,
    source: Source,
) -> Result<&'c Secrets, VerifyError> {
    secrets.as_ref().ok_or(VerifyError::NotConfigured {
        setting,
        sender: source.name(),
    })
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Checks an optional query token: no configured tokens means none is required.
fn query_token(
    tokens: &Option<Secrets>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/auditwolf-task-create.json");

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name.to_ascii_lowercase().leak()),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn auditwolf(secrets: &str) -> Credentials {
        Credentials {
            auditwolf: Secrets::parse_list(secrets),
            ..Default::default()
        }
    }

    #[test]
    fn auditwolf_signature_matches_the_published_vector() {
        assert_eq!(
            sign_auditwolf("test-webhook-secret", FIXTURE),
            "sWM8Jsu3vLgdjUi82yTT6HUcIL2TPymqnQ3tpVZwqgQ="
        );
    }

    #[test]
    fn auditwolf_accepts_any_live_secret_and_rejects_a_tampered_body() {
        let sig = sign_auditwolf("new", FIXTURE);
        let h = headers(&[(AUDITWOLF_SIGNATURE, &sig)]);
        let creds = auditwolf("old, new");
        assert!(verify(Source::AuditWolf, &creds, &h, "", FIXTURE).is_ok());
        let mut tampered = FIXTURE.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(Source::AuditWolf, &creds, &h, "", &tampered).unwrap_err(),
            VerifyError::BadSignature(AUDITWOLF_SIGNATURE)
        );
        let garbled = headers(&[(AUDITWOLF_SIGNATURE, "not base64!")]);
        assert_eq!(
            verify(Source::AuditWolf, &creds, &garbled, "", FIXTURE).unwrap_err(),
            VerifyError::SignatureNotBase64(AUDITWOLF_SIGNATURE)
        );
    }

    #[test]
    fn a_source_without_its_required_secret_names_the_setting() {
        let error = verify(
            Source::StackState,
            &Credentials::default(),
            &HeaderMap::new(),
            "",
            b"{}",
        )
        .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("STACKSTATE_TOKENS is not set"));
    }

    #[test]
    fn optional_query_tokens_are_checked_only_when_configured() {
        let none = Credentials::default();
        assert!(verify(Source::Skytap, &none, &HeaderMap::new(), "", b"{}").is_ok());
        let creds = Credentials {
            skytap: Secrets::parse_list("s3cret"),
            ..Default::default()
        };
        let h = HeaderMap::new();
        assert!(verify(Source::Skytap, &creds, &h, "code=x&token=s3cret", b"{}").is_ok());
        assert_eq!(
            verify(Source::Skytap, &creds, &h, "token=nope", b"{}").unwrap_err(),
            VerifyError::BadQueryToken(SKYTAP_TOKEN_PARAM)
        );
        assert_eq!(
            verify(Source::Skytap, &creds, &h, "code=x", b"{}").unwrap_err(),
            VerifyError::MissingQueryToken(SKYTAP_TOKEN_PARAM)
        );
    }

    #[test]
    fn secrets_never_print() {
        let secrets = Secrets::parse_list("hunter2").unwrap();
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }
}
