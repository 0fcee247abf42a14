//! Benchmark helper (not shipped): `bare` reads each body and answers 200, the ceiling of the
//! HTTP stack; `destination` is a fast fake Log Analytics (either API) that answers after
//! `DELAY_MS` as the API would (the Data Collector 200, Logs Ingestion 204), with a
//! managed-identity token endpoint at `GET /msi/token` for Logs Ingestion. Both count what they
//! receive at `GET /stats`.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    stats: web::Data<Stats>,
    delay: web::Data<Duration>,
) -> HttpResponse {
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    if !delay.is_zero() {
        actix_web::rt::time::sleep(**delay).await;
    }
    if request.path().starts_with("/dataCollectionRules/") {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

/// A managed-identity token answer, valid for an hour.
async fn token() -> HttpResponse {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    HttpResponse::Ok().body(format!(
        "{{\"access_token\":\"bench-token\",\"expires_on\":\"{expires}\",\"token_type\":\"Bearer\"}}"
    ))
}

async fn report(stats: web::Data<Stats>) -> HttpResponse {
    let requests = stats.requests.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    HttpResponse::Ok().body(format!("{{\"requests\":{requests},\"bytes\":{bytes}}}"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let port: u16 = std::env::args()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .expect("usage: bench_server bare|destination PORT");
    let delay = match mode.as_str() {
        "bare" => Duration::ZERO,
        "destination" => Duration::from_millis(
            std::env::var("DELAY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
        _ => panic!("usage: bench_server bare|destination PORT"),
    };
    let stats = web::Data::new(Stats::default());
    let delay = web::Data::new(delay);
    HttpServer::new(move || {
        App::new()
            .app_data(stats.clone())
            .app_data(delay.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/stats", web::get().to(report))
            .route("/msi/token", web::get().to(token))
            .default_service(web::to(receive))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
