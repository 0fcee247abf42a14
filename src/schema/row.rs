//! The row model: one event's values under a table's declared columns.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{
    ColumnType, Table, EVENT_TIME, RAW_EVENT, TIME_GENERATED, TRUNCATED, TRUNCATION_MARKER,
};

/// The time if Log Analytics can hold it: a Kusto `datetime` runs from the year 1 to 9999 (in
/// UTC), what ISO 8601 writes in four digits; `None` for any other (a year like -0019, 0000 or
/// 10000).
pub fn writable(time: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&time.year()).then_some(time)
}

/// Formats a time as ISO 8601 UTC with a `Z`, as Log Analytics expects: whole seconds, or
/// milli-, micro- or nanoseconds, whichever is shortest and exact (chrono's `AutoSi`). Written
/// digit by digit for the four-digit years every row has; chrono writes any other.
pub fn iso8601(time: DateTime<Utc>) -> String {
    let nanos = time.timestamp_subsec_nanos();
    if !(0..=9999).contains(&time.year()) || nanos >= 1_000_000_000 {
        return time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut out = String::with_capacity(30);
    let mut push = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        out.push(after);
    };
    push(time.year() as u32, 4, '-');
    push(time.month(), 2, '-');
    push(time.day(), 2, 'T');
    push(time.hour(), 2, ':');
    push(time.minute(), 2, ':');
    if width == 0 {
        push(time.second(), 2, 'Z');
    } else {
        push(time.second(), 2, '.');
        push(fraction, width, 'Z');
    }
    out
}

/// Whether a text can be written between quotes as it is, as JSON: no quote, backslash or
/// control character. A fold, not `all`: without an early exit the check runs many bytes at a time.
pub fn json_plain(text: &str) -> bool {
    text.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// One row of one table. Only declared columns can be set; empty values are left out. Values are
/// kept in the table's column order, which is the order they are written in.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    table: Table,
    values: Vec<Cell>,
}

/// One set column: its position in the table's columns, its name, its value.
#[derive(Clone, Debug, PartialEq)]
struct Cell {
    position: usize,
    name: &'static str,
    value: Value,
}

impl Row {
    /// Starts a row with the time and provenance columns every table has.
    pub fn new(table: Table, provenance: &Provenance, event_time: DateTime<Utc>) -> Self {
        let mut row = Row {
            table,
            values: Vec::with_capacity(16),
        };
        // Sources only pass writable times; any other is replaced by the time of receipt.
        let event_time = writable(event_time).unwrap_or(provenance.received);
        let text = iso8601(event_time);
        row.set(
            TIME_GENERATED,
            ColumnType::DateTime,
            Some(text.clone().into()),
        );
        row.set(EVENT_TIME, ColumnType::DateTime, Some(text.into()));
        row.time("ReceivedTime", Some(provenance.received));
        row.text("Source", Some(provenance.source));
        row.text("MessageId", provenance.message_id.as_deref());
        row
    }

