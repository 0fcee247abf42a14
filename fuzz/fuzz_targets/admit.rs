//! Any request (route, gate, headers, query, body) through the one door into `sources/`, with
//! fixed test secrets. A request is admitted only with its source's proof; every admitted row is
//! typed as its table declares, fits the destination's field limit once encoded, and its
//! `RawEvent` is the event's own JSON.

#![no_main]

use std::sync::OnceLock;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_ingest::destinations::logs_ingestion;
use webhook_ingest::sources::{
    sign_auditwolf, Credentials, Gate, Request, Secrets, Source, Subscriptions, Verifier,
};
use webhook_ingest::timeouts::Timeouts;
use webhook_ingest_fuzz::{assert_fields_within, assert_typed, block_on};

const AUDITWOLF: [&str; 2] = ["fuzz-old-secret", "fuzz-secret"];
const STACKSTATE: &str = "fuzz-stackstate-token";
const SKYTAP: &str = "fuzz-skytap-token";
const AZURE: &str = "fuzz-azure-token";
// The subscription most fixtures name; the others are refused by the allowlist.
const SUBSCRIPTION: &str = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e";

/// The input, laid out so that a fixture with a few bytes in front is a seed: route, flags
/// (bit 0 anonymous, bit 1 prove: sign the body and add the right tokens, so that the fuzzer
/// reaches the rows), the query's length and the query, a header count and each header (name,
/// value's length, value), then the body.
#[derive(Debug)]
struct Input {
    route: u8,
    anonymous: bool,
    prove: bool,
    headers: Vec<(u8, String)>,
    query: String,
    body: Vec<u8>,
}

impl Input {
    fn read(data: &[u8]) -> Option<Input> {
        let mut rest = data;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (taken, left) = rest.split_at_checked(n)?;
            rest = left;
            Some(taken)
        };
        let [route, flags, query_len] = take(3)?.try_into().ok()?;
        let query = String::from_utf8_lossy(take(usize::from(query_len))?).into_owned();
        let mut headers = Vec::new();
        for _ in 0..take(1)?[0] % 4 {
            let [name, len] = take(2)?.try_into().ok()?;
            headers.push((
                name,
                String::from_utf8_lossy(take(usize::from(len))?).into_owned(),
            ));
        }
        Some(Input {
            route,
            anonymous: flags & 1 != 0,
            prove: flags & 2 != 0,
            headers,
            query,
            body: rest.to_vec(),
        })
    }
}

const HEADER_NAMES: [&str; 5] = [
    "x-auditwolf-webhook-sig",
    "x-stackstate-webhook-token",
    "authorization",
    "content-type",
    "x-forwarded-for",
];

/// One verifier for the whole run, as the handler has one.
fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let credentials = Credentials {
            auditwolf: Secrets::parse_list(&AUDITWOLF.join(",")),
            stackstate: Secrets::parse_list(STACKSTATE),
            azure_monitor: Secrets::parse_list(AZURE),
            skytap: Secrets::parse_list(SKYTAP),
            secure_webhook: None,
            azure_monitor_subscriptions: Subscriptions::parse_list(SUBSCRIPTION).unwrap(),
        };
        Verifier::new(&credentials, &Timeouts::default())
    })
}

/// Whether the request carries its source's proof, judged apart from the door's own code:
/// the query by the `url` crate, the signature by comparing strings.
fn proven(source: Source, headers: &HeaderMap, query: &str, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let query_has = |param: &str, token: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == param)
            .is_some_and(|(_, value)| value == token)
    };
    match source {
        Source::AuditWolf => header("x-auditwolf-webhook-sig").is_some_and(|sig| {
            AUDITWOLF
                .iter()
                .any(|s| sig.trim() == sign_auditwolf(s, body))
        }),
        Source::StackState => header("x-stackstate-webhook-token") == Some(STACKSTATE),
        Source::Skytap => query_has("token", SKYTAP),
        Source::AzureMonitor => query_has("tokenid", AZURE),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let route = match input.route % 5 {
        0 => None,
        1 => Some(Source::Skytap),
        2 => Some(Source::AuditWolf),
        3 => Some(Source::AzureMonitor),
        _ => Some(Source::StackState),
    };
    let gate = if input.anonymous {
        Gate::EntraToken
    } else {
        Gate::FunctionKey
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = HeaderName::from_static(HEADER_NAMES[usize::from(*name) % HEADER_NAMES.len()]);
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    let mut query = input.query.clone();
    if input.prove {
        let signature = sign_auditwolf(AUDITWOLF[1], &input.body);
        headers.insert(
            HeaderName::from_static("x-auditwolf-webhook-sig"),
            HeaderValue::from_str(&signature).unwrap(),
        );
        headers.insert(
            HeaderName::from_static("x-stackstate-webhook-token"),
            HeaderValue::from_static(STACKSTATE),
        );
        query = format!("token={SKYTAP}&tokenid={AZURE}&{query}");
    }
    let request = Request {
        route,
        gate,
        headers: &headers,
        query: &query,
    };
    let body = Bytes::from(input.body.clone());
    let read = std::future::ready(Ok::<_, std::convert::Infallible>(body));
    let verifier = verifier();
    let Ok(admitted) = block_on(verifier.admit(&request, read, chrono::Utc::now())) else {
        return;
    };
    let source = admitted.source;
    assert!(
        route.is_none_or(|r| r == source),
        "routed to {route:?}, admitted as {source:?}"
    );
    assert_eq!(
        gate,
        Gate::FunctionKey,
        "an anonymous request was admitted without a token"
    );
    assert!(
        proven(source, &headers, &query, &input.body),
        "{source:?} admitted without its proof"
    );
    let event: Value = serde_json::from_slice(&input.body).expect("an admitted body is JSON");
    for row in &admitted.batch.rows {
        assert_eq!(row.table(), admitted.batch.table);
        assert_typed(row);
        let raw = row.text_of("RawEvent").expect("every row has RawEvent");
        let raw: Value = serde_json::from_str(&raw).expect("RawEvent is JSON");
        let items = event.get("payload").and_then(Value::as_array);
        assert!(
            raw == event || items.is_some_and(|items| items.contains(&raw)),
            "RawEvent is not the event's JSON"
        );
        if source == Source::AzureMonitor {
            let subscription = row.text_of("SubscriptionId");
            assert!(subscription.is_some_and(|s| s.eq_ignore_ascii_case(SUBSCRIPTION)));
        }
    }
    let chunks = logs_ingestion::request_chunks(&admitted.batch.rows);
    for chunk in chunks.iter().flatten() {
        let array = webhook_ingest::destinations::batch::json_array(chunk);
        assert_fields_within(&array, logs_ingestion::LIMITS.field_bytes);
    }
});
