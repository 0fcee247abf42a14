//! Every fixture through its own route and through `webhook`, delivered as signed Data Collector posts.

use serde_json::{json, Value};

use crate::helpers::{fixture, spawn_app, TestApp};

struct Case {
    file: &'static str,
    route: &'static str,
    table: &'static str,
    /// Columns checked on each row, in order.
    rows: Vec<Vec<(&'static str, Value)>>,
}

fn cases() -> Vec<Case> {
    let c = |file, route, table, rows| Case {
        file,
        route,
        table,
        rows,
    };
    vec![
        c("skytap-audit.json", "skytap", "SkytapAudit", vec![
            vec![("MessageId", json!("456")), ("EventId", json!("9871234")), ("EventTime", json!("2019-06-07T23:41:31Z")),
                 ("ActionTime", json!("2019-06-07T23:41:29Z")), ("TypeCode", json!("RunEnvironment")), ("AuditType", json!("Run Environment")),
                 ("User", json!("alice@example.com")), ("Region", json!("prod/tuk1r1")), ("MessageVersion", json!(1)),
                 ("OperatedOn", json!([{"resource_type": "environment", "id": "5551234"}, {"resource_type": "vm", "id": "7771234"}]))],
            vec![("EventId", json!("9871235")), ("TypeCode", json!("FailedUserLoginHistory")), ("IpAddress", json!("198.51.100.7")),
                 ("ActionTime", json!("2019-06-07T23:41:30Z"))],
        ]),
        c("skytap-usage.json", "skytap", "SkytapUsage", vec![
            vec![("MessageId", json!("1ML590kAilW8XLJpHZtfLq8FsSj")), ("UsageType", json!("svms")), ("StartTime", json!("2019-06-07T22:00:00Z")),
                 ("EndTime", json!("2019-06-07T23:00:00Z")), ("Value", json!(4.0)), ("EventTime", json!("2019-06-07T23:41:17Z"))],
            vec![("UsageType", json!("storage_size")), ("Region", json!("prod/dal1r1")), ("StartTime", json!("2019-06-01T08:15:00Z")),
                 ("EndTime", Value::Null), ("Value", json!(120.0))],
        ]),
        c("auditwolf-task-create.json", "auditwolf", "AuditWolf", vec![
            vec![("MessageId", json!("d9d41ada-c2be-4643-87f3-c73980257fdd")), ("AccountId", json!("28878173-1d37-432b-a3e3-faeaeb62f1d1")),
                 ("EventType", json!("task.create")), ("Severity", json!("MEDIUM")), ("EventTime", json!("2019-01-14T23:28:56.782Z")),
                 ("ResourceName", json!("webApp01")), ("ObjectId", json!("80ce9fa0-c865-4460-aeed-43c9ac534474"))],
        ]),
        c("azure-activitylog-administrative.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("MessageId", json!("bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb")), ("SchemaId", json!("Microsoft.Insights/activityLogs")),
                 ("MonitorCondition", json!("Fired")), ("EventSource", json!("Administrative")), ("Caller", json!("user-email@domain.com")),
                 ("EventTime", json!("2021-11-16T08:27:36.183690900Z")), ("TargetResourceGroup", json!("test-RG")),
                 ("CustomProperties", json!({"customKey1": "value1", "customKey2": "value2"}))],
        ]),
        c("azure-activitylog-servicehealth.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("EventSource", json!("ServiceHealth")), ("SubscriptionId", json!("cccc2c2c-dd3d-ee4e-ff5f-aaaaaa6a6a6a")),
                 ("Status", json!("Active")), ("Description", json!("Active: Virtual Machines - Australia East")), ("TargetResourceId", Value::Null)],
        ]),
        c("azure-activitylog-resourcehealth.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("EventSource", json!("ResourceHealth")), ("TargetResourceType", json!("Microsoft.Compute/virtualMachines")),
                 ("EventTime", json!("2018-09-04T23:09:03.343Z")), ("Level", json!("Informational"))],
        ]),
        c("azure-common-alert-activitylog-administrative.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("AlertRule", json!("VM-restart")), ("Severity", json!("Sev4")), ("SignalType", json!("Activity Log")),
                 ("OperationName", json!("Microsoft.Compute/virtualMachines/restart/action")), ("Caller", json!("22223333-cccc-4444-dddd-5555eeee6666")),
                 ("SubscriptionId", json!("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e")), ("FiredTime", json!("2019-03-22T13:56:31.291715900Z"))],
        ]),
        c("azure-common-alert-log.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("AlertRule", json!("Heartbeat-missing")), ("Severity", json!("Sev1")), ("MonitoringService", json!("Log Alerts V2")),
                 ("MonitorCondition", json!("Fired")), ("Description", json!("Fires when a VM stops sending heartbeats"))],
        ]),
        c("azure-common-alert-metric.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("MonitorCondition", json!("Resolved")), ("EventTime", json!("2019-03-22T14:03:16.224631300Z")),
                 ("FiredTime", json!("2019-03-22T13:58:24.371321300Z")), ("ResolvedTime", json!("2019-03-22T14:03:16.224631300Z")),
                 ("AlertRuleId", json!("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/pipelinealertrg/providers/microsoft.insights/metricAlerts/WCUS-R2-Gen2")),
                 ("CustomProperties", json!({"Key1": "Value1", "Key2": "Value2"}))],
        ]),
        c("azure-metric-alert-noncommon.json", "azuremonitor", "AzureMonitorAlerts", vec![
            vec![("AlertRule", json!("test-metricAlertRule")), ("Severity", json!("Sev3")), ("MonitorCondition", json!("Fired")),
                 ("SignalType", json!("Metric")), ("TargetResourceType", json!("Microsoft.Storage/storageAccounts"))],
        ]),
        c("stackstate-open.json", "stackstate", "StackStateNotifications", vec![
            vec![("MessageId", json!("836f628c-1258-4500-b1c7-23884e00f439")), ("EventType", json!("open")), ("State", json!("CRITICAL")),
                 ("TriggeredTime", json!("2023-12-15T10:15:56.757Z")), ("EventTime", json!("2023-12-15T10:15:56.757Z")),
                 ("ComponentName", json!("catalogue")), ("Metadata", json!({"team": "Team A"}))],
        ]),
        c("stackstate-open-deviating-update.json", "stackstate", "StackStateNotifications", vec![
            vec![("State", json!("DEVIATING")), ("EventTitle", json!("HTTP - response time - is above 2.0 seconds")), ("Metadata", json!({}))],
        ]),
        c("stackstate-close.json", "stackstate", "StackStateNotifications", vec![
            vec![("EventType", json!("close")), ("Reason", json!("HealthStateResolved")), ("State", Value::Null), ("TriggeredTime", Value::Null)],
        ]),
    ]
}

