//! A fake Entra ID token issuer on loopback: OpenID metadata and a key set of RSA keys the tests
//! generate, and tokens signed the way Entra ID signs an action group's secure-webhook token.
//! It shares no code with the handler's validation.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const OTHER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// The app registration's Application ID URI (v1 tokens' audience) and client id (v2's).
pub const APP_ID_URI: &str = "api://webhook-ingest-alerts";
pub const CLIENT_ID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// Azure Monitor's AzNS AAD Webhook application: the caller of every secure webhook.
pub const ACTION_GROUPS: &str = "461e8683-5575-4561-ac7f-899cc907d62a";
pub const ROLE: &str = "ActionGroupsSecureWebhook";

/// One of three RSA keys, generated once per test run: 0 and 1 are the issuer's (1 appears
/// when keys rotate), 2 is an attacker's.
pub fn key(index: usize) -> &'static RsaPrivateKey {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
            .collect()
    })[index]
}

/// The `kid` the issuer publishes key `index` under.
pub fn kid(index: usize) -> String {
    format!("fake-entra-key-{index}")
}

#[derive(Default)]
struct IssuerState {
    published: Vec<usize>,
    down: bool,
    metadata_fetches: usize,
    key_fetches: usize,
}

/// The fake issuer: `AZURE_AUTHORITY_HOST` is its `url`.
#[derive(Clone)]
pub struct FakeIssuer {
    pub url: String,
    state: Arc<Mutex<IssuerState>>,
}

impl FakeIssuer {
    /// Publishes key 0.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(IssuerState {
            published: vec![0],
            ..Default::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = web::Data::from(Arc::clone(&state));
        let base = url.clone();
        let server = HttpServer::new(move || {
            let base = base.clone();
            App::new()
                .app_data(shared.clone())
                .route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    web::get().to(move |tenant: web::Path<String>, state| {
                        metadata(base.clone(), tenant.into_inner(), state)
                    }),
                )
                .route("/{tenant}/discovery/v2.0/keys", web::get().to(keys))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        FakeIssuer { url, state }
    }

    /// Publishes exactly these keys from now on (a rotation).
    pub fn publish(&self, keys: &[usize]) {
        self.state.lock().unwrap().published = keys.to_vec();
    }

    /// While down, the issuer answers 503 to everything.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// How many times the key set was fetched.
    pub fn key_fetches(&self) -> usize {
        self.state.lock().unwrap().key_fetches
    }

    /// How many times the metadata was fetched.
    pub fn metadata_fetches(&self) -> usize {
        self.state.lock().unwrap().metadata_fetches
    }

    /// The settings that make the handler trust this issuer for the test app registration.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_MONITOR_TENANT_ID", TENANT.to_owned()),
            (
                "AZURE_MONITOR_AUDIENCE",
                format!("{APP_ID_URI}, {CLIENT_ID}"),
            ),
            ("AZURE_AUTHORITY_HOST", self.url.clone()),
        ]
    }

    /// The v2 issuer of `tenant`.
    pub fn v2_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.url)
    }
}

async fn metadata(
    base: String,
    tenant: String,
    state: web::Data<Mutex<IssuerState>>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    state.metadata_fetches += 1;
    if state.down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().json(json!({
        "issuer": format!("{base}/{tenant}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn keys(state: web::Data<Mutex<IssuerState>>) -> HttpResponse {
    let mut state = state.lock().unwrap();
    state.key_fetches += 1;
    if state.down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let keys: Vec<Value> = state
        .published
        .iter()
        .map(|&index| {
            let public = key(index).to_public_key();
            json!({
                "kty": "RSA",
                "use": "sig",
                "kid": kid(index),
                "x5t": kid(index),
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a v1 access token Entra ID issues to the action group service.
pub fn v1_claims() -> Value {
    let now = now();
    json!({
        "aud": APP_ID_URI,
        "iss": format!("https://sts.windows.net/{TENANT}/"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "aio": "E2ZgYJj+fake",
        "appid": ACTION_GROUPS,
        "appidacr": "2",
        "idp": format!("https://sts.windows.net/{TENANT}/"),
        "oid": "3f7b5c1a-8d2e-4f6a-9b0c-1d2e3f4a5b6c",
        "rh": "0.fake.",
        "roles": [ROLE],
        "sub": "3f7b5c1a-8d2e-4f6a-9b0c-1d2e3f4a5b6c",
        "tid": TENANT,
        "uti": "fakeUti",
        "ver": "1.0",
    })
}

/// The claims of a v2 access token (an app registration with `accessTokenAcceptedVersion: 2`).
pub fn v2_claims(issuer: &FakeIssuer) -> Value {
    let now = now();
    json!({
        "aud": CLIENT_ID,
        "iss": issuer.v2_issuer(TENANT),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "azp": ACTION_GROUPS,
        "azpacr": "2",
        "oid": "3f7b5c1a-8d2e-4f6a-9b0c-1d2e3f4a5b6c",
        "roles": [ROLE],
        "sub": "3f7b5c1a-8d2e-4f6a-9b0c-1d2e3f4a5b6c",
        "tid": TENANT,
        "ver": "2.0",
    })
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// An RS256 token with `claims`, signed with key `signer` and naming `kid` in its header.
pub fn token(claims: &Value, signer: usize, kid: &str) -> String {
    let input = format!(
        "{}.{}",
        encode(&json!({ "typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid })),
        encode(claims)
    );
    let signature = SigningKey::<Sha256>::new(key(signer).clone()).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// A token signed by the issuer's key 0, as the action group sends it.
pub fn valid(claims: &Value) -> String {
    token(claims, 0, &kid(0))
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        encode(&json!({ "typ": "JWT", "alg": "none", "kid": kid(0) })),
        encode(claims)
    )
}

/// An HS256 token whose HMAC key is the issuer's public key in PEM: the classic algorithm
/// confusion, which a verifier that lets the token choose the algorithm accepts.
pub fn hmac_with_public_key(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        encode(&json!({ "typ": "JWT", "alg": "HS256", "kid": kid(0) })),
        encode(claims)
    );
    let pem = key(0)
        .to_public_key()
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(pem.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
