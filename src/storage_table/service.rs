//! The wire: one signed REST request per table operation, with the service's clock read from
//! every answer.

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ETAG};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};

use super::signing::string_to_sign;
use crate::azure::identity::TokenError;
use crate::azure::storage::{Signer, StorageConfig};
use crate::azure::{http, shared_key};
use crate::timeouts::Timeouts;

/// What current SDKs send for Tables, and what Azurite 3 accepts.
pub const API_VERSION: &str = "2019-02-02";
const JSON: &str = "application/json";
const NO_METADATA: &str = "application/json;odata=nometadata";
/// How much of an error body to keep.
const MAX_ERROR_BODY: usize = 512;

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the table service could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the table service answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("no access token for the table service")]
    Token(#[from] TokenError),
    #[error("the entity already exists")]
    Conflict,
    #[error("the entity changed since it was read (ETag)")]
    Changed,
    #[error("the service's answer could not be read: {0}")]
    Malformed(String),
}

/// A write the service accepted: the entity's new ETag and the service's clock.
#[derive(Clone, Debug)]
pub struct Written {
    pub etag: String,
    pub date: Option<DateTime<Utc>>,
}

/// An entity as read: its properties, ETag, last write (`Timestamp`) and the service's clock
/// when it answered.
#[derive(Clone, Debug)]
pub struct Entity {
    pub properties: Map<String, Value>,
    pub etag: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub date: Option<DateTime<Utc>>,
}

/// The account's Table service.
pub struct TableClient {
    client: reqwest::Client,
    endpoint: Url,
    signer: Signer,
}

impl std::fmt::Debug for TableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableClient")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl TableClient {
    pub fn new(config: &StorageConfig, timeouts: &Timeouts) -> Self {
        TableClient {
            client: http::client(timeouts),
            endpoint: config.table_endpoint.clone(),
            signer: Signer::new(&config.auth, timeouts),
        }
    }

    /// Creates `table`; one that exists already is fine.
    pub async fn create_table(&self, table: &str) -> Result<(), TableError> {
        let body = serde_json::json!({ "TableName": table });
        match self.send(Method::POST, "Tables", Some(&body), None).await? {
            (StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::CONFLICT, _, _) => Ok(()),
            (status, _, text) => Err(refused(status, &text)),
        }
    }

    /// Deletes `table`; one that does not exist is fine.
    pub async fn delete_table(&self, table: &str) -> Result<(), TableError> {
        let path = format!("Tables('{table}')");
        match self.send(Method::DELETE, &path, None, None).await? {
            (StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _, _) => Ok(()),
            (status, _, text) => Err(refused(status, &text)),
        }
    }

    /// Inserts an entity: atomic create-if-absent, [`TableError::Conflict`] if it exists.
    pub async fn insert(
        &self,
        table: &str,
        key: (&str, &str),
        properties: &Map<String, Value>,
    ) -> Result<Written, TableError> {
        let mut body = properties.clone();
        body.insert("PartitionKey".into(), key.0.into());
        body.insert("RowKey".into(), key.1.into());
        let body = Value::Object(body);
        match self.send(Method::POST, table, Some(&body), None).await? {
            (StatusCode::CREATED | StatusCode::NO_CONTENT, headers, _) => written(&headers),
            (StatusCode::CONFLICT, _, _) => Err(TableError::Conflict),
            (status, _, text) => Err(refused(status, &text)),
        }
    }

    /// The entity at `key`, if there is one.
    pub async fn get(&self, table: &str, key: (&str, &str)) -> Result<Option<Entity>, TableError> {
        let path = entity_path(table, key);
        let (status, headers, text) = self.send(Method::GET, &path, None, None).await?;
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            status => return Err(refused(status, &text)),
        }
        let Stored {
            properties,
            timestamp,
        } = parse_entity(&text)?;
        Ok(Some(Entity {
            etag: etag(&headers)?,
            date: service_date(&headers),
            timestamp,
            properties,
        }))
    }

    /// Replaces the entity at `key` only if it still has `etag` ([`TableError::Changed`] if
    /// not). `If-Match` is always sent: without it, a replace would be an upsert.
    pub async fn replace(
        &self,
        table: &str,
        key: (&str, &str),
        properties: &Map<String, Value>,
        etag: &str,
    ) -> Result<Written, TableError> {
        let path = entity_path(table, key);
        let body = Value::Object(properties.clone());
        match self
            .send(Method::PUT, &path, Some(&body), Some(etag))
            .await?
        {
            (StatusCode::NO_CONTENT, headers, _) => written(&headers),
            (StatusCode::PRECONDITION_FAILED | StatusCode::NOT_FOUND, _, _) => {
                Err(TableError::Changed)
            }
            (status, _, text) => Err(refused(status, &text)),
        }
    }

    /// Deletes the entity at `key` only if it still has `etag`; one already gone is fine.
    pub async fn delete(
        &self,
        table: &str,
        key: (&str, &str),
        etag: &str,
    ) -> Result<(), TableError> {
        let path = entity_path(table, key);
        match self.send(Method::DELETE, &path, None, Some(etag)).await? {
            (StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _, _) => Ok(()),
            (StatusCode::PRECONDITION_FAILED, _, _) => Err(TableError::Changed),
            (status, _, text) => Err(refused(status, &text)),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, String), TableError> {
        let url = self.endpoint.join(path).expect("table paths are URL-safe");
        let date = shared_key::rfc1123(Utc::now());
        let content_type = if body.is_some() { JSON } else { "" };
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("Accept", NO_METADATA)
            .header("DataServiceVersion", "3.0")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header("Prefer", "return-no-content");
        if let Some(body) = body {
            request = request
                .header("Content-Type", JSON)
                .body(serde_json::to_vec(body).expect("JSON values serialise"));
        }
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        let request = self
            .signer
            .sign(request, |account| {
                string_to_sign(&method, content_type, &date, account, &url)
            })
            .await?;
        let response = request.send().await.map_err(TableError::Unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(TableError::Unreachable)?;
        Ok((status, headers, text))
    }
}

/// An entity's body as the service answered it.
#[derive(Debug)]
pub struct Stored {
    pub properties: Map<String, Value>,
    /// Its last write, by the service's clock.
    pub timestamp: Option<DateTime<Utc>>,
}

/// Reads an entity's body.
pub fn parse_entity(text: &str) -> Result<Stored, TableError> {
    let properties: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| TableError::Malformed(e.to_string()))?;
    let timestamp = properties
        .get("Timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    Ok(Stored {
        properties,
        timestamp,
    })
}

/// `<table>(PartitionKey='<p>',RowKey='<r>')`; the keys are hex digests, never quoted.
fn entity_path(table: &str, key: (&str, &str)) -> String {
    format!("{table}(PartitionKey='{}',RowKey='{}')", key.0, key.1)
}

fn written(headers: &HeaderMap) -> Result<Written, TableError> {
    Ok(Written {
        etag: etag(headers)?,
        date: service_date(headers),
    })
}

fn etag(headers: &HeaderMap) -> Result<String, TableError> {
    headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| TableError::Malformed("no ETag".into()))
}

/// The service's clock (one-second resolution), from `Date`.
fn service_date(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let value: &HeaderValue = headers.get(reqwest::header::DATE)?;
    DateTime::parse_from_rfc2822(value.to_str().ok()?)
        .ok()
        .map(|t| t.to_utc())
}

fn refused(status: StatusCode, text: &str) -> TableError {
    TableError::Refused {
        status: status.as_u16(),
        body: text[..text.floor_char_boundary(MAX_ERROR_BODY)].to_owned(),
    }
}
