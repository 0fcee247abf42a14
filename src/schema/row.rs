//! The row model: one event's values under a table's declared columns.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::digits::{self, Ascii};

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
/// milli-, micro- or nanoseconds, whichever is shortest and exact (chrono's `AutoSi`). Rows
/// write it straight into their buffer ([`Row::time`]); this `String` is for the tests.
#[cfg(test)]
pub fn iso8601(time: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(30);
    write_iso8601(&mut out, time);
    out
}

/// Appends [`iso8601`]'s text. Written digit by digit for the four-digit years every row has;
/// chrono writes any other.
fn write_iso8601(out: &mut impl Ascii, time: DateTime<Utc>) {
    let nanos = time.timestamp_subsec_nanos();
    if !(0..=9999).contains(&time.year()) || nanos >= 1_000_000_000 {
        return out.push_text(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    digits::push(out, time.year() as u32, 4, "-");
    digits::push(out, time.month(), 2, "-");
    digits::push(out, time.day(), 2, "T");
    digits::push(out, time.hour(), 2, ":");
    digits::push(out, time.minute(), 2, ":");
    if width == 0 {
        digits::push(out, time.second(), 2, "Z");
    } else {
        digits::push(out, time.second(), 2, ".");
        digits::push(out, fraction, width, "Z");
    }
}

/// Whether a text can be written between quotes as it is, as JSON: no quote, backslash or
/// control character. A fold, not `all`: without an early exit the check runs many bytes at a time.
pub fn json_plain(text: &str) -> bool {
    text.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// Appends `text` as a JSON string, quoted and escaped as serde_json escapes it.
pub fn write_text(out: &mut Vec<u8>, text: &str) {
    if json_plain(text) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("a text serialises");
    }
}

/// Appends `text` escaped as serde_json escapes a string, without the quotes: how a JSON text
/// is written inside a JSON string.
pub fn write_escaped(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    write_text(out, text);
    out.pop();
    out.remove(start);
}

/// A value a row can write itself as JSON: the sources' parsed body, or a `serde_json::Value`.
pub trait WriteJson {
    /// Writes compact JSON text, as serde_json writes the `Value` this stands for.
    fn write_json(&self, out: &mut Vec<u8>);

    /// Writes the compact JSON text of the value as it was sent, escaped to sit inside a JSON
    /// string as serde_json escapes it (without the quotes): `RawEvent`.
    fn write_json_escaped(&self, out: &mut Vec<u8>);
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("a JSON value serialises");
    }

    fn write_json_escaped(&self, out: &mut Vec<u8>) {
        write_escaped(out, &self.to_string());
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }

    fn write_json_escaped(&self, out: &mut Vec<u8>) {
        (**self).write_json_escaped(out);
    }
}

/// One row of one table. Only declared columns can be set; empty values are left out.
///
/// Each value is kept as the JSON text it is written as, in one buffer per row: a row is
/// written into a request by copying, and holds its values in two allocations, however many
/// columns it has. The cells are kept in the table's column order, which is the order they are
/// written in.
#[derive(Clone)]
pub struct Row {
    table: Table,
    cells: Vec<Cell>,
    /// Every set value's JSON text, back to back. A replaced value's old text stays until the
    /// row is compacted (only cutting replaces values, and it compacts).
    json: Vec<u8>,
}

/// One set column: its position in the table's columns, its name, and where its value's JSON
/// text is in the row's buffer.
#[derive(Clone, Copy, Debug)]
struct Cell {
    position: usize,
    name: &'static str,
    start: usize,
    end: usize,
}

/// The text a JSON string literal stands for.
fn unescape(literal: &[u8]) -> String {
    serde_json::from_slice(literal).expect("a text cell holds a JSON string")
}

impl Row {
    /// Starts a row with the time and provenance columns every table has.
    pub fn new(table: Table, provenance: &Provenance, event_time: DateTime<Utc>) -> Self {
        let mut row = Row::empty(table, 16);
        // Sources only pass writable times; any other is replaced by the time of receipt.
        let event_time = writable(event_time).unwrap_or(provenance.received);
        row.time(TIME_GENERATED, Some(event_time))
            .time(EVENT_TIME, Some(event_time))
            .time("ReceivedTime", Some(provenance.received))
            .text("Source", Some(provenance.source))
            .text("MessageId", provenance.message_id.as_deref());
        row
    }

    /// Rebuilds a row from stored values (a spilled message); undeclared columns and nulls are
    /// dropped.
    pub fn from_values(table: Table, values: Map<String, Value>) -> Self {
        let mut row = Row::empty(table, values.len());
        for (name, value) in values {
            if let Some((position, column)) = table.position(&name) {
                row.write(position, column.name, |out| value.write_json(out));
            }
        }
        row
    }

    /// A row with room for `cells` values and their text.
    fn empty(table: Table, cells: usize) -> Self {
        Row {
            table,
            cells: Vec::with_capacity(cells),
            json: Vec::with_capacity(1024),
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Sets a `string` column.
    pub fn text(&mut self, column: &'static str, value: Option<&str>) -> &mut Self {
        let write = |v| move |out: &mut Vec<u8>| write_text(out, v);
        self.set(column, ColumnType::String, value.map(write))
    }

    /// Sets a `datetime` column; a time ISO 8601 cannot write in four-digit years is left out.
    pub fn time(&mut self, column: &'static str, value: Option<DateTime<Utc>>) -> &mut Self {
        let write = |time| {
            move |out: &mut Vec<u8>| {
                out.push(b'"');
                write_iso8601(out, time);
                out.push(b'"');
            }
        };
        self.set(
            column,
            ColumnType::DateTime,
            value.and_then(writable).map(write),
        )
    }

    /// Sets a `real` column; a value JSON cannot hold (NaN, infinity) is left out.
    pub fn real(&mut self, column: &'static str, value: Option<f64>) -> &mut Self {
        let write = |v| move |out: &mut Vec<u8>| Value::from(v).write_json(out);
        self.set(column, ColumnType::Real, value.map(write))
    }

    /// Sets a `long` column.
    pub fn long(&mut self, column: &'static str, value: Option<i64>) -> &mut Self {
        let write = |v: i64| move |out: &mut Vec<u8>| Value::from(v).write_json(out);
        self.set(column, ColumnType::Long, value.map(write))
    }

    /// Sets a `dynamic` column to a JSON value; `null` leaves it out.
    pub fn dynamic(&mut self, column: &'static str, value: Option<impl WriteJson>) -> &mut Self {
        let write = value.map(|v| move |out: &mut Vec<u8>| v.write_json(out));
        self.set(column, ColumnType::Dynamic, write)
    }

    /// Sets `RawEvent` to the event's complete JSON text.
    pub fn raw_event(&mut self, json: &str) -> &mut Self {
        self.text(RAW_EVENT.name, Some(json))
    }

    /// Sets `RawEvent` to the event's JSON text as sent, written straight into the row.
    pub fn raw_event_of(&mut self, event: &impl WriteJson) -> &mut Self {
        self.set(
            RAW_EVENT.name,
            ColumnType::String,
            Some(|out: &mut Vec<u8>| {
                out.push(b'"');
                event.write_json_escaped(out);
                out.push(b'"');
            }),
        )
    }

    /// Sets `column` to the JSON text `write` appends, or leaves it out (`None`, or `null`).
    fn set(
        &mut self,
        column: &'static str,
        kind: ColumnType,
        write: Option<impl FnOnce(&mut Vec<u8>)>,
    ) -> &mut Self {
        let Some((position, declared)) = self.table.position(column) else {
            // A programming error the unit tests catch; a release build drops the value.
            debug_assert!(false, "{column} is not a column of {:?}", self.table);
            return self;
        };
        debug_assert_eq!(declared.kind, kind, "{column} is not a {kind:?} column");
        match write {
            Some(write) => self.write(position, declared.name, write),
            None => self.cells.retain(|cell| cell.position != position),
        }
        self
    }

    /// Appends a value's JSON text and points the column's cell at it, keeping the cells in
    /// column order; a `null` leaves the column out.
    fn write(&mut self, position: usize, name: &'static str, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.json.len();
        write(&mut self.json);
        let end = self.json.len();
        let found = self
            .cells
            .binary_search_by_key(&position, |cell| cell.position);
        if self.json[start..] == *b"null" {
            self.json.truncate(start);
            if let Ok(at) = found {
                self.cells.remove(at);
            }
            return;
        }
        let cell = Cell {
            position,
            name,
            start,
            end,
        };
        match found {
            Ok(at) => self.cells[at] = cell,
            Err(at) => self.cells.insert(at, cell),
        }
    }

    fn literal(&self, cell: &Cell) -> &[u8] {
        &self.json[cell.start..cell.end]
    }

    fn cell(&self, column: &str) -> Option<&Cell> {
        self.cells.iter().find(|cell| cell.name == column)
    }

    /// A copy of a column's value, if set ([`Row::text_of`] reads a text).
    pub fn get(&self, column: &str) -> Option<Value> {
        let literal = self.literal(self.cell(column)?);
        Some(serde_json::from_slice(literal).expect("a cell holds JSON"))
    }

    /// The text of a column, if it is set to one.
    pub fn text_of(&self, column: &str) -> Option<Cow<'_, str>> {
        let literal = self.literal(self.cell(column)?);
        match literal {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                Some(Cow::Borrowed(std::str::from_utf8(inner).ok()?))
            }
            [b'"', ..] => Some(Cow::Owned(unescape(literal))),
            _ => None,
        }
    }

    /// The set columns and their values, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (&'static str, Value)> + '_ {
        self.cells.iter().map(|cell| {
            let value = serde_json::from_slice(self.literal(cell)).expect("a cell holds JSON");
            (cell.name, value)
        })
    }

    /// How many bytes the row's JSON takes, without writing it.
    pub fn approx_bytes(&self) -> usize {
        2 + self
            .cells
            .iter()
            .map(|cell| cell.name.len() + 4 + cell.end - cell.start)
            .sum::<usize>()
    }

    /// Shortens every value whose JSON text is longer than `max_bytes` (a text by its own
    /// length, unescaped), marking each cut with [`TRUNCATION_MARKER`] and naming it in the
    /// `Truncated` column. Returns whether anything changed.
    pub fn truncate_fields(&mut self, max_bytes: usize) -> bool {
        let mut cut = Vec::new();
        for at in 0..self.cells.len() {
            let cell = self.cells[at];
            let literal = self.literal(&cell);
            let text = match literal.first() {
                // The escaped text is at least as long as the text it stands for.
                Some(b'"') if literal.len() - 2 > max_bytes => {
                    let text = unescape(literal);
                    if text.len() <= max_bytes {
                        continue;
                    }
                    text
                }
                Some(b'[' | b'{') if literal.len() > max_bytes => {
                    String::from_utf8(literal.to_vec()).expect("JSON text is UTF-8")
                }
                _ => continue,
            };
            let keep = text.floor_char_boundary(max_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            let shortened = format!("{}{TRUNCATION_MARKER}", &text[..keep]);
            self.write(cell.position, cell.name, |out| write_text(out, &shortened));
            cut.push(cell.name.to_string());
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
        self.text(TRUNCATED.name, Some(&list));
        self.compact();
        true
    }

    /// Gives back the room the row's buffers grew but did not fill (a buffer doubles as it
    /// grows): a row made from a webhook waits for the destination with only what it holds.
    pub fn shrink_to_fit(&mut self) {
        self.json.shrink_to_fit();
        self.cells.shrink_to_fit();
    }

    /// Drops the text of replaced values from the buffer.
    fn compact(&mut self) {
        let mut json = Vec::with_capacity(self.cells.iter().map(|c| c.end - c.start).sum());
        for cell in &mut self.cells {
            let start = json.len();
            json.extend_from_slice(&self.json[cell.start..cell.end]);
            (cell.start, cell.end) = (start, json.len());
        }
        self.json = json;
    }

    /// The row as a JSON object, less the column `without` names (the Data Collector API
    /// reserves `TimeGenerated`): every value is copied as it is kept.
    pub fn to_json(&self, without: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.approx_bytes());
        self.write_json(&mut out, without);
        out
    }

    /// Appends [`Row::to_json`]'s text.
    pub fn write_json(&self, out: &mut Vec<u8>, without: Option<&str>) {
        out.reserve(self.approx_bytes());
        out.push(b'{');
        let mut first = true;
        for cell in self.cells.iter().filter(|c| Some(c.name) != without) {
            if !first {
                out.push(b',');
            }
            first = false;
            // Column names are declared identifiers: nothing to escape.
            out.push(b'"');
            out.extend_from_slice(cell.name.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(self.literal(cell));
        }
        out.push(b'}');
    }
}

/// Rows are equal when they are of one table and hold the same values, however they were made.
impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.table == other.table
            && self.cells.len() == other.cells.len()
            && self
                .cells
                .iter()
                .zip(&other.cells)
                .all(|(a, b)| a.position == b.position && self.literal(a) == other.literal(b))
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cells = self
            .cells
            .iter()
            .map(|cell| (cell.name, String::from_utf8_lossy(self.literal(cell))));
        write!(f, "Row({:?}) ", self.table)?;
        f.debug_map().entries(cells).finish()
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.cells.len()))?;
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
