//! The Functions host's proxying mode (`enableProxyingHttpRequest`), as far as a handler can
//! tell: every request relayed to the same path and query with its body byte for byte, hop-by-hop
//! headers dropped, `Host` set to the handler's loopback address with the caller's in
//! `X-Forwarded-Host`, `X-Forwarded-For`/`-Proto` replaced, `x-ms-invocation-id` added; the
//! handler's answer relayed unchanged; a handler that cannot be reached is a bare 500.
//!
//! With `HOST_MODE=proxying` every test app is reached through this relay (`scripts/test.sh`
//! runs the API tests both ways).

use std::net::TcpListener;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;

/// Headers a reverse proxy never relays (RFC 9110 §7.6.1, and what YARP drops).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// True when the tests run behind the proxying host.
pub fn proxying() -> bool {
    std::env::var("HOST_MODE").is_ok_and(|mode| mode == "proxying")
}

/// Starts a relay to the handler at `handler` (`http://127.0.0.1:<port>`); returns its address.
pub fn relay(handler: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let target = web::Data::new(handler);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(target.clone())
            .default_service(web::to(relay_one))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    address
}

/// A request body relayed as it arrives, chunk by chunk, as YARP streams it.
struct Streamed(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for Streamed {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}

async fn relay_one(
    req: HttpRequest,
    mut body: web::Payload,
    handler: web::Data<String>,
) -> HttpResponse {
    static INVOCATIONS: AtomicU64 = AtomicU64::new(1);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{}{}{query}", handler.as_str(), req.path());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut relayed = reqwest::Client::new().request(method, url);
    for (name, value) in req.headers() {
        let name = name.as_str();
        let replaced = name == "host" || name.starts_with("x-forwarded-") || name == "forwarded";
        if !replaced && !HOP_BY_HOP.contains(&name) {
            relayed = relayed.header(name, value.as_bytes());
        }
    }
    let caller_host = req.connection_info().host().to_owned();
    let invocation = INVOCATIONS.fetch_add(1, Ordering::Relaxed);
    relayed = relayed
        .header("X-Forwarded-Host", caller_host)
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-Proto", "https")
        .header(
            "x-ms-invocation-id",
            format!("00000000-0000-4000-8000-{invocation:012}"),
        );
    let has_body = req.headers().contains_key("transfer-encoding")
        || req
            .headers()
            .get("content-length")
            .is_some_and(|length| length.as_bytes() != b"0");
    let (chunks, streamed) = tokio::sync::mpsc::channel(4);
    actix_web::rt::spawn(async move {
        while let Some(Ok(chunk)) = body.next().await {
            if chunks.send(chunk).await.is_err() {
                break;
            }
        }
    });
    if has_body {
        relayed = relayed.body(reqwest::Body::wrap(Streamed(streamed)));
    }
    let Ok(answer) = relayed.send().await else {
        // The handler cannot be reached: the host answers a bare 500.
        return HttpResponse::InternalServerError().finish();
    };
    let mut response = HttpResponse::build(answer.status().as_u16().try_into().unwrap());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    match answer.bytes().await {
        Ok(bytes) => response.body(bytes),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
