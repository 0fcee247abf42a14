//! Outages: rows the destination will not take are spilled to a real Storage queue (Azurite) and
//! delivered by `drain`, driven here the way the Functions host drives it.

use std::time::Duration;

use serde_json::{json, Value};
use webhook_ingest::azure::storage::StorageConfig;
use webhook_ingest::delivery::spill::{HELD_SUFFIX, POISON_SUFFIX};
use webhook_ingest::drain::MAX_DEQUEUE_COUNT;
use webhook_ingest::storage_queue::StorageQueue;
use webhook_ingest::timeouts::Timeouts;

use crate::azurite::connection_string;
use crate::helpers::{fixture, spawn_app_with, TestApp};

const FIXTURES: [(&str, &str); 13] = [
    ("skytap-audit.json", "skytap"),
    ("skytap-usage.json", "skytap"),
    ("auditwolf-task-create.json", "auditwolf"),
    ("azure-activitylog-administrative.json", "azuremonitor"),
    ("azure-activitylog-servicehealth.json", "azuremonitor"),
    ("azure-activitylog-resourcehealth.json", "azuremonitor"),
    (
        "azure-common-alert-activitylog-administrative.json",
        "azuremonitor",
    ),
    ("azure-common-alert-log.json", "azuremonitor"),
    ("azure-common-alert-metric.json", "azuremonitor"),
    ("azure-metric-alert-noncommon.json", "azuremonitor"),
    ("stackstate-open.json", "stackstate"),
    ("stackstate-open-deviating-update.json", "stackstate"),
    ("stackstate-close.json", "stackstate"),
];

/// A queue of this test's own (names are lower-case letters, digits and hyphens).
pub fn unique_queue(test: &str) -> String {
    crate::helpers::unique_name(&format!("{test}-"))
}

pub fn queue(name: &str) -> StorageQueue {
    StorageQueue::new(
        &StorageConfig::from_connection_string(&connection_string()).unwrap(),
        name,
        &Timeouts::default(),
    )
}

async fn spawn_spilling_app(queue: &str) -> TestApp {
    let storage = connection_string();
    spawn_app_with(&[
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", queue),
        ("DELIVERY_TIMEOUT_SECONDS", "0.3"),
    ])
    .await
}

/// What the Functions host does for a queue trigger: hand each message to `POST /drain`, delete it
/// on success, leave it to reappear on failure, and move it to `<queue>-poison` after `max_dequeue` tries.
pub async fn run_drain_like_the_host(
    app: &TestApp,
    name: &str,
    max_dequeue: u32,
) -> (usize, usize) {
    let (spill, poison) = (queue(name), queue(&format!("{name}{POISON_SUFFIX}")));
    let (mut delivered, mut poisoned, mut idle_rounds) = (0, 0, 0);
    while idle_rounds < 2 {
        let messages = spill.receive(32, Duration::from_secs(1)).await.unwrap();
        if messages.is_empty() {
            idle_rounds += 1;
            actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
            continue;
        }
        idle_rounds = 0;
        for message in messages {
            // Half the time, encode the value twice, as some hosts do.
            let value = if message.dequeue_count % 2 == 0 {
                json!(message.text)
            } else {
                json!(json!(message.text).to_string())
            };
            let envelope = json!({"Data": {"message": value}, "Metadata": {"DequeueCount": message.dequeue_count, "Id": message.id}});
            let response = app.post_json("/drain", &envelope).await;
            assert_eq!(response.content_type.as_deref(), Some("application/json"));
            if (200..300).contains(&response.status) {
                spill.delete(&message).await.unwrap();
                delivered += 1;
            } else if message.dequeue_count >= max_dequeue {
                poison.put(&message.text).await.unwrap();
                spill.delete(&message).await.unwrap();
                poisoned += 1;
            }
        }
    }
    (delivered, poisoned)
}

/// Every event id the fixtures carry, sorted: what "each event exactly once" is checked against.
fn expected_event_ids() -> Vec<String> {
    let mut ids: Vec<String> = FIXTURES
        .iter()
        .flat_map(|(file, _)| {
            let value: Value = serde_json::from_slice(&fixture(file)).unwrap();
            match value.get("payload") {
                Some(Value::Array(items)) => items.iter().map(|i| i["id"].to_string()).collect(),
                _ => vec![value.to_string()],
            }
        })
        .collect();
    ids.sort();
    ids
}

