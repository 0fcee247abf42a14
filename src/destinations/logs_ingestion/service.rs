//! The wire and the batching: URL, bearer token, gzip, 1 MB requests, 413 splitting, status mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use flate2::Compression;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use secrecy::ExposeSecret;

use super::config::LogsIngestionConfig;
use crate::azure::http::{self, error_body, retry_after};
use crate::azure::identity::TokenProvider;
use crate::azure::send_phase::SendPhase;
use crate::destinations::batch::{self, Encoded, Limits};
use crate::destinations::{DeliveryError, Unsent};
use crate::gzip;
use crate::schema::{Row, Table, TIME_GENERATED};
use crate::timeouts::Timeouts;

pub const API_VERSION: &str = "2023-01-01";
/// 1 MB per call, counted on the uncompressed JSON to be safe; 64 KB per value.
pub const LIMITS: Limits = Limits {
    request_bytes: 1_000_000,
    field_bytes: 64_000,
};
/// How many times a lone row answered 413 is cut shorter before giving up.
const MAX_SHRINKS: u32 = 4;

/// A client for one DCR.
#[derive(Debug)]
pub struct LogsIngestion {
    client: reqwest::Client,
    config: LogsIngestionConfig,
    tokens: TokenProvider,
    /// Each table's stream URL, in the order of [`Table::ALL`]: made once, not for every request.
    urls: Vec<Url>,
    /// How long a request waits for a token it finds missing (after a 401): one attempt's budget.
    token_budget: std::time::Duration,
}

/// `<endpoint>/dataCollectionRules/<dcr>/streams/<stream>?api-version=2023-01-01`.
pub fn stream_url(endpoint: &Url, dcr_id: &str, stream: &str) -> Url {
    let mut url = endpoint.clone();
    url.set_path(&format!("dataCollectionRules/{dcr_id}/streams/{stream}"));
    url.set_query(Some(&format!("api-version={API_VERSION}")));
    url
}

enum Posted {
    Accepted,
    TooLarge,
}

impl LogsIngestion {
    pub fn new(config: LogsIngestionConfig, timeouts: &Timeouts) -> Self {
        let tokens =
            TokenProvider::new(config.credential.clone(), config.audience.clone(), timeouts);
        let urls = Table::ALL
            .iter()
            .map(|table| {
                let stream = config.stream(*table);
                stream_url(&config.endpoint, config.dcr_id.as_str(), stream)
            })
            .collect();
        LogsIngestion {
            client: http::client(timeouts),
            urls,
            config,
            tokens,
            token_budget: timeouts.attempt,
        }
    }

    /// Sends the rows in as many requests as the 1 MB limit needs, one attempt each; a 413 splits
    /// a request in two, and a lone row answered 413 is cut shorter a few times. On failure, the
    /// rows of the failed request and of every request not yet made are unsent.
    pub async fn send(
        &self,
        table: Table,
        rows: &[Row],
        phase: &Arc<SendPhase>,
    ) -> Result<(), Unsent> {
        let stream = self.config.stream(table);
        let url = &self.urls[table.index()];
        // The JSON goes as soon as its gzip is made: only the body waits for the answer.
        if let Some(body) = whole(rows).map(|json| gzipped(&json)) {
            match self.post(url, stream, body, phase).await {
                Ok(Posted::Accepted) => return Ok(()),
                // Nothing was written: the general path below splits the rows.
                Ok(Posted::TooLarge) => {}
                Err(error) => return Err(Unsent::all(rows)(error)),
            }
        }
        let chunks = request_chunks(rows).map_err(Unsent::all(rows))?;
        let mut pending: Vec<(Vec<Encoded>, u32)> =
            chunks.into_iter().map(|chunk| (chunk, 0)).collect();
        while let Some((chunk, shrinks)) = pending.pop() {
            let body = request_body(&chunk);
            let failed = match self.post(url, stream, body, phase).await {
                Ok(Posted::Accepted) => continue,
                Ok(Posted::TooLarge) if chunk.len() > 1 => {
                    let mut first = chunk;
                    let second = first.split_off(first.len() / 2);
                    pending.extend([(first, shrinks), (second, shrinks)]);
                    continue;
                }
                Ok(Posted::TooLarge) if shrinks < MAX_SHRINKS => {
                    let index = chunk[0].index;
                    let field_bytes = LIMITS.field_bytes >> (shrinks + 1);
                    match batch::fit(&rows[index], field_bytes, LIMITS, encode) {
                        Ok(json) => {
                            pending.push((vec![Encoded { index, json }], shrinks + 1));
                            continue;
                        }
                        Err(error) => error,
                    }
                }
                Ok(Posted::TooLarge) => {
                    rejected(StatusCode::PAYLOAD_TOO_LARGE, String::new(), None, stream)
                }
                Err(error) => error,
            };
            let mut unsent: Vec<usize> = chunk.iter().map(|r| r.index).collect();
            unsent.extend(pending.iter().flat_map(|(c, _)| c.iter().map(|r| r.index)));
            return Err(Unsent {
                error: failed,
                rows: unsent,
            });
        }
        Ok(())
    }