/// The original events a fixture carries: Skytap's `payload` items, or the whole body.
fn original_events(body: &[u8]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(body).unwrap();
    match value.get("payload") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![value],
    }
}

async fn deliver_every_fixture_through(app: &TestApp, route_of: impl Fn(&Case) -> &'static str) {
    let cases = cases();
    for case in &cases {
        let body = fixture(case.file);
        let answer = app
            .post_signed(&format!("/api/{}", route_of(case)), &body)
            .await;
        assert_eq!(answer.status, 200, "{}: {}", case.file, answer.json);
        assert_eq!(answer.json["table"], case.table, "{}", case.file);
        assert_eq!(answer.json["rows"], case.rows.len(), "{}", case.file);
    }
    let posts = app.azure.accepted();
    assert_eq!(
        posts.len(),
        cases.len(),
        "one post per webhook; rejected: {:?}",
        app.azure.rejected()
    );
    for (case, post) in cases.iter().zip(posts) {
        assert_eq!(post.log_type, case.table, "{}", case.file);
        assert_eq!(post.time_generated_field.as_deref(), Some("EventTime"));
        assert_eq!(post.rows.len(), case.rows.len(), "{}", case.file);
        let originals = original_events(&fixture(case.file));
        for ((row, expected), original) in post.rows.iter().zip(&case.rows).zip(originals) {
            for (column, value) in expected {
                assert_eq!(&row[column], value, "{} column {column}", case.file);
            }
            let raw: Value = serde_json::from_str(row["RawEvent"].as_str().unwrap()).unwrap();
            assert_eq!(
                raw, original,
                "{}: RawEvent keeps the whole event",
                case.file
            );
            assert!(row["ReceivedTime"].is_string() && row["Source"].is_string());
        }
    }
}

#[actix_web::test]
async fn every_fixture_is_delivered_through_its_own_route() {
    let app = spawn_app().await;
    deliver_every_fixture_through(&app, |case| case.route).await;
}

#[actix_web::test]
async fn every_fixture_is_delivered_through_the_detecting_webhook_route() {
    let app = spawn_app().await;
    deliver_every_fixture_through(&app, |_| "webhook").await;
}

#[actix_web::test]
async fn a_close_without_a_trigger_time_is_stamped_with_its_receipt_time() {
    let app = spawn_app().await;
    let before = chrono::Utc::now();
    app.post_signed("/api/stackstate", &fixture("stackstate-close.json"))
        .await;
    let row = &app.azure.accepted()[0].rows[0];
    let time = chrono::DateTime::parse_from_rfc3339(row["EventTime"].as_str().unwrap()).unwrap();
    assert!(time >= before && time <= chrono::Utc::now());
    assert_eq!(row["EventTime"], row["ReceivedTime"]);
}

#[actix_web::test]
async fn tables_can_be_renamed_by_settings() {
    let app = crate::helpers::spawn_app_with(&[("SKYTAP_AUDIT_TABLE", "Skytap_Audit_v2")]).await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.json["table"], "Skytap_Audit_v2");
    assert_eq!(app.azure.accepted()[0].log_type, "Skytap_Audit_v2");
}
