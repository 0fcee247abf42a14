//! Reading fields out of a webhook's JSON, with errors that name the path that failed.
//!
//! A body is parsed once into a [`Json`] tree that borrows from it: a string without escapes
//! is a slice of the body, an object keeps its members as sent in a plain list. That costs a
//! fraction of a `serde_json::Value` tree (no copy of every string, no hash of every key), and
//! writes the event back (`RawEvent`) without reordering it.

use std::borrow::Cow;
use std::fmt::{self, Write};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::schema::writable;
use crate::telemetry::excerpt;

/// The most characters of a sender's value an error quotes.
const MAX_QUOTE: usize = 64;

/// A payload that is not JSON, or lacks what its source always sends.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body is not UTF-8 text (invalid byte at offset {0}); JSON must be UTF-8")]
    NotUtf8(usize),
    #[error("the body nests arrays and objects deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the body is not a webhook this handler knows: expected {0}")]
    Unrecognised(&'static str),
    #[error("`{path}` {problem}")]
    Field { path: String, problem: String },
}

/// Renders a JSON pointer (`/payload/1/date`) as the path users read (`payload[1].date`).
pub fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// A JSON value borrowed from the body it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in the order sent; of a repeated name the last counts, as in `serde_json`.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// An object's member.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// The value as a `serde_json::Value`, for a `dynamic` column.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.as_ref().to_owned()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.as_ref().to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The value as compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(n) => write!(out, "{n}").expect("writing to a String cannot fail"),
            Json::String(s) => write_str(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes a JSON string. Most text in a webhook needs no escape (a string the parser could
/// borrow had none), so it is checked and copied whole; the rest goes through `serde_json`.
fn write_str(out: &mut String, s: &str) {
    // A fold rather than `all`: no early exit, so the compiler checks many bytes at a time.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("text serialises"));
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Builds a [`Json`] tree, borrowing every string the parser can hand over unescaped.
struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        // The parser gives only finite numbers.
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

/// An object member's name, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(TreeVisitor)? {
            Json::String(key) => Ok(Key(key)),
            _ => Err(serde::de::Error::custom("an object's key must be a string")),
        }
    }
}

/// A tree of a `serde_json::Value`, for tests that write payloads with `json!`.
#[cfg(test)]
pub fn tree(value: &Value) -> Json<'static> {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.clone()),
        Value::String(s) => Json::String(Cow::Owned(s.clone())),
        Value::Array(items) => Json::Array(items.iter().map(tree).collect()),
        Value::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), tree(v)))
                .collect(),
        ),
    }
}

fn problem(pointer: &str, problem: impl Into<String>) -> PayloadError {
    PayloadError::Field {
        path: display_path(pointer),
        problem: problem.into(),
    }
}

