//! Azure Monitor action-group alerts: common alert schema, activity-log and legacy metric alerts.
//!
//! See <https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema> and
//! <https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-non-common-schema-definitions>.

use chrono::{DateTime, Utc};

use crate::schema::{Batch, Provenance, Row, Table};
use crate::sources::json::{self, Json, PayloadError};

pub const COMMON_SCHEMA: &str = "azureMonitorCommonAlertSchema";
pub const ACTIVITY_LOG_SCHEMA: &str = "Microsoft.Insights/activityLogs";
pub const METRIC_ALERT_SCHEMA: &str = "AzureMonitorMetricAlert";

/// Turns an alert into one row, by `schemaId`.
pub fn rows(alert: &Json<'_>, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    let schema = json::required_text(alert, "/schemaId")?;
    let row = match schema {
        COMMON_SCHEMA => common_alert(alert, received)?,
        ACTIVITY_LOG_SCHEMA => activity_log_alert(alert, received)?,
        METRIC_ALERT_SCHEMA => metric_alert(alert, received)?,
        other => {
            return Err(json::unexpected(
                "/schemaId",
                other,
                "`azureMonitorCommonAlertSchema`, `Microsoft.Insights/activityLogs` or `AzureMonitorMetricAlert`",
            ))
        }
    };
    // alertId + condition (common schema), eventDataId (activity log) or rule id + condition
    // (metric), each with the event's time: what a retry repeats and a new firing does not.
    let text = |column| row.text_of(column).unwrap_or_default();
    let key = format!(
        "azuremonitor:{}:{}:{}",
        text("MessageId"),
        text("MonitorCondition"),
        text("EventTime")
    );
    Ok(Batch {
        table: Table::AzureMonitor,
        rows: vec![row],
        key,
    })
}

fn common_alert(alert: &Json<'_>, received: DateTime<Utc>) -> Result<Row, PayloadError> {
    let essentials = json::required_object(alert, "/data/essentials")?;
    let alert_id = json::required_text(alert, "/data/essentials/alertId")?;
    let condition = json::required_text(alert, "/data/essentials/monitorCondition")?;
    let fired = json::required_time(alert, "/data/essentials/firedDateTime")?;
    let resolved = json::time(alert, "/data/essentials/resolvedDateTime");
    let event_time = match condition {
        "Resolved" => resolved.unwrap_or(fired),
        _ => fired,
    };
    let target = json::text(essentials, "/alertTargetIDs/0");
    let context = json::at(alert, "/data/alertContext").unwrap_or(&Json::Null);
    let mut row = start(alert, alert_id, received, event_time);
    row.text("AlertId", Some(alert_id))
        .text("AlertRule", json::text(essentials, "/alertRule"))
        .text("AlertRuleId", rule_id(essentials))
        .text("Severity", json::text(essentials, "/severity"))
        .text("SignalType", json::text(essentials, "/signalType"))
        .text("MonitorCondition", Some(condition))
        .text(
            "MonitoringService",
            json::text(essentials, "/monitoringService"),
        )
        .text("Description", json::text(essentials, "/description"))
        .time("FiredTime", Some(fired))
        .time("ResolvedTime", resolved)
        .text("TargetResourceId", target)
        .text(
            "TargetResourceGroup",
            json::text(essentials, "/targetResourceGroup"),
        )
        .text(
            "TargetResourceType",
            json::text(essentials, "/targetResourceType"),
        )
        .text("SubscriptionId", target.and_then(subscription_of))
        .dynamic(
            "CustomProperties",
            json::at(alert, "/data/customProperties"),
        );
    activity_columns(&mut row, context);
    Ok(row)
}

fn activity_log_alert(alert: &Json<'_>, received: DateTime<Utc>) -> Result<Row, PayloadError> {
    let event = json::required_object(alert, "/data/context/activityLog")?;
    let event_id = json::required_text(alert, "/data/context/activityLog/eventDataId")?;
    let time = json::required_time(alert, "/data/context/activityLog/eventTimestamp")?;
    let mut row = start(alert, event_id, received, time);
    row.text("SignalType", Some("Activity Log"))
        .text(
            "MonitorCondition",
            Some(condition(json::text(alert, "/data/status"))),
        )
        .text("Description", json::text(event, "/description"))
        .time("FiredTime", Some(time))
        .text("TargetResourceId", json::text(event, "/resourceId"))
        .text(
            "TargetResourceGroup",
            json::text(event, "/resourceGroupName"),
        )
        .text("TargetResourceType", json::text(event, "/resourceType"))
        .text("SubscriptionId", json::text(event, "/subscriptionId"))
        .dynamic("CustomProperties", json::at(alert, "/data/properties"));
    activity_columns(&mut row, event);
    Ok(row)
}

