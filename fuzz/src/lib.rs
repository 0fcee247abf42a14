//! What the fuzz targets share: rows built from arbitrary input, the checks every row must
//! pass, and a way to run the door's future (it does no I/O without secure webhooks).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;
use webhook_ingest::schema::{ColumnType, Provenance, Row, Table};

/// Runs a future that never waits on anything outside itself to its end.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited on I/O"),
    }
}

/// A row of any table with any values in any of its columns.
#[derive(Arbitrary, Debug)]
pub struct AnyRow {
    table: u8,
    time: i64,
    cells: Vec<(u8, AnyValue)>,
}

#[derive(Arbitrary, Debug)]
enum AnyValue {
    Text(String),
    /// A long text: one character repeated, to reach the size limits cheaply.
    Long(char, u32),
    Number(i64),
    Real(f64),
    Time(i64),
    Json(String),
}

impl AnyRow {
    pub fn build(&self) -> Row {
        let mut unlimited = usize::MAX;
        self.build_within(&mut unlimited)
    }

    /// Builds the row with its long texts cut to what is left of `budget` bytes, which they
    /// use up: a target whose limits lie well below megabytes need not pay for them.
    pub fn build_within(&self, budget: &mut usize) -> Row {
        let table = Table::ALL[usize::from(self.table) % Table::ALL.len()];
        let provenance = Provenance {
            source: "fuzz",
            message_id: None,
            received: Utc::now(),
        };
        let mut row = Row::new(table, &provenance, time(self.time));
        let columns: Vec<_> = table.columns().collect();
        for (index, value) in &self.cells {
            let column = columns[usize::from(*index) % columns.len()];
            let name = column.name;
            match (column.kind, value) {
                (ColumnType::String, AnyValue::Text(text)) => row.text(name, Some(text)),
                (ColumnType::String, AnyValue::Long(c, n)) => {
                    let count = ((*n % 70_000) as usize).min(*budget / c.len_utf8());
                    *budget -= count * c.len_utf8();
                    let text = c.to_string().repeat(count);
                    row.text(name, Some(&text))
                }
                (ColumnType::String, other) => row.text(name, Some(&format!("{other:?}"))),
                (ColumnType::DateTime, AnyValue::Time(t) | AnyValue::Number(t)) => {
                    row.time(name, Some(time(*t)))
                }
                (ColumnType::DateTime, _) => row.time(name, None),
                (ColumnType::Long, AnyValue::Number(n)) => row.long(name, Some(*n)),
                (ColumnType::Long, _) => row.long(name, None),
                (ColumnType::Real, AnyValue::Real(r)) => row.real(name, Some(*r)),
                (ColumnType::Real, AnyValue::Number(n)) => row.real(name, Some(*n as f64)),
                (ColumnType::Real, _) => row.real(name, None),
                (ColumnType::Dynamic, AnyValue::Json(json)) => {
                    let value = serde_json::from_str(json).unwrap_or(Value::from(json.as_str()));
                    row.dynamic(name, Some(value))
                }
                (ColumnType::Dynamic, AnyValue::Text(text)) => {
                    row.dynamic(name, Some(Value::from(text.as_str())))
                }
                (ColumnType::Dynamic, _) => row.dynamic(name, None::<Value>),
            };
        }
        row
    }
}

/// A time in the years 0001 to 9999 (what a Kusto `datetime` holds), from any number of seconds.
fn time(seconds: i64) -> DateTime<Utc> {
    const START: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const SPAN: i64 = 315_537_897_600; // to 10000-01-01
    DateTime::from_timestamp(START + seconds.rem_euclid(SPAN), 0).expect("within chrono's range")
}

/// Every value of `row` is in a declared column of its table, of that column's type.
pub fn assert_typed(row: &Row) {
    let table = row.table();
    for (name, value) in row.cells() {
        let column = table
            .column(name)
            .unwrap_or_else(|| panic!("{name} is not a column of {table:?}"));
        let typed = match column.kind {
            ColumnType::String => value.is_string(),
            // A Kusto `datetime`: ISO 8601 in the years 0001 to 9999.
            ColumnType::DateTime => value.as_str().is_some_and(|t| {
                DateTime::parse_from_rfc3339(t).is_ok_and(|t| (1..=9999).contains(&t.year()))
            }),
            ColumnType::Long => value.is_i64(),
            ColumnType::Real => value.is_number(),
            ColumnType::Dynamic => !value.is_null(),
        };
        assert!(typed, "{name} ({:?}) holds {value}", column.kind);
    }
}

/// Every value in a JSON array of rows is at most `field_bytes` long as JSON text.
pub fn assert_fields_within(
    array: &[u8],
    field_bytes: usize,
) -> Vec<serde_json::Map<String, Value>> {
    let rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(array).expect("a request body is a JSON array of objects");
    for row in &rows {
        for (name, value) in row {
            let bytes = match value {
                Value::String(text) => text.len(),
                other => other.to_string().len(),
            };
            assert!(bytes <= field_bytes, "{name} is {bytes} bytes");
        }
    }
    rows
}
