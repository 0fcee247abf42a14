//! Reading fields out of a webhook's JSON, with errors that name the path that failed.

mod tree;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::schema::writable;
use crate::telemetry::excerpt;

#[cfg(test)]
pub use tree::tree;
pub use tree::Json;

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
    // Segments are found byte by byte: `str::split` sets up a searcher per segment, which costs
    // more than these short pointers (sources look up about forty per webhook).
    let bytes = pointer.as_bytes();
    let slash = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'/')
            .map(|i| from + i)
    };
    let Some(first) = slash(0) else {
        return Some(value);
    };
    let (mut node, mut start) = (value, first + 1);
    loop {
        let end = slash(start).unwrap_or(bytes.len());
        let segment = &pointer[start..end];
        node = match node {
            Json::Object(_) => node.get(segment)?,
            Json::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
        if end == bytes.len() {
            return Some(node);
        }
        start = end + 1;
    }
}

/// The deepest nesting of arrays and objects a body may have (serde_json's recursion limit,
/// which keeps a hostile body from exhausting the stack).
pub const MAX_DEPTH: usize = 127;

/// Parses the body as JSON, borrowing from it. The body is checked as UTF-8 once, whole, which
/// costs less than the parser checking each string on its own.
pub fn parse(body: &[u8]) -> Result<Json<'_>, PayloadError> {
    let text = std::str::from_utf8(body).map_err(|e| PayloadError::NotUtf8(e.valid_up_to()))?;
    tree::parse(text).map_err(|e| {
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
    fn pointers_find_what_serde_json_finds() {
        let body = br#"{"a": {"b": [10, {"c": "x"}], "": {"": 1}, "n": null}, "s": "t"}"#;
        let tree = parse(body).unwrap();
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        for pointer in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/x",
            "/a/b/-1",
            "/a/",
            "/a//",
            "/a/n",
            "/a/n/x",
            "/s",
            "/s/0",
            "/missing",
            "/a/b/1/c/",
            "//",
        ] {
            let found = at(&tree, pointer).map(Json::to_value);
            assert_eq!(found.as_ref(), value.pointer(pointer), "{pointer:?}");
        }
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
