//! Any `Authorization` value, or a token built from any header, claims and signature, against
//! any key set (as JSON) through the secure-webhook check: it never panics and never accepts,
//! for no key set here comes with its private key.

#![no_main]

use std::sync::OnceLock;

use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use libfuzzer_sys::fuzz_target;
use webhook_ingest::azure::signing_keys::parse_key_set;
use webhook_ingest::sources::azure_monitor::bearer::{
    SecureWebhook, SecureWebhookConfig, DEFAULT_ROLE,
};
use webhook_ingest::timeouts::Timeouts;

/// The input: a mode byte, the `Authorization` value and the key set's JSON, split at the
/// first 0 byte. In mode 1 the value is a token's header, claims and signature, split at 1
/// bytes, each base64url-encoded into `Bearer <header>.<claims>.<signature>`; in mode 2 the key
/// set is one RSA key whose `kid`, modulus and exponent are split at 1 bytes.
fn read(data: &[u8]) -> Option<(String, Vec<u8>)> {
    let (&mode, rest) = data.split_first()?;
    let at = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let (value, keys) = (&rest[..at], rest.get(at + 1..).unwrap_or_default());
    let parts =
        |bytes: &[u8]| -> Vec<Vec<u8>> { bytes.split(|b| *b == 1).map(<[u8]>::to_vec).collect() };
    let value = match mode % 2 {
        0 => String::from_utf8_lossy(value).into_owned(),
        _ => {
            let encoded: Vec<String> = parts(value)
                .iter()
                .take(3)
                .map(|p| URL_SAFE_NO_PAD.encode(p))
                .collect();
            format!("Bearer {}", encoded.join("."))
        }
    };
    let keys = match (mode / 2) % 2 {
        0 => keys.to_vec(),
        _ => {
            let parts = parts(keys);
            let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
            serde_json::to_vec(&serde_json::json!({"keys": [{
                "kty": "RSA", "use": "sig", "kid": String::from_utf8_lossy(&part(0)),
                "n": URL_SAFE_NO_PAD.encode(part(1)), "e": URL_SAFE_NO_PAD.encode(part(2)),
            }]}))
            .unwrap()
        }
    };
    Some((value, keys))
}

/// One checker for the whole run, as the handler has one.
fn webhook() -> &'static SecureWebhook {
    static WEBHOOK: OnceLock<SecureWebhook> = OnceLock::new();
    WEBHOOK.get_or_init(|| {
        let config = SecureWebhookConfig {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            audiences: vec!["api://fuzz-alerts".into()],
            role: DEFAULT_ROLE.into(),
            authority: "https://login.microsoftonline.com/".parse().unwrap(),
        };
        SecureWebhook::new(config, &Timeouts::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((value, json)) = read(data) else {
        return;
    };
    let webhook = webhook();
    let Ok(keys) = parse_key_set(&json) else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(AUTHORIZATION, value);
    }
    let checked = webhook.check_against(&headers, &keys);
    assert!(checked.is_err(), "a token no key here signed was accepted");
    // Refusals quote nothing of the token but a cleaned `alg`.
    let message = checked.unwrap_err().to_string();
    assert!(message.len() < 400, "{message}");
});
