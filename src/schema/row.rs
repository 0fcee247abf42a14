//! The row model: one event's values under a table's declared columns.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::digits;

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
    digits::push(&mut out, time.year() as u32, 4, "-");
    digits::push(&mut out, time.month(), 2, "-");
    digits::push(&mut out, time.day(), 2, "T");
    digits::push(&mut out, time.hour(), 2, ":");
    digits::push(&mut out, time.minute(), 2, ":");
    if width == 0 {
        digits::push(&mut out, time.second(), 2, "Z");
    } else {
        digits::push(&mut out, time.second(), 2, ".");
        digits::push(&mut out, fraction, width, "Z");
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
    value: Content,
}

/// A value as a row holds it.
#[derive(Clone, Debug, PartialEq)]
enum Content {
    Value(Value),
    /// A text as it is written between the quotes of a JSON string: escaped. `RawEvent` is
    /// always kept so (one form, so rows compare equal however they were made): it is the
    /// event's JSON inside a JSON string, written only into JSON, so it is escaped once, as it
    /// is written from the event, rather than in every request, spill message and file line.
    Escaped(String),
}

impl Content {
    /// How a row holds `value` in column `name`: `RawEvent`'s text escaped, anything else as
    /// it is.
    fn of(name: &str, value: Value) -> Content {
        match value {
            Value::String(text) if name == RAW_EVENT.name => Content::Escaped(escape(&text)),
            value => Content::Value(value),
        }
    }

    /// The value as JSON has it; an escaped text is read back.
    fn value(&self) -> Cow<'_, Value> {
        match self {
            Content::Value(value) => Cow::Borrowed(value),
            Content::Escaped(text) => Cow::Owned(Value::String(unescape(text))),
        }
    }
}

/// `text` escaped as serde_json escapes a string, without the quotes.
pub fn escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a text serialises");
    quoted[1..quoted.len() - 1].to_owned()
}

/// The text an escaped string stands for.
fn unescape(escaped: &str) -> String {
    serde_json::from_str(&format!("\"{escaped}\"")).expect("an escaped text is a JSON string")
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
                row.put(position, column.name, Content::of(column.name, value));
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
    pub fn raw_event(&mut self, json: &str) -> &mut Self {
        self.text(RAW_EVENT.name, Some(json))
    }

    /// Sets `RawEvent` to the event's JSON text already escaped as inside a JSON string (without
    /// the quotes), as serde_json escapes it: how a source writes it from the event in one pass.
    pub fn raw_event_escaped(&mut self, escaped: String) -> &mut Self {
        debug_assert_eq!(
            escape(&unescape(&escaped)),
            escaped,
            "not escaped as serde_json escapes"
        );
        let (position, column) = self
            .table
            .position(RAW_EVENT.name)
            .expect("every table has RawEvent");
        self.put(position, column.name, Content::Escaped(escaped));
        self
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
            Some(value) => self.put(position, declared.name, Content::of(declared.name, value)),
        }
        self
    }

    /// Sets the value at a column position, keeping the cells in column order.
    fn put(&mut self, position: usize, name: &'static str, value: Content) {
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

    /// A copy of a column's value, if set ([`Row::text_of`] reads a text without copying).
    pub fn get(&self, column: &str) -> Option<Value> {
        Some(self.content(column)?.value().into_owned())
    }

    /// The text of a column, if it is set to one.
    pub fn text_of(&self, column: &str) -> Option<Cow<'_, str>> {
        match self.content(column)? {
            Content::Value(Value::String(text)) => Some(Cow::Borrowed(text)),
            Content::Escaped(escaped) => Some(Cow::Owned(unescape(escaped))),
            Content::Value(_) => None,
        }
    }

    fn content(&self, column: &str) -> Option<&Content> {
        Some(&self.values.iter().find(|cell| cell.name == column)?.value)
    }

    /// The set columns and their values, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (&'static str, Cow<'_, Value>)> {
        self.values
            .iter()
            .map(|cell| (cell.name, cell.value.value()))
    }

    /// About how many bytes the row's JSON takes (text lengths, a flat guess for other values),
    /// without writing it.
    pub fn approx_bytes(&self) -> usize {
        let value = |v: &Content| match v {
            Content::Value(Value::String(text)) | Content::Escaped(text) => text.len() + 2,
            Content::Value(Value::Array(_) | Value::Object(_)) => 256,
            Content::Value(_) => 16,
        };
        self.values
            .iter()
            .map(|cell| cell.name.len() + 4 + value(&cell.value))
            .sum()
    }

    /// Shortens every value whose JSON text is longer than `max_bytes`, marking each cut with
    /// [`TRUNCATION_MARKER`] and naming it in the `Truncated` column. Returns whether anything changed.
    pub fn truncate_fields(&mut self, max_bytes: usize) -> bool {
        let mut cut = Vec::new();
        for Cell { name, value, .. } in self.values.iter_mut() {
            let text = match value {
                Content::Value(Value::String(text)) if text.len() > max_bytes => {
                    std::mem::take(text)
                }
                Content::Value(value @ (Value::Array(_) | Value::Object(_)))
                    if value.to_string().len() > max_bytes =>
                {
                    value.to_string()
                }
                // The escaped text is at least as long as the text it stands for.
                Content::Escaped(escaped) if escaped.len() > max_bytes => {
                    let text = unescape(escaped);
                    if text.len() <= max_bytes {
                        continue;
                    }
                    text
                }
                _ => continue,
            };
            let keep = text.floor_char_boundary(max_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            let shortened = format!("{}{TRUNCATION_MARKER}", &text[..keep]);
            *value = match value {
                Content::Escaped(_) => Content::Escaped(escape(&shortened)),
                Content::Value(_) => Content::Value(Value::String(shortened)),
            };
            cut.push(name.to_string());
        }
        if cut.is_empty() {
            return false;
        }
        if let Some(earlier) = self.text_of(TRUNCATED.name) {
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
    /// of them, however long) and an escaped one (`RawEvent`) are copied whole; serde_json
    /// writes the rest.
    pub fn to_json(&self, without: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.approx_bytes() * 5 / 4);
        out.push(b'{');
        for Cell { name, value, .. } in self.values.iter().filter(|c| Some(c.name) != without) {
            if out.len() > 1 {
                out.push(b',');
            }
            // Column names are declared identifiers: nothing to escape.
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Content::Value(Value::String(text)) if json_plain(text) => {
                    out.push(b'"');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'"');
                }
                Content::Escaped(text) => {
                    out.push(b'"');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'"');
                }
                Content::Value(other) => {
                    serde_json::to_writer(&mut out, other).expect("a JSON value serialises")
                }
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
            map.serialize_entry(name, &value)?;
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
