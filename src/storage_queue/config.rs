//! Where the queue service is and how requests to it are authorised, from the app's settings.

use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::Url;
use secrecy::SecretSlice;

use crate::azure::identity::Credential;

/// Recent enough for `messagettl=-1` (2017-07-29) and accepted by Azurite 3.
pub const API_VERSION: &str = "2021-08-06";
/// The token audience of Azure Storage.
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";
/// Azurite's well-known development account (`UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_QUEUE_ENDPOINT: &str = "http://127.0.0.1:10001/devstoreaccount1";

/// How requests to the queue service are authorised.
#[derive(Clone)]
pub enum QueueAuth {
    /// An account key from a connection string.
    SharedKey {
        account: String,
        key: SecretSlice<u8>,
    },
    /// A managed identity (`AzureWebJobsStorage__queueServiceUri`).
    Token(Credential),
}

impl std::fmt::Debug for QueueAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueAuth::SharedKey { account, .. } => write!(f, "SharedKey({account}, [redacted])"),
            QueueAuth::Token(credential) => write!(f, "Token({})", credential.kind()),
        }
    }
}

/// Where the queue service is and how to reach it.
#[derive(Clone, Debug)]
pub struct QueueServiceConfig {
    /// e.g. `https://account.queue.core.windows.net/` or Azurite's `http://127.0.0.1:10001/devstoreaccount1/`.
    pub endpoint: Url,
    pub auth: QueueAuth,
}

impl QueueServiceConfig {
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
        let endpoint = match get("QueueEndpoint") {
            Some(endpoint) => endpoint.to_owned(),
            None if development => DEV_QUEUE_ENDPOINT.to_owned(),
            None => {
                let protocol = get("DefaultEndpointsProtocol").unwrap_or("https");
                let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");
                format!("{protocol}://{account}.queue.{suffix}")
            }
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| "has an AccountKey that is not base64")?;
        Ok(QueueServiceConfig {
            endpoint: with_trailing_slash(&endpoint)?,
            auth: QueueAuth::SharedKey {
                account: account.to_owned(),
                key: key.into(),
            },
        })
    }

    /// A queue service reached with a managed identity.
    pub fn with_identity(endpoint: &str, credential: Credential) -> Result<Self, String> {
        Ok(QueueServiceConfig {
            endpoint: with_trailing_slash(endpoint)?,
            auth: QueueAuth::Token(credential),
        })
    }
}

fn with_trailing_slash(endpoint: &str) -> Result<Url, String> {
    let text = format!("{}/", endpoint.trim_end_matches('/'));
    Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("has a queue endpoint that is not an http(s) URL: `{endpoint}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_means_azurite_with_the_well_known_account() {
        let config =
            QueueServiceConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            config.endpoint.as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/"
        );
        assert!(
            matches!(config.auth, QueueAuth::SharedKey { ref account, .. } if account == DEV_ACCOUNT)
        );
    }

    #[test]
    fn an_account_connection_string_points_at_its_queue_service() {
        let config = QueueServiceConfig::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=dGVzdA==;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            config.endpoint.as_str(),
            "https://acct.queue.core.chinacloudapi.cn/"
        );
        assert!(QueueServiceConfig::from_connection_string("AccountName=acct").is_err());
        assert!(!format!("{:?}", config.auth).contains("dGVzdA"));
    }
}
