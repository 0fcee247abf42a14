//! Spawns the app on port 0 with a fake Data Collector endpoint that checks requests as Azure does.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use webhook_ingest::app::AppState;
use webhook_ingest::server;
use webhook_ingest::settings::{Settings, Vars};

pub const WORKSPACE_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const SHARED_KEY: &str =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
pub const AUDITWOLF_SECRET: &str = "test-webhook-secret";
pub const AUDITWOLF_OLD_SECRET: &str = "previous-webhook-secret";
pub const STACKSTATE_TOKEN: &str = "stackstate-token";

/// A fixture with its message id (Skytap `message_id`, AuditWolf `id`, StackState
/// `notificationId`) replaced, so repeated posts are distinct webhooks rather than retries.
pub fn fixture_with_id(name: &str, id: &str) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    for field in ["message_id", "id", "notificationId"] {
        if value.get(field).is_some() {
            value[field] = Value::String(id.to_owned());
        }
    }
    serde_json::to_vec(&value).unwrap()
}

/// A name no other test uses: `prefix` and a counter of this process, with the time.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{nanos}x{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// An http URL on a loopback port nothing listens on: a destination that is down.
pub fn closed_port_url() -> String {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", closed.local_addr().unwrap())
}

/// The exact bytes of a fixture under `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One POST the fake accepted.
#[derive(Clone, Debug)]
pub struct Post {
    pub log_type: String,
    pub time_generated_field: Option<String>,
    pub rows: Vec<Value>,
}

#[derive(Default)]
struct FakeState {
    accepted: Vec<Post>,
    rejected: Vec<String>,
    answer: u16,
    /// Answers for the next valid requests, before `answer` applies again.
    script: std::collections::VecDeque<u16>,
    /// Every request that arrived, whatever its answer.
    received: usize,
    /// Requests that followed a redirect (a 3xx answer points at `/moved`).
    moved: usize,
    delay: std::time::Duration,
}

/// A fake HTTP Data Collector API: recomputes the SharedKey signature and rejects what Azure rejects.
#[derive(Clone)]
pub struct FakeDataCollector {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeDataCollector {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            answer: 200,
            ..Default::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(collect))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        FakeDataCollector { url, state }
    }

    /// Makes the fake wait this long before answering.
    pub fn delay_with(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Makes the fake answer every valid request with this status (200 = accept).
    pub fn answer_with(&self, status: u16) {
        self.state.lock().unwrap().answer = status;
    }

    /// The next valid requests get these answers (a 429 with `Retry-After: 1`), then `answer`.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    /// How many requests arrived, whatever they were answered.
    pub fn received(&self) -> usize {
        self.state.lock().unwrap().received
    }

    /// How many requests followed a redirect to `/moved`.
    pub fn moved(&self) -> usize {
        self.state.lock().unwrap().moved
    }

    pub fn accepted(&self) -> Vec<Post> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }
}

