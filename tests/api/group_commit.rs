//! Group commit: concurrent webhooks for one table share an outbound request; each is answered
//! when its own rows are acknowledged, and a failed group hands every webhook its own rows back.

use std::time::Duration;

use crate::helpers::{fixture_with_id, spawn_app_with};

fn distinct_audits(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| fixture_with_id("skytap-audit.json", &format!("m{i}")))
        .collect()
}

#[actix_web::test]
async fn concurrent_webhooks_for_a_table_share_requests_and_every_row_arrives_once() {
    let app = spawn_app_with(&[("GROUP_COMMIT_MS", "20")]).await;
    app.azure.delay_with(Duration::from_millis(50));
    let bodies = distinct_audits(40);
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| app.post("/api/skytap", b, &[])))
            .await;
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.json["rows"] == 2));
    let posts = app.azure.accepted();
    assert!(posts.len() < 20, "{} posts for 40 webhooks", posts.len());
    let mut ids: Vec<String> = posts
        .iter()
        .flat_map(|p| {
            p.rows
                .iter()
                .map(|r| format!("{}/{}", r["MessageId"], r["EventId"]))
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80, "each of the 80 rows exactly once");
}

#[actix_web::test]
async fn without_group_commit_each_webhook_is_its_own_request() {
    let app = spawn_app_with(&[("GROUP_COMMIT_MS", "0")]).await;
    let bodies = distinct_audits(10);
    futures_util::future::join_all(bodies.iter().map(|b| app.post("/api/skytap", b, &[]))).await;
    assert_eq!(app.azure.accepted().len(), 10);
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
        ("GROUP_COMMIT_MS", "20"),
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", &queue),
        ("DELIVERY_TIMEOUT_SECONDS", "0.3"),
    ])
    .await;
    app.azure.answer_with(500);
    let bodies = distinct_audits(6);
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| app.post("/api/skytap", b, &[])))
            .await;
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.json["spilled"] == true && a.json["rows"] == 2));
    let spill = webhook_ingest::storage_queue::StorageQueue::new(
        &webhook_ingest::storage_queue::QueueServiceConfig::from_connection_string(&storage)
            .unwrap(),
        &queue,
    );
    let messages = spill.receive(32, Duration::from_secs(30)).await.unwrap();
    let mut spilled: Vec<String> = messages
        .iter()
        .flat_map(|m| webhook_ingest::spill::decode(&m.text).unwrap().1)
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