fn delivered_event_ids(app: &TestApp) -> Vec<String> {
    let mut ids: Vec<String> = app
        .azure
        .accepted()
        .iter()
        .flat_map(|post| post.rows.clone())
        .map(|row| {
            let raw: Value = serde_json::from_str(row["RawEvent"].as_str().unwrap()).unwrap();
            if row["Source"] == "skytap" {
                raw["id"].to_string()
            } else {
                raw.to_string()
            }
        })
        .collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_destination_down_for_the_whole_outage_loses_nothing() {
    let name = unique_queue("outage");
    let app = spawn_spilling_app(&name).await;
    app.azure.answer_with(503);
    for (file, route) in FIXTURES {
        let answer = app
            .post_signed(&format!("/api/{route}"), &fixture(file))
            .await;
        assert_eq!(answer.status, 200, "{file}: {}", answer.json);
        assert_eq!(answer.json["spilled"], true, "{file}");
    }
    assert!(app.azure.accepted().is_empty());

    app.azure.answer_with(200);
    let (delivered, poisoned) = run_drain_like_the_host(&app, &name, 5).await;
    assert_eq!((delivered, poisoned), (FIXTURES.len(), 0));
    assert_eq!(
        delivered_event_ids(&app),
        expected_event_ids(),
        "each event delivered exactly once"
    );
}

#[actix_web::test]
async fn a_refusing_destination_spills_too_and_the_drain_retries_until_it_recovers() {
    let name = unique_queue("refused");
    let app = spawn_spilling_app(&name).await;
    app.azure.answer_with(403);
    let answer = app
        .post_signed("/api/auditwolf", &fixture("auditwolf-task-create.json"))
        .await;
    assert_eq!(answer.json["spilled"], true);
    // The first drain attempt fails (still 403): the message stays for the host to retry.
    let message = queue(&name)
        .receive(1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    let drained = app
        .post_json("/drain", &json!({"Data": {"message": message.text}}))
        .await;
    assert_eq!(drained.status, 500);
    assert!(
        drained.json["Logs"][0]
            .as_str()
            .unwrap()
            .contains("HTTP 403"),
        "{}",
        drained.json
    );
    app.azure.answer_with(200);
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(run_drain_like_the_host(&app, &name, 5).await, (1, 0));
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn a_message_that_keeps_failing_goes_to_the_poison_queue_and_can_be_replayed() {
    let name = unique_queue("poison");
    let app = spawn_spilling_app(&name).await;
    app.azure.answer_with(403);
    assert_eq!(
        app.post_signed("/api/skytap", &fixture("skytap-audit.json"))
            .await
            .json["spilled"],
        true
    );
    assert_eq!(run_drain_like_the_host(&app, &name, 2).await, (0, 1));

    assert!(replay_held(&name).contains(&format!("Moved 1 messages from {name}{POISON_SUFFIX}")));

    app.azure.answer_with(200);
    assert_eq!(run_drain_like_the_host(&app, &name, 2).await, (1, 0));
    assert_eq!(app.azure.accepted()[0].rows.len(), 2);
}

/// `handler replay-held` with the test's queue; returns what it printed.
fn replay_held(name: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .arg("replay-held")
        .current_dir(std::env::temp_dir())
        .env("AzureWebJobsStorage", connection_string())
        .env("SPILL_QUEUE", name)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_web::test]
async fn a_message_whose_last_try_fails_is_held_visible_and_never_expiring_until_replayed() {
    let name = unique_queue("held");
    let app = spawn_spilling_app(&name).await;
    app.azure.answer_with(403);
    let answer = app
        .post_signed("/api/auditwolf", &fixture("auditwolf-task-create.json"))
        .await;
    assert_eq!(answer.json["spilled"], true);
    // The host's last try: DequeueCount has reached maxDequeueCount.
    let spill = queue(&name);
    let message = spill
        .receive(1, Duration::from_secs(1))
        .await
        .unwrap()
        .remove(0);
    let envelope = json!({"Data": {"message": message.text},
        "Metadata": {"DequeueCount": MAX_DEQUEUE_COUNT.to_string(), "Id": message.id}});
    let drained = app.post_json("/drain", &envelope).await;
    assert_eq!(drained.status, 200, "{}", drained.json);
    assert!(drained.json["Logs"][0]
        .as_str()
        .unwrap()
        .contains("held in"));
    spill.delete(&message).await.unwrap();

    let held = queue(&format!("{name}{HELD_SUFFIX}"))
        .peek(32)
        .await
        .unwrap();
    assert_eq!(held.len(), 1, "visible at once in the holding queue");
    assert_eq!(held[0].text, message.text);
    assert!(
        held[0].expiration_time.contains("9999"),
        "{}",
        held[0].expiration_time
    );
    let poisoned = queue(&format!("{name}{POISON_SUFFIX}"))
        .peek(32)
        .await
        .unwrap();
    assert!(poisoned.is_empty());
    assert!(app.azure.accepted().is_empty());

    assert!(replay_held(&name).contains(&format!("Moved 1 messages from {name}{HELD_SUFFIX}")));
    app.azure.answer_with(200);
    assert_eq!(run_drain_like_the_host(&app, &name, 5).await, (1, 0));
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn a_garbled_message_is_held_on_its_last_try_too() {
    let name = unique_queue("held-garbled");
    let app = spawn_spilling_app(&name).await;
    let envelope =
        json!({"Data": {"message": "hello"}, "Metadata": {"DequeueCount": MAX_DEQUEUE_COUNT}});
    let drained = app.post_json("/drain", &envelope).await;
    assert_eq!(drained.status, 200, "{}", drained.json);
    let held = queue(&format!("{name}{HELD_SUFFIX}"))
        .peek(32)
        .await
        .unwrap();
    assert_eq!(
        held.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["hello"]
    );
}

#[actix_web::test]
async fn when_the_spill_queue_is_down_too_the_webhook_is_a_503() {
    let endpoint = format!("{}/devstoreaccount1", crate::helpers::closed_port_url());
    let storage = connection_string().replace(&crate::azurite::azurite().queue_endpoint, &endpoint);
    let app = spawn_app_with(&[
        ("AzureWebJobsStorage", &storage),
        ("DELIVERY_TIMEOUT_SECONDS", "0.3"),
    ])
    .await;
    app.azure.answer_with(500);
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert!(answer.retry_after.is_some());
}

#[actix_web::test]
async fn a_drain_message_that_is_not_a_spilled_batch_fails_the_invocation() {
    let app = spawn_spilling_app(&unique_queue("garbage")).await;
    let response = app
        .post_json("/drain", &json!({"Data": {"message": "hello"}}))
        .await;
    assert_eq!(response.status, 500);
    assert!(app.azure.accepted().is_empty());
}
