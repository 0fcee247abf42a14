//! The one way an outbound HTTP client is built, and reading what Azure says in an error answer.

use crate::timeouts::Timeouts;

/// How much of an error body to keep for the log.
const MAX_ERROR_BODY: usize = 1024;

/// A client for Azure endpoints: rustls, with the connect and per-attempt timeouts. Which
/// schemes an endpoint may use is checked once, when the settings are read.
pub fn client(timeouts: &Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.attempt)
        .build()
        .expect("the TLS backend initialises")
}

/// Whether a URL's host is this machine.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// https, or plain http on a loopback host (tests and benchmarks fake Azure there; the
/// platform's managed identity endpoint is on localhost). Tokens, keys and signatures never
/// travel in clear.
pub fn is_secure(url: &reqwest::Url) -> bool {
    url.has_host() && (url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url)))
}

/// Reads a `Retry-After` header given in seconds.
pub fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The start of an error response's body, for the log.
pub async fn error_body(response: reqwest::Response) -> String {
    let mut text = response.text().await.unwrap_or_default();
    text.truncate(text.floor_char_boundary(MAX_ERROR_BODY));
    text
}
