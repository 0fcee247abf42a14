//! Entra ID access tokens for the Logs Ingestion API: managed identity or a client secret,
//! cached, refreshed before expiry in the background, and fetched once for all concurrent
//! callers. A caller waits for a token at most until its own deadline; a failed or stalled
//! refresh leaves the cached token in use until it really expires.
//!
//! See <https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! and <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::timeouts::Timeouts;

/// The managed-identity endpoint's API version on App Service and Functions.
pub const MANAGED_IDENTITY_API_VERSION: &str = "2019-08-01";
const IDENTITY_HEADER: &str = "X-IDENTITY-HEADER";
/// Refresh this long before expiry (or at half-life for tokens that live shorter than twice this).
const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// The longest a token is trusted, whatever the endpoint says (Entra ID issues 1 to 24 hours).
const MAX_LIFETIME: TimeDelta = TimeDelta::hours(24);
/// After a failed background refresh, the cached token is served this long before another try.
const REFRESH_RETRY: Duration = Duration::from_secs(5);
const MAX_ERROR_BODY: usize = 512;

/// How the handler proves who it is.
#[derive(Clone, Debug)]
pub enum Credential {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, set by App Service when an identity is enabled.
    ManagedIdentity {
        endpoint: Url,
        header: SecretString,
        /// `AZURE_CLIENT_ID`: selects a user-assigned identity; `None` = system-assigned.
        client_id: Option<String>,
    },
    /// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`.
    ClientSecret {
        /// `AZURE_AUTHORITY_HOST`, e.g. `https://login.microsoftonline.com`.
        authority: Url,
        tenant_id: String,
        client_id: String,
        secret: SecretString,
    },
}

impl Credential {
    /// A short name for logs and operator messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ManagedIdentity {
                client_id: None, ..
            } => "system-assigned managed identity",
            Credential::ManagedIdentity { .. } => "user-assigned managed identity",
            Credential::ClientSecret { .. } => "service principal (client secret)",
        }
    }
}

/// Why no token could be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the {kind} token endpoint could not be reached")]
    Unreachable {
        kind: &'static str,
        #[source]
        source: std::sync::Arc<reqwest::Error>,
    },
    #[error("the {kind} token endpoint answered HTTP {status}: {body}")]
    Refused {
        kind: &'static str,
        status: u16,
        body: String,
    },
    #[error("the {kind} token endpoint answered without a usable token: {detail}")]
    Malformed { kind: &'static str, detail: String },
    #[error("the {kind} token endpoint did not answer before the deadline")]
    Timeout { kind: &'static str },
}

#[derive(Clone)]
pub struct CachedToken {
    value: SecretString,
    pub refresh_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Gets and caches tokens for one audience. No request is made until the first token is needed.
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    credential: Credential,
    audience: String,
    state: Mutex<CacheState>,
    /// Woken whenever a fetch ends.
    fetched: Notify,
}

#[derive(Default)]
struct CacheState {
    token: Option<CachedToken>,
    /// A fetch is running (in its own task, so no caller's deadline cancels it).
    fetching: bool,
    /// How many fetches have ended, and the error of the last one if it failed.
    fetches: u64,
    last_error: Option<TokenError>,
    last_failure: Option<Instant>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("credential", &self.inner.credential.kind())
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Client-credentials flow: seconds from now.
    expires_in: Option<NumberOrString>,
    /// Managed identity: Unix seconds, usually as a string.
    expires_on: Option<NumberOrString>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(i64),
    String(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<i64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::String(s) => s.trim().parse().ok(),
        }
    }
}

impl TokenProvider {
    /// `audience` is a resource URI such as `https://monitor.azure.com`.
    pub fn new(credential: Credential, audience: String, timeouts: &Timeouts) -> Self {
        TokenProvider {
            inner: Arc::new(Inner {
                client: super::http::client(timeouts),
                credential,
                audience,
                state: Mutex::default(),
                fetched: Notify::new(),
            }),
        }
    }

    pub fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// A token that has not expired: the cached one (refreshed in the background once it nears
    /// expiry), or a fresh one, waited for until `deadline` at the latest.
    pub async fn token(&self, deadline: Instant) -> Result<SecretString, TokenError> {
        let mut waited_for = None;
        loop {
            let fetched = self.inner.fetched.notified();
            tokio::pin!(fetched);
            fetched.as_mut().enable();
            {
                let mut state = self.inner.lock();
                let now = Utc::now();
                if let Some(token) = state.token.as_ref().filter(|t| now < t.expires_at) {
                    let value = token.value.clone();
                    let retry_due = state
                        .last_failure
                        .is_none_or(|at| at.elapsed() >= REFRESH_RETRY);
                    if now >= token.refresh_at && retry_due {
                        self.start_fetch(&mut state);
                    }
                    return Ok(value);
                }
                if waited_for.is_some_and(|fetches| state.fetches > fetches) {
                    if let Some(error) = state.last_error.clone() {
                        return Err(error);
                    }
                }
                self.start_fetch(&mut state);
                waited_for = Some(state.fetches);
            }
            if tokio::time::timeout_at(deadline, fetched).await.is_err() {
                let kind = self.inner.credential.kind();
                return Err(TokenError::Timeout { kind });
            }
        }
    }

