//! Outside numbers and stalls: a destination's `Retry-After`, a token endpoint's answer or
//! silence never wedge a table, panic an attempt, or count rows as sent that never left.

use std::time::Duration;

use crate::azurite::connection_string;
use crate::fake_ingestion::{spawn_ingestion_app, FakeLogsIngestion, TokenAnswer};
use crate::helpers::{fixture, fixture_with_id, spawn_app_with, TestApp};
use crate::spill::{queue, run_drain_like_the_host, unique_queue};
use crate::storage_proxy::{PutFault, StorageProxy};

fn with(mut settings: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    settings
}

async fn post_auditwolf(app: &TestApp, id: &str) -> crate::helpers::Answer {
    app.post_signed(
        "/api/auditwolf",
        &fixture_with_id("auditwolf-task-create.json", id),
    )
    .await
}

#[actix_web::test]
async fn a_token_endpoint_that_never_answers_spills_the_webhook_instead_of_holding_it_in_flight() {
    let azure = FakeLogsIngestion::start();
    azure.answer_tokens_with(TokenAnswer::Stall);
    let name = unique_queue("stalled-token");
    let storage = connection_string();
    let settings = with(
        azure.managed_identity_settings(),
        &[
            ("AzureWebJobsStorage", &storage),
            ("SPILL_QUEUE", &name),
            ("DELIVERY_TIMEOUT_SECONDS", "2"),
        ],
    );
    let app = spawn_ingestion_app(settings).await;
    let first = post_auditwolf(&app, "stalled-1").await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["spilled"], true, "{}", first.json);
    let messages = queue(&name)
        .receive(32, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(messages.len(), 1, "the rows wait in the spill queue");
    let again = post_auditwolf(&app, "stalled-1").await;
    assert_eq!(
        (again.status, &again.json["duplicate"]),
        (200, &true.into())
    );
    assert!(azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_failed_refresh_keeps_serving_the_cached_token_until_it_expires() {
    let azure = FakeLogsIngestion::start();
    azure.set_token_lifetime(chrono::TimeDelta::seconds(4));
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    assert_eq!(post_auditwolf(&app, "cached-1").await.status, 200);
    // Past the refresh point (half of a short token's life), not past its expiry.
    azure.answer_tokens_with(TokenAnswer::Status(500));
    actix_web::rt::time::sleep(Duration::from_millis(2_300)).await;
    let answer = post_auditwolf(&app, "cached-2").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(azure.accepted().len(), 2);
    assert_eq!(
        azure.token_requests(),
        1,
        "the refused refresh issued nothing"
    );
}

#[actix_web::test]
async fn a_token_lifetime_of_any_size_neither_panics_nor_wedges_the_table() {
    let azure = FakeLogsIngestion::start();
    azure.script_tokens(&[TokenAnswer::Body(
        r#"{"access_token":"t","expires_in":9000000000000}"#,
    )]);
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    for id in ["lifetime-1", "lifetime-2"] {
        let answer = post_auditwolf(&app, id).await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.json);
    }
    assert_eq!(azure.accepted().len(), 2);
}

#[actix_web::test]
async fn a_retry_after_of_any_size_pauses_the_table_for_at_most_a_minute() {
    let azure = FakeLogsIngestion::start();
    azure.inject(&[(429, Some("18446744073709551615"))]);
    let settings = with(
        azure.managed_identity_settings(),
        &[("DELIVERY_TIMEOUT_SECONDS", "0.5")],
    );
    let app = spawn_ingestion_app(settings).await;
    let answer = app
        .post("/api/skytap", &fixture("skytap-audit.json"), &[])
        .await;
    assert_eq!(answer.status, 503, "{}", answer.json);
    assert_eq!(answer.retry_after.as_deref(), Some("60"));
    assert!(
        !answer.json["error"].as_str().unwrap().contains("in flight"),
        "the attempt ended: {}",
        answer.json
    );
}

/// A Skytap audit message whose rows need several spill messages: incompressible text.
fn large_skytap_audit(items: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = || {
        (0..3000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect::<String>()
    };
    let payload: Vec<serde_json::Value> = (0..items)
        .map(|i| {
            serde_json::json!({"id": 1000 + i, "date": "2019/06/07 23:41:29", "type": noise(),
                "type_code": "RunEnvironment", "user": "alice@example.com"})
        })
        .collect();
    let message = serde_json::json!({"version": 1, "message_id": "large-1", "category": "auditing",
        "timestamp": "2019-06-07T23:41:31Z", "payload": payload});
    serde_json::to_vec(&message).unwrap()
}

/// Skytap audit event ids the fake Data Collector accepted, sorted.
fn skytap_ids(app: &TestApp) -> Vec<i64> {
    let mut ids: Vec<i64> = app
        .azure
        .accepted()
        .iter()
        .flat_map(|post| post.rows.clone())
        .map(|row| row["EventId"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort();
    ids
}

/// The app with a destination that is down and a spill queue whose `put`-th put meets `fault`.
async fn spawn_with_faulty_queue(put: usize, fault: PutFault) -> (TestApp, StorageProxy, String) {
    let faulty = StorageProxy::start();
    faulty.fault(put, fault);
    let name = unique_queue("faulty-spill");
    let storage = faulty.connection_string();
    let app = spawn_app_with(&[
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", &name),
        ("DELIVERY_TIMEOUT_SECONDS", "0.3"),
    ])
    .await;
    app.azure.answer_with(503);
    (app, faulty, name)
}

#[actix_web::test]
async fn a_spill_that_fails_part_way_writes_every_event_once_after_the_retry_and_the_drain() {
    let (app, faulty, name) = spawn_with_faulty_queue(2, PutFault::Refuse).await;
    let body = large_skytap_audit(40);
    let first = app.post_signed("/api/skytap", &body).await;
    assert_eq!(first.status, 503, "{}", first.json);
    assert_eq!(
        queue(&name)
            .receive(32, Duration::from_millis(1))
            .await
            .unwrap()
            .len(),
        1,
        "the first message was queued before the second put failed"
    );

    faulty.heal();
    app.azure.answer_with(200);
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let retry = app.post_signed("/api/skytap", &body).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    run_drain_like_the_host(&app, &name, 5).await;
    assert_eq!(skytap_ids(&app), (1000..1040).collect::<Vec<_>>());
}

#[actix_web::test]
async fn a_spill_put_that_never_answers_keeps_the_key_in_flight_so_its_rows_are_written_once() {
    let (app, _faulty, name) = spawn_with_faulty_queue(1, PutFault::StoreAndStall).await;
    let body = fixture_with_id("skytap-audit.json", "unknown-put-1");
    let first = app.post_signed("/api/skytap", &body).await;
    assert_eq!(first.status, 503, "{}", first.json);

    app.azure.answer_with(200);
    let retry = app.post_signed("/api/skytap", &body).await;
    assert_eq!(retry.status, 503, "the put may have landed: {}", retry.json);
    run_drain_like_the_host(&app, &name, 5).await;
    assert_eq!(skytap_ids(&app), [9871234, 9871235]);
}

/// A loopback address whose accept queue is full: a connect to it never completes.
fn stalled_connect_url() -> (String, Vec<std::net::TcpStream>, tokio::net::TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = socket.local_addr().unwrap();
    let listener = socket.listen(1).unwrap();
    let mut fillers = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => break,
        }
        assert!(fillers.len() < 64, "the accept queue never filled");
    }
    (format!("http://{address}"), fillers, listener)
}

#[actix_web::test]
async fn a_connect_that_never_completes_spills_the_webhook_instead_of_holding_it_in_flight() {
    let (url, _fillers, _listener) = stalled_connect_url();
    let name = unique_queue("stalled-connect");
    let storage = connection_string();
    let app = spawn_app_with(&[
        ("LOG_ANALYTICS_ENDPOINT", &url),
        ("AzureWebJobsStorage", &storage),
        ("SPILL_QUEUE", &name),
        ("DELIVERY_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let first = post_auditwolf(&app, "connect-1").await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["spilled"], true, "{}", first.json);
    let again = post_auditwolf(&app, "connect-1").await;
    assert_eq!(again.json["duplicate"], true, "{}", again.json);
    let messages = queue(&name)
        .receive(32, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
}

#[actix_web::test]
async fn a_spill_put_stalled_before_its_message_left_is_abandoned_and_the_key_released() {
    let azure = FakeLogsIngestion::start();
    azure.answer_tokens_with(TokenAnswer::Stall);
    // The spill queue is reached with the same (stalled) managed identity.
    let settings = with(
        azure.managed_identity_settings(),
        &[
            (
                "AzureWebJobsStorage__queueServiceUri",
                "http://127.0.0.1:9/devstoreaccount1",
            ),
            ("DELIVERY_TIMEOUT_SECONDS", "0.5"),
        ],
    );
    let app = spawn_ingestion_app(settings).await;
    for attempt in ["first", "retry"] {
        let answer = post_auditwolf(&app, "stalled-spill-1").await;
        assert_eq!(answer.status, 503, "{attempt}: {}", answer.json);
        let error = answer.json["error"].as_str().unwrap();
        assert!(
            !error.contains("in flight"),
            "{attempt}: nothing was sent: {error}"
        );
    }
    assert!(azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_webhook_whose_rows_all_landed_is_delivered_though_a_later_request_of_its_group_failed() {
    let azure = FakeLogsIngestion::start();
    azure.delay_with(Duration::from_millis(300));
    // The lone first webhook, then the group's two requests: the newer rows first, then the older.
    azure.inject(&[(204, None), (204, None), (400, None)]);
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let at = |id: &str, when: chrono::DateTime<chrono::Utc>| {
        let mut event: serde_json::Value =
            serde_json::from_slice(&fixture_with_id("auditwolf-task-create.json", id)).unwrap();
        event["timestamp"] = when.to_rfc3339().into();
        serde_json::to_vec(&event).unwrap()
    };
    let now = chrono::Utc::now();
    let (busy, newer, older) = (
        at("busy", now),
        at("newer", now),
        at("older", now - chrono::TimeDelta::hours(2)),
    );
    let later = |body: Vec<u8>| {
        let app = &app;
        async move {
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            app.post_signed("/api/auditwolf", &body).await
        }
    };
    let (first, (newer, older)) = futures_util::future::join(
        app.post_signed("/api/auditwolf", &busy),
        futures_util::future::join(later(newer), later(older)),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(
        azure.accepted().len(),
        2,
        "the lone one, then the group's newer rows"
    );
    assert_eq!(newer.status, 200, "its rows landed: {}", newer.json);
    assert_eq!(newer.json["spilled"], serde_json::Value::Null);
    assert_eq!(older.status, 503, "{}", older.json);
}
