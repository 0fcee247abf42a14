//! The Log Analytics tables this handler writes, their columns, and the row model: one source of truth.

mod columns;
mod row;

use std::fmt;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use columns::{
    AUDITWOLF, AZURE_MONITOR, COMMON, RAW_EVENT, SKYTAP_AUDIT, SKYTAP_USAGE, STACKSTATE,
};
pub use columns::{TRUNCATED, TRUNCATION_MARKER};
pub use row::{json_plain, writable, write_escaped, write_text, Batch, Provenance, Row, WriteJson};

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
    /// The type name in DCR stream declarations (and KQL).
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::DateTime => "datetime",
            ColumnType::Real => "real",
            ColumnType::Long => "long",
            ColumnType::Dynamic => "dynamic",
        }
    }

    /// The type name in the workspace Tables API, which spells `dateTime` in camel case.
    pub fn table_api_name(self) -> &'static str {
        match self {
            ColumnType::DateTime => "dateTime",
            other => other.as_str(),
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

/// The column every table carries as `TimeGenerated`: the event's own time.
pub const TIME_GENERATED: &str = "TimeGenerated";
/// The event's own time as an ordinary column, kept when Azure replaces `TimeGenerated`.
pub const EVENT_TIME: &str = "EventTime";

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

    /// The table's place in [`Table::ALL`], for what is kept per table in that order.
    pub fn index(self) -> usize {
        Table::ALL
            .iter()
            .position(|t| *t == self)
            .expect("every table is in Table::ALL")
    }

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
        self.column_list().iter().copied()
    }

    /// The columns as one list, made once per table: every value a source sets looks its
    /// column up here, and walking one list costs less than walking three joined.
    fn column_list(self) -> &'static [&'static Column] {
        static LISTS: LazyLock<[Vec<&'static Column>; 5]> = LazyLock::new(|| {
            Table::ALL.map(|table| {
                let own: &'static [Column] = match table {
                    Table::SkytapAudit => &SKYTAP_AUDIT,
                    Table::SkytapUsage => &SKYTAP_USAGE,
                    Table::AuditWolf => &AUDITWOLF,
                    Table::AzureMonitor => &AZURE_MONITOR,
                    Table::StackState => &STACKSTATE,
                };
                COMMON
                    .iter()
                    .chain(own)
                    .chain([&TRUNCATED, &RAW_EVENT])
                    .collect()
            })
        });
        // `Table::ALL` is in declaration order (a test checks), so a table's number is its index.
        &LISTS[self as usize]
    }

    /// The declared column with this name, if any.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.position(name).map(|(_, column)| column)
    }

    /// The position among [`Table::columns`] and declaration of the column with this name.
    pub fn position(self, name: &str) -> Option<(usize, &'static Column)> {
        let columns = self.column_list();
        let at = columns.iter().position(|c| c.name == name)?;
        Some((at, columns[at]))
    }
}

