//! A fake Entra ID (managed identity and client-credentials endpoints) and a fake Logs Ingestion
//! API that checks tokens, api-version, DCR, stream, gzip, the 1 MB limit and the declared columns.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, TimeDelta, Utc};
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use webhook_ingest::schema::{ColumnType, Table};

use crate::helpers::{spawn_app_with, TestApp};

pub const DCR_ID: &str = "dcr-000a00a000a00000a000000aa000a0aa";
pub const IDENTITY_HEADER: &str = "identity-header-secret";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "5e29463d-71da-4fe0-8e69-999b57db23b0";
pub const CLIENT_SECRET: &str = "client~secret";
/// The real service's limit; tests may lower it to provoke 413.
pub const ONE_MB: usize = 1_000_000;

/// How the fake managed-identity endpoint answers a token request.
#[derive(Clone, Copy, Debug)]
pub enum TokenAnswer {
    /// A token the ingestion endpoint accepts.
    Issue,
    /// Accepts the request and never answers.
    Stall,
    /// This status, with no token.
    Status(u16),
    /// This body, as is, with 200.
    Body(&'static str),
}

/// One accepted request.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub stream: String,
    pub wire_bytes: usize,
    pub rows: Vec<Value>,
}

struct State {
    token_lifetime: TimeDelta,
    tokens: HashMap<String, DateTime<Utc>>,
    token_requests: usize,
    accepted: Vec<Ingested>,
    rejected: Vec<(u16, String)>,
    injected: VecDeque<(u16, Option<&'static str>)>,
    max_bytes: usize,
    refuse_all_tokens: bool,
    delay: std::time::Duration,
    /// Every n-th ingestion request waits this long before it commits (n, delay).
    slow_every: Option<(usize, std::time::Duration)>,
    ingestion_requests: usize,
    /// Answers for the next managed-identity requests, then `token_answer`.
    token_script: VecDeque<TokenAnswer>,
    token_answer: TokenAnswer,
    /// Requests that followed a redirect (an injected 3xx points at `/moved`).
    moved: usize,
}

#[derive(Clone)]
pub struct FakeLogsIngestion {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeLogsIngestion {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            token_lifetime: TimeDelta::hours(1),
            tokens: HashMap::new(),
            token_requests: 0,
            accepted: Vec::new(),
            rejected: Vec::new(),
            injected: VecDeque::new(),
            max_bytes: ONE_MB,
            refuse_all_tokens: false,
            delay: std::time::Duration::ZERO,
            slow_every: None,
            ingestion_requests: 0,
            token_script: VecDeque::new(),
            token_answer: TokenAnswer::Issue,
            moved: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/msi/token", web::get().to(managed_identity))
                .route(
                    "/{tenant}/oauth2/v2.0/token",
                    web::post().to(client_credentials),
                )
                .route(
                    "/dataCollectionRules/{dcr}/streams/{stream}",
                    web::post().to(ingest),
                )
                .route("/moved", web::to(moved))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        FakeLogsIngestion { url, state }
    }

