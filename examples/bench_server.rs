//! Benchmark helper (not shipped): `bare` reads each body and answers 200, the ceiling of the
//! HTTP stack; `destination` is a fast fake Log Analytics (either API) that answers `DELAY_MS`
//! after a request arrives (to a fraction of a millisecond) as the API would (the Data Collector
//! 200, Logs Ingestion 204), with a managed-identity token endpoint at `GET /msi/token` for Logs
//! Ingestion. Both count what they receive at `GET /stats`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::oneshot;

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Wakes each waiter at its deadline, to well under a millisecond. The runtime's timer works in
/// whole milliseconds and fires on a tick after the deadline, so a 50 ms sleep answered in about
/// 52 ms under load: a slower destination than the one the benchmark says it drives.
#[derive(Clone)]
struct Timer(mpsc::Sender<(Instant, oneshot::Sender<()>)>);

impl Timer {
    fn start() -> Self {
        let (sender, receiver) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            // By deadline, then by arrival.
            let mut waiting: BTreeMap<(Instant, u64), oneshot::Sender<()>> = BTreeMap::new();
            for arrival in 0u64.. {
                let now = Instant::now();
                while let Some(entry) = waiting.first_entry() {
                    let (deadline, _) = *entry.key();
                    if deadline > now {
                        break;
                    }
                    let _ = entry.remove().send(());
                }
                let next = match waiting.keys().next() {
                    Some((deadline, _)) => receiver.recv_timeout(*deadline - now),
                    None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok((deadline, wake)) => {
                        waiting.insert((deadline, arrival), wake);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Timer(sender)
    }

    async fn sleep_until(&self, deadline: Instant) {
        let (wake, woken) = oneshot::channel();
        if self.0.send((deadline, wake)).is_ok() {
            let _ = woken.await;
        }
    }
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    stats: web::Data<Stats>,
    delay: web::Data<Duration>,
    timer: web::Data<Timer>,
) -> HttpResponse {
    let arrived = Instant::now();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    if !delay.is_zero() {
        timer.sleep_until(arrived + **delay).await;
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
    let timer = web::Data::new(Timer::start());
    HttpServer::new(move || {
        App::new()
            .app_data(stats.clone())
            .app_data(delay.clone())
            .app_data(timer.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/stats", web::get().to(report))
            .route("/msi/token", web::get().to(token))
            .default_service(web::to(receive))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
