//! The wire: URL, headers and signing for one Data Collector POST.

use std::time::Duration;

use chrono::Utc;
use reqwest::{header, StatusCode, Url};

use super::config::DataCollectorConfig;
use super::signature::{authorization, rfc1123, CONTENT_TYPE, RESOURCE};
use crate::destinations::DeliveryError;
use crate::schema::{Row, TableName, EVENT_TIME, TIME_GENERATED};

pub const API_VERSION: &str = "2016-04-01";
const LOG_TYPE: &str = "Log-Type";
const X_MS_DATE: &str = "x-ms-date";
const TIME_GENERATED_FIELD: &str = "time-generated-field";
/// How much of an error body to keep for the log.
const MAX_ERROR_BODY: usize = 1024;

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
    pub fn new(config: DataCollectorConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .https_only(config.endpoint.scheme() == "https")
            .build()
            .expect("the TLS backend initialises");
        DataCollector {
            client,
            url: logs_url(&config.endpoint),
            config,
        }
    }

    /// Posts the rows as one JSON array with `Log-Type` = the table; HTTP 200 means accepted.
    pub async fn send(&self, table: &TableName, rows: &[Row]) -> Result<(), DeliveryError> {
        // `TimeGenerated` is reserved here: the API fills it from `EventTime` via the header.
        let records: Vec<_> = rows.iter().map(|row| row.without(TIME_GENERATED)).collect();
        let body = serde_json::to_vec(&records)?;
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
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .header(LOG_TYPE, table.as_str())
            .header(X_MS_DATE, date)
            .header(TIME_GENERATED_FIELD, EVENT_TIME)
            .body(body)
            .send()
            .await
            .map_err(DeliveryError::Unreachable)?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(());
        }
        let mut text = response.text().await.unwrap_or_default();
        text.truncate(text.floor_char_boundary(MAX_ERROR_BODY));
        Err(DeliveryError::Rejected {
            status: status.as_u16(),
            body: text,
        })
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
