//! Azure Monitor's secure webhooks: Entra ID bearer tokens checked against a fake issuer on
//! loopback. Every refusal is a 401 naming the claim that failed, and nothing is delivered.

use std::time::Duration;

use serde_json::{json, Value};
use webhook_ingest::azure::signing_keys::FAILED_FETCH_BACKOFF;

use crate::fake_issuer::{
    bearer, hmac_with_public_key, kid, token, unsigned, v1_claims, v2_claims, valid, FakeIssuer,
    ACTION_GROUPS, OTHER_TENANT,
};
use crate::helpers::{fixture, spawn_app_with, Answer, TestApp, STACKSTATE_TOKEN};

const SECURE: &str = "/api/azuremonitor-secure";
const SUBSCRIPTION: &str = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e";

/// A common-schema alert with its own alert id, so each is delivered rather than de-duplicated.
fn alert(id: &str) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&fixture("azure-common-alert-metric.json")).unwrap();
    value["data"]["essentials"]["alertId"] = Value::String(format!(
        "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/{id}"
    ));
    serde_json::to_vec(&value).unwrap()
}

async fn spawn(issuer: &FakeIssuer, extra: &[(&str, &str)]) -> TestApp {
    let mut settings: Vec<(&str, String)> = issuer.settings();
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&pairs).await
}

async fn post_with_token(app: &TestApp, path: &str, body: &[u8], token: &str) -> Answer {
    app.post(path, body, &[("Authorization", &bearer(token))])
        .await
}

