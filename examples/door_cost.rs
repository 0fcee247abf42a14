//! The door's cost alone: the benchmark's fixtures (compact, as senders send them) admitted as
//! many rounds as its argument says (default 1000), with no server and no delivery, for
//! instruction counts that nothing else moves. Run it under callgrind with 0 rounds (the
//! startup) and with some, and subtract:
//!
//!   cargo build --release --example door_cost
//!   valgrind --tool=callgrind target/release/examples/door_cost 0
//!   valgrind --tool=callgrind target/release/examples/door_cost 500   # 4,000 webhooks
//!
//! `bench/instructions.sh` measures the whole handler; this isolates parsing and rows.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use webhook_ingest::sources::{sign_auditwolf, Credentials, Gate, Request, Secrets, Verifier};
use webhook_ingest::timeouts::Timeouts;

const FIXTURES: [(&str, &str); 8] = [
    ("skytap", "skytap-audit"),
    ("skytap", "skytap-usage"),
    ("azuremonitor", "azure-common-alert-log"),
    ("azuremonitor", "azure-common-alert-metric"),
    ("azuremonitor", "azure-activitylog-administrative"),
    ("stackstate", "stackstate-open"),
    ("stackstate", "stackstate-close"),
    ("auditwolf", "auditwolf-task-create"),
];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(1000, |n| n.parse().expect("a count"));
    let credentials = Credentials {
        auditwolf: Secrets::parse_list("secret"),
        stackstate: Secrets::parse_list("token"),
        ..Credentials::default()
    };
    let verifier = Verifier::new(&credentials, &Timeouts::default());
    let requests: Vec<(HeaderMap, Bytes)> = FIXTURES
        .iter()
        .map(|(source, name)| {
            let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
            let value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).expect("a fixture")).unwrap();
            let body = Bytes::from(value.to_string());
            let mut headers = HeaderMap::new();
            let mut header = |name: &'static str, value: String| {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            };
            match *source {
                "stackstate" => header("x-stackstate-webhook-token", "token".into()),
                "auditwolf" => header("x-auditwolf-webhook-sig", sign_auditwolf("secret", &body)),
                _ => {}
            }
            (headers, body)
        })
        .collect();
    let mut rows = 0;
    for _ in 0..rounds {
        for (headers, body) in &requests {
            let request = Request {
                route: None,
                gate: Gate::FunctionKey,
                headers,
                query: "",
            };
            let read = async { Ok::<_, std::convert::Infallible>(body.clone()) };
            let admitted = block_on(verifier.admit(&request, read, chrono::Utc::now()))
                .unwrap_or_else(|e| panic!("{:?}", e.reason));
            rows += admitted.batch.rows.len();
        }
    }
    println!(
        "{rounds} rounds of {} webhooks: {rows} rows",
        FIXTURES.len()
    );
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the door waited on I/O"),
    }
}
