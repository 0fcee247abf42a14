//! Adaptive group commit: an idle table sends at once; webhooks that arrive while its request is
//! in flight, or while the destination throttles, share the next request; each is answered when
//! its own rows are acknowledged, and a failed group hands every webhook its own rows back.

use std::time::Duration;

use webhook_ingest::azure::storage::StorageConfig;
use webhook_ingest::delivery::spill::decode;
use webhook_ingest::storage_queue::StorageQueue;
use webhook_ingest::timeouts::Timeouts;

use crate::helpers::{fixture_with_id, spawn_app, spawn_app_with, Answer, TestApp};

fn distinct_audits(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| fixture_with_id("skytap-audit.json", &format!("m{i}")))
        .collect()
}

async fn post_all(app: &TestApp, bodies: &[Vec<u8>]) -> Vec<Answer> {
    futures_util::future::join_all(bodies.iter().map(|b| app.post("/api/skytap", b, &[]))).await
}

/// Every row the fake accepted, as `MessageId/EventId`, sorted.
fn delivered_rows(app: &TestApp) -> Vec<String> {
    let mut ids: Vec<String> = app
        .azure
        .accepted()
        .iter()
        .flat_map(|p| {
            p.rows
                .iter()
                .map(|r| format!("{}/{}", r["MessageId"], r["EventId"]))
        })
        .collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn webhooks_sent_one_after_another_each_go_out_on_their_own() {
    let app = spawn_app().await;
    for body in distinct_audits(5) {
        assert_eq!(app.post("/api/skytap", &body, &[]).await.status, 200);
    }
    assert_eq!(app.azure.accepted().len(), 5);
}

#[actix_web::test]
async fn webhooks_arriving_while_the_request_is_in_flight_share_the_next_one() {
    let app = spawn_app().await;
    app.azure.delay_with(Duration::from_millis(400));
    let bodies = distinct_audits(11);
    let first = app.post("/api/skytap", &bodies[0], &[]);
    let rest = async {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        post_all(&app, &bodies[1..]).await
    };
    let (first, rest) = tokio::join!(first, rest);
    assert_eq!(first.status, 200);
    assert!(rest.iter().all(|a| a.status == 200 && a.json["rows"] == 2));
    assert_eq!(
        app.azure.accepted().len(),
        2,
        "the first alone, then the ten that waited for it together"
    );
    let mut rows = delivered_rows(&app);
    assert_eq!(rows.len(), 22);
    rows.dedup();
    assert_eq!(rows.len(), 22, "each of the 22 rows exactly once");
}

#[actix_web::test]
async fn a_throttled_table_pauses_and_then_carries_every_waiting_webhook_in_one_request() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "5")]).await;
    app.azure.answer_next(&[429]);
    let bodies = distinct_audits(20);
    let first = app.post("/api/skytap", &bodies[0], &[]);
    let rest = async {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        post_all(&app, &bodies[1..]).await
    };
    let (first, rest) = tokio::join!(first, rest);
    assert_eq!(first.status, 200, "{}", first.json);
    assert!(rest.iter().all(|a| a.status == 200));
    assert_eq!(
        app.azure.received(),
        2,
        "one request throttled, then one after the Retry-After with all twenty webhooks"
    );
    assert_eq!(delivered_rows(&app).len(), 40);
}

#[actix_web::test]
async fn a_failed_group_spills_each_webhook_with_its_own_rows() {
    let queue = format!(
        "group-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let storage = crate::azurite::connection_string();
    let app = spawn_app_with(&[
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", &queue),
        ("DELIVERY_TIMEOUT_SECONDS", "0.3"),
    ])
    .await;
    app.azure.answer_with(500);
    let answers = post_all(&app, &distinct_audits(6)).await;
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.json["spilled"] == true && a.json["rows"] == 2));
    let service = StorageConfig::from_connection_string(&storage).unwrap();
    let spill = StorageQueue::new(&service, &queue, &Timeouts::default());
    let messages = spill.receive(32, Duration::from_secs(30)).await.unwrap();
    let mut spilled: Vec<String> = messages
        .iter()
        .flat_map(|m| decode(&m.text).unwrap().1)
        .map(|row| row.get("MessageId").unwrap().to_string())
        .collect();
    spilled.sort();
    assert_eq!(
        spilled.len(),
        12,
        "each webhook spilled its own two rows, no more, no fewer"
    );
    spilled.dedup();
    assert_eq!(spilled.len(), 6);
}
