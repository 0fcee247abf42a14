//! Exactly once on one instance: when the deadline cuts the wait for an attempt already sent, the
//! sender gets 503 and the attempt's outcome settles the webhook, so the sender's retry is a
//! duplicate if the destination committed, and a fresh delivery if it did not.

use std::time::{Duration, Instant};

use webhook_ingest::azure::storage::StorageConfig;
use webhook_ingest::storage_queue::StorageQueue;
use webhook_ingest::timeouts::Timeouts;

use crate::fake_ingestion::{spawn_ingestion_app, FakeLogsIngestion};
use crate::helpers::{fixture, spawn_app_with, Answer, TestApp};

const IN_FLIGHT: &str = "the rows were not delivered (an earlier attempt is still in flight; \
                         a retry learns its outcome); retry later";

/// Polls `count` until it reaches `want`, for at most five seconds.
async fn eventually(want: usize, count: impl Fn() -> usize) {
    let started = Instant::now();
    while count() < want && started.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(), want);
}

fn assert_in_flight(answer: &Answer) {
    assert_eq!(answer.status, 503, "{}", answer.json);
    assert_eq!(answer.json["error"], IN_FLIGHT);
    assert!(answer.retry_after.is_some());
}

async fn post_audit(app: &TestApp) -> Answer {
    app.post("/api/skytap", &fixture("skytap-audit.json"), &[])
        .await
}

#[actix_web::test]
async fn a_retry_after_the_deadline_cut_the_wait_is_a_duplicate_once_the_destination_commits() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    app.azure.delay_with(Duration::from_millis(1500));
    let started = Instant::now();
    let first = post_audit(&app).await;
    assert_in_flight(&first);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "answered at the deadline, not when the destination did"
    );
    eventually(1, || app.azure.accepted().len()).await;
    let retry = post_audit(&app).await;
    assert_eq!(
        (retry.status, &retry.json["duplicate"]),
        (200, &true.into())
    );
    assert_eq!(app.azure.accepted()[0].rows.len(), 2);
    assert_eq!(app.azure.received(), 1, "the retry sent nothing");
}

#[actix_web::test]
async fn a_retry_while_the_attempt_is_in_flight_waits_for_its_outcome() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    app.azure.delay_with(Duration::from_millis(800));
    assert_in_flight(&post_audit(&app).await);
    let retry = post_audit(&app).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    assert_eq!(retry.json["duplicate"], true);
    assert_eq!(app.azure.received(), 1);
}

#[actix_web::test]
async fn a_retry_after_an_attempt_that_failed_late_is_delivered_afresh() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    app.azure.delay_with(Duration::from_millis(800));
    app.azure.answer_next(&[500]);
    assert_in_flight(&post_audit(&app).await);
    eventually(1, || app.azure.received()).await;
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    app.azure.delay_with(Duration::ZERO);
    let retry = post_audit(&app).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    assert!(retry.json.get("duplicate").is_none());
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn rows_whose_attempt_may_still_commit_are_not_spilled() {
    let storage = crate::azurite::connection_string();
    let queue = format!("inflight-{}", std::process::id());
    let app = spawn_app_with(&[
        ("DELIVERY_TIMEOUT_SECONDS", "0.5"),
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", &queue),
    ])
    .await;
    app.azure.delay_with(Duration::from_millis(1500));
    assert_in_flight(&post_audit(&app).await);
    eventually(1, || app.azure.accepted().len()).await;
    let retry = post_audit(&app).await;
    assert_eq!(retry.json["duplicate"], true, "{}", retry.json);
    let service = StorageConfig::from_connection_string(&storage).unwrap();
    let spill = StorageQueue::new(&service, &queue, &Timeouts::default());
    let spilled = spill.receive(32, Duration::from_secs(1)).await.unwrap();
    assert!(spilled.is_empty(), "nothing went to the spill queue");
}

#[actix_web::test]
async fn logs_ingestion_a_retry_after_the_deadline_is_a_duplicate_once_the_destination_commits() {
    let fake = FakeLogsIngestion::start();
    let mut settings = fake.managed_identity_settings();
    settings.push(("DELIVERY_TIMEOUT_SECONDS".into(), "0.5".into()));
    let app = spawn_ingestion_app(settings).await;
    fake.delay_with(Duration::from_millis(1500));
    let body = fixture("auditwolf-task-create.json");
    assert_in_flight(&app.post_signed("/api/auditwolf", &body).await);
    eventually(1, || fake.accepted().len()).await;
    let retry = app.post_signed("/api/auditwolf", &body).await;
    assert_eq!(retry.json["duplicate"], true, "{}", retry.json);
    assert_eq!(fake.rows().len(), 1, "the event is in the table once");
}