fn metric_alert(alert: &Json<'_>, received: DateTime<Utc>) -> Result<Row, PayloadError> {
    let context = json::required_object(alert, "/data/context")?;
    let rule_id = json::required_text(alert, "/data/context/id")?;
    let time = json::required_time(alert, "/data/context/timestamp")?;
    let condition = condition(json::text(alert, "/data/status"));
    let severity = json::text(context, "/severity").map(|s| format!("Sev{s}"));
    let mut row = start(alert, rule_id, received, time);
    row.text("AlertRule", json::text(context, "/name"))
        .text("AlertRuleId", Some(rule_id))
        .text("Severity", severity.as_deref())
        .text("SignalType", Some("Metric"))
        .text("MonitorCondition", Some(condition))
        .text("Description", json::text(context, "/description"))
        .time("FiredTime", (condition == "Fired").then_some(time))
        .time("ResolvedTime", (condition == "Resolved").then_some(time))
        .text("TargetResourceId", json::text(context, "/resourceId"))
        .text(
            "TargetResourceGroup",
            json::text(context, "/resourceGroupName"),
        )
        .text("TargetResourceType", json::text(context, "/resourceType"))
        .text("SubscriptionId", json::text(context, "/subscriptionId"))
        .dynamic("CustomProperties", json::at(alert, "/data/properties"));
    Ok(row)
}

/// The columns every schema fills the same way.
fn start(alert: &Json<'_>, message_id: &str, received: DateTime<Utc>, time: DateTime<Utc>) -> Row {
    let provenance = Provenance {
        source: "azuremonitor",
        message_id: Some(message_id.to_owned()),
        received,
    };
    let mut row = Row::new(Table::AzureMonitor, &provenance, time);
    row.text("SchemaId", json::text(alert, "/schemaId"))
        .raw_event_of(alert);
    row
}

/// Activity-log fields, found in `activityLog` (legacy) or `alertContext` (common schema).
fn activity_columns(row: &mut Row, event: &Json<'_>) {
    row.text("EventSource", json::text(event, "/eventSource"))
        .text("OperationName", json::text(event, "/operationName"))
        .text("Level", json::text(event, "/level"))
        .text("Status", json::text(event, "/status"))
        .text("Caller", json::text(event, "/caller"));
}

/// `alertRuleID` and `alertRuleId` both occur in Microsoft's documents.
fn rule_id<'v>(essentials: &'v Json<'_>) -> Option<&'v str> {
    let Json::Object(members) = essentials else {
        return None;
    };
    members
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("alertRuleId"))
        .and_then(|(key, _)| essentials.get(key))
        .and_then(Json::as_str)
}

/// Legacy schemas say `Activated`; the common schema says `Fired`. One vocabulary for queries.
fn condition(status: Option<&str>) -> &'static str {
    match status {
        Some(s) if s.eq_ignore_ascii_case("resolved") || s.eq_ignore_ascii_case("deactivated") => {
            "Resolved"
        }
        _ => "Fired",
    }
}

fn subscription_of(resource_id: &str) -> Option<&str> {
    let mut parts = resource_id.split('/');
    parts.find(|p| p.eq_ignore_ascii_case("subscriptions"))?;
    parts.next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subscription_is_read_from_a_resource_id() {
        assert_eq!(
            subscription_of("/subscriptions/abc/resourcegroups/rg/providers/x"),
            Some("abc")
        );
        assert_eq!(subscription_of("/providers/x"), None);
    }

    #[test]
    fn legacy_statuses_map_to_fired_or_resolved() {
        assert_eq!(condition(Some("Activated")), "Fired");
        assert_eq!(condition(Some("Resolved")), "Resolved");
        assert_eq!(condition(None), "Fired");
    }

    #[test]
    fn a_common_alert_without_fired_time_names_the_field() {
        let alert = json!({"schemaId": COMMON_SCHEMA, "data": {"essentials": {"alertId": "a", "monitorCondition": "Fired"}}});
        let error = rows(&json::tree(&alert), Utc::now())
            .unwrap_err()
            .to_string();
        assert_eq!(error, "`data.essentials.firedDateTime` is missing");
    }

    #[test]
    fn an_unknown_schema_is_named() {
        let alert = json!({"schemaId": "Other"});
        let error = rows(&json::tree(&alert), Utc::now())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("`schemaId` is `Other`"), "{error}");
    }
}
