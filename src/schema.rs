//! The Log Analytics tables this handler writes, their columns, and the row model: one source of truth.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A column's type, named as Log Analytics names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    String,
    DateTime,
    Real,
    Long,
    Dynamic,
}

impl ColumnType {
    /// The type name used in table and DCR stream declarations.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::DateTime => "datetime",
            ColumnType::Real => "real",
            ColumnType::Long => "long",
            ColumnType::Dynamic => "dynamic",
        }
    }
}

/// One declared column of a table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    pub description: &'static str,
}

const fn col(name: &'static str, kind: ColumnType, description: &'static str) -> Column {
    Column {
        name,
        kind,
        description,
    }
}

/// The column every table carries as `TimeGenerated`: the event's own time.
pub const TIME_GENERATED: &str = "TimeGenerated";
/// The event's own time as an ordinary column, kept when Azure replaces `TimeGenerated`.
pub const EVENT_TIME: &str = "EventTime";

use ColumnType::{DateTime as Dt, Dynamic, Long, Real, String as Str};

/// Columns that every table starts with: time and provenance.
const COMMON: [Column; 5] = [
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
const RAW_EVENT: Column = col(
    "RawEvent",
    Str,
    "The complete original event as JSON text, so no field is lost.",
);

const SKYTAP_AUDIT: [Column; 15] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    col("MessageVersion", Long, "Envelope `version`."),
    col("Category", Str, "Envelope `category` (`auditing`)."),
    col("EventId", Str, "Item `id`."),
    col("ActionTime", Dt, "Item `date` converted to ISO 8601 UTC."),
    col("Type", Str, "Item `type`, e.g. `Run Environment`."),
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

const SKYTAP_USAGE: [Column; 13] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    col("MessageVersion", Long, "Envelope `version`."),
    col("Category", Str, "Envelope `category` (`usage`)."),
    col("EventId", Str, "Item `id`."),
    col(
        "Type",
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

const AUDITWOLF: [Column; 14] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
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

const AZURE_MONITOR: [Column; 26] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
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

const STACKSTATE: [Column; 19] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
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
    col("Title", Str, "`event.title` on open."),
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

/// The tables this handler writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    SkytapAudit,
    SkytapUsage,
    AuditWolf,
    AzureMonitor,
    StackState,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::SkytapAudit,
        Table::SkytapUsage,
        Table::AuditWolf,
        Table::AzureMonitor,
        Table::StackState,
    ];

    /// The setting that names this table.
    pub fn setting(self) -> &'static str {
        match self {
            Table::SkytapAudit => "SKYTAP_AUDIT_TABLE",
            Table::SkytapUsage => "SKYTAP_USAGE_TABLE",
            Table::AuditWolf => "AUDITWOLF_TABLE",
            Table::AzureMonitor => "AZURE_MONITOR_TABLE",
            Table::StackState => "STACKSTATE_TABLE",
        }
    }

    /// The setting that overrides this table's Logs Ingestion stream (`Custom-<Table>_CL`).
    pub fn stream_setting(self) -> &'static str {
        match self {
            Table::SkytapAudit => "SKYTAP_AUDIT_STREAM",
            Table::SkytapUsage => "SKYTAP_USAGE_STREAM",
            Table::AuditWolf => "AUDITWOLF_STREAM",
            Table::AzureMonitor => "AZURE_MONITOR_STREAM",
            Table::StackState => "STACKSTATE_STREAM",
        }
    }

    /// The table name used when its setting is absent.
    pub fn default_name(self) -> &'static str {
        match self {
            Table::SkytapAudit => "SkytapAudit",
            Table::SkytapUsage => "SkytapUsage",
            Table::AuditWolf => "AuditWolf",
            Table::AzureMonitor => "AzureMonitorAlerts",
            Table::StackState => "StackStateNotifications",
        }
    }

    /// Every column of the table, in order, ending with `Truncated` and `RawEvent`.
    pub fn columns(self) -> impl Iterator<Item = &'static Column> {
        let own: &'static [Column] = match self {
            Table::SkytapAudit => &SKYTAP_AUDIT,
            Table::SkytapUsage => &SKYTAP_USAGE,
            Table::AuditWolf => &AUDITWOLF,
            Table::AzureMonitor => &AZURE_MONITOR,
            Table::StackState => &STACKSTATE,
        };
        own.iter().chain([&TRUNCATED, &RAW_EVENT])
    }

    /// The declared column with this name, if any.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().find(|c| c.name == name)
    }
}

