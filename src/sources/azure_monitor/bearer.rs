//! Azure Monitor's secure webhooks: the Entra ID access token an action group sends for the
//! customer's app registration, checked as Entra ID's own libraries check it.
//!
//! See <https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups#secure-webhook>
//! and <https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens>.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde::Deserialize;

use crate::azure::rs256;
use crate::azure::signing_keys::{FetchError, KeyError, SigningKeys};
use crate::timeouts::Timeouts;

/// The application id of Azure Monitor's "AzNS AAD Webhook" service principal: the caller of
/// every secure webhook (`appid` in v1 tokens, `azp` in v2 tokens).
pub const ACTION_GROUP_APP_ID: &str = "461e8683-5575-4561-ac7f-899cc907d62a";
/// The app role Microsoft's secure-webhook script creates and assigns to that principal.
pub const DEFAULT_ROLE: &str = "ActionGroupsSecureWebhook";
/// How far `exp` and `nbf` may be off: Microsoft.IdentityModel's default clock skew.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Which tokens are accepted: `AZURE_MONITOR_TENANT_ID`, `AZURE_MONITOR_AUDIENCE`,
/// `AZURE_MONITOR_ROLE` and `AZURE_AUTHORITY_HOST`.
#[derive(Clone, Debug, PartialEq)]
pub struct SecureWebhookConfig {
    /// The tenant's id (a GUID: issuers name the tenant by id, never by domain).
    pub tenant_id: String,
    /// The app registration's Application ID URI and/or client id.
    pub audiences: Vec<String>,
    pub role: String,
    /// `https://login.microsoftonline.com` in the public cloud.
    pub authority: Url,
}

impl SecureWebhookConfig {
    fn authority(&self) -> &str {
        self.authority.as_str().trim_end_matches('/')
    }

    /// `<authority>/<tenant>/v2.0/.well-known/openid-configuration`.
    pub fn metadata_url(&self) -> Url {
        let url = format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.authority(),
            self.tenant_id
        );
        Url::parse(&url).expect("an authority URL and a GUID make a URL")
    }

    /// The v1 issuer (`https://sts.windows.net/<tenant>/`).
    fn v1_issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant_id)
    }

    /// The v2 issuer (`<authority>/<tenant>/v2.0`).
    fn v2_issuer(&self) -> String {
        format!("{}/{}/v2.0", self.authority(), self.tenant_id)
    }
}

/// Why a bearer token was not accepted: refused (401), or not checkable yet because the keys
/// could not be fetched (503). No variant holds any part of the token but its `alg`, cleaned.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BearerError {
    #[error("Entra ID's signing keys for tenant {tenant} could not be fetched; retry later")]
    KeysUnavailable {
        tenant: String,
        #[source]
        cause: FetchError,
    },
    #[error("the Authorization header is missing: an action group's secure webhook sends `Authorization: Bearer <Entra ID token>`")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the bearer token's `alg` is `{0}`; only RS256 is accepted")]
    Algorithm(String),
    #[error("the bearer token's header names no signing key (`kid`)")]
    NoKeyId,
    #[error("the bearer token's `kid` is not one of tenant {0}'s signing keys")]
    UnknownKey(String),
    #[error("the bearer token's `kid` is not one of tenant {tenant}'s signing keys yet; they are fetched again in {retry_after} s, so retry then")]
    KeyNotYetKnown { tenant: String, retry_after: u64 },
    #[error("the bearer token's signature does not verify with the signing key its `kid` names")]
    Signature,
    #[error("the bearer token has expired (`exp`, with {} s of clock skew allowed)", CLOCK_SKEW.as_secs())]
    Expired,
    #[error("the bearer token is not valid yet (`nbf`, with {} s of clock skew allowed)", CLOCK_SKEW.as_secs())]
    NotYetValid,
    #[error("the bearer token's issuer (`iss`) is not tenant {0} (AZURE_MONITOR_TENANT_ID)")]
    Issuer(String),
    #[error("the bearer token's audience (`aud`) is not one of AZURE_MONITOR_AUDIENCE")]
    Audience,
    #[error("the bearer token's `{0}` is not Azure Monitor's action group service (AzNS AAD Webhook, {ACTION_GROUP_APP_ID})")]
    Caller(&'static str),
    #[error("the bearer token's `roles` does not hold `{0}` (AZURE_MONITOR_ROLE): assign that app role to the AzNS AAD Webhook service principal")]
    Role(String),
    #[error("the bearer token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the bearer token's `{0}` claim is not of the right type")]
    ClaimFormat(String),
}