    pub fn set_token_lifetime(&self, lifetime: TimeDelta) {
        self.state.lock().unwrap().token_lifetime = lifetime;
    }
    /// Makes the fake wait this long before it checks and commits a request.
    pub fn delay_with(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }
    /// Makes every `n`-th ingestion request wait `delay` before it commits.
    pub fn slow_every(&self, n: usize, delay: std::time::Duration) {
        self.state.lock().unwrap().slow_every = Some((n, delay));
    }
    pub fn set_max_bytes(&self, bytes: usize) {
        self.state.lock().unwrap().max_bytes = bytes;
    }
    /// The next ingestion requests get these answers (status, Retry-After) before normal service;
    /// a 2xx among them is normal service.
    pub fn inject(&self, answers: &[(u16, Option<&'static str>)]) {
        self.state
            .lock()
            .unwrap()
            .injected
            .extend(answers.iter().copied());
    }
    /// The next managed-identity requests get these answers, then `answer_tokens_with`'s.
    pub fn script_tokens(&self, answers: &[TokenAnswer]) {
        self.state.lock().unwrap().token_script.extend(answers);
    }
    /// How the managed-identity endpoint answers from now on (after any scripted answers).
    pub fn answer_tokens_with(&self, answer: TokenAnswer) {
        self.state.lock().unwrap().token_answer = answer;
    }
    /// Forgets every issued token, as if they were revoked.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }
    pub fn refuse_all_tokens(&self) {
        self.state.lock().unwrap().refuse_all_tokens = true;
    }

    /// How many requests followed a redirect to `/moved`.
    pub fn moved(&self) -> usize {
        self.state.lock().unwrap().moved
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }
    pub fn accepted(&self) -> Vec<Ingested> {
        self.state.lock().unwrap().accepted.clone()
    }
    pub fn rows(&self) -> Vec<Value> {
        self.accepted().into_iter().flat_map(|i| i.rows).collect()
    }
    pub fn rejected(&self) -> Vec<(u16, String)> {
        self.state.lock().unwrap().rejected.clone()
    }

    /// Settings for the handler: this endpoint and DCR, and a managed identity served here.
    pub fn managed_identity_settings(&self) -> Vec<(String, String)> {
        vec![
            ("LOGS_INGESTION_ENDPOINT".into(), self.url.clone()),
            ("LOGS_INGESTION_DCR_ID".into(), DCR_ID.into()),
            (
                "IDENTITY_ENDPOINT".into(),
                format!("{}/msi/token", self.url),
            ),
            ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
        ]
    }

    /// Settings for the handler: this endpoint and DCR, and a service principal served here.
    pub fn client_secret_settings(&self) -> Vec<(String, String)> {
        vec![
            ("LOGS_INGESTION_ENDPOINT".into(), self.url.clone()),
            ("LOGS_INGESTION_DCR_ID".into(), DCR_ID.into()),
            ("AZURE_AUTHORITY_HOST".into(), self.url.clone()),
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ]
    }
}

/// The handler delivering to a fake Logs Ingestion API (the Data Collector settings stay set: this wins).
pub async fn spawn_ingestion_app(settings: Vec<(String, String)>) -> TestApp {
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    spawn_app_with(&pairs).await
}

fn issue(state: &mut State, prefix: &str) -> (String, DateTime<Utc>) {
    state.token_requests += 1;
    let token = format!("{prefix}-{}", state.token_requests);
    let expires = Utc::now() + state.token_lifetime;
    state.tokens.insert(token.clone(), expires);
    (token, expires)
}

async fn managed_identity(req: HttpRequest, state: web::Data<Mutex<State>>) -> HttpResponse {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let answer = {
        let mut state = state.lock().unwrap();
        state.token_script.pop_front().unwrap_or(state.token_answer)
    };
    match answer {
        TokenAnswer::Issue => {}
        TokenAnswer::Stall => {
            actix_web::rt::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        TokenAnswer::Status(status) => {
            return HttpResponse::build(status.try_into().unwrap())
                .json(json!({"error": "injected"}))
        }
        TokenAnswer::Body(body) => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body(body)
        }
    }
    let header = req
        .headers()
        .get("X-IDENTITY-HEADER")
        .and_then(|v| v.to_str().ok());
    if header != Some(IDENTITY_HEADER) {
        return HttpResponse::Unauthorized()
            .json(json!({"error": "missing or wrong X-IDENTITY-HEADER"}));
    }
    if query.get("api-version").map(String::as_str) != Some("2019-08-01")
        || query.get("resource").map(String::as_str) != Some("https://monitor.azure.com")
    {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "query": query}));
    }
    let mut state = state.lock().unwrap();
    let (token, expires) = issue(&mut state, "mi");
    HttpResponse::Ok().json(json!({
        "access_token": token, "expires_on": expires.timestamp().to_string(),
        "resource": "https://monitor.azure.com", "token_type": "Bearer", "client_id": query.get("client_id"),
    }))
}

async fn client_credentials(
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let form = form.into_inner();
    let field = |k: &str| form.get(k).map(String::as_str);
    let valid = path.as_str() == TENANT
        && field("client_id") == Some(CLIENT_ID)
        && field("client_secret") == Some(CLIENT_SECRET)
        && field("grant_type") == Some("client_credentials")
        && field("scope") == Some("https://monitor.azure.com/.default");
    if !valid {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}));
    }
    let mut state = state.lock().unwrap();
    let (token, expires) = issue(&mut state, "sp");
    let lifetime = (expires - Utc::now()).num_seconds() + 1;
    HttpResponse::Ok().json(json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}))
}