fn error(answer: &Answer) -> &str {
    answer.json["error"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn v1_and_v2_tokens_from_the_action_group_are_accepted_without_a_url_secret() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let v1 = post_with_token(&app, SECURE, &alert("v1"), &valid(&v1_claims())).await;
    assert_eq!(v1.status, 200, "{}", v1.json);
    let v2 = post_with_token(&app, SECURE, &alert("v2"), &valid(&v2_claims(&issuer))).await;
    assert_eq!(v2.status, 200, "{}", v2.json);
    let keyed = post_with_token(
        &app,
        "/api/azuremonitor",
        &alert("keyed"),
        &valid(&v1_claims()),
    )
    .await;
    assert_eq!(
        keyed.status, 200,
        "the function-key route takes tokens too: {}",
        keyed.json
    );
    let delivered: Vec<Value> = app
        .azure
        .accepted()
        .into_iter()
        .flat_map(|p| p.rows)
        .collect();
    assert_eq!(delivered.len(), 3);
    assert!(delivered
        .iter()
        .all(|row| row["SubscriptionId"] == SUBSCRIPTION));
}

#[actix_web::test]
async fn each_wrong_token_is_refused_with_401_naming_what_failed_and_nothing_is_delivered() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let now = chrono::Utc::now().timestamp();
    let with = |mut claims: Value, changes: Value| {
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    let v2 = v2_claims(&issuer);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            valid(&with(v1_claims(), json!({"aud": "api://someone-else"}))),
            "`aud`",
        ),
        (
            "v2 audience of another app",
            valid(&with(
                v2.clone(),
                json!({"aud": "11111111-2222-3333-4444-555555555555"}),
            )),
            "`aud`",
        ),
        (
            "wrong issuer",
            valid(&with(
                v1_claims(),
                json!({"iss": "https://sts.example.com/x/"}),
            )),
            "`iss`",
        ),
        (
            "another tenant",
            valid(&with(
                v2.clone(),
                json!({"iss": issuer.v2_issuer(OTHER_TENANT), "tid": OTHER_TENANT}),
            )),
            "`iss`",
        ),
        (
            "another tenant, v1",
            valid(&with(
                v1_claims(),
                json!({"iss": format!("https://sts.windows.net/{OTHER_TENANT}/")}),
            )),
            "`iss`",
        ),
        (
            "wrong appid",
            valid(&with(
                v1_claims(),
                json!({"appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}),
            )),
            "`appid`",
        ),
        (
            "no appid",
            valid(&with(v1_claims(), json!({"appid": null}))),
            "`appid`",
        ),
        (
            "wrong azp",
            valid(&with(
                v2.clone(),
                json!({"azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}),
            )),
            "`azp`",
        ),
        (
            "appid in a v2 token",
            valid(&with(
                v2.clone(),
                json!({"azp": null, "appid": ACTION_GROUPS}),
            )),
            "`azp`",
        ),
        (
            "missing role",
            valid(&with(v1_claims(), json!({"roles": null}))),
            "`roles`",
        ),
        (
            "another role",
            valid(&with(v1_claims(), json!({"roles": ["Reader"]}))),
            "`roles`",
        ),
        (
            "expired",
            valid(&with(
                v1_claims(),
                json!({"nbf": now - 7200, "exp": now - 600}),
            )),
            "`exp`",
        ),
        (
            "not yet valid",
            valid(&with(
                v1_claims(),
                json!({"nbf": now + 600, "exp": now + 4200}),
            )),
            "`nbf`",
        ),
        (
            "no exp",
            valid(&with(v1_claims(), json!({"exp": null}))),
            "`exp`",
        ),
        (
            "bad signature",
            token(&v1_claims(), 2, &kid(0)),
            "signature",
        ),
        (
            "tampered claims",
            {
                let good = valid(&v1_claims());
                let parts: Vec<&str> = good.split('.').collect();
                let forged = valid(&with(v1_claims(), json!({"roles": ["Owner"]})));
                format!(
                    "{}.{}.{}",
                    parts[0],
                    forged.split('.').nth(1).unwrap(),
                    parts[2]
                )
            },
            "signature",
        ),
        ("alg none", unsigned(&v1_claims()), "`none`"),
        (
            "HS256 with the public key",
            hmac_with_public_key(&v1_claims()),
            "`HS256`",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "not a JWT"),
    ];
    for (case, token, names) in &cases {
        for path in [SECURE, "/api/azuremonitor"] {
            let answer = post_with_token(&app, path, &alert(case), token).await;
            assert_eq!(answer.status, 401, "{case} on {path}: {}", answer.json);
            assert!(error(&answer).contains(names), "{case}: {}", answer.json);
            let signature = token.rsplit('.').next().unwrap();
            assert!(
                !answer.json.to_string().contains(token.as_str())
                    && (signature.len() < 8 || !answer.json.to_string().contains(signature)),
                "{case}: the answer echoes the token"
            );
        }
    }
    let missing = app.post(SECURE, &alert("none"), &[]).await;
    assert_eq!(missing.status, 401);
    assert!(
        error(&missing).contains("Authorization header is missing"),
        "{}",
        missing.json
    );
    let basic = app
        .post(SECURE, &alert("basic"), &[("Authorization", "Basic dTpw")])
        .await;
    assert_eq!(basic.status, 401);
    assert!(error(&basic).contains("Bearer"), "{}", basic.json);
    assert!(app.azure.accepted().is_empty() && app.azure.rejected().is_empty());
}

#[actix_web::test]
async fn a_token_signed_by_a_rotated_in_key_is_accepted_after_one_refresh() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let before = post_with_token(&app, SECURE, &alert("before"), &valid(&v1_claims())).await;
    assert_eq!(before.status, 200, "{}", before.json);
    assert_eq!(issuer.key_fetches(), 1);
    issuer.publish(&[0, 1]);
    let rotated = post_with_token(
        &app,
        SECURE,
        &alert("rotated"),
        &token(&v1_claims(), 1, &kid(1)),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    assert_eq!(issuer.key_fetches(), 2, "one refresh for the new key");
    let again = post_with_token(
        &app,
        SECURE,
        &alert("again"),
        &token(&v1_claims(), 1, &kid(1)),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(issuer.key_fetches(), 2, "the new key is cached");
}

#[actix_web::test]
async fn a_burst_of_unknown_keys_fetches_the_keys_at_most_once_per_interval() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    // First use by many at once: one fetch, shared.
    let first: Vec<_> = (0..20)
        .map(|i| {
            let app = &app;
            async move {
                post_with_token(
                    app,
                    SECURE,
                    &alert(&format!("first-{i}")),
                    &valid(&v1_claims()),
                )
                .await
            }
        })
        .collect();
    for answer in futures_util::future::join_all(first).await {
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    assert_eq!((issuer.metadata_fetches(), issuer.key_fetches()), (1, 1));
    // Forged key ids: one refresh, then none until UNKNOWN_KEY_INTERVAL has passed.
    for round in 0..2 {
        let forged: Vec<_> = (0..40)
            .map(|i| {
                let app = &app;
                let token = token(&v1_claims(), 2, &format!("forged-{round}-{i}"));
                async move {
                    post_with_token(app, SECURE, &alert(&format!("forged-{round}-{i}")), &token)
                        .await
                }
            })
            .collect();
        // Refused by a key set fetched after the token (401), or asked to come back once the
        // keys may be fetched again (503): never accepted, never a 401 the limiter decided.
        for answer in futures_util::future::join_all(forged).await {
            assert!(error(&answer).contains("`kid`"), "{}", answer.json);
            match answer.status {
                401 => assert_eq!(round, 0, "{}", answer.json),
                503 => assert!(answer.retry_after.is_some()),
                other => panic!("{other}: {}", answer.json),
            }
        }
    }
    assert_eq!(issuer.key_fetches(), 2, "80 unknown kids cost one refresh");
    assert_eq!(
        app.azure
            .accepted()
            .iter()
            .map(|p| p.rows.len())
            .sum::<usize>(),
        20
    );
}

#[actix_web::test]
async fn a_forged_kid_that_arms_the_refetch_limit_does_not_turn_a_key_rollover_into_a_401() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let before = post_with_token(&app, SECURE, &alert("warm"), &valid(&v1_claims())).await;
    assert_eq!(before.status, 200, "{}", before.json);
    let forged = post_with_token(
        &app,
        SECURE,
        &alert("forged"),
        &token(&v1_claims(), 2, "forged"),
    )
    .await;
    assert_eq!(
        forged.status, 401,
        "a set fetched for it rules it out: {}",
        forged.json
    );
    assert_eq!(issuer.key_fetches(), 2);

    issuer.publish(&[0, 1]);
    let rotated = token(&v1_claims(), 1, &kid(1));
    let answer = post_with_token(&app, SECURE, &alert("rotated"), &rotated).await;
    assert_eq!(answer.status, 503, "{}", answer.json);
    let wait: u64 = answer.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(error(&answer).contains("retry"), "{}", answer.json);
    assert!(app.azure.accepted().len() == 1);
}

#[actix_web::test]
async fn an_unknown_kid_on_a_token_older_than_the_keys_is_a_401_without_a_fetch() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let before = post_with_token(&app, SECURE, &alert("warm"), &valid(&v1_claims())).await;
    assert_eq!(before.status, 200, "{}", before.json);
    let issued = v1_claims()["iat"].as_i64().unwrap() - 3600;
    let mut old = v1_claims();
    old["iat"] = json!(issued);
    old["nbf"] = json!(issued);
    let answer = post_with_token(&app, SECURE, &alert("old"), &token(&old, 2, "forged")).await;
    assert_eq!(answer.status, 401, "{}", answer.json);
    assert_eq!(
        issuer.key_fetches(),
        1,
        "the keys already postdate the token"
    );
}

#[actix_web::test]
async fn an_issuer_that_is_down_gives_503_with_retry_after_then_recovers() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    issuer.set_down(true);
    let down = post_with_token(&app, SECURE, &alert("down"), &valid(&v1_claims())).await;
    assert_eq!(down.status, 503, "{}", down.json);
    assert_eq!(down.retry_after.as_deref(), Some("5"));
    assert!(error(&down).contains("signing keys"), "{}", down.json);
    assert!(
        !error(&down).contains(&issuer.url),
        "the sender is not told where the keys live"
    );
    // Within the backoff the issuer is not asked again.
    let fetches = issuer.metadata_fetches();
    let soon = post_with_token(&app, SECURE, &alert("soon"), &valid(&v1_claims())).await;
    assert_eq!(soon.status, 503);
    assert_eq!(issuer.metadata_fetches(), fetches);
    issuer.set_down(false);
    actix_web::rt::time::sleep(FAILED_FETCH_BACKOFF + Duration::from_millis(200)).await;
    let back = post_with_token(&app, SECURE, &alert("back"), &valid(&v1_claims())).await;
    assert_eq!(back.status, 200, "{}", back.json);
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn only_listed_subscriptions_are_accepted_whatever_proved_the_request() {
    let issuer = FakeIssuer::start();
    let other = "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f";
    let listed = spawn(
        &issuer,
        &[("AZURE_MONITOR_SUBSCRIPTIONS", &SUBSCRIPTION.to_uppercase())],
    )
    .await;
    let ok = post_with_token(&listed, SECURE, &alert("listed"), &valid(&v1_claims())).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let unlisted = spawn(
        &issuer,
        &[
            ("AZURE_MONITOR_SUBSCRIPTIONS", other),
            ("AZURE_MONITOR_TOKENS", "tok"),
        ],
    )
    .await;
    let refused =
        post_with_token(&unlisted, SECURE, &alert("unlisted"), &valid(&v1_claims())).await;
    assert_eq!(refused.status, 403, "{}", refused.json);
    assert!(error(&refused).contains(SUBSCRIPTION), "{}", refused.json);
    let by_tokenid = unlisted
        .post("/api/azuremonitor?tokenid=tok", &alert("tokenid"), &[])
        .await;
    assert_eq!(by_tokenid.status, 403, "{}", by_tokenid.json);
    let bad_token = unlisted
        .post(SECURE, &alert("bad"), &[("Authorization", "Bearer x.y.z")])
        .await;
    assert_eq!(
        bad_token.status, 401,
        "the token is checked before the payload"
    );
    assert!(unlisted.azure.accepted().is_empty());
}

#[actix_web::test]
async fn the_webhook_route_checks_tokens_on_detected_azure_alerts() {
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let ok = post_with_token(
        &app,
        "/api/webhook",
        &alert("detected"),
        &valid(&v2_claims(&issuer)),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let forged = post_with_token(
        &app,
        "/api/webhook",
        &alert("forged"),
        &token(&v1_claims(), 2, &kid(0)),
    )
    .await;
    assert_eq!(forged.status, 401, "{}", forged.json);
    let none = app.post("/api/webhook", &alert("none"), &[]).await;
    assert_eq!(none.status, 401, "{}", none.json);
    // Other sources on the same route are verified as before.
    let stackstate = app
        .post(
            "/api/webhook",
            &fixture("stackstate-open.json"),
            &[("X-StackState-Webhook-Token", STACKSTATE_TOKEN)],
        )
        .await;
    assert_eq!(stackstate.status, 200, "{}", stackstate.json);
    assert_eq!(app.azure.accepted().len(), 2);
}

#[actix_web::test]
async fn either_a_valid_tokenid_or_a_valid_token_suffices_but_only_a_token_on_the_anonymous_route()
{
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[("AZURE_MONITOR_TOKENS", "tok-1")]).await;
    let by_tokenid = app
        .post("/api/azuremonitor?tokenid=tok-1", &alert("a"), &[])
        .await;
    assert_eq!(by_tokenid.status, 200, "{}", by_tokenid.json);
    let wrong_tokenid = app
        .post("/api/azuremonitor?tokenid=nope", &alert("b"), &[])
        .await;
    assert_eq!(wrong_tokenid.status, 401, "{}", wrong_tokenid.json);
    let wrong_tokenid_valid_token = post_with_token(
        &app,
        "/api/azuremonitor?tokenid=nope",
        &alert("c"),
        &valid(&v1_claims()),
    )
    .await;
    assert_eq!(
        wrong_tokenid_valid_token.status, 200,
        "{}",
        wrong_tokenid_valid_token.json
    );
    let anonymous_tokenid = app
        .post(&format!("{SECURE}?tokenid=tok-1"), &alert("d"), &[])
        .await;
    assert_eq!(anonymous_tokenid.status, 401, "{}", anonymous_tokenid.json);
    assert_eq!(app.azure.accepted().len(), 2);
}

#[actix_web::test]
async fn the_anonymous_route_refuses_everything_until_secure_webhooks_are_configured() {
    let app = spawn_app_with(&[]).await;
    let answer = app
        .post(SECURE, &alert("x"), &[("Authorization", "Bearer a.b.c")])
        .await;
    assert_eq!(answer.status, 401);
    assert!(
        error(&answer).contains("AZURE_MONITOR_TENANT_ID"),
        "{}",
        answer.json
    );
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn the_anonymous_route_refuses_a_request_without_a_token_before_reading_its_body() {
    use std::io::{Read, Write};
    let issuer = FakeIssuer::start();
    let app = spawn(&issuer, &[]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Headers promise a body that never comes: only an answer from the headers alone arrives.
    let status = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let head = "POST /api/azuremonitor-secure HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = [0u8; 512];
        let read = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert!(status.contains("Authorization"), "{status}");
}