    /// One gzip-compressed POST; a 401 refreshes the token and tries once more.
    async fn post(
        &self,
        url: &Url,
        stream: &str,
        body: Vec<u8>,
        phase: &Arc<SendPhase>,
    ) -> Result<Posted, DeliveryError> {
        let body = bytes::Bytes::from(body);
        for attempt in 0..2 {
            let deadline = tokio::time::Instant::now() + self.token_budget;
            let token = self.tokens.token(deadline).await?;
            let response = self
                .client
                .post(url.clone())
                .bearer_auth(token.expose_secret())
                .header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )
                .header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))
                .body(phase.body(body.clone()))
                .send()
                .await
                .map_err(DeliveryError::unreachable)?;
            let status = response.status();
            // The API's only success; another 2xx is something else at the endpoint's address.
            if status == StatusCode::NO_CONTENT {
                return Ok(Posted::Accepted);
            }
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                return Ok(Posted::TooLarge);
            }
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.tokens.invalidate(&token);
                continue;
            }
            let wait = retry_after(&response);
            return Err(rejected(status, error_body(response).await, wait, stream));
        }
        unreachable!("the second attempt always returns")
    }
}

/// The rows as the requests' chunks: each row within the limits, once, in a chunk of rows
/// within 30 minutes of each other whose JSON array is at most 1 MB.
pub fn request_chunks(rows: &[Row]) -> Result<Vec<Vec<Encoded>>, DeliveryError> {
    let encoded = batch::encode_all(rows, LIMITS, encode)?;
    let buckets = time_buckets(rows, encoded).into_values();
    Ok(buckets
        .flat_map(|bucket| batch::chunks(bucket, LIMITS.request_bytes))
        .collect())
}

/// The rows' JSON array, written in one pass, when they fit one request as they are and lie
/// within one time bucket (the usual case): the one chunk [`request_chunks`] would make.
fn whole(rows: &[Row]) -> Option<Vec<u8>> {
    let first = time_bucket(rows.first()?);
    if rows.iter().any(|row| time_bucket(row) != first) {
        return None;
    }
    batch::whole(rows, LIMITS, None)
}

/// A chunk's request body: its JSON array, gzip-encoded.
pub fn request_body(chunk: &[Encoded]) -> Vec<u8> {
    gzipped(&batch::json_array(chunk))
}

/// The most bytes of JSON sent stored in their gzip stream rather than compressed. Below it,
/// compressing costs a Logs Ingestion webhook several per cent of its CPU (the compressor
/// clears a 128 KB table for every stream) to save bytes the API neither bills nor counts
/// against its 1 MB limit (it counts the JSON either way).
const STORE_UP_TO: usize = 64 * 1024;

/// The body of a request: gzip, as the API asks, compressed when large.
fn gzipped(json: &[u8]) -> Vec<u8> {
    if json.len() <= STORE_UP_TO {
        gzip::store(json)
    } else {
        gzip::compress(json, Compression::fast())
    }
}

