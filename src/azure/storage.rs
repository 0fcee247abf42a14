//! The app's own Storage account, from its settings: where its queue and table services are and
//! how requests to them are authorised (an account key, or a managed identity's token).

use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::Url;
use secrecy::SecretSlice;

use secrecy::ExposeSecret;

use crate::azure::identity::{Credential, TokenError, TokenProvider};
use crate::azure::shared_key;
use crate::timeouts::Timeouts;

/// The token audience of Azure Storage.
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";
/// Azurite's well-known development account (`UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_QUEUE_ENDPOINT: &str = "http://127.0.0.1:10001/devstoreaccount1";
const DEV_TABLE_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";

/// How requests to the account's services are authorised.
#[derive(Clone)]
pub enum StorageAuth {
    /// An account key from a connection string.
    SharedKey {
        account: String,
        key: SecretSlice<u8>,
    },
    /// A managed identity (`AzureWebJobsStorage__queueServiceUri`).
    Token(Credential),
}

impl std::fmt::Debug for StorageAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageAuth::SharedKey { account, .. } => write!(f, "SharedKey({account}, [redacted])"),
            StorageAuth::Token(credential) => write!(f, "Token({})", credential.kind()),
        }
    }
}

/// Where the account's services are and how to reach them.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// e.g. `https://account.queue.core.windows.net/` or Azurite's `http://127.0.0.1:10001/devstoreaccount1/`.
    pub queue_endpoint: Url,
    /// e.g. `https://account.table.core.windows.net/` or Azurite's `http://127.0.0.1:10002/devstoreaccount1/`.
    pub table_endpoint: Url,
    pub auth: StorageAuth,
}

impl StorageConfig {
    /// Reads a storage connection string, including `UseDevelopmentStorage=true`.
    pub fn from_connection_string(value: &str) -> Result<Self, String> {
        let pairs: Vec<(&str, &str)> = value
            .split(';')
            .filter_map(|part| part.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let development =
            get("UseDevelopmentStorage").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (account, key) = if development {
            (DEV_ACCOUNT, DEV_KEY)
        } else {
            let account = get("AccountName").ok_or("has no AccountName")?;
            (account, get("AccountKey").ok_or("has no AccountKey (use a key-based connection string or AzureWebJobsStorage__queueServiceUri)")?)
        };
        let endpoint = |service: &str, named: &str, development_endpoint: &str| match get(named) {
            Some(endpoint) => endpoint.to_owned(),
            None if development => development_endpoint.to_owned(),
            None => {
                let protocol = get("DefaultEndpointsProtocol").unwrap_or("https");
                let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");
                format!("{protocol}://{account}.{service}.{suffix}")
            }
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| "has an AccountKey that is not base64")?;
        Ok(StorageConfig {
            queue_endpoint: with_trailing_slash(&endpoint(
                "queue",
                "QueueEndpoint",
                DEV_QUEUE_ENDPOINT,
            ))?,
            table_endpoint: with_trailing_slash(&endpoint(
                "table",
                "TableEndpoint",
                DEV_TABLE_ENDPOINT,
            ))?,
            auth: StorageAuth::SharedKey {
                account: account.to_owned(),
                key: key.into(),
            },
        })
    }

    /// An account reached with a managed identity.
    pub fn with_identity(
        queue_endpoint: &str,
        table_endpoint: &str,
        credential: Credential,
    ) -> Result<Self, String> {
        Ok(StorageConfig {
            queue_endpoint: with_trailing_slash(queue_endpoint)?,
            table_endpoint: with_trailing_slash(table_endpoint)?,
            auth: StorageAuth::Token(credential),
        })
    }
}

/// Signs requests to one of the account's services: SharedKey over the service's own
/// string-to-sign, or a managed identity's bearer token.
pub struct Signer {
    kind: SignerKind,
    /// How long a request waits for a token.
    token_budget: std::time::Duration,
}

enum SignerKind {
    SharedKey {
        account: String,
        key: SecretSlice<u8>,
    },
    Token(Box<TokenProvider>),
}

impl Signer {
    pub fn new(auth: &StorageAuth, timeouts: &Timeouts) -> Self {
        let kind = match auth {
            StorageAuth::SharedKey { account, key } => SignerKind::SharedKey {
                account: account.clone(),
                key: key.clone(),
            },
            StorageAuth::Token(credential) => SignerKind::Token(Box::new(TokenProvider::new(
                credential.clone(),
                STORAGE_AUDIENCE.into(),
                timeouts,
            ))),
        };
        Signer {
            kind,
            token_budget: timeouts.attempt,
        }
    }

    /// Adds `Authorization`: for SharedKey, over `string_to_sign(account)`.
    pub async fn sign(
        &self,
        request: reqwest::RequestBuilder,
        string_to_sign: impl FnOnce(&str) -> String,
    ) -> Result<reqwest::RequestBuilder, TokenError> {
        Ok(match &self.kind {
            SignerKind::SharedKey { account, key } => {
                let signed = string_to_sign(account);
                let value = shared_key::authorization(account, key.expose_secret(), &signed);
                request.header("Authorization", value)
            }
            SignerKind::Token(tokens) => {
                let deadline = tokio::time::Instant::now() + self.token_budget;
                request.bearer_auth(tokens.token(deadline).await?.expose_secret())
            }
        })
    }
}

fn with_trailing_slash(endpoint: &str) -> Result<Url, String> {
    let text = format!("{}/", endpoint.trim_end_matches('/'));
    Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("has an endpoint that is not an http(s) URL: `{endpoint}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_means_azurite_with_the_well_known_account() {
        let config = StorageConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            config.queue_endpoint.as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/"
        );
        assert_eq!(
            config.table_endpoint.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/"
        );
        assert!(
            matches!(config.auth, StorageAuth::SharedKey { ref account, .. } if account == DEV_ACCOUNT)
        );
    }

    #[test]
    fn an_account_connection_string_points_at_its_queue_and_table_services() {
        let config = StorageConfig::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=dGVzdA==;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            config.queue_endpoint.as_str(),
            "https://acct.queue.core.chinacloudapi.cn/"
        );
        assert_eq!(
            config.table_endpoint.as_str(),
            "https://acct.table.core.chinacloudapi.cn/"
        );
        assert!(StorageConfig::from_connection_string("AccountName=acct").is_err());
        assert!(!format!("{:?}", config.auth).contains("dGVzdA"));
    }
}
