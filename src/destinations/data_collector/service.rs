//! The wire: URL, headers and signing for one Data Collector POST.

use std::sync::Arc;

use chrono::Utc;
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use super::config::DataCollectorConfig;
use super::signature::{authorization, CONTENT_TYPE, RESOURCE};
use crate::azure::http::{self, error_body, retry_after};
use crate::azure::send_phase::SendPhase;
use crate::azure::shared_key::rfc1123;
use crate::destinations::batch::{self, Encoded, Limits};
use crate::destinations::{DeliveryError, Unsent};
use crate::schema::{Row, TableName, EVENT_TIME, TIME_GENERATED};
use crate::timeouts::Timeouts;

pub const API_VERSION: &str = "2016-04-01";
// Header names are case-insensitive and written in lower case; made once, not parsed (and
// allocated) for every request.
const LOG_TYPE: HeaderName = HeaderName::from_static("log-type");
const X_MS_DATE: HeaderName = HeaderName::from_static("x-ms-date");
const TIME_GENERATED_FIELD: HeaderName = HeaderName::from_static("time-generated-field");
/// 30 MB per post; 32 KB per value (Azure truncates longer values silently, so we cut them visibly).
pub const LIMITS: Limits = Limits {
    request_bytes: 30_000_000,
    field_bytes: 32_000,
};

/// A client for one workspace's Data Collector endpoint.
#[derive(Debug)]
pub struct DataCollector {
    client: reqwest::Client,
    url: Url,
    config: DataCollectorConfig,
}

/// `<endpoint>/api/logs?api-version=2016-04-01`, whatever path the endpoint has.
pub fn logs_url(endpoint: &Url) -> Url {
    let mut url = endpoint.clone();
    url.set_path(RESOURCE);
    url.set_query(Some(&format!("api-version={API_VERSION}")));
    url
}

impl DataCollector {
    pub fn new(config: DataCollectorConfig, timeouts: &Timeouts) -> Self {
        DataCollector {
            client: http::client(timeouts),
            url: logs_url(&config.endpoint),
            config,
        }
    }

    /// Posts the rows as JSON arrays (one, unless over 30 MB) with `Log-Type` = the table, one
    /// attempt each. On failure, the rows of the failed array and of every later one are unsent.
    pub async fn send(
        &self,
        table: &TableName,
        rows: &[Row],
        phase: &Arc<SendPhase>,
    ) -> Result<(), Unsent> {
        if let Some(body) = batch::whole(rows, LIMITS, Some(TIME_GENERATED)) {
            return self
                .post(table, body, phase)
                .await
                .map_err(Unsent::all(rows));
        }
        let mut chunks = request_chunks(rows).map_err(Unsent::all(rows))?.into_iter();
        while let Some(chunk) = chunks.next() {
            let (indices, body) = batch::request(chunk);
            if let Err(error) = self.post(table, body, phase).await {
                let mut unsent = indices;
                unsent.extend(chunks.flatten().map(|r| r.index));
                return Err(Unsent {
                    error,
                    rows: unsent,
                });
            }
        }
        Ok(())
    }

    /// One signed POST; HTTP 200 means accepted.
    async fn post(
        &self,
        table: &TableName,
        body: Vec<u8>,
        phase: &Arc<SendPhase>,
    ) -> Result<(), DeliveryError> {
        let date = rfc1123(Utc::now());
        let signature = authorization(
            self.config.workspace_id.as_str(),
            self.config.shared_key.bytes(),
            body.len(),
            &date,
        );
        let response = self
            .client
            .post(self.url.clone())
            .header(header::AUTHORIZATION, signature)
            .header(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))
            .header(LOG_TYPE, table.as_str())
            .header(X_MS_DATE, date)
            .header(TIME_GENERATED_FIELD, HeaderValue::from_static(EVENT_TIME))
            .body(phase.body(body.into()))
            .send()
            .await
            .map_err(DeliveryError::unreachable)?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(());
        }
        let retry_after = retry_after(&response);
        Err(DeliveryError::Rejected {
            status: status.as_u16(),
            body: error_body(response).await,
            retry_after,
            hint: hint(status, table),
        })
    }
}

/// The rows as the requests' chunks: each row within the limits, once, in a chunk whose JSON
/// array (the request body) is at most 30 MB.
pub fn request_chunks(rows: &[Row]) -> Result<Vec<Vec<Encoded>>, DeliveryError> {
    let encoded = batch::encode_all(rows, LIMITS, encode)?;
    Ok(batch::chunks(encoded, LIMITS.request_bytes))
}

/// `TimeGenerated` is reserved by this API: it is filled from `EventTime` through the header.
fn encode(row: &Row) -> serde_json::Result<Vec<u8>> {
    Ok(row.to_json(Some(TIME_GENERATED)))
}

fn hint(status: StatusCode, table: &TableName) -> Option<String> {
    match status.as_u16() {
        403 => Some("check LOG_ANALYTICS_WORKSPACE_ID and LOG_ANALYTICS_SHARED_KEY (the workspace's primary or secondary key) and the server clock".into()),
        404 => Some("check LOG_ANALYTICS_ENDPOINT and LOG_ANALYTICS_WORKSPACE_ID".into()),
        200..400 => Some("the endpoint answered a redirect (not followed) or a 2xx other than the API's 200, so it is not the Data Collector API: set LOG_ANALYTICS_ENDPOINT to the workspace's ingestion endpoint, or leave it unset".into()),
        400 => Some(format!("the workspace refused the {table} records; its error body says why")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_url_replaces_any_path_and_sets_the_api_version() {
        let endpoint = Url::parse("https://ws.ods.opinsights.azure.cn/somewhere/").unwrap();
        assert_eq!(
            logs_url(&endpoint).as_str(),
            "https://ws.ods.opinsights.azure.cn/api/logs?api-version=2016-04-01"
        );
    }
}
