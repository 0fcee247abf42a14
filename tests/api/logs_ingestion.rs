//! The Logs Ingestion destination against fake Entra ID and Logs Ingestion endpoints.

use chrono::TimeDelta;
use serde_json::{json, Value};
use webhook_ingest::schema::TRUNCATION_MARKER;

use crate::fake_ingestion::{spawn_ingestion_app, FakeLogsIngestion, ONE_MB};
use crate::helpers::{fixture, fixture_with_id};

const FIXTURES: [(&str, &str, &str, usize); 13] = [
    ("skytap-audit.json", "skytap", "Custom-SkytapAudit_CL", 2),
    ("skytap-usage.json", "skytap", "Custom-SkytapUsage_CL", 2),
    (
        "auditwolf-task-create.json",
        "auditwolf",
        "Custom-AuditWolf_CL",
        1,
    ),
    (
        "azure-activitylog-administrative.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-activitylog-servicehealth.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-activitylog-resourcehealth.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-common-alert-activitylog-administrative.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-common-alert-log.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-common-alert-metric.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "azure-metric-alert-noncommon.json",
        "azuremonitor",
        "Custom-AzureMonitorAlerts_CL",
        1,
    ),
    (
        "stackstate-open.json",
        "stackstate",
        "Custom-StackStateNotifications_CL",
        1,
    ),
    (
        "stackstate-open-deviating-update.json",
        "stackstate",
        "Custom-StackStateNotifications_CL",
        1,
    ),
    (
        "stackstate-close.json",
        "stackstate",
        "Custom-StackStateNotifications_CL",
        1,
    ),
];

/// A Skytap usage message with `count` events, each about `padding` bytes larger than usual.
fn skytap_usage(count: usize, padding: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..count)
        .map(|i| json!({"id": i, "type": "svms", "region": "prod/tuk1r1", "start_time": "2019/06/07 22:00:00",
                         "end_time": "2019/06/07 23:00:00", "value": i, "note": "n".repeat(padding)}))
        .collect();
    let message = json!({"version": 1, "message_id": "big", "category": "usage", "timestamp": "2019-06-07T23:41:17Z", "payload": items});
    serde_json::to_vec(&message).unwrap()
}

#[actix_web::test]
async fn every_fixture_is_delivered_with_a_managed_identity_and_one_cached_token() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    assert_eq!(azure.token_requests(), 0, "no token request at startup");
    for (file, route, _, rows) in FIXTURES {
        let answer = app
            .post_signed(&format!("/api/{route}"), &fixture(file))
            .await;
        assert_eq!(
            answer.status,
            200,
            "{file}: {} {:?}",
            answer.json,
            azure.rejected()
        );
        assert_eq!(answer.json["rows"], rows, "{file}");
    }
    let accepted = azure.accepted();
    assert_eq!(accepted.len(), FIXTURES.len());
    for ((file, _, stream, rows), request) in FIXTURES.iter().zip(&accepted) {
        assert_eq!(&request.stream, stream, "{file}");
        assert_eq!(request.rows.len(), *rows, "{file}");
        for row in &request.rows {
            assert_eq!(
                row["TimeGenerated"], row["EventTime"],
                "{file}: TimeGenerated is a real column"
            );
        }
    }
    assert_eq!(azure.token_requests(), 1);
    assert!(
        app.azure.accepted().is_empty(),
        "the Data Collector settings were ignored"
    );
    assert_eq!(
        app.get("/api/health").await.json["destination"],
        "logs_ingestion"
    );
}

