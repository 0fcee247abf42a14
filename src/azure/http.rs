//! The one way an outbound HTTP client is built, and reading what Azure says in an error answer.

use crate::timeouts::Timeouts;

/// How much of an error body to keep for the log.
const MAX_ERROR_BODY: usize = 1024;

/// A client for Azure endpoints: rustls, with the connect and per-attempt timeouts. Which
/// schemes an endpoint may use is checked once, when the settings are read.
///
/// Redirects are not followed: no Azure endpoint used here redirects, and following one turned
/// a POST of rows into a GET that a portal page answers 200 (301 to 303: rows counted as
/// delivered that went nowhere), and would take a secret header such as the managed identity's
/// to another host. (A 307 or 308 went unfollowed only because a request body that reports its
/// sending cannot be replayed.) A 3xx is an answer like any other, and an operator's to fix.
pub fn client(timeouts: &Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.attempt)
        .redirect(reqwest::redirect::Policy::none())
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

/// The most seconds an Azure `Retry-After` is honoured for; a larger or unreadable value (an
/// HTTP date, garbage, a number past `u64`) counts as this. Log Analytics asks for seconds, and
/// a hostile or broken value must not pause a table for years.
pub const MAX_RETRY_AFTER: u64 = 60;

/// Reads a `Retry-After` header given in seconds, at most [`MAX_RETRY_AFTER`].
pub fn retry_after(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    Some(parse_retry_after(value.as_bytes()))
}

/// Reads a `Retry-After` value in seconds: at most [`MAX_RETRY_AFTER`], and that when unreadable.
pub fn parse_retry_after(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map_or(MAX_RETRY_AFTER, |seconds| seconds.min(MAX_RETRY_AFTER))
}

/// The start of an error response's body, for the log. No more than that is read: a wrong
/// endpoint setting can point at a page of any size, or a body that never ends.
pub async fn error_body(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let mut end = bytes.len().min(MAX_ERROR_BODY);
    // A character cut at the end is left out rather than shown as a replacement.
    if let Err(cut) = std::str::from_utf8(&bytes[..end]) {
        if cut.error_len().is_none() {
            end = cut.valid_up_to();
        }
    }
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn an_error_body_is_read_only_as_far_as_the_log_keeps_it() {
        // An answer whose body never ends: read whole, it would grow until the attempt's
        // timeout and then be lost.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0; 4096]);
            let head = "HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n";
            let chunk = format!("{:x}\r\n{}\r\n", 3000, "é".repeat(1500));
            let mut sent = stream.write_all(head.as_bytes());
            while sent.is_ok() {
                sent = stream.write_all(chunk.as_bytes());
            }
        });
        let response = client(&Timeouts::default()).get(url).send().await.unwrap();
        let body = error_body(response).await;
        // The 1,024th byte is the first half of an "é".
        let kept = format!("x{}", "é".repeat(MAX_ERROR_BODY / 2 - 1));
        assert_eq!(body, kept, "whole characters only");
    }

    #[test]
    fn a_retry_after_is_honoured_up_to_a_minute_and_an_unreadable_one_counts_as_a_minute() {
        assert_eq!(parse_retry_after(b" 7 "), 7);
        for long_or_unreadable in [
            &b"61"[..],
            b"18446744073709551615",
            b"18446744073709551616",
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"-1",
            b"\xff",
        ] {
            assert_eq!(parse_retry_after(long_or_unreadable), MAX_RETRY_AFTER);
        }
    }
}
