//! Signatures and tokens: each failure is a 401 naming what was wrong, and nothing is delivered.

use webhook_ingest::sources::sign_auditwolf;

use crate::helpers::{
    fixture, spawn_app, spawn_app_with, AUDITWOLF_OLD_SECRET, AUDITWOLF_SECRET, STACKSTATE_TOKEN,
};

const SIG: &str = "x-auditwolf-webhook-sig";

#[actix_web::test]
async fn auditwolf_request_with_a_tampered_body_is_rejected() {
    let app = spawn_app().await;
    let body = fixture("auditwolf-task-create.json");
    let signature = sign_auditwolf(AUDITWOLF_SECRET, &body);
    let tampered = String::from_utf8(body).unwrap().replace("MEDIUM", "LOW");
    let answer = app
        .post("/api/auditwolf", tampered.as_bytes(), &[(SIG, &signature)])
        .await;
    assert_eq!(answer.status, 401);
    assert!(
        answer.json["error"].as_str().unwrap().contains(SIG),
        "{}",
        answer.json
    );
    assert!(app.azure.accepted().is_empty() && app.azure.rejected().is_empty());
}

#[actix_web::test]
async fn auditwolf_request_signed_with_a_wrong_secret_is_rejected() {
    let app = spawn_app().await;
    let body = fixture("auditwolf-task-create.json");
    let signature = sign_auditwolf("not-the-secret", &body);
    let answer = app
        .post("/api/auditwolf", &body, &[(SIG, &signature)])
        .await;
    assert_eq!(answer.status, 401);
    let answer = app.post("/api/webhook", &body, &[(SIG, &signature)]).await;
    assert_eq!(answer.status, 401, "the detecting route verifies too");
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn auditwolf_request_without_a_signature_names_the_header() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/api/auditwolf",
            &fixture("auditwolf-task-create.json"),
            &[],
        )
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json["error"],
        "the x-auditwolf-webhook-sig header is missing"
    );
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn auditwolf_request_signed_with_the_rotated_out_secret_is_still_accepted() {
    let app = spawn_app().await;
    let body = fixture("auditwolf-task-create.json");
    let signature = sign_auditwolf(AUDITWOLF_OLD_SECRET, &body);
    let answer = app
        .post("/api/auditwolf", &body, &[(SIG, &signature)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn auditwolf_without_configured_secrets_names_the_setting() {
    let app = spawn_app_with(&[("AUDITWOLF_SECRETS", "")]).await;
    let answer = app
        .post_signed("/api/auditwolf", &fixture("auditwolf-task-create.json"))
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.json["error"]
        .as_str()
        .unwrap()
        .starts_with("AUDITWOLF_SECRETS is not set"));
    assert!(!answer.json.to_string().contains(AUDITWOLF_SECRET));
}

#[actix_web::test]
async fn stackstate_request_with_a_missing_or_wrong_token_is_rejected() {
    let app = spawn_app().await;
    let body = fixture("stackstate-open.json");
    let missing = app.post("/api/stackstate", &body, &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json["error"],
        "the X-StackState-Webhook-Token header is missing"
    );
    let wrong = app
        .post(
            "/api/webhook",
            &body,
            &[("X-StackState-Webhook-Token", "guess")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    let right = app
        .post(
            "/api/stackstate",
            &body,
            &[("X-StackState-Webhook-Token", STACKSTATE_TOKEN)],
        )
        .await;
    assert_eq!(right.status, 200);
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn azure_monitor_token_is_required_only_when_configured() {
    let app = spawn_app_with(&[("AZURE_MONITOR_TOKENS", "tok-1,tok-2")]).await;
    let body = fixture("azure-common-alert-log.json");
    let missing = app
        .post("/api/azuremonitor?code=functionkey", &body, &[])
        .await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json["error"],
        "the `tokenid` query parameter is missing"
    );
    let wrong = app
        .post("/api/azuremonitor?tokenid=tok-3", &body, &[])
        .await;
    assert_eq!(wrong.status, 401);
    let right = app
        .post("/api/webhook?code=functionkey&tokenid=tok-2", &body, &[])
        .await;
    assert_eq!(right.status, 200, "{}", right.json);
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn skytap_token_is_required_only_when_configured() {
    let open = spawn_app().await;
    assert_eq!(
        open.post("/api/skytap", &fixture("skytap-usage.json"), &[])
            .await
            .status,
        200
    );
    let app = spawn_app_with(&[("SKYTAP_TOKENS", "sky")]).await;
    let wrong = app
        .post("/api/skytap?token=nope", &fixture("skytap-usage.json"), &[])
        .await;
    assert_eq!(wrong.status, 401);
    let right = app
        .post("/api/skytap?token=sky", &fixture("skytap-usage.json"), &[])
        .await;
    assert_eq!(right.status, 200);
    assert_eq!(app.azure.accepted().len(), 1);
}

/// A request as the Functions host relays it in proxying mode: `Host` rewritten to loopback,
/// the caller's in `X-Forwarded-Host`, `X-Forwarded-*` and the invocation id set, the body
/// chunked byte for byte. It is verified over the same bytes and delivered; the forwarding
/// headers change nothing.
#[actix_web::test]
async fn a_proxied_request_with_a_chunked_body_is_verified_over_its_bytes_and_delivered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = fixture("auditwolf-task-create.json");
    let signature = sign_auditwolf(AUDITWOLF_SECRET, &body);
    let address = app.address.trim_start_matches("http://");
    let mut request = format!(
        "POST /api/auditwolf?code=function-key HTTP/1.1\r\nHost: {address}\r\n\
         X-Forwarded-Host: contoso.azurewebsites.net\r\nX-Forwarded-For: 203.0.113.7\r\n\
         X-Forwarded-Proto: https\r\nx-ms-invocation-id: 6f1c2c1e-0000-4000-8000-000000000001\r\n\
         {SIG}: {signature}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(100) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(&request).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(app.azure.accepted().len(), 1);
}