    /// Rebuilds a row from stored values (a spilled message); undeclared columns are dropped.
    pub fn from_values(table: Table, values: Map<String, Value>) -> Self {
        let mut row = Row {
            table,
            values: Vec::with_capacity(values.len()),
        };
        for (name, value) in values {
            if let Some((position, column)) = table.position(&name) {
                row.put(position, column.name, value);
            }
        }
        row
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Sets a `string` column.
    pub fn text(&mut self, column: &'static str, value: Option<&str>) -> &mut Self {
        self.set(column, ColumnType::String, value.map(Value::from))
    }

    /// Sets a `datetime` column; a time ISO 8601 cannot write in four-digit years is left out.
    pub fn time(&mut self, column: &'static str, value: Option<DateTime<Utc>>) -> &mut Self {
        self.set(
            column,
            ColumnType::DateTime,
            value.and_then(writable).map(|t| iso8601(t).into()),
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
    pub fn dynamic(&mut self, column: &'static str, value: Option<Value>) -> &mut Self {
        self.set(column, ColumnType::Dynamic, value)
    }

    /// Sets `RawEvent` to the event's complete JSON text.
    pub fn raw_event(&mut self, json: String) -> &mut Self {
        self.set(
            RAW_EVENT.name,
            ColumnType::String,
            Some(Value::String(json)),
        )
    }

    fn set(&mut self, column: &'static str, kind: ColumnType, value: Option<Value>) -> &mut Self {
        let Some((position, declared)) = self.table.position(column) else {
            // A programming error the unit tests catch; a release build drops the value.
            debug_assert!(false, "{column} is not a column of {:?}", self.table);
            return self;
        };
        debug_assert_eq!(declared.kind, kind, "{column} is not a {kind:?} column");
        match value {
            Some(Value::Null) | None => self.values.retain(|cell| cell.position != position),
            Some(value) => self.put(position, declared.name, value),
        }
        self
    }

    /// Sets the value at a column position, keeping the cells in column order.
    fn put(&mut self, position: usize, name: &'static str, value: Value) {
        match self
            .values
            .binary_search_by_key(&position, |cell| cell.position)
        {
            Ok(at) => self.values[at].value = value,
            Err(at) => self.values.insert(
                at,
                Cell {
                    position,
                    name,
                    value,
                },
            ),
        }
    }

    /// The value of a column, if set.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.cells()
            .find(|(name, _)| *name == column)
            .map(|(_, v)| v)
    }

    /// The set columns and their values, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|cell| (cell.name, &cell.value))
    }

    /// About how many bytes the row's JSON takes (text lengths, a flat guess for other values),
    /// without writing it.
    pub fn approx_bytes(&self) -> usize {
        let value = |v: &Value| match v {
            Value::String(text) => text.len() + 2,
            Value::Array(_) | Value::Object(_) => 256,
            _ => 16,
        };
        self.cells()
            .map(|(name, v)| name.len() + 4 + value(v))
            .sum()
    }

    /// Shortens every value whose JSON text is longer than `max_bytes`, marking each cut with
    /// [`TRUNCATION_MARKER`] and naming it in the `Truncated` column. Returns whether anything changed.
    pub fn truncate_fields(&mut self, max_bytes: usize) -> bool {
        let mut cut = Vec::new();
        for Cell { name, value, .. } in self.values.iter_mut() {
            let text = match value {
                Value::String(text) if text.len() > max_bytes => std::mem::take(text),
                Value::Array(_) | Value::Object(_) if value.to_string().len() > max_bytes => {
                    value.to_string()
                }
                _ => continue,
            };
            let keep = text.floor_char_boundary(max_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            *value = Value::String(format!("{}{TRUNCATION_MARKER}", &text[..keep]));
            cut.push(name.to_string());
        }
        if cut.is_empty() {
            return false;
        }
        if let Some(Value::String(earlier)) = self.get(TRUNCATED.name) {
            cut.extend(earlier.split(',').map(str::to_owned));
        }
        cut.sort();
        cut.dedup();
        let mut list = cut.join(",");
        if list.len() > max_bytes {
            // Only a row that arrived with a long `Truncated` of its own (a spilled row): the
            // list is a value like any other.
            let keep = list.floor_char_boundary(max_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            list = format!("{}{TRUNCATION_MARKER}", &list[..keep]);
        }
        self.set(
            TRUNCATED.name,
            ColumnType::String,
            Some(Value::String(list)),
        );
        true
    }

    /// The row as a JSON object, less the column `without` names (the Data Collector API
    /// reserves `TimeGenerated`), in a buffer sized for it. A text with nothing to escape (most
    /// of them, however long) is copied whole; serde_json writes the rest.
    pub fn to_json(&self, without: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.approx_bytes() * 5 / 4);
        out.push(b'{');
        for (name, value) in self.cells().filter(|(name, _)| Some(*name) != without) {
            if out.len() > 1 {
                out.push(b',');
            }
            // Column names are declared identifiers: nothing to escape.
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Value::String(text) if json_plain(text) => {
                    out.push(b'"');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'"');
                }
                other => serde_json::to_writer(&mut out, other).expect("a JSON value serialises"),
            }
        }
        out.push(b'}');
        out
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (name, value) in self.cells() {
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