/// The Azure side of the schema: custom tables, DCR stream declarations and data flows, under the
/// given table names. `handler schema` prints it; the DCR and tables are created from it.
pub fn declarations(name_of: impl Fn(Table) -> String) -> Value {
    let mut tables = Map::new();
    let mut streams = Map::new();
    let mut flows = Vec::new();
    for table in Table::ALL {
        let stream_columns: Vec<Value> = table
            .columns()
            .map(|c| serde_json::json!({ "name": c.name, "type": c.kind.as_str() }))
            .collect();
        let table_columns: Vec<Value> = table
            .columns()
            .map(|c| {
                let description = c.description.replace('`', "");
                serde_json::json!({ "name": c.name, "type": c.kind.table_api_name(), "description": description })
            })
            .collect();
        let name = format!("{}_CL", name_of(table));
        let stream = format!("Custom-{name}");
        tables.insert(name.clone(), Value::from(table_columns));
        streams.insert(
            stream.clone(),
            serde_json::json!({ "columns": stream_columns }),
        );
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
        if let Some(stem) = name
            .len()
            .checked_sub(3)
            .filter(|&at| name[at..].eq_ignore_ascii_case("_CL"))
            .map(|at| &name[..at])
        {
            return Err(format!(
                "`{name}` ends in `_CL`: give the name without it (`{stem}`); the suffix of custom tables is added"
            ));
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

/// The configured name of every table.
#[derive(Clone, Debug)]
pub struct TableNames(std::collections::HashMap<Table, TableName>);

impl TableNames {
    /// Names for every table; a table missing from `names` keeps its default name.
    pub fn new(mut names: std::collections::HashMap<Table, TableName>) -> Self {
        for table in Table::ALL {
            names.entry(table).or_insert_with(|| {
                TableName::parse(table.default_name()).expect("default names are valid")
            });
        }
        TableNames(names)
    }

    pub fn name(&self, table: Table) -> &TableName {
        &self.0[&table]
    }
}

#[cfg(test)]
mod tests {
    use super::row::iso8601;
    use super::*;

    /// An AuditWolf webhook's provenance, received at the epoch.
    fn auditwolf() -> Provenance {
        Provenance {
            source: "auditwolf",
            message_id: None,
            received: DateTime::from_timestamp(0, 0).unwrap(),
        }
    }
    use chrono::{DateTime, Utc};

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        for _ in 0..20_000 {
            // Mostly the years 0000 to 9999, which are written by hand; some far outside.
            let seconds = match next() % 4 {
                0 => (next() % (2 * max as u64)) as i64 - max,
                _ => (next() % 315_569_520_000) as i64 - 62_167_219_200,
            };
            // Whole seconds, milli-, micro- and nanoseconds, each a quarter of the time.
            let nanos = match next() % 4 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            let Some(time) = DateTime::from_timestamp(seconds, nanos) else {
                continue;
            };
            let chrono = time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            assert_eq!(iso8601(time), chrono);
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(iso8601(leap), "2016-12-31T23:59:60.500Z");
        assert_eq!(
            iso8601(DateTime::from_timestamp(0, 0).unwrap()),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn table_names_follow_the_log_type_rules() {
        assert!(TableName::parse("SkytapAudit").is_ok());
        assert!(TableName::parse("Audit_2").is_ok());
        assert!(TableName::parse(&"a".repeat(100)).is_ok());
        assert!(TableName::parse(&"a".repeat(101)).is_err());
        assert!(TableName::parse("").is_err());
        assert!(TableName::parse("bad-name").is_err());
        assert!(TableName::parse("2Audit").is_err());
        let suffixed = TableName::parse("Skytap_CL").unwrap_err();
        assert!(suffixed.contains("`Skytap`"), "{suffixed}");
        assert!(TableName::parse("Skytap_cl").is_err());
        assert!(TableName::parse("_CL").is_err());
        assert!(TableName::parse("Skytap_CLx").is_ok());
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
    fn no_table_or_stream_declares_a_reserved_or_standard_column() {
        // Reserved by Logs Ingestion and custom tables, and the standard columns Log Analytics
        // adds to every table itself (TimeGenerated is the one every table must declare).
        const NOT_DECLARABLE: [&str; 11] = [
            "_ResourceId",
            "id",
            "_SubscriptionId",
            "TenantId",
            "Type",
            "UniqueId",
            "Title",
            "_ItemId",
            "_IsBillable",
            "_BilledSize",
            "_TimeReceived",
        ];
        let d = declarations(|t| t.default_name().to_owned());
        let declared = d["tables"]
            .as_object()
            .unwrap()
            .values()
            .chain(
                d["streamDeclarations"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|s| &s["columns"]),
            )
            .flat_map(|columns| columns.as_array().unwrap())
            .map(|column| column["name"].as_str().unwrap().to_owned());
        for name in declared {
            assert!(
                !NOT_DECLARABLE.iter().any(|r| r.eq_ignore_ascii_case(&name)),
                "`{name}` is reserved or standard in Log Analytics"
            );
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
        let provenance = auditwolf();
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Summary", Some(&"é".repeat(1000)))
            .text("Uri", Some("short"));
        assert!(row.truncate_fields(100));
        let summary = row.text_of("Summary").unwrap();
        assert!(summary.len() <= 100 && summary.ends_with(TRUNCATION_MARKER));
        assert_eq!(row.get("Uri").unwrap(), "short");
        assert_eq!(row.get("Truncated").unwrap(), "Summary");
        assert!(!row.truncate_fields(100), "a second pass changes nothing");
    }

    /// Found by the `bodies` fuzz target: a row that came with a long `Truncated` of its own
    /// (as a spilled row may) kept it over the limit after the list was rebuilt.
    #[test]
    fn a_long_truncated_list_is_cut_like_any_value() {
        let provenance = auditwolf();
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Truncated", Some(&"x".repeat(1000)));
        assert!(row.truncate_fields(100));
        for (name, value) in row.cells() {
            let text = value.as_str().unwrap_or_default();
            assert!(text.len() <= 100, "{name} is {} bytes", text.len());
        }
    }

    #[test]
    fn a_row_leaves_out_empty_values_and_can_drop_time_generated() {
        let provenance = auditwolf();
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Severity", None).text("Summary", Some("s"));
        assert!(row.get("Severity").is_none() && row.get("MessageId").is_none());
        let text = String::from_utf8(row.to_json(Some(TIME_GENERATED))).unwrap();
        assert!(!text.contains(TIME_GENERATED) && text.contains("\"Summary\":\"s\""));
        // Written by hand, read as serde_json writes it, escapes included.
        row.raw_event(r#"{"quote":"\"","tab":"\t"}"#);
        assert_eq!(row.to_json(None), serde_json::to_vec(&row).unwrap());
    }

    #[test]
    fn every_table_finds_each_of_its_columns_where_it_lists_it() {
        for (index, table) in Table::ALL.into_iter().enumerate() {
            assert_eq!(table as usize, index);
            for (position, column) in table.columns().enumerate() {
                let (found, declared) = table.position(column.name).unwrap();
                assert!(found == position && std::ptr::eq(declared, column));
            }
            assert!(table.position("NoSuchColumn").is_none());
        }
        assert_eq!(
            Table::AuditWolf.columns().last().unwrap().name,
            RAW_EVENT.name
        );
    }

    #[test]
    fn raw_event_reads_back_as_the_text_it_was_set_to_however_it_was_set() {
        let provenance = auditwolf();
        let json = r#"{"quote":"\"","back":"\\","é":"\u0001"}"#;
        let mut plain = Row::new(Table::AuditWolf, &provenance, provenance.received);
        plain.raw_event(json);
        let mut written = plain.clone();
        let event: serde_json::Value = serde_json::from_str(json).unwrap();
        written.raw_event_of(&event);
        assert_eq!(plain, written);
        assert_eq!(plain.text_of("RawEvent").unwrap(), json);
        assert_eq!(plain.get("RawEvent").unwrap(), json);
        assert_eq!(plain.to_json(None), serde_json::to_vec(&plain).unwrap());
        // A spilled row comes back equal, RawEvent included.
        let written: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&plain.to_json(None)).unwrap();
        assert_eq!(Row::from_values(Table::AuditWolf, written), plain);
    }

    #[test]
    fn a_long_raw_event_is_cut_like_any_text() {
        let provenance = auditwolf();
        let mut row = Row::new(Table::AuditWolf, &provenance, provenance.received);
        // Escaping doubles every quote: 120 escaped bytes stand for 60, within a 100-byte limit.
        row.raw_event(&"\"".repeat(60));
        assert!(!row.truncate_fields(100));
        row.raw_event(&"\"".repeat(150));
        assert!(row.truncate_fields(100));
        let cut = row.text_of("RawEvent").unwrap();
        assert!(
            cut.len() <= 100 && cut.ends_with(TRUNCATION_MARKER),
            "{cut}"
        );
        assert_eq!(row.text_of("Truncated").unwrap(), "RawEvent");
        assert_eq!(row.to_json(None), serde_json::to_vec(&row).unwrap());
    }

    #[test]
    fn a_row_is_written_in_the_tables_column_order_whatever_order_it_was_set_in() {
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.raw_event(r#"{"a":1}"#)
            .text("Uri", Some("u"))
            .text("Summary", Some("s"));
        let written: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&serde_json::to_string(&row).unwrap()).unwrap();
        let declared: Vec<&str> = Table::AuditWolf
            .columns()
            .map(|c| c.name)
            .filter(|name| written.contains_key(*name))
            .collect();
        assert_eq!(written.keys().collect::<Vec<_>>(), declared);
        assert_eq!(declared.len(), 8);
    }
}
