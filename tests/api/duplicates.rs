//! Senders retry: a webhook delivered once is recognised when it comes again and not written twice.

use std::time::Duration;

use crate::helpers::{fixture, spawn_app, spawn_app_with};

#[actix_web::test]
async fn a_webhook_sent_twice_is_delivered_once() {
    let app = spawn_app().await;
    for (file, route) in [
        ("skytap-audit.json", "skytap"),
        ("auditwolf-task-create.json", "auditwolf"),
        ("azure-common-alert-metric.json", "azuremonitor"),
        ("stackstate-open.json", "stackstate"),
    ] {
        let first = app
            .post_signed(&format!("/api/{route}"), &fixture(file))
            .await;
        let again = app.post_signed("/api/webhook", &fixture(file)).await;
        assert_eq!((first.status, again.status), (200, 200), "{file}");
        assert!(first.json.get("duplicate").is_none());
        assert_eq!(again.json["duplicate"], true, "{file}");
    }
    assert_eq!(app.azure.accepted().len(), 4);
}

#[actix_web::test]
async fn concurrent_copies_of_a_webhook_are_delivered_once_and_all_answered_200() {
    let app = spawn_app().await;
    app.azure.delay_with(Duration::from_millis(300));
    let body = fixture("skytap-usage.json");
    let answers =
        futures_util::future::join_all((0..10).map(|_| app.post("/api/skytap", &body, &[]))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.json["duplicate"] == true)
            .count(),
        9
    );
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn a_retry_after_a_failed_delivery_is_delivered_not_dropped() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.3")]).await;
    app.azure.answer_with(500);
    let body = fixture("auditwolf-task-create.json");
    assert_eq!(app.post_signed("/api/auditwolf", &body).await.status, 503);
    app.azure.answer_with(200);
    let retry = app.post_signed("/api/auditwolf", &body).await;
    assert_eq!(retry.status, 200);
    assert!(retry.json.get("duplicate").is_none());
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn each_step_of_a_stackstate_notification_is_its_own_event() {
    let app = spawn_app().await;
    for file in [
        "stackstate-open.json",
        "stackstate-open-deviating-update.json",
        "stackstate-close.json",
    ] {
        let answer = app.post_signed("/api/stackstate", &fixture(file)).await;
        assert!(answer.json.get("duplicate").is_none(), "{file}");
    }
    assert_eq!(app.azure.accepted().len(), 3);
}

#[actix_web::test]
async fn a_zero_window_turns_recognition_off() {
    let app = spawn_app_with(&[("DEDUP_WINDOW_SECONDS", "0")]).await;
    let body = fixture("skytap-audit.json");
    app.post("/api/skytap", &body, &[]).await;
    app.post("/api/skytap", &body, &[]).await;
    assert_eq!(app.azure.accepted().len(), 2);
}
