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