async fn collect(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<FakeState>>,
) -> HttpResponse {
    if req.path() == "/moved" {
        // Where a redirect points: a page that answers 200 to anything, as a portal would.
        state.lock().unwrap().moved += 1;
        return HttpResponse::Ok().body("<html>moved</html>");
    }
    let delay = {
        let mut state = state.lock().unwrap();
        state.received += 1;
        state.delay
    };
    actix_web::rt::time::sleep(delay).await;
    let verdict = check(&req, &body);
    let mut state = state.lock().unwrap();
    let answer = match verdict {
        Ok(_) => state.script.pop_front().unwrap_or(state.answer),
        Err(_) => 0,
    };
    match verdict {
        Err((status, reason)) => {
            state.rejected.push(reason.clone());
            HttpResponse::build(status.try_into().unwrap())
                .json(serde_json::json!({"Error": reason}))
        }
        Ok(post) if answer == 200 => {
            state.accepted.push(post);
            HttpResponse::Ok().finish()
        }
        Ok(_) => {
            let mut response = HttpResponse::build(answer.try_into().unwrap());
            if answer == 429 {
                response.insert_header(("Retry-After", "1"));
            }
            if (300..400).contains(&answer) {
                response.insert_header(("Location", "/moved"));
            }
            response.json(serde_json::json!({"Error": "Injected"}))
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks a request the way the Data Collector API documents it.
fn check(req: &HttpRequest, body: &[u8]) -> Result<Post, (u16, String)> {
    if req.method() != "POST" || req.path() != "/api/logs" {
        return Err((404, format!("{} {}", req.method(), req.path())));
    }
    if req.query_string() != "api-version=2016-04-01" {
        return Err((400, "InvalidApiVersion".into()));
    }
    if header(req, "content-type") != Some("application/json") {
        return Err((400, "UnsupportedContentType".into()));
    }
    let date =
        header(req, "x-ms-date").ok_or((403, "InvalidAuthorization: no x-ms-date".to_string()))?;
    let sent = DateTime::parse_from_rfc2822(date)
        .map_err(|_| (403, format!("InvalidAuthorization: bad date {date}")))?;
    if (Utc::now() - sent.to_utc()).num_minutes().abs() > 15 {
        return Err((403, "InvalidAuthorization: clock skew".into()));
    }
    if header(req, "content-length") != Some(body.len().to_string().as_str()) {
        return Err((403, "InvalidAuthorization: Content-Length".into()));
    }
    let string_to_sign = format!(
        "POST\n{}\napplication/json\nx-ms-date:{date}\n/api/logs",
        body.len()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(SHARED_KEY).unwrap()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let expected = format!(
        "SharedKey {WORKSPACE_ID}:{}",
        STANDARD.encode(mac.finalize().into_bytes())
    );
    if header(req, "authorization") != Some(expected.as_str()) {
        return Err((403, "InvalidAuthorization: signature".into()));
    }
    let log_type = header(req, "log-type").unwrap_or_default().to_owned();
    if log_type.is_empty()
        || log_type.len() > 100
        || !log_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err((400, format!("InvalidLogType: {log_type}")));
    }
    let rows = check_records(body)?;
    let time_generated_field = header(req, "time-generated-field").map(str::to_owned);
    if let Some(field) = &time_generated_field {
        if !rows.iter().all(|r| {
            r[field]
                .as_str()
                .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok())
        }) {
            return Err((
                400,
                format!("InvalidDataFormat: {field} is not an ISO 8601 time in every record"),
            ));
        }
    }
    Ok(Post {
        log_type,
        time_generated_field,
        rows,
    })
}

fn check_records(body: &[u8]) -> Result<Vec<Value>, (u16, String)> {
    let invalid = |why: String| (400, format!("InvalidDataFormat: {why}"));
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("not a JSON array".into()));
    };
    for row in &rows {
        let object = row
            .as_object()
            .ok_or_else(|| invalid("a record is not an object".into()))?;
        for name in object.keys() {
            if ["TimeGenerated", "RawData", "tenant"].contains(&name.as_str()) {
                return Err(invalid(format!("reserved property {name}")));
            }
            if name.len() > 45 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(format!("bad property name {name}")));
            }
        }
    }
    Ok(rows)
}

/// The handler under test, its settings' secrets, and the fake Azure behind it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub azure: FakeDataCollector,
}

/// The settings every test starts from: Data Collector at the fake, two AuditWolf secrets.
fn base_settings(azure: &FakeDataCollector) -> Vec<(String, String)> {
    [
        ("LOG_ANALYTICS_WORKSPACE_ID", WORKSPACE_ID.to_owned()),
        ("LOG_ANALYTICS_SHARED_KEY", SHARED_KEY.to_owned()),
        ("LOG_ANALYTICS_ENDPOINT", azure.url.clone()),
        (
            "AUDITWOLF_SECRETS",
            format!("{AUDITWOLF_OLD_SECRET},{AUDITWOLF_SECRET}"),
        ),
        ("STACKSTATE_TOKENS", STACKSTATE_TOKEN.to_owned()),
        // Every test app its own claims, though they share one Azurite.
        ("CLAIMS_TABLE", unique_name("claims")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra settings over the base ones (an empty value unsets one).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let azure = FakeDataCollector::start();
    let mut settings = base_settings(&azure);
    settings.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let vars = Vars::new(settings.into_iter().collect());
    let settings = Settings::from_vars(&vars).expect("test settings are valid");
    let listener = server::bind(0).unwrap();
    let mut address = format!("http://{}", listener.local_addr().unwrap());
    let server = server::run(listener, web::Data::new(AppState::new(&settings))).unwrap();
    actix_web::rt::spawn(server);
    if crate::host_proxy::proxying() {
        address = crate::host_proxy::relay(address);
    }
    TestApp {
        address,
        client: reqwest::Client::new(),
        azure,
    }
}

/// A response read into its status, headers and JSON body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub json: Value,
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.unwrap()).await
    }

    /// Posts a fixture with whatever its source needs to pass verification.
    pub async fn post_signed(&self, path: &str, body: &[u8]) -> Answer {
        let signature = webhook_ingest::sources::sign_auditwolf(AUDITWOLF_SECRET, body);
        let headers = [
            ("x-auditwolf-webhook-sig", signature.as_str()),
            ("X-StackState-Webhook-Token", STACKSTATE_TOKEN),
            ("Content-Type", "application/json"),
        ];
        self.post(path, body, &headers).await
    }

    /// Posts a JSON value, as the Functions host posts an invocation.
    pub async fn post_json(&self, path: &str, value: &Value) -> Answer {
        let body = serde_json::to_vec(value).unwrap();
        self.post(path, &body, &[("Content-Type", "application/json")])
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        retry_after,
        content_type,
        json,
    }
}