    /// Forgets the cached token if it is still `rejected`, so the next call fetches a new one.
    pub fn invalidate(&self, rejected: &SecretString) {
        let mut state = self.inner.lock();
        if state
            .token
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            state.token = None;
        }
    }

    /// Starts a fetch in its own task unless one is running.
    fn start_fetch(&self, state: &mut CacheState) {
        if std::mem::replace(&mut state.fetching, true) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let result = inner.fetch().await;
            let mut state = inner.lock();
            state.fetching = false;
            state.fetches += 1;
            match result {
                Ok(token) => {
                    tracing::debug!(credential = inner.credential.kind(), refresh_at = %token.refresh_at, "Got an access token.");
                    state.token = Some(token);
                    state.last_error = None;
                    state.last_failure = None;
                }
                Err(error) => {
                    tracing::warn!(credential = inner.credential.kind(), error = %error, "No access token.");
                    state.last_error = Some(error);
                    state.last_failure = Some(Instant::now());
                }
            }
            drop(state);
            inner.fetched.notify_waiters();
        });
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn fetch(&self) -> Result<CachedToken, TokenError> {
        let kind = self.credential.kind();
        let request = match &self.credential {
            Credential::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => {
                let mut query = vec![
                    ("resource", self.audience.as_str()),
                    ("api-version", MANAGED_IDENTITY_API_VERSION),
                ];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                self.client
                    .get(endpoint.clone())
                    .query(&query)
                    .header(IDENTITY_HEADER, header.expose_secret())
            }
            Credential::ClientSecret {
                authority,
                tenant_id,
                client_id,
                secret,
            } => {
                let scope = format!("{}/.default", self.audience.trim_end_matches('/'));
                self.client.post(token_url(authority, tenant_id)).form(&[
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose_secret()),
                    ("grant_type", "client_credentials"),
                    ("scope", &scope),
                ])
            }
        };
        let requested_at = Utc::now();
        let response = request
            .send()
            .await
            .map_err(|source| TokenError::Unreachable {
                kind,
                source: source.into(),
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|source| TokenError::Unreachable {
                kind,
                source: source.into(),
            })?;
        if !status.is_success() {
            let mut body = body;
            body.truncate(body.floor_char_boundary(MAX_ERROR_BODY));
            return Err(TokenError::Refused {
                kind,
                status: status.as_u16(),
                body,
            });
        }
        parse_token(&body, requested_at).map_err(|detail| TokenError::Malformed { kind, detail })
    }
}

/// `<authority>/<tenant>/oauth2/v2.0/token`.
pub fn token_url(authority: &Url, tenant_id: &str) -> Url {
    let mut url = authority.clone();
    url.set_path(&format!("{tenant_id}/oauth2/v2.0/token"));
    url
}

/// Reads a token answer. Its expiry is an outside number: it is checked, and a lifetime over
/// [`MAX_LIFETIME`] counts as that.
pub fn parse_token(body: &str, requested_at: DateTime<Utc>) -> Result<CachedToken, String> {
    let response: TokenResponse =
        serde_json::from_str(body).map_err(|e| format!("not a token response: {e}"))?;
    let lifetime = match (&response.expires_on, &response.expires_in) {
        (Some(on), _) => on
            .seconds()
            .map(|s| s.saturating_sub(requested_at.timestamp())),
        (None, Some(within)) => within.seconds(),
        (None, None) => return Err("neither expires_on nor expires_in".into()),
    }
    .ok_or("an expiry that is not a whole number of seconds")?;
    if lifetime <= 0 {
        return Err("a token that has already expired".into());
    }
    let lifetime = TimeDelta::try_seconds(lifetime)
        .unwrap_or(MAX_LIFETIME)
        .min(MAX_LIFETIME);
    let expires_at = requested_at + lifetime;
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    Ok(CachedToken {
        value: SecretString::from(response.access_token),
        refresh_at: expires_at - margin,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn managed_identity_tokens_expire_at_expires_on() {
        let token = parse_token(r#"{"access_token":"t","expires_on":"10000"}"#, at(0)).unwrap();
        assert_eq!(token.refresh_at, at(10000 - 300));
    }

    #[test]
    fn client_credential_tokens_expire_after_expires_in() {
        let token = parse_token(r#"{"access_token":"t","expires_in":3599}"#, at(100)).unwrap();
        assert_eq!(token.refresh_at, at(100 + 3599 - 300));
    }

    #[test]
    fn short_lived_tokens_are_refreshed_at_half_life() {
        let token = parse_token(r#"{"access_token":"t","expires_in":"60"}"#, at(0)).unwrap();
        assert_eq!(token.refresh_at, at(30));
    }

    #[test]
    fn a_lifetime_of_any_size_is_capped_at_a_day() {
        let day = 24 * 3600;
        for body in [
            r#"{"access_token":"t","expires_in":9000000000000}"#,
            r#"{"access_token":"t","expires_in":9223372036854775807}"#,
            r#"{"access_token":"t","expires_on":"9223372036854775807"}"#,
            r#"{"access_token":"t","expires_on":-9223372036854775808,"expires_in":5}"#,
        ] {
            match parse_token(body, at(1_000)) {
                Ok(token) => assert_eq!(token.expires_at, at(1_000 + day), "{body}"),
                Err(e) => assert!(e.contains("expired"), "{body}: {e}"),
            }
        }
        assert!(parse_token(r#"{"access_token":"t","expires_in":-5}"#, at(0)).is_err());
    }

    #[test]
    fn a_response_without_expiry_is_refused() {
        assert!(parse_token(r#"{"access_token":"t"}"#, at(0)).is_err());
        assert!(parse_token("<html>", at(0)).is_err());
    }

    #[test]
    fn the_token_url_names_the_tenant() {
        let authority = Url::parse("https://login.microsoftonline.us/").unwrap();
        assert_eq!(
            token_url(&authority, "tid").as_str(),
            "https://login.microsoftonline.us/tid/oauth2/v2.0/token"
        );
    }
}
