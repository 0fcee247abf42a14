//! A Storage queue endpoint that passes requests through to Azurite, except the message puts it
//! is told to refuse or to hold without an answer.

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

#[derive(Default)]
struct State {
    puts: usize,
    faults: Vec<(usize, PutFault)>,
}

/// The proxy; `connection_string` points the handler at it.
#[derive(Clone)]
pub struct FaultyQueue {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FaultyQueue {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
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
        FaultyQueue { endpoint, state }
    }

    /// The `put`-th message put (counting from 1) meets `fault`.
    pub fn fault(&self, put: usize, fault: PutFault) {
        self.state.lock().unwrap().faults.push((put, fault));
    }

    /// Every later put passes.
    pub fn heal(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// `AzureWebJobsStorage` for the handler: Azurite's account, reached through the proxy.
    pub fn connection_string(&self) -> String {
        connection_string().replace(&azurite().queue_endpoint, &self.endpoint)
    }
}

async fn pass(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let is_put = req.method() == "POST" && req.path().ends_with("/messages");
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
        azurite()
            .queue_endpoint
            .trim_end_matches("/devstoreaccount1"),
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
    let status = answer.status().as_u16();
    let text = answer.bytes().await.unwrap();
    HttpResponse::build(status.try_into().unwrap()).body(text)
}
