//! The one route table: every function in a `*/function.json` folder is served here.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use crate::app::AppState;
use crate::drain::drain;
use crate::ingest::ingest;
use crate::sources::Source;
use crate::storage_queue::StorageQueue;

/// `extensions.http.routePrefix` in host.json; forwarded requests keep it in their path.
pub const ROUTE_PREFIX: &str = "/api";

/// The webhook functions (POST): each source's own, and `webhook`, which detects the source.
pub const WEBHOOK_FUNCTIONS: [(&str, Option<Source>); 5] = [
    ("skytap", Some(Source::Skytap)),
    ("auditwolf", Some(Source::AuditWolf)),
    ("azuremonitor", Some(Source::AzureMonitor)),
    ("stackstate", Some(Source::StackState)),
    ("webhook", None),
];

/// The health function (GET, anonymous).
pub const HEALTH_FUNCTION: &str = "health";

/// The queue-triggered function that delivers spilled rows; the host calls it at `/<name>`.
pub const DRAIN_FUNCTION: &str = "drain";

/// Registers every function's route, used by `main` and by the tests alike.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (name, source) in WEBHOOK_FUNCTIONS {
        cfg.service(
            web::resource(format!("{ROUTE_PREFIX}/{name}"))
                .route(
                    web::post().to(move |req, body, state| ingest(name, source, req, body, state)),
                )
                .default_service(web::to(|req| method_not_allowed(req, "POST"))),
        );
    }
    cfg.service(
        web::resource(format!("/{DRAIN_FUNCTION}"))
            .route(web::post().to(drain))
            .default_service(web::to(|req| method_not_allowed(req, "POST"))),
    );
    cfg.service(
        web::resource(format!("{ROUTE_PREFIX}/{HEALTH_FUNCTION}"))
            .route(web::get().to(health))
            .default_service(web::to(|req| method_not_allowed(req, "GET"))),
    );
}

/// Starts serving on an already-bound listener (port 0 in tests). On SIGTERM or SIGINT it stops
/// accepting and gives requests in flight time to deliver or spill before it exits.
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let grace = state.timeouts.shutdown_grace();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(grace.as_secs_f64().ceil() as u64)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let delivery = &state.delivery;
    let spill = delivery.spill_queue().map(StorageQueue::name);
    HttpResponse::Ok().json(
        json!({ "status": "ok", "destination": delivery.destination().name(), "spill_queue": spill }),
    )
}

async fn method_not_allowed(req: HttpRequest, allowed: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed))
        .json(json!({ "error": format!("{} is not allowed on {}; use {allowed}", req.method(), req.path()) }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": format!("no function is served at {}; the functions are under {ROUTE_PREFIX}/", req.path())
    }))
}