/// The header fields read before the signature is checked.
#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

/// The claims checked beyond what [`Validation`] checks.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    appid: Option<String>,
    azp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Checks action groups' bearer tokens for one tenant and app registration.
#[derive(Debug)]
pub struct SecureWebhook {
    config: SecureWebhookConfig,
    keys: SigningKeys,
    validation: Validation,
}

impl SecureWebhook {
    /// Nothing is fetched until the first token arrives.
    pub fn new(config: SecureWebhookConfig, timeouts: &Timeouts) -> Self {
        rs256::install();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[config.v1_issuer(), config.v2_issuer()]);
        validation.set_audience(&config.audiences);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_SKEW.as_secs();
        SecureWebhook {
            keys: SigningKeys::new(config.metadata_url(), timeouts),
            config,
            validation,
        }
    }

    /// Checks the request's bearer token.
    pub async fn check(&self, headers: &HeaderMap) -> Result<(), BearerError> {
        let token = bearer(headers)?;
        let kid = key_id(token)?;
        let key = self
            .keys
            .key(&kid, issued_at(token))
            .await
            .map_err(|e| match e {
                KeyError::Unknown => BearerError::UnknownKey(self.config.tenant_id.clone()),
                KeyError::RefetchLimited(wait) => BearerError::KeyNotYetKnown {
                    tenant: self.config.tenant_id.clone(),
                    retry_after: wait.as_secs().max(1),
                },
                KeyError::Unavailable(cause) => BearerError::KeysUnavailable {
                    tenant: self.config.tenant_id.clone(),
                    cause,
                },
            })?;
        self.claims(token, &key)
    }

    /// Checks the request's bearer token against a key set already at hand (`keys`, by `kid`)
    /// instead of the tenant's: the same checks without the fetch, for the fuzzer.
    pub fn check_against(
        &self,
        headers: &HeaderMap,
        keys: &HashMap<String, Arc<DecodingKey>>,
    ) -> Result<(), BearerError> {
        let token = bearer(headers)?;
        let kid = key_id(token)?;
        let key = keys
            .get(&kid)
            .ok_or_else(|| BearerError::UnknownKey(self.config.tenant_id.clone()))?;
        self.claims(token, key)
    }

    /// The signature, `exp`, `nbf`, `iss` and `aud` (by the library), then caller and role.
    fn claims(&self, token: &str, key: &DecodingKey) -> Result<(), BearerError> {
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| self.refusal(&e))?
            .claims;
        let (claim, caller) = if claims.iss == self.config.v1_issuer() {
            ("appid", claims.appid)
        } else {
            ("azp", claims.azp)
        };
        match caller {
            None => return Err(BearerError::MissingClaim(claim.into())),
            Some(caller) if caller != ACTION_GROUP_APP_ID => {
                return Err(BearerError::Caller(claim))
            }
            Some(_) => {}
        }
        if !claims.roles.contains(&self.config.role) {
            return Err(BearerError::Role(self.config.role.clone()));
        }
        Ok(())
    }

    fn refusal(&self, error: &JwtError) -> BearerError {
        match error.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidAlgorithm => BearerError::Signature,
            ErrorKind::ExpiredSignature => BearerError::Expired,
            ErrorKind::ImmatureSignature => BearerError::NotYetValid,
            ErrorKind::InvalidIssuer => BearerError::Issuer(self.config.tenant_id.clone()),
            ErrorKind::InvalidAudience => BearerError::Audience,
            ErrorKind::MissingRequiredClaim(claim) => BearerError::MissingClaim(claim.clone()),
            ErrorKind::InvalidClaimFormat(claim) => BearerError::ClaimFormat(claim.clone()),
            ErrorKind::Json(_) => {
                BearerError::Malformed("its claims are not the JSON an access token holds")
            }
            _ => BearerError::Malformed("its parts are not base64url-encoded JSON"),
        }
    }
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, BearerError> {
    let value = headers.get(AUTHORIZATION).ok_or(BearerError::Missing)?;
    let value = value.to_str().map_err(|_| BearerError::NotBearer)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(BearerError::NotBearer);
    }
    Ok(token.trim())
}