async fn ingest(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let path = path.into_inner();
    let delay = {
        let mut state = state.lock().unwrap();
        state.ingestion_requests += 1;
        match state.slow_every {
            Some((n, slow)) if state.ingestion_requests.is_multiple_of(n) => slow,
            _ => state.delay,
        }
    };
    // As Azure does, a request it received commits even if its client goes away meanwhile.
    let (answer, answered) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(delay).await;
        let _ = answer.send(commit(&req, &path, &body, &state));
    });
    answered.await.expect("the commit task answers")
}

/// Where an injected redirect points: a page that answers 200 to anything, as a portal would.
async fn moved(state: web::Data<Mutex<State>>) -> HttpResponse {
    state.lock().unwrap().moved += 1;
    HttpResponse::Ok().body("<html>moved</html>")
}

/// Checks an ingestion request as Azure does and records its rows, or answers what failed.
fn commit(
    req: &HttpRequest,
    path: &(String, String),
    body: &[u8],
    state: &Mutex<State>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let verdict = check(req, &path.0, &path.1, body, &state);
    match verdict {
        Err((status, reason)) => {
            state.rejected.push((status, reason.clone()));
            HttpResponse::build(status.try_into().unwrap()).json(json!({"error": {"code": reason}}))
        }
        Ok(rows) => {
            // An injected 204 takes its turn and is accepted as usual; another 2xx is answered
            // as something other than the API would, storing nothing.
            let injected = state
                .injected
                .pop_front()
                .filter(|(status, _)| *status != 204);
            if let Some((status, retry_after)) = injected {
                let mut answer = HttpResponse::build(status.try_into().unwrap());
                if let Some(seconds) = retry_after {
                    answer.insert_header(("Retry-After", seconds));
                }
                if (300..400).contains(&status) {
                    answer.insert_header(("Location", "/moved"));
                }
                return answer.json(json!({"error": {"code": "Injected"}}));
            }
            let stream = path.1.clone();
            state.accepted.push(Ingested {
                stream,
                wire_bytes: body.len(),
                rows,
            });
            HttpResponse::NoContent().finish()
        }
    }
}

fn check(
    req: &HttpRequest,
    dcr: &str,
    stream: &str,
    body: &[u8],
    state: &State,
) -> Result<Vec<Value>, (u16, String)> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let token = header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = !state.refuse_all_tokens
        && state
            .tokens
            .get(token)
            .is_some_and(|expires| Utc::now() < *expires);
    if !valid {
        return Err((401, "InvalidToken".into()));
    }
    if req.query_string() != "api-version=2023-01-01" {
        return Err((400, "InvalidApiVersion".into()));
    }
    let table = Table::ALL
        .into_iter()
        .find(|t| stream == format!("Custom-{}_CL", t.default_name()))
        .filter(|_| dcr == DCR_ID)
        .ok_or((404, format!("NotFound: {dcr}/{stream}")))?;
    if header("content-type") != Some("application/json")
        || header("content-encoding") != Some("gzip")
    {
        return Err((400, "ExpectedGzipJson".into()));
    }
    if body.len() > state.max_bytes {
        return Err((413, "ContentLengthLimitExceeded".into()));
    }
    let mut json = Vec::new();
    GzDecoder::new(body)
        .read_to_end(&mut json)
        .map_err(|_| (400, "InvalidGzip".to_string()))?;
    if json.len() > state.max_bytes {
        return Err((413, "ContentLengthLimitExceeded".into()));
    }
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(&json) else {
        return Err((400, "InvalidJson: not an array".into()));
    };
    for row in &rows {
        check_row(table, row).map_err(|why| (400, format!("SchemaMismatch: {why}")))?;
    }
    Ok(rows)
}

/// Every property must be a declared column of the stream, with a value of its type.
fn check_row(table: Table, row: &Value) -> Result<(), String> {
    let object = row.as_object().ok_or("a record is not an object")?;
    if !object.contains_key("TimeGenerated") {
        return Err("no TimeGenerated".into());
    }
    for (name, value) in object {
        let column = table
            .column(name)
            .ok_or(format!("{name} is not declared"))?;
        let fits = match column.kind {
            ColumnType::String => value.is_string(),
            ColumnType::DateTime => value
                .as_str()
                .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok()),
            ColumnType::Real => value.is_number(),
            ColumnType::Long => value.is_i64(),
            ColumnType::Dynamic => true,
        };
        if !fits {
            return Err(format!(
                "{name} = {value} is not a {}",
                column.kind.as_str()
            ));
        }
    }
    Ok(())
}
