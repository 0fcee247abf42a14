//! Entra ID's token-signing keys for one tenant: read from its OpenID metadata on first use,
//! cached, and fetched again for a key not seen yet, at a bounded rate, once for all callers.
//!
//! See <https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-signature>.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::DecodingKey;
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::http::{self, is_secure};
use crate::timeouts::Timeouts;

/// A token naming a key the cache does not hold fetches the keys again at most this often:
/// a flood of forged `kid`s costs Entra ID one request per interval, not one per token.
pub const UNKNOWN_KEY_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Keys are fetched again after this long even when every token names a known key, so a key
/// Entra ID withdrew stops being trusted within a day.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 3600);
/// After a failed fetch, requests are answered 503 without another attempt for this long.
pub const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(5);

/// How far a token's `iat` may run ahead of this machine's clock.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a key could not be had.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum KeyError {
    /// None of the keys has this `kid`, and they were fetched after the token was issued (Entra
    /// ID publishes a key well before it signs with it), so no refetch would find it.
    #[error("no signing key of the tenant has this `kid`")]
    Unknown,
    /// No key has this `kid` yet, and the keys may not be fetched again for this long: the key
    /// may be newer than the set (a rollover), so the answer is "later", not "no".
    #[error("no signing key has this `kid` yet; the keys may be fetched again in {} s", .0.as_secs())]
    RefetchLimited(Duration),
    #[error(transparent)]
    Unavailable(#[from] FetchError),
}

/// Why the keys could not be fetched.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct FetchError {
    pub url: String,
    pub problem: String,
}

/// The keys one fetch returned, by `kid`.
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched: Instant,
    /// The same moment by the wall clock, to compare with a token's `iat`.
    fetched_at: SystemTime,
}

/// When the network was last used, for the rate limits.
#[derive(Default)]
struct FetchLog {
    last_unknown_key_fetch: Option<Instant>,
    last_failure: Option<Instant>,
}

/// The signing keys of one tenant, shared by every request.
pub struct SigningKeys {
    http: reqwest::Client,
    metadata: Url,
    budget: Duration,
    current: RwLock<Option<Arc<KeySet>>>,
    /// Held while fetching, so concurrent callers share one fetch.
    fetching: Mutex<FetchLog>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("metadata", &self.metadata.as_str())
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Keys read from the OpenID metadata at `metadata`; nothing is fetched until first use.
    pub fn new(metadata: Url, timeouts: &Timeouts) -> Self {
        SigningKeys {
            http: http::client(timeouts),
            metadata,
            budget: timeouts.keys,
            current: RwLock::new(None),
            fetching: Mutex::new(FetchLog::default()),
        }
    }