/// The value at a JSON pointer. Unlike `Value::pointer`, which allocates for every segment to
/// undo `~` escapes, this walks borrowed segments: the pointers here are constants without `~`.
pub fn at<'v, 'a>(value: &'v Json<'a>, pointer: &str) -> Option<&'v Json<'a>> {
    debug_assert!(!pointer.contains('~'), "escaped pointer {pointer}");
    pointer
        .split('/')
        .skip(1)
        .try_fold(value, |node, segment| match node {
            Json::Object(_) => node.get(segment),
            Json::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// The deepest nesting of arrays and objects a body may have (serde_json's recursion limit,
/// which keeps a hostile body from exhausting the stack).
pub const MAX_DEPTH: usize = 127;

/// Parses the body as JSON, borrowing from it.
pub fn parse(body: &[u8]) -> Result<Json<'_>, PayloadError> {
    serde_json::from_slice(body).map_err(|e| {
        if let Err(not_utf8) = std::str::from_utf8(body) {
            return PayloadError::NotUtf8(not_utf8.valid_up_to());
        }
        if e.to_string().starts_with("recursion limit exceeded") {
            return PayloadError::TooDeep;
        }
        PayloadError::NotJson(e.to_string())
    })
}

/// A string field, absent when missing, null or not a string.
pub fn text<'v>(value: &'v Json<'_>, pointer: &str) -> Option<&'v str> {
    at(value, pointer).and_then(Json::as_str)
}

/// A string field the source always sends.
pub fn required_text<'v>(value: &'v Json<'_>, pointer: &str) -> Result<&'v str, PayloadError> {
    match at(value, pointer) {
        Some(Json::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Json::String(_)) => Err(problem(pointer, "is empty")),
        Some(other) => {
            let found = excerpt(&other.to_string(), MAX_QUOTE).into_owned();
            Err(problem(pointer, format!("must be a string, not {found}")))
        }
        None => Err(problem(pointer, "is missing")),
    }
}

/// An identifier sent as a string or a number, rendered as text.
pub fn id(value: &Json<'_>, pointer: &str) -> Option<String> {
    match at(value, pointer)? {
        Json::String(s) if !s.is_empty() => Some(s.as_ref().to_owned()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An identifier the source always sends.
pub fn required_id(value: &Json<'_>, pointer: &str) -> Result<String, PayloadError> {
    id(value, pointer).ok_or_else(|| problem(pointer, "must be a non-empty string or number"))
}

/// An ISO 8601 time field, absent when missing or unreadable (the raw event keeps the text).
pub fn time(value: &Json<'_>, pointer: &str) -> Option<DateTime<Utc>> {
    text(value, pointer).and_then(parse_iso8601)
}

/// An ISO 8601 time field the source always sends.
pub fn required_time(value: &Json<'_>, pointer: &str) -> Result<DateTime<Utc>, PayloadError> {
    let text = required_text(value, pointer)?;
    parse_iso8601(text).ok_or_else(|| {
        let quote = excerpt(text, MAX_QUOTE);
        problem(pointer, format!("is not an ISO 8601 time: `{quote}`"))
    })
}

/// Parses ISO 8601 with an offset, or without one (taken as UTC); a time outside the years
/// 0001 to 9999 once in UTC is not one Log Analytics can hold, so it is refused too.
pub fn parse_iso8601(text: &str) -> Option<DateTime<Utc>> {
    let time = match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(time) => time.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    writable(time)
}

/// Requires the value at `pointer` to be an array and returns it.
pub fn required_array<'v, 'a>(
    value: &'v Json<'a>,
    pointer: &str,
) -> Result<&'v [Json<'a>], PayloadError> {
    match at(value, pointer) {
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(problem(pointer, "must be an array")),
        None => Err(problem(pointer, "is missing")),
    }
}

/// Requires the value at `pointer` to be an object.
pub fn required_object<'v, 'a>(
    value: &'v Json<'a>,
    pointer: &str,
) -> Result<&'v Json<'a>, PayloadError> {
    match at(value, pointer) {
        Some(object @ Json::Object(_)) => Ok(object),
        Some(_) => Err(problem(pointer, "must be an object")),
        None => Err(problem(pointer, "is missing")),
    }
}

/// An error for a field that has an unexpected value (quoted briefly: logs never hold a payload).
pub fn unexpected(pointer: &str, found: &str, expected: &str) -> PayloadError {
    let quote = excerpt(found, MAX_QUOTE);
    problem(pointer, format!("is `{quote}`, expected {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_borrows_plain_strings_and_writes_the_value_back_as_serde_json_reads_it() {
        let body = br#" {"b": "plain", "a": ["esc\"aped\u00e9", 1, -2, 2.5e-3, true, null],
            "b": {"k\n": {}}, "n": 12345678901234567890} "#;
        let tree = parse(body).unwrap();
        assert!(matches!(tree.get("a"), Some(Json::Array(items))
            if matches!(&items[0], Json::String(Cow::Owned(s)) if s == "esc\"aped\u{e9}")));
        let Json::Object(members) = &tree else {
            panic!()
        };
        assert!(matches!(
            &members[0],
            (Cow::Borrowed("b"), Json::String(Cow::Borrowed("plain")))
        ));
        // A repeated name: the last counts, as for serde_json, and writing keeps both.
        assert_eq!(tree.get("b").unwrap().to_json(), r#"{"k\n":{}}"#);
        let original: Value = serde_json::from_slice(body).unwrap();
        let back: Value = serde_json::from_str(&tree.to_json()).unwrap();
        assert_eq!(back, original);
        assert_eq!(tree.to_value(), original);
        assert_eq!(
            tree.get("n").and_then(Json::as_f64),
            Some(12345678901234567890.0)
        );
        assert_eq!(tree.get("n").and_then(Json::as_i64), None);
    }

    #[test]
    fn a_body_that_is_not_utf8_or_nests_too_deep_says_so() {
        let latin1 = b"{\"name\": \"caf\xe9\"}";
        assert_eq!(parse(latin1), Err(PayloadError::NotUtf8(13)));
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse(deep(MAX_DEPTH + 1).as_bytes()),
            Err(PayloadError::TooDeep)
        );
        assert!(matches!(parse(b"{"), Err(PayloadError::NotJson(_))));
    }

    #[test]
    fn paths_read_like_the_payload() {
        assert_eq!(display_path("/payload/1/date"), "payload[1].date");
        assert_eq!(
            display_path("/data/essentials/alertId"),
            "data.essentials.alertId"
        );
    }

    #[test]
    fn errors_name_the_field_and_what_is_wrong() {
        let v = parse(br#"{"a": {"b": 3, "c": ""}}"#).unwrap();
        let e = required_text(&v, "/a/b").unwrap_err().to_string();
        assert_eq!(e, "`a.b` must be a string, not 3");
        let e = required_text(&v, "/a/c").unwrap_err().to_string();
        assert_eq!(e, "`a.c` is empty");
        let e = required_time(&v, "/a/x").unwrap_err().to_string();
        assert_eq!(e, "`a.x` is missing");
    }

    #[test]
    fn times_with_and_without_offsets_are_read_as_utc() {
        let t = parse_iso8601("2021-11-16T08:27:36.1836909+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-11-16T07:27:36.183690900+00:00");
        let t = parse_iso8601("2019-06-07T23:41:31").unwrap();
        assert_eq!(t.to_rfc3339(), "2019-06-07T23:41:31+00:00");
        assert!(parse_iso8601("yesterday").is_none());
    }

    #[test]
    fn ids_may_be_numbers_or_strings() {
        let v = parse(br#"{"n": 9871234, "s": "456", "e": ""}"#).unwrap();
        assert_eq!(id(&v, "/n").as_deref(), Some("9871234"));
        assert_eq!(id(&v, "/s").as_deref(), Some("456"));
        assert!(required_id(&v, "/e").is_err());
    }
}
