//! The wire: one signed REST request per queue operation.

use std::sync::Arc;

use chrono::Utc;
use reqwest::{Method, StatusCode, Url};
use tokio::sync::OnceCell;

use super::signing::{string_to_sign, API_VERSION, CONTENT_TYPE};
use crate::azure::storage::{Signer, StorageConfig};

use crate::azure::identity::TokenError;
use crate::azure::send_phase::SendPhase;
use crate::azure::{http, shared_key};
use crate::timeouts::Timeouts;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue service could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the queue service answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("no access token for the queue service")]
    Token(#[from] TokenError),
    #[error("the put was abandoned at its deadline before its message was sent")]
    Abandoned,
}

impl QueueError {
    /// True when the request may have reached the service and nobody knows whether it did what
    /// was asked (a timeout, a connection cut after sending); false when the service answered or
    /// the request never left (no connection, no token).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            QueueError::Unreachable(error) => !error.is_connect() && !error.is_builder(),
            QueueError::Refused { .. } | QueueError::Token(_) | QueueError::Abandoned => false,
        }
    }
}

/// A received message: its text and what is needed to delete it.
#[derive(Clone, Debug)]
pub struct QueueMessage {
    pub id: String,
    pub pop_receipt: String,
    pub dequeue_count: u32,
    /// When the service will delete it (`Fri, 31 Dec 9999 23:59:59 GMT` for never).
    pub expiration_time: String,
    pub text: String,
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
    pub fn new(config: &StorageConfig, name: &str, timeouts: &Timeouts) -> Self {
        StorageQueue {
            client: http::client(timeouts),
            signer: Signer::new(&config.auth, timeouts),
            endpoint: config.queue_endpoint.clone(),
            name: name.to_owned(),
            created: OnceCell::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a message that never expires. `text` must be XML-safe (the callers send base64).
    pub async fn put(&self, text: &str) -> Result<(), QueueError> {
        self.put_gated(text, &SendPhase::new()).await
    }

    /// [`StorageQueue::put`], whose message leaves only if `phase` was not abandoned first.
    pub async fn put_gated(&self, text: &str, phase: &Arc<SendPhase>) -> Result<(), QueueError> {
        self.created
            .get_or_try_init(|| async {
                self.request(
                    Method::PUT,
                    &self.name,
                    &[],
                    None,
                    &[StatusCode::CREATED, StatusCode::NO_CONTENT],
                    None,
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
            Some(phase),
        )
        .await
        .map(drop)
    }

    /// Takes up to `count` messages, hidden from others for `visibility`.
    pub async fn receive(
        &self,
        count: u8,
        visibility: std::time::Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let count = count.to_string();
        let visibility = visibility.as_secs().max(1).to_string();
        let query = [
            ("numofmessages", count.as_str()),
            ("visibilitytimeout", visibility.as_str()),
        ];
        self.list(&query).await
    }

    /// Up to `count` visible messages, left where they are (no pop receipt: not deletable).
    pub async fn peek(&self, count: u8) -> Result<Vec<QueueMessage>, QueueError> {
        let count = count.to_string();
        let query = [("numofmessages", count.as_str()), ("peekonly", "true")];
        self.list(&query).await
    }

    /// `GET <queue>/messages` with `query`; a queue that does not exist yet has none.
    async fn list(&self, query: &[(&str, &str)]) -> Result<Vec<QueueMessage>, QueueError> {
        let path = format!("{}/messages", self.name);
        let xml = match self
            .request(Method::GET, &path, query, None, &[StatusCode::OK], None)
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
            None,
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
        phase: Option<&Arc<SendPhase>>,
    ) -> Result<String, QueueError> {
        let mut url = self
            .endpoint
            .join(path)
            .expect("queue names and ids are URL-safe");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let date = shared_key::rfc1123(Utc::now());
        let body = body.unwrap_or_default();
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION);
        let length = body.len();
        request = self
            .signer
            .sign(request, |account| {
                string_to_sign(&method, length, &date, account, &url, query)
            })
            .await?;
        if !body.is_empty() {
            request = request.header("Content-Type", CONTENT_TYPE);
        }
        let body = match phase {
            Some(phase) => phase.body(body.into()),
            None => reqwest::Body::from(body),
        };
        let response = request.body(body).send().await.map_err(|e| {
            match phase.is_some_and(|p| p.abandoned()) {
                true => QueueError::Abandoned,
                false => QueueError::Unreachable(e),
            }
        })?;
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

/// Reads `<QueueMessage>` elements; their values are ids, dates, numbers and base64 text.
pub fn parse_messages(xml: &str) -> Vec<QueueMessage> {
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
                // Peeked messages have none.
                pop_receipt: tag(element, "PopReceipt").unwrap_or_default(),
                dequeue_count: tag(element, "DequeueCount")?.parse().ok()?,
                expiration_time: tag(element, "ExpirationTime").unwrap_or_default(),
                text: tag(element, "MessageText")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