/// The API refuses a request whose records span more than 30 minutes of `TimeGenerated`
/// (`RecordsTimeRangeIsMoreThan30Minutes`), which group commit could otherwise produce:
/// rows are sorted into 25-minute buckets, and each bucket is sent on its own.
fn time_buckets(rows: &[Row], encoded: Vec<Encoded>) -> BTreeMap<i64, Vec<Encoded>> {
    let mut buckets: BTreeMap<i64, Vec<Encoded>> = BTreeMap::new();
    for row in encoded {
        buckets
            .entry(time_bucket(&rows[row.index]))
            .or_default()
            .push(row);
    }
    buckets
}

/// The 25-minute bucket of a row's `TimeGenerated`.
fn time_bucket(row: &Row) -> i64 {
    const BUCKET_SECONDS: i64 = 25 * 60;
    let time = row
        .text_of(TIME_GENERATED)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map_or(0, |t| t.timestamp());
    time.div_euclid(BUCKET_SECONDS)
}

fn encode(row: &Row) -> serde_json::Result<Vec<u8>> {
    Ok(row.to_json(None))
}

fn rejected(
    status: StatusCode,
    body: String,
    retry_after: Option<u64>,
    stream: &str,
) -> DeliveryError {
    let hint = match status.as_u16() {
        401 => Some("the token was refused twice: check that the identity is in the DCR's tenant and that LOGS_INGESTION_AUDIENCE matches the cloud".into()),
        403 => Some("grant the identity the \"Monitoring Metrics Publisher\" role on the data collection rule (role assignments take up to 30 minutes to apply)".into()),
        404 => Some(format!("check LOGS_INGESTION_ENDPOINT, LOGS_INGESTION_DCR_ID (the DCR's immutableId) and that the DCR declares the stream {stream}")),
        200..400 => Some("the endpoint answered a redirect (not followed) or a 2xx other than the API's 204, so it is not a logs ingestion endpoint: set LOGS_INGESTION_ENDPOINT to the data collection endpoint's (or the DCR's) logs ingestion URI".into()),
        400 => Some(format!("the DCR refused the rows of {stream}: its stream declaration must match `handler schema`")),
        413 => Some(format!("a single row of {stream} was refused as too large even after cutting its values")),
        _ => None,
    };
    DeliveryError::Rejected {
        status: status.as_u16(),
        body,
        retry_after,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_names_the_dcr_stream_and_api_version() {
        let endpoint = Url::parse("https://my-dcr-abcd.eastus-1.ingest.monitor.azure.com").unwrap();
        assert_eq!(
            stream_url(&endpoint, "dcr-000a00a000a00000a000000aa000a0aa", "Custom-SkytapAudit_CL").as_str(),
            "https://my-dcr-abcd.eastus-1.ingest.monitor.azure.com/dataCollectionRules/dcr-000a00a000a00000a000000aa000a0aa/streams/Custom-SkytapAudit_CL?api-version=2023-01-01"
        );
    }

    /// Rows of one time bucket are written in one pass, byte for byte as the one chunk the
    /// general path makes; rows an hour apart take the general path, which splits them.
    #[test]
    fn rows_within_one_time_bucket_are_written_as_one_chunk() {
        use crate::schema::{Provenance, Table};
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: chrono::Utc::now(),
        };
        // The start of a bucket: a multiple of 25 minutes since the epoch.
        let at = |minutes: i64| {
            let time = chrono::DateTime::from_timestamp(1_764_460_500 + minutes * 60, 0).unwrap();
            let mut row = Row::new(Table::AuditWolf, &provenance, time);
            row.text("Summary", Some("s"));
            row
        };
        let close = [at(0), at(1), at(24)];
        let chunks = request_chunks(&close).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(whole(&close).unwrap(), batch::json_array(&chunks[0]));
        let apart = [at(0), at(60)];
        assert_eq!(request_chunks(&apart).unwrap().len(), 2);
        assert!(whole(&apart).is_none());
        assert!(whole(&[]).is_none());
    }

    #[test]
    fn bodies_are_the_json_array_gzipped() {
        use std::io::Read;
        let body = request_body(&[]);
        let mut json = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut json)
            .unwrap();
        assert_eq!(json, "[]");
    }
}
