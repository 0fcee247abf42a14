//! A Storage endpoint (queue or table service) that passes requests through to Azurite and
//! records them, except the message puts it is told to refuse or to hold without an answer.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::azurite::{azurite, connection_string};

/// What the proxy does to the n-th message put (1-based).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PutFault {
    /// Answers 500 without storing the message.
    Refuse,
    /// Stores the message, then never answers.
    StoreAndStall,
}

struct State {
    /// Azurite's service this proxy stands in front of.
    upstream: String,
    puts: usize,
    faults: Vec<(usize, PutFault)>,
    /// Every request passed on, as (method, path).
    requests: Vec<(String, String)>,
}

/// The proxy; `connection_string` points the handler at it.
#[derive(Clone)]
pub struct StorageProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl StorageProxy {
    /// In front of Azurite's queue service.
    pub fn start() -> Self {
        Self::in_front_of(&azurite().queue_endpoint)
    }

    /// In front of Azurite's table service.
    pub fn tables() -> Self {
        Self::in_front_of(&azurite().table_endpoint)
    }

    fn in_front_of(upstream: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.to_owned(),
            puts: 0,
            faults: Vec::new(),
            requests: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/devstoreaccount1", listener.local_addr().unwrap());
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(pass))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        StorageProxy { endpoint, state }
    }

    /// The `put`-th message put (counting from 1) meets `fault`.
    pub fn fault(&self, put: usize, fault: PutFault) {
        self.state.lock().unwrap().faults.push((put, fault));
    }

    /// Every later put passes.
    pub fn heal(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Every request passed on so far, as (method, path).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// `AzureWebJobsStorage` for the handler: Azurite's account, this service reached through
    /// the proxy.
    pub fn connection_string(&self) -> String {
        let upstream = self.state.lock().unwrap().upstream.clone();
        connection_string().replace(&upstream, &self.endpoint)
    }
}

async fn pass(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let is_put = req.method() == "POST" && req.path().ends_with("/messages");
    let upstream = {
        let mut state = state.lock().unwrap();
        let request = (req.method().to_string(), req.path().to_owned());
        state.requests.push(request);
        state.upstream.clone()
    };
    let fault = is_put.then(|| {
        let mut state = state.lock().unwrap();
        state.puts += 1;
        let put = state.puts;
        state
            .faults
            .iter()
            .find(|(n, _)| *n == put)
            .map(|(_, f)| *f)
    });
    if fault == Some(Some(PutFault::Refuse)) {
        return HttpResponse::InternalServerError().body("injected");
    }
    let url = format!(
        "{}{}{}",
        upstream.trim_end_matches("/devstoreaccount1"),
        req.path(),
        req.uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut forward = reqwest::Client::new().request(method, url);
    for (name, value) in req.headers() {
        if name != "host" {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = forward.body(body.to_vec()).send().await.unwrap();
    if fault == Some(Some(PutFault::StoreAndStall)) {
        actix_web::rt::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    let mut response = HttpResponse::build(answer.status().as_u16().try_into().unwrap());
    for (name, value) in answer.headers() {
        if !["content-length", "connection", "transfer-encoding"].contains(&name.as_str()) {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    response.body(answer.bytes().await.unwrap())
}