/// When the token says it was issued (`iat`, else `nbf`), unverified: it only decides whether
/// an unknown `kid` is worth another look at the keys.
fn issued_at(token: &str) -> Option<SystemTime> {
    #[derive(Deserialize)]
    struct Times {
        iat: Option<serde_json::Value>,
        nbf: Option<serde_json::Value>,
    }
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let times: Times = serde_json::from_slice(&payload).ok()?;
    let seconds = times.iat.or(times.nbf)?.as_u64()?;
    SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

/// The `kid` of an RS256 token; anything else (`none`, HS256, ...) is refused before any key
/// is looked up.
fn key_id(token: &str) -> Result<String, BearerError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BearerError::Malformed(
            "it is not three dot-separated parts",
        ));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| BearerError::Malformed("its header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| BearerError::Malformed("its header is not a JSON object"))?;
    match header.alg.as_deref() {
        Some("RS256") => {}
        Some(other) => {
            let shown: String = other
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(16)
                .collect();
            return Err(BearerError::Algorithm(shown));
        }
        None => return Err(BearerError::MissingClaim("alg".into())),
    }
    header
        .kid
        .filter(|kid| !kid.is_empty())
        .ok_or(BearerError::NoKeyId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn encode(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_a_bearer_authorization_is_read() {
        assert_eq!(bearer(&HeaderMap::new()), Err(BearerError::Missing));
        assert_eq!(
            bearer(&authorization("Basic dXNlcjpwYXNz")),
            Err(BearerError::NotBearer)
        );
        assert_eq!(
            bearer(&authorization("Bearer ")),
            Err(BearerError::NotBearer)
        );
        assert_eq!(bearer(&authorization("bearer a.b.c")), Ok("a.b.c"));
    }

    #[test]
    fn a_token_not_signed_with_rs256_is_refused_before_any_key_is_looked_up() {
        let none = format!("{}.{}.", encode(r#"{"alg":"none"}"#), encode("{}"));
        assert_eq!(key_id(&none), Err(BearerError::Algorithm("none".into())));
        let hs256 = format!("{}.e30.c2ln", encode(r#"{"alg":"HS256","kid":"k"}"#));
        assert_eq!(key_id(&hs256), Err(BearerError::Algorithm("HS256".into())));
        let shown = format!("{}.e30.c2ln", encode(r#"{"alg":"RS256\n<script>"}"#));
        assert_eq!(
            key_id(&shown),
            Err(BearerError::Algorithm("RS256script".into()))
        );
    }

    #[test]
    fn a_token_must_be_three_parts_and_name_its_key() {
        assert!(matches!(key_id("a.b"), Err(BearerError::Malformed(_))));
        assert!(matches!(key_id("!!.b.c"), Err(BearerError::Malformed(_))));
        let no_kid = format!("{}.e30.c2ln", encode(r#"{"alg":"RS256"}"#));
        assert_eq!(key_id(&no_kid), Err(BearerError::NoKeyId));
        let kid = format!("{}.e30.c2ln", encode(r#"{"alg":"RS256","kid":"k1"}"#));
        assert_eq!(key_id(&kid), Ok("k1".into()));
    }

    #[test]
    fn the_metadata_and_issuers_follow_the_authority() {
        let config = SecureWebhookConfig {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            audiences: vec!["api://alerts".into()],
            role: DEFAULT_ROLE.into(),
            authority: Url::parse("https://login.microsoftonline.com/").unwrap(),
        };
        assert_eq!(
            config.metadata_url().as_str(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            config.v2_issuer(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        assert_eq!(
            config.v1_issuer(),
            "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
        );
    }
}
