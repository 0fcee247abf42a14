//! Every table's declared columns, in order.

use super::{Column, ColumnType, EVENT_TIME, TIME_GENERATED};

pub(super) const fn col(name: &'static str, kind: ColumnType, description: &'static str) -> Column {
    Column {
        name,
        kind,
        description,
    }
}

use ColumnType::{DateTime as Dt, Dynamic, Long, Real, String as Str};

/// Columns that every table starts with: time and provenance. Each table adds its own after them.
pub(super) const COMMON: [Column; 5] = [
    col(
        TIME_GENERATED,
        Dt,
        "The event's own time (see each source).",
    ),
    col(
        EVENT_TIME,
        Dt,
        "Same as TimeGenerated, kept as a column of its own.",
    ),
    col(
        "ReceivedTime",
        Dt,
        "When the handler received the webhook (UTC).",
    ),
    col(
        "Source",
        Str,
        "skytap, auditwolf, azuremonitor or stackstate.",
    ),
    col("MessageId", Str, "The sender's id of the message or event."),
];

/// Names the columns the handler shortened to fit Log Analytics' limits; absent when none were.
pub const TRUNCATED: Column = col(
    "Truncated",
    Str,
    "Columns shortened to fit Log Analytics limits (comma-separated); empty when none.",
);

/// Appended to a value the handler shortened, so the cut is visible in the data itself.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// The last column of every table: the complete original event.
pub(super) const RAW_EVENT: Column = col(
    "RawEvent",
    Str,
    "The complete original event as JSON text, so no field is lost.",
);

pub(super) const SKYTAP_AUDIT: [Column; 10] = [
    col("MessageVersion", Long, "Envelope `version`."),
    col("Category", Str, "Envelope `category` (`auditing`)."),
    col("EventId", Str, "Item `id`."),
    col("ActionTime", Dt, "Item `date` converted to ISO 8601 UTC."),
    col("AuditType", Str, "Item `type`, e.g. `Run Environment`."),
    col(
        "TypeCode",
        Str,
        "Item `type_code`, e.g. `FailedUserLoginHistory`.",
    ),
    col("User", Str, "Item `user`."),
    col("Region", Str, "Item `region`, e.g. `prod/tuk1r1`."),
    col("IpAddress", Str, "Item `ip_address`."),
    col(
        "OperatedOn",
        Dynamic,
        "Item `operated_on`: `[{resource_type, id}]`.",
    ),
];

pub(super) const SKYTAP_USAGE: [Column; 8] = [
    col("MessageVersion", Long, "Envelope `version`."),
    col("Category", Str, "Envelope `category` (`usage`)."),
    col("EventId", Str, "Item `id`."),
    col(
        "UsageType",
        Str,
        "Item `type`: `svms`, `svms_power`, `storage_size`, …",
    ),
    col("Region", Str, "Item `region`, e.g. `prod/dal1r1`."),
    col(
        "StartTime",
        Dt,
        "Item `start_time` converted to ISO 8601 UTC.",
    ),
    col(
        "EndTime",
        Dt,
        "Item `end_time` converted; empty while still running.",
    ),
    col("Value", Real, "Item `value`."),
];

pub(super) const AUDITWOLF: [Column; 9] = [
    col("AccountId", Str, "`awid`, the AuditWolf account."),
    col(
        "ObjectId",
        Str,
        "`objectid`, the task, resource or cost object.",
    ),
    col(
        "EventType",
        Str,
        "`type`, e.g. `task.create`, `costs.overrun`.",
    ),
    col("Severity", Str, "`severity`: HIGH, MEDIUM, LOW or INFO."),
    col("SubscriptionId", Str, "`subscriptionId`."),
    col("ResourceId", Str, "`resourceId`."),
    col("ResourceName", Str, "`resourceName`."),
    col("Summary", Str, "`summary`."),
    col("Uri", Str, "`uri`, link to the AuditWolf portal."),
];

pub(super) const AZURE_MONITOR: [Column; 21] = [
    col("SchemaId", Str, "`schemaId` of the payload."),
    col("AlertId", Str, "Common schema `essentials.alertId`."),
    col("AlertRule", Str, "Alert rule name."),
    col("AlertRuleId", Str, "Alert rule resource id, where sent."),
    col("Severity", Str, "Sev0 … Sev4."),
    col("SignalType", Str, "Metric, Log or Activity Log."),
    col(
        "MonitorCondition",
        Str,
        "Fired or Resolved, for every schema.",
    ),
    col(
        "MonitoringService",
        Str,
        "Common schema `monitoringService`.",
    ),
    col("Description", Str, "Rule or event description."),
    col("FiredTime", Dt, "When the alert fired."),
    col("ResolvedTime", Dt, "When the alert resolved."),
    col("TargetResourceId", Str, "The affected resource."),
    col("TargetResourceGroup", Str, "Its resource group."),
    col("TargetResourceType", Str, "Its resource type."),
    col("SubscriptionId", Str, "Its subscription."),
    col("EventSource", Str, "Activity log `eventSource`."),
    col("OperationName", Str, "Activity log `operationName`."),
    col("Level", Str, "Activity log `level`."),
    col("Status", Str, "Activity log `status`."),
    col("Caller", Str, "Activity log `caller`."),
    col("CustomProperties", Dynamic, "The rule's custom properties."),
];

pub(super) const STACKSTATE: [Column; 14] = [
    col(
        "NotificationId",
        Str,
        "`notificationId`: same for open, updates, close.",
    ),
    col("EventType", Str, "`event.type`: open or close."),
    col(
        "State",
        Str,
        "`event.state` on open: DEVIATING or CRITICAL.",
    ),
    col("EventTitle", Str, "`event.title` on open."),
    col("Reason", Str, "`event.reason`, e.g. HealthStateResolved."),
    col("TriggeredTime", Dt, "`event.triggeredTimeMs` as a time."),
    col("MonitorName", Str, "`monitor.name`."),
    col("MonitorIdentifier", Str, "`monitor.identifier`."),
    col("ComponentName", Str, "`component.name`."),
    col("ComponentIdentifier", Str, "`component.identifier`."),
    col("ComponentType", Str, "`component.type`."),
    col("ComponentTags", Dynamic, "`component.tags`."),
    col(
        "NotificationConfiguration",
        Str,
        "`notificationConfiguration.name`.",
    ),
    col("Metadata", Dynamic, "Channel `metadata` (or `tags`)."),
];