/// The Azure side of the schema: custom tables, DCR stream declarations and data flows, under the
/// given table names. `handler schema` prints it; the DCR and tables are created from it.
pub fn declarations(name_of: impl Fn(Table) -> String) -> Value {
    let mut tables = Map::new();
    let mut streams = Map::new();
    let mut flows = Vec::new();
    for table in Table::ALL {
        let columns: Vec<Value> = table
            .columns()
            .map(|c| serde_json::json!({ "name": c.name, "type": c.kind.as_str() }))
            .collect();
        let name = format!("{}_CL", name_of(table));
        let stream = format!("Custom-{name}");
        tables.insert(name.clone(), Value::from(columns.clone()));
        streams.insert(stream.clone(), serde_json::json!({ "columns": columns }));
        flows.push(serde_json::json!({
            "streams": [stream],
            "destinations": ["workspace"],
            "transformKql": "source",
            "outputStream": format!("Custom-{name}"),
        }));
    }
    serde_json::json!({ "tables": tables, "streamDeclarations": streams, "dataFlows": flows })
}

/// A Log Analytics table name: letters, digits and `_`, at most 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if name.is_empty() || name.len() > 100 || !valid_chars {
            return Err(format!(
                "`{name}` is not a table name: use 1 to 100 letters, digits or `_`"
            ));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("`{name}` must start with a letter"));
        }
        Ok(TableName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats a time as ISO 8601 UTC with a `Z`, as Log Analytics expects.
pub fn iso8601(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One row of one table. Only declared columns can be set; empty values are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    table: Table,
    values: Map<String, Value>,
}

impl Row {
    /// Starts a row with the time and provenance columns every table has.
    pub fn new(table: Table, provenance: &Provenance, event_time: DateTime<Utc>) -> Self {
        let mut row = Row {
            table,
            values: Map::new(),
        };
        row.time(TIME_GENERATED, Some(event_time));
        row.time(EVENT_TIME, Some(event_time));
        row.time("ReceivedTime", Some(provenance.received));
        row.text("Source", Some(provenance.source));
        row.text("MessageId", provenance.message_id.as_deref());
        row
    }

    /// Rebuilds a row from stored values (a spilled message); undeclared columns are dropped.
    pub fn from_values(table: Table, mut values: Map<String, Value>) -> Self {
        values.retain(|name, _| table.column(name).is_some());
        Row { table, values }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Sets a `string` column.
    pub fn text(&mut self, column: &'static str, value: Option<&str>) -> &mut Self {
        self.set(column, ColumnType::String, value.map(Value::from))
    }

    /// Sets a `datetime` column.
    pub fn time(&mut self, column: &'static str, value: Option<DateTime<Utc>>) -> &mut Self {
        self.set(
            column,
            ColumnType::DateTime,
            value.map(|t| iso8601(t).into()),
        )
    }

    /// Sets a `real` column.
    pub fn real(&mut self, column: &'static str, value: Option<f64>) -> &mut Self {
        self.set(column, ColumnType::Real, value.map(Value::from))
    }

    /// Sets a `long` column.
    pub fn long(&mut self, column: &'static str, value: Option<i64>) -> &mut Self {
        self.set(column, ColumnType::Long, value.map(Value::from))
    }

    /// Sets a `dynamic` column to a JSON value.
    pub fn dynamic(&mut self, column: &'static str, value: Option<&Value>) -> &mut Self {
        self.set(column, ColumnType::Dynamic, value.cloned())
    }

    /// Sets `RawEvent` to the event's complete JSON text.
    pub fn raw_event(&mut self, event: &Value) -> &mut Self {
        self.set(RAW_EVENT.name, Str, Some(Value::from(event.to_string())))
    }

    fn set(&mut self, column: &'static str, kind: ColumnType, value: Option<Value>) -> &mut Self {
        debug_assert_eq!(
            self.table.column(column).map(|c| c.kind),
            Some(kind),
            "{column} is not a {kind:?} column of {:?}",
            self.table
        );
        match value {
            Some(Value::Null) | None => self.values.remove(column),
            Some(value) => self.values.insert(column.to_owned(), value),
        };
        self
    }

    /// The value of a column, if set.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.values.get(column)
    }

    /// The row's columns and values.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Shortens every value whose JSON text is longer than `max_bytes`, marking each cut with
    /// [`TRUNCATION_MARKER`] and naming it in the `Truncated` column. Returns whether anything changed.
    pub fn truncate_fields(&mut self, max_bytes: usize) -> bool {
        let mut cut = Vec::new();
        for (name, value) in self.values.iter_mut() {
            let text = match value {
                Value::String(text) if text.len() > max_bytes => std::mem::take(text),
                Value::Array(_) | Value::Object(_) if value.to_string().len() > max_bytes => {
                    value.to_string()
                }
                _ => continue,
            };
            let keep = text.floor_char_boundary(max_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            *value = Value::String(format!("{}{TRUNCATION_MARKER}", &text[..keep]));
            cut.push(name.clone());
        }
        if cut.is_empty() {
            return false;
        }
        if let Some(Value::String(earlier)) = self.values.get(TRUNCATED.name) {
            cut.extend(earlier.split(',').map(str::to_owned));
        }
        cut.sort();
        cut.dedup();
        self.values
            .insert(TRUNCATED.name.to_owned(), Value::String(cut.join(",")));
        true
    }

    /// Serialises the row without one column (the Data Collector API reserves `TimeGenerated`).
    pub fn without(&self, column: &'static str) -> impl Serialize + '_ {
        RowWithout { row: self, column }
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(serializer)
    }
}

struct RowWithout<'a> {
    row: &'a Row,
    column: &'static str,
}

impl Serialize for RowWithout<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.row.values.iter().filter(|(k, _)| *k != self.column) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Where a row came from: the same for every row of one webhook.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub source: &'static str,
    pub message_id: Option<String>,
    pub received: DateTime<Utc>,
}

/// The rows one webhook produced, all for one table.
#[derive(Clone, Debug)]
pub struct Batch {
    pub table: Table,
    pub rows: Vec<Row>,
    /// What identifies this webhook when the sender repeats it (see `dedup`).
    pub key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_the_log_type_rules() {
        assert!(TableName::parse("SkytapAudit").is_ok());
        assert!(TableName::parse("Audit_2").is_ok());
        assert!(TableName::parse(&"a".repeat(100)).is_ok());
        assert!(TableName::parse(&"a".repeat(101)).is_err());
        assert!(TableName::parse("").is_err());
        assert!(TableName::parse("bad-name").is_err());
        assert!(TableName::parse("2Audit").is_err());
    }

    #[test]
    fn every_table_has_time_provenance_and_raw_event_columns_with_valid_names() {
        for table in Table::ALL {
            let names: Vec<_> = table.columns().map(|c| c.name).collect();
            for required in [
                TIME_GENERATED,
                EVENT_TIME,
                "ReceivedTime",
                "Source",
                "MessageId",
            ] {
                assert!(names.contains(&required), "{table:?} lacks {required}");
            }
            assert_eq!(names[names.len() - 2..], ["Truncated", "RawEvent"]);
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{table:?} repeats a column");
            for name in names {
                assert!(name.len() <= 45 && name.chars().all(|c| c.is_ascii_alphanumeric()));
            }
        }
    }

    #[test]
    fn declarations_name_every_table_stream_and_flow() {
        let d = declarations(|t| t.default_name().to_owned());
        let columns = &d["streamDeclarations"]["Custom-SkytapAudit_CL"]["columns"];
        assert_eq!(
            columns[0],
            serde_json::json!({"name": "TimeGenerated", "type": "datetime"})
        );
        assert_eq!(
            d["tables"]["StackStateNotifications_CL"]
                .as_array()
                .unwrap()
                .len(),
            21
        );
        assert_eq!(d["dataFlows"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary_with_a_visible_marker() {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: None,
            received: Utc::now(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Summary", Some(&"é".repeat(1000)))
            .text("Uri", Some("short"));
        assert!(row.truncate_fields(100));
        let summary = row.get("Summary").unwrap().as_str().unwrap();
        assert!(summary.len() <= 100 && summary.ends_with(TRUNCATION_MARKER));
        assert_eq!(row.get("Uri").unwrap(), "short");
        assert_eq!(row.get("Truncated").unwrap(), "Summary");
        assert!(!row.truncate_fields(100), "a second pass changes nothing");
    }

    #[test]
    fn a_row_leaves_out_empty_values_and_can_drop_time_generated() {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: None,
            received: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Severity", None).text("Summary", Some("s"));
        assert!(row.get("Severity").is_none() && row.get("MessageId").is_none());
        let text = serde_json::to_string(&row.without(TIME_GENERATED)).unwrap();
        assert!(!text.contains(TIME_GENERATED) && text.contains("\"Summary\":\"s\""));
    }
}
