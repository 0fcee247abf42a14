//! Entra ID access tokens for the Logs Ingestion API: managed identity or a client secret,
//! cached, refreshed before expiry, and fetched once for all concurrent callers.
//!
//! See <https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! and <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::timeouts::Timeouts;

/// The managed-identity endpoint's API version on App Service and Functions.
pub const MANAGED_IDENTITY_API_VERSION: &str = "2019-08-01";
const IDENTITY_HEADER: &str = "X-IDENTITY-HEADER";
/// Refresh this long before expiry (or at half-life for tokens that live shorter than twice this).
const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);
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
}

#[derive(Clone)]
struct CachedToken {
    value: SecretString,
    refresh_at: DateTime<Utc>,
}

/// Gets and caches tokens for one audience. No request is made until the first token is needed.
pub struct TokenProvider {
    client: reqwest::Client,
    credential: Credential,
    audience: String,
    // Held across a fetch, so concurrent callers wait for one request instead of each making one.
    cache: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("credential", &self.credential.kind())
            .field("audience", &self.audience)
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
            client: super::http::client(timeouts),
            credential,
            audience,
            cache: Mutex::new(None),
        }
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// A token valid for at least a few more minutes, from the cache when it has one.
    pub async fn token(&self) -> Result<SecretString, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(token) = cache.as_ref().filter(|t| Utc::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let token = self.fetch().await?;
        tracing::debug!(credential = self.credential.kind(), refresh_at = %token.refresh_at, "Got an access token.");
        *cache = Some(token.clone());
        Ok(token.value)
    }

    /// Forgets the cached token if it is still `rejected`, so the next call fetches a new one.
    pub async fn invalidate(&self, rejected: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            *cache = None;
        }
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

fn parse_token(body: &str, requested_at: DateTime<Utc>) -> Result<CachedToken, String> {
    let response: TokenResponse =
        serde_json::from_str(body).map_err(|e| format!("not a token response: {e}"))?;
    let expires_at = response
        .expires_on
        .as_ref()
        .and_then(NumberOrString::seconds)
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .or_else(|| {
            let seconds = response.expires_in.as_ref()?.seconds()?;
            Some(requested_at + TimeDelta::seconds(seconds))
        })
        .ok_or("neither expires_on nor expires_in")?;
    let lifetime = expires_at - requested_at;
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    Ok(CachedToken {
        value: SecretString::from(response.access_token),
        refresh_at: expires_at - margin,
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
