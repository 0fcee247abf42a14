//! The one route table: every function in a `*/function.json` folder is served here.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use actix_web::dev::{Server, Service, ServiceRequest};
use actix_web::http::{Method, Uri};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};

use crate::app::AppState;
use crate::cli::VERSION;
use crate::drain::drain;
use crate::ingest::ingest;
use crate::sources::{Gate, Source};
use crate::storage_queue::StorageQueue;

/// `extensions.http.routePrefix` in host.json; forwarded requests keep it in their path.
pub const ROUTE_PREFIX: &str = "/api";

/// The webhook functions (POST): each source's own, `webhook`, which detects the source, and
/// `azuremonitor-secure`, anonymous, for action groups' secure webhooks (no key in the URL).
pub const WEBHOOK_FUNCTIONS: [(&str, Option<Source>, Gate); 6] = [
    ("skytap", Some(Source::Skytap), Gate::FunctionKey),
    ("auditwolf", Some(Source::AuditWolf), Gate::FunctionKey),
    (
        "azuremonitor",
        Some(Source::AzureMonitor),
        Gate::FunctionKey,
    ),
    (
        "azuremonitor-secure",
        Some(Source::AzureMonitor),
        Gate::EntraToken,
    ),
    ("stackstate", Some(Source::StackState), Gate::FunctionKey),
    ("webhook", None, Gate::FunctionKey),
];

/// The health function (GET or HEAD, anonymous: uptime probes use HEAD).
pub const HEALTH_FUNCTION: &str = "health";

/// The queue-triggered function that delivers spilled rows; the host calls it at `/<name>`.
pub const DRAIN_FUNCTION: &str = "drain";

/// Registers every function's route, used by `main` and by the tests alike.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (name, source, gate) in WEBHOOK_FUNCTIONS {
        // The method is checked here rather than by a route's guard: actix records each guard's
        // method in the request's extensions, three allocations a webhook.
        let webhook = move |req: HttpRequest, body, state| async move {
            if req.method() != Method::POST {
                return method_not_allowed(req, "POST").await;
            }
            ingest(name, source, gate, req, body, state).await
        };
        cfg.service(web::resource(format!("{ROUTE_PREFIX}/{name}")).to(webhook));
    }
    cfg.service(
        web::resource(format!("/{DRAIN_FUNCTION}"))
            .route(web::post().to(drain))
            .default_service(web::to(|req| method_not_allowed(req, "POST"))),
    );
    cfg.service(
        web::resource(format!("{ROUTE_PREFIX}/{HEALTH_FUNCTION}"))
            .route(web::get().to(health))
            .route(web::head().to(health))
            .default_service(web::to(|req| method_not_allowed(req, "GET, HEAD"))),
    );
}

/// How many connections the kernel holds completed for the workers to accept: actix's own
/// default (the kernel caps it at `net.core.somaxconn`). `TcpListener::bind` asks for 128; a
/// burst of new connections past that (the Functions host opening connections as it scales, a
/// sender's retry storm after an outage) has its SYNs dropped, and each waits a second for its
/// retry.
const BACKLOG: i32 = 2048;

/// The handler's listener on this machine's loopback at `port` (0: any free port).
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // As `TcpListener::bind` does: a restarted handler may take its port back at once.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Starts serving on an already-bound listener (port 0 in tests). On SIGTERM or SIGINT (Ctrl-C
/// under `func start`) it stops accepting and gives requests in flight, drained messages
/// included, time to deliver or spill before it exits. (Azure stops the handler with SIGKILL.)
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let grace = state.timeouts.shutdown_grace();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(|mut req, service| {
                lowercase_path(&mut req);
                service.call(req)
            })
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(grace.as_secs_f64().ceil() as u64)
    // actix stops at once on SIGINT; both signals are handled here, gracefully.
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        if stop_signal().await.is_ok() {
            handle.stop(true).await;
        }
    });
    Ok(server)
}

/// Waits for SIGTERM or SIGINT.
async fn stop_signal() -> std::io::Result<()> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("Stopping: requests in flight may finish.");
    Ok(())
}

/// The Functions host matches routes without regard to case (`/api/AuditWolf` reaches the
/// `auditwolf` function) and forwards the path as sent, so the handler matches the same way.
/// Only the path is changed: the query (a `tokenid`, a function key) keeps its case.
fn lowercase_path(req: &mut ServiceRequest) {
    let uri = req.uri();
    if !uri.path().bytes().any(|b| b.is_ascii_uppercase()) {
        return;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{}?{query}", uri.path().to_ascii_lowercase()),
        None => uri.path().to_ascii_lowercase(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(lowered) = Uri::from_parts(parts) {
        req.match_info_mut().get_mut().update(&lowered);
        req.head_mut().uri = lowered;
    }
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let delivery = &state.delivery;
    let spill = delivery.spill_queue().map(StorageQueue::name);
    HttpResponse::Ok().json(
        json!({ "status": "ok", "version": VERSION, "destination": delivery.destination().name(), "spill_queue": spill }),
    )
}

async fn method_not_allowed(req: HttpRequest, allowed: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed))
        .json(json!({ "error": format!("{} is not allowed on {}; use {allowed}", req.method(), req.path()) }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let functions: Vec<String> = WEBHOOK_FUNCTIONS
        .iter()
        .map(|(name, _, _)| *name)
        .chain([HEALTH_FUNCTION])
        .map(|name| format!("{ROUTE_PREFIX}/{name}"))
        .collect();
    HttpResponse::NotFound().json(json!({
        "error": format!("no function is served at {}; the functions are {}", req.path(), functions.join(", "))
    }))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_of_new_connections_waits_in_the_queue_rather_than_for_a_retried_syn() {
        // Nothing accepts while they connect: each completed connection waits in the queue.
        let listener = bind(0).unwrap();
        let address = listener.local_addr().unwrap();
        let burst = 300;
        let clients: Vec<TcpStream> = (0..burst)
            .filter_map(|_| TcpStream::connect_timeout(&address, Duration::from_millis(50)).ok())
            .collect();
        listener.set_nonblocking(true).unwrap();
        let queued = std::iter::from_fn(|| listener.accept().ok()).count();
        // The kernel holds one more than the backlog, which it caps at somaxconn (4096 since
        // Linux 5.4, 128 before).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .map_or(4096, |text| text.trim().parse().unwrap());
        assert_eq!(
            queued,
            burst.min(somaxconn + 1),
            "a queue of {queued} (std's bind gives 128): the rest wait a second for the SYN's retry"
        );
        drop(clients);
    }
}