    /// The key named `kid`, fetching the keys when they were never fetched, are a day old, or
    /// lack `kid` (at most once per [`UNKNOWN_KEY_INTERVAL`]). `issued` is the token's `iat`
    /// (or `nbf`), unverified: a set fetched after it needs no refetch to rule a `kid` out.
    pub async fn key(
        &self,
        kid: &str,
        issued: Option<SystemTime>,
    ) -> Result<Arc<DecodingKey>, KeyError> {
        let asked = Instant::now();
        let cached = self.current();
        if let Some(set) = &cached {
            if let Some(key) = set.keys.get(kid) {
                if set.fetched.elapsed() < MAX_KEY_AGE {
                    return Ok(Arc::clone(key));
                }
            }
        }
        let mut log = self.fetching.lock().await;
        let Some(set) = self.current() else {
            self.backoff(&log)?;
            return self.fetch(&mut log).await?.find(kid);
        };
        // A fetch that ended while this caller waited is as fresh as one it would make.
        if set.fetched >= asked {
            return set.find(kid);
        }
        if let Some(key) = set.keys.get(kid) {
            // Known but old: a failed refresh keeps the old keys in use rather than refuse.
            let fresh = match self.backoff(&log) {
                Ok(()) => self.fetch(&mut log).await.ok(),
                Err(_) => None,
            };
            return fresh.map_or(Ok(Arc::clone(key)), |set| set.find(kid));
        }
        let issued_before_fetch = issued
            .and_then(|issued| issued.checked_add(CLOCK_SKEW))
            .is_some_and(|issued| issued <= set.fetched_at);
        if issued_before_fetch {
            return Err(KeyError::Unknown);
        }
        if let Some(at) = log.last_unknown_key_fetch {
            let next = UNKNOWN_KEY_INTERVAL.saturating_sub(at.elapsed());
            if !next.is_zero() {
                return Err(KeyError::RefetchLimited(next));
            }
        }
        self.backoff(&log)?;
        log.last_unknown_key_fetch = Some(Instant::now());
        self.fetch(&mut log).await?.find(kid)
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Refuses to fetch again within [`FAILED_FETCH_BACKOFF`] of a failure.
    fn backoff(&self, log: &FetchLog) -> Result<(), FetchError> {
        match log.last_failure {
            Some(at) if at.elapsed() < FAILED_FETCH_BACKOFF => Err(FetchError {
                url: self.metadata.to_string(),
                problem: "the last fetch failed moments ago; not trying again yet".into(),
            }),
            _ => Ok(()),
        }
    }

    async fn fetch(&self, log: &mut FetchLog) -> Result<Arc<KeySet>, FetchError> {
        let result = match tokio::time::timeout(self.budget, self.fetch_keys()).await {
            Ok(result) => result,
            Err(_) => Err(FetchError {
                url: self.metadata.to_string(),
                problem: format!("no keys within {} s", self.budget.as_secs_f64()),
            }),
        };
        match result {
            Ok(keys) => {
                let set = Arc::new(KeySet {
                    keys,
                    fetched: Instant::now(),
                    fetched_at: SystemTime::now(),
                });
                *self.current.write().expect("not poisoned") = Some(Arc::clone(&set));
                log.last_failure = None;
                tracing::info!(keys = set.keys.len(), metadata = %self.metadata, "Entra ID signing keys fetched.");
                Ok(set)
            }
            Err(error) => {
                log.last_failure = Some(Instant::now());
                tracing::warn!(error = %error, "Entra ID signing keys could not be fetched.");
                Err(error)
            }
        }
    }

    /// The metadata's `jwks_uri`, then its RSA signing keys.
    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            jwks_uri: String,
        }
        let metadata: Metadata = self.get_json(&self.metadata).await?;
        let jwks_uri = Url::parse(&metadata.jwks_uri)
            .ok()
            .filter(is_secure)
            .ok_or_else(|| FetchError {
                url: self.metadata.to_string(),
                problem: format!("`jwks_uri` is not an https URL: `{}`", metadata.jwks_uri),
            })?;
        let jwks: Jwks = self.get_json(&jwks_uri).await?;
        let keys = jwks.rsa_keys();
        if keys.is_empty() {
            return Err(FetchError {
                url: jwks_uri.to_string(),
                problem: "the key set holds no RSA signing key".into(),
            });
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        let failed = |problem: String| FetchError {
            url: url.to_string(),
            problem,
        };
        let response = self.http.get(url.clone()).send().await.map_err(|e| {
            failed(format!(
                "could not be reached ({})",
                crate::telemetry::chain(&e)
            ))
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("answered HTTP {}", status.as_u16())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(format!("answer could not be read ({e})")))?;
        serde_json::from_slice(&body)
            .map_err(|e| failed(format!("did not answer the expected JSON ({e})")))
    }
}

impl KeySet {
    fn find(&self, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        self.keys.get(kid).cloned().ok_or(KeyError::Unknown)
    }
}

/// A JSON Web Key Set ([RFC 7517](https://www.rfc-editor.org/rfc/rfc7517)); keys of other
/// types or uses are skipped, not errors.
#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RSA signing keys of a JSON Web Key Set, by `kid`.
pub fn parse_key_set(json: &[u8]) -> serde_json::Result<HashMap<String, Arc<DecodingKey>>> {
    serde_json::from_slice::<Jwks>(json).map(Jwks::rsa_keys)
}

impl Jwks {
    fn rsa_keys(self) -> HashMap<String, Arc<DecodingKey>> {
        self.keys
            .into_iter()
            .filter(|k| k.kty.as_deref() == Some("RSA"))
            .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let key = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?);
                Some((k.kid?, Arc::new(key.ok()?)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signing_keys_with_an_id_are_kept() {
        let jwks: Jwks = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "use": "sig", "kid": "a", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "b", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "use": "enc", "kid": "c", "n": "sXch", "e": "AQAB" },
            { "kty": "EC", "use": "sig", "kid": "d", "crv": "P-256", "x": "AA", "y": "AA" },
            { "kty": "RSA", "use": "sig", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "use": "sig", "kid": "f", "n": "not base64url!", "e": "AQAB" }
        ]}))
        .unwrap();
        let mut kids: Vec<String> = jwks.rsa_keys().into_keys().collect();
        kids.sort();
        assert_eq!(kids, ["a", "b"]);
    }
}
