//! A client for one Azure Storage queue: put, receive and delete messages over the REST API,
//! signed with the account key (connection string) or a managed-identity token.
//!
//! See <https://learn.microsoft.com/rest/api/storageservices/queue-service-rest-api> and
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>.

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use tokio::sync::OnceCell;

use crate::destinations::data_collector::rfc1123;
use crate::identity::{Credential, TokenError, TokenProvider};

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

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue service could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the queue service answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("no access token for the queue service")]
    Token(#[from] TokenError),
}

/// A received message: its text and what is needed to delete it.
#[derive(Clone, Debug)]
pub struct QueueMessage {
    pub id: String,
    pub pop_receipt: String,
    pub dequeue_count: u32,
    pub text: String,
}

enum Signer {
    SharedKey {
        account: String,
        key: SecretSlice<u8>,
    },
    Token(Box<TokenProvider>),
}

/// One queue. It is created on first use.
pub struct StorageQueue {
    client: reqwest::Client,
    endpoint: Url,
    name: String,
    signer: Signer,
    created: OnceCell<()>,
}

impl std::fmt::Debug for StorageQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageQueue")
            .field("endpoint", &self.endpoint.as_str())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl StorageQueue {
    pub fn new(config: &QueueServiceConfig, name: &str) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the TLS backend initialises");
        let signer = match &config.auth {
            QueueAuth::SharedKey { account, key } => Signer::SharedKey {
                account: account.clone(),
                key: key.clone(),
            },
            QueueAuth::Token(credential) => Signer::Token(Box::new(TokenProvider::new(
                credential.clone(),
                STORAGE_AUDIENCE.into(),
            ))),
        };
        StorageQueue {
            client,
            endpoint: config.endpoint.clone(),
            name: name.to_owned(),
            signer,
            created: OnceCell::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a message that never expires. `text` must be XML-safe (the callers send base64).
    pub async fn put(&self, text: &str) -> Result<(), QueueError> {
        self.created
            .get_or_try_init(|| async {
                self.request(
                    Method::PUT,
                    &self.name,
                    &[],
                    None,
                    &[StatusCode::CREATED, StatusCode::NO_CONTENT],
                )
                .await
                .map(drop)
            })
            .await?;
        let body = format!("<QueueMessage><MessageText>{text}</MessageText></QueueMessage>");
        let path = format!("{}/messages", self.name);
        self.request(
            Method::POST,
            &path,
            &[("messagettl", "-1")],
            Some(body),
            &[StatusCode::CREATED],
        )
        .await
        .map(drop)
    }

    /// Takes up to `count` messages, hidden from others for `visibility`.
    pub async fn receive(
        &self,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let path = format!("{}/messages", self.name);
        let count = count.to_string();
        let visibility = visibility.as_secs().max(1).to_string();
        let query = [
            ("numofmessages", count.as_str()),
            ("visibilitytimeout", visibility.as_str()),
        ];
        let xml = match self
            .request(Method::GET, &path, &query, None, &[StatusCode::OK])
            .await
        {
            Err(QueueError::Refused { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        Ok(parse_messages(&xml))
    }

    /// Deletes a received message.
    pub async fn delete(&self, message: &QueueMessage) -> Result<(), QueueError> {
        let path = format!("{}/messages/{}", self.name, message.id);
        let query = [("popreceipt", message.pop_receipt.as_str())];
        self.request(
            Method::DELETE,
            &path,
            &query,
            None,
            &[StatusCode::NO_CONTENT],
        )
        .await
        .map(drop)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
        expected: &[StatusCode],
    ) -> Result<String, QueueError> {
        let mut url = self
            .endpoint
            .join(path)
            .expect("queue names and ids are URL-safe");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let date = rfc1123(Utc::now());
        let body = body.unwrap_or_default();
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION);
        request = match &self.signer {
            Signer::SharedKey { account, key } => {
                let signed = string_to_sign(&method, body.len(), &date, account, &url, query);
                request.header(
                    "Authorization",
                    shared_key(account, key.expose_secret(), &signed),
                )
            }
            Signer::Token(tokens) => request.bearer_auth(tokens.token().await?.expose_secret()),
        };
        if !body.is_empty() {
            request = request.header("Content-Type", CONTENT_TYPE);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(QueueError::Unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(QueueError::Unreachable)?;
        if expected.contains(&status) {
            Ok(text)
        } else {
            Err(QueueError::Refused {
                status: status.as_u16(),
                body: text.chars().take(512).collect(),
            })
        }
    }
}

const CONTENT_TYPE: &str = "application/xml";

/// The Shared Key string-to-sign for the queue service: twelve standard header lines, the
/// `x-ms-` headers, then `/<account><path>` and the query parameters sorted by name.
fn string_to_sign(
    method: &Method,
    content_length: usize,
    date: &str,
    account: &str,
    url: &Url,
    query: &[(&str, &str)],
) -> String {
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let content_type = if content_length == 0 {
        ""
    } else {
        CONTENT_TYPE
    };
    let mut resource = format!("/{account}{}", url.path());
    let mut params: Vec<(String, &str)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    params.sort();
    for (name, value) in params {
        resource.push_str(&format!("\n{name}:{value}"));
    }
    format!(
        "{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n{resource}"
    )
}

fn shared_key(account: &str, key: &[u8], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    format!(
        "SharedKey {account}:{}",
        STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Reads `<QueueMessage>` elements; their values are ids, dates, numbers and base64 text.
fn parse_messages(xml: &str) -> Vec<QueueMessage> {
    let tag = |element: &str, name: &str| -> Option<String> {
        let start = element.find(&format!("<{name}>"))? + name.len() + 2;
        let end = element[start..].find(&format!("</{name}>"))? + start;
        Some(element[start..end].to_owned())
    };
    xml.split("<QueueMessage>")
        .skip(1)
        .filter_map(|element| {
            Some(QueueMessage {
                id: tag(element, "MessageId")?,
                pop_receipt: tag(element, "PopReceipt")?,
                dequeue_count: tag(element, "DequeueCount")?.parse().ok()?,
                text: tag(element, "MessageText")?,
            })
        })
        .collect()
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

    #[test]
    fn the_emulator_resource_names_the_account_twice_and_sorts_parameters() {
        let url = Url::parse("http://127.0.0.1:10001/devstoreaccount1/q/messages?visibilitytimeout=5&numofmessages=2").unwrap();
        let signed = string_to_sign(
            &Method::GET,
            0,
            "D",
            "devstoreaccount1",
            &url,
            &[("visibilitytimeout", "5"), ("numofmessages", "2")],
        );
        assert_eq!(
            signed,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:D\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/q/messages\nnumofmessages:2\nvisibilitytimeout:5"
        );
    }

    #[test]
    fn received_messages_are_read_from_the_xml() {
        let xml = "<?xml version=\"1.0\"?><QueueMessagesList><QueueMessage><MessageId>id-1</MessageId><InsertionTime>x</InsertionTime><PopReceipt>AgAA+/=</PopReceipt><DequeueCount>3</DequeueCount><MessageText>SGk=</MessageText></QueueMessage></QueueMessagesList>";
        let messages = parse_messages(xml);
        assert_eq!(messages.len(), 1);
        assert_eq!(
            (messages[0].dequeue_count, messages[0].text.as_str()),
            (3, "SGk=")
        );
    }
}