#[actix_web::test]
async fn a_service_principal_gets_a_token_with_its_client_secret() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.client_secret_settings()).await;
    let answer = app
        .post_signed("/api/webhook", &fixture("azure-common-alert-log.json"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(azure.token_requests(), 1);
    assert_eq!(azure.rows()[0]["AlertRule"], "Heartbeat-missing");
}

#[actix_web::test]
async fn a_refused_client_secret_is_a_503_and_nothing_is_delivered() {
    let azure = FakeLogsIngestion::start();
    let mut settings = azure.client_secret_settings();
    settings.push(("AZURE_CLIENT_SECRET".into(), "expired-secret".into()));
    let app = spawn_ingestion_app(settings).await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.json["error"],
        "the rows were not delivered (no access token for Log Analytics); retry later"
    );
    assert!(azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_skytap_message_with_thousands_of_events_is_split_into_requests_under_1_mb() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let answer = app.post("/api/skytap", &skytap_usage(5000, 300), &[]).await;
    assert_eq!(answer.status, 200, "{} {:?}", answer.json, azure.rejected());
    assert_eq!(answer.json["rows"], 5000);
    let accepted = azure.accepted();
    assert!(accepted.len() >= 3, "{} requests", accepted.len());
    assert!(accepted.iter().all(|r| r.wire_bytes <= ONE_MB));
    let mut ids: Vec<String> = azure
        .rows()
        .iter()
        .map(|r| r["EventId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort_by_key(|id| id.parse::<u32>().unwrap());
    assert_eq!(ids, (0..5000).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(azure.rejected().is_empty());
}

#[actix_web::test]
async fn a_413_splits_the_request_until_every_row_fits() {
    let azure = FakeLogsIngestion::start();
    azure.set_max_bytes(20_000);
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let answer = app.post("/api/skytap", &skytap_usage(200, 200), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(azure.rows().len(), 200);
    assert!(azure.rejected().iter().any(|(status, _)| *status == 413));
}

#[actix_web::test]
async fn an_oversized_field_is_cut_with_a_visible_marker_instead_of_being_lost() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let mut event: Value = serde_json::from_slice(&fixture("auditwolf-task-create.json")).unwrap();
    event["summary"] = json!("s".repeat(200_000));
    let answer = app
        .post_signed("/api/auditwolf", &serde_json::to_vec(&event).unwrap())
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let row = &azure.rows()[0];
    let summary = row["Summary"].as_str().unwrap();
    assert!(summary.len() <= 64_000 && summary.ends_with(TRUNCATION_MARKER));
    assert_eq!(row["Truncated"], "RawEvent,Summary");
    assert_eq!(
        row["EventType"], "task.create",
        "the other columns are whole"
    );
}

#[actix_web::test]
async fn a_lone_row_answered_413_is_cut_shorter_until_it_is_accepted() {
    let azure = FakeLogsIngestion::start();
    azure.set_max_bytes(12_000);
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let mut event: Value = serde_json::from_slice(&fixture("auditwolf-task-create.json")).unwrap();
    event["summary"] = json!("s".repeat(100_000));
    let answer = app
        .post_signed("/api/auditwolf", &serde_json::to_vec(&event).unwrap())
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(azure.rows()[0]["Summary"].as_str().unwrap().len() <= 4_000);
}

#[actix_web::test]
async fn an_expiring_token_is_refreshed_before_it_expires() {
    use std::time::Duration;
    use tokio::time::Instant;

    let azure = FakeLogsIngestion::start();
    // The answer's expiry is in whole seconds: the handler reckons a 4 s token lives 4 or 5 s,
    // and refreshes it past half of that (2 or 2.5 s after it asked), in the background.
    azure.set_token_lifetime(TimeDelta::seconds(4));
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let body = |id: &str| fixture_with_id("stackstate-open.json", id);
    assert_eq!(
        app.post_signed("/api/stackstate", &body("n1")).await.status,
        200
    );
    // The token was fetched before this.
    let fetched_by = Instant::now();
    assert_eq!(
        app.post_signed("/api/stackstate", &body("n2")).await.status,
        200
    );
    assert_eq!(azure.token_requests(), 1, "a young token is kept");
    tokio::time::sleep_until(fetched_by + Duration::from_millis(2800)).await;
    assert_eq!(
        app.post_signed("/api/stackstate", &body("n3")).await.status,
        200
    );
    // Before the first token expires (4 s after it was fetched), a second one is fetched.
    while azure.token_requests() < 2 && fetched_by.elapsed() < Duration::from_millis(3800) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(azure.token_requests(), 2);
    assert!(
        azure.rejected().is_empty(),
        "no request went out with an expired token"
    );
}

#[actix_web::test]
async fn a_revoked_token_is_replaced_after_one_401() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let body = |id: &str| fixture_with_id("stackstate-open.json", id);
    assert_eq!(
        app.post_signed("/api/stackstate", &body("n1")).await.status,
        200
    );
    azure.revoke_tokens();
    assert_eq!(
        app.post_signed("/api/stackstate", &body("n2")).await.status,
        200
    );
    assert_eq!(azure.token_requests(), 2);
    assert_eq!(azure.rows().len(), 2);
}

#[actix_web::test]
async fn concurrent_webhooks_share_one_token_request() {
    let azure = FakeLogsIngestion::start();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|i| fixture_with_id("skytap-audit.json", &i.to_string()))
        .collect();
    let requests = bodies.iter().map(|body| app.post("/api/skytap", body, &[]));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(azure.token_requests(), 1);
    assert_eq!(azure.rows().len(), 40);
}

#[actix_web::test]
async fn refusals_from_the_api_are_503s_and_nothing_is_delivered() {
    let cases = [
        (403, None, "30"),
        (404, None, "30"),
        (429, Some("7"), "7"),
        (500, None, "30"),
        (503, Some("120"), "60"),
    ];
    for (status, retry_after, expected_retry_after) in cases {
        let azure = FakeLogsIngestion::start();
        azure.inject(&[(status, retry_after); 50]);
        let mut settings = azure.managed_identity_settings();
        settings.push(("DELIVERY_TIMEOUT_SECONDS".into(), "0.5".into()));
        let app = spawn_ingestion_app(settings).await;
        let answer = app
            .post("/api/skytap", &fixture("skytap-audit.json"), &[])
            .await;
        assert_eq!(answer.status, 503, "{status}");
        assert_eq!(
            answer.retry_after.as_deref(),
            Some(expected_retry_after),
            "{status}"
        );
        assert!(azure.accepted().is_empty(), "{status}");
    }
}

#[actix_web::test]
async fn only_a_204_counts_rows_delivered_and_a_redirect_is_not_followed() {
    // 204 is the API's only success. A redirect, or a 200 or 202, comes from something else at
    // the endpoint's address (a gateway, a mock, a page), which stores nothing.
    let azure = FakeLogsIngestion::start();
    let others = [302, 307, 200, 202];
    azure.inject(&others.map(|status| (status, None)));
    let mut settings = azure.managed_identity_settings();
    settings.push(("DELIVERY_TIMEOUT_SECONDS".into(), "0.5".into()));
    let app = spawn_ingestion_app(settings).await;
    for status in others {
        let answer = app
            .post("/api/skytap", &fixture("skytap-audit.json"), &[])
            .await;
        assert_eq!(answer.status, 503, "{status}: {}", answer.json);
        let error = answer.json["error"].as_str().unwrap();
        assert!(error.contains(&format!("HTTP {status}")), "{error}");
    }
    assert_eq!(azure.moved(), 0, "no redirect was followed");
    assert!(azure.accepted().is_empty());
    let answer = app
        .post("/api/skytap", &fixture("skytap-audit.json"), &[])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(azure.rows().len(), 2, "delivered once, on the 204");
}

#[actix_web::test]
async fn a_burst_of_throttling_and_server_errors_is_retried_within_the_deadline() {
    let azure = FakeLogsIngestion::start();
    azure.inject(&[(500, None), (503, None), (429, Some("1")), (500, None)]);
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    let answer = app
        .post("/api/skytap", &fixture("skytap-audit.json"), &[])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(azure.rows().len(), 2, "delivered exactly once");
}

#[actix_web::test]
async fn a_wrong_dcr_or_a_token_refused_every_time_is_a_503() {
    let azure = FakeLogsIngestion::start();
    let mut settings = azure.managed_identity_settings();
    settings.push((
        "LOGS_INGESTION_DCR_ID".into(),
        "dcr-ffffffffffffffffffffffffffffffff".into(),
    ));
    let app = spawn_ingestion_app(settings).await;
    assert_eq!(
        app.post("/api/skytap", &fixture("skytap-audit.json"), &[])
            .await
            .status,
        503
    );
    assert_eq!(azure.rejected()[0].0, 404);

    let azure = FakeLogsIngestion::start();
    azure.refuse_all_tokens();
    let app = spawn_ingestion_app(azure.managed_identity_settings()).await;
    assert_eq!(
        app.post("/api/skytap", &fixture("skytap-audit.json"), &[])
            .await
            .status,
        503
    );
    assert_eq!(
        azure.token_requests(),
        2,
        "one refresh after the first 401, then give up"
    );
}
