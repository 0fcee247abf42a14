//! The one route table: every function in a `*/function.json` folder is served here.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use crate::dedup::Deduplicator;
use crate::destinations::group::GroupCommit;
use crate::destinations::{DataCollector, Destination, LocalFile, LogsIngestion};
use crate::drain::drain;
use crate::ingest::{ingest, SPILL_TIMEOUT};
use crate::settings::{DestinationConfig, Settings, TableNames};
use crate::sources::{Credentials, Source};
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

/// At most this many delivered keys are remembered (about 10 MB).
const DEDUP_CAPACITY: usize = 100_000;

/// What every request shares: built once from the settings.
#[derive(Debug)]
pub struct AppState {
    pub credentials: Credentials,
    pub tables: TableNames,
    pub destination: Arc<Destination>,
    /// Coalesces concurrent webhooks per table, when group commit is on.
    pub group: Option<GroupCommit>,
    pub max_body_bytes: usize,
    pub delivery_timeout: std::time::Duration,
    /// Where rows go when the destination fails, if storage is configured.
    pub spill: Option<StorageQueue>,
    /// Delivered webhook keys, when de-duplication is on.
    pub dedup: Option<Deduplicator>,
}

impl AppState {
    /// Builds the shared state; starts the group-commit tasks, so call it inside the runtime.
    pub fn new(settings: &Settings) -> Self {
        let destination = match &settings.destination {
            DestinationConfig::LogsIngestion(config) => {
                Destination::LogsIngestion(Box::new(LogsIngestion::new((**config).clone())))
            }
            DestinationConfig::DataCollector(config) => {
                Destination::DataCollector(DataCollector::new(config.clone()))
            }
            DestinationConfig::LocalFile(dir) => {
                Destination::LocalFile(LocalFile::new(dir.clone()))
            }
        };
        let destination = Arc::new(destination);
        let group = (!settings.group_commit.is_zero()).then(|| {
            GroupCommit::start(
                Arc::clone(&destination),
                &settings.tables,
                settings.group_commit,
            )
        });
        AppState {
            group,
            credentials: settings.credentials.clone(),
            tables: settings.tables.clone(),
            destination,
            max_body_bytes: settings.max_body_bytes,
            delivery_timeout: settings.delivery_timeout,
            spill: settings
                .spill
                .as_ref()
                .map(|spill| StorageQueue::new(&spill.service, &spill.queue)),
            dedup: (!settings.dedup_window.is_zero())
                .then(|| Deduplicator::new(settings.dedup_window, DEDUP_CAPACITY)),
        }
    }
}

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
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let grace = state.delivery_timeout + SPILL_TIMEOUT + Duration::from_secs(2);
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let spill = state.spill.as_ref().map(StorageQueue::name);
    HttpResponse::Ok().json(
        json!({ "status": "ok", "destination": state.destination.name(), "spill_queue": spill }),
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
