//! A body parsed once into a [`Json`] tree that borrows from it: a string without escapes is a
//! slice of the body, an object keeps its members as sent in a plain list. That costs a
//! fraction of a `serde_json::Value` tree (no copy of every string, no hash of every key), and
//! writes the event back (`RawEvent`) without reordering it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::io::Write;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::schema::{json_plain, write_escaped, write_text, WriteJson};

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

    /// The value's compact JSON text as sent: in its order, a repeated name written each time.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out, Form::Plain);
        String::from_utf8(out).expect("JSON text is UTF-8")
    }

    /// Appends the value's compact JSON text, in `form`.
    fn write(&self, out: &mut Vec<u8>, form: Form) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(n) => write!(out, "{n}").expect("writing to a Vec cannot fail"),
            Json::String(s) => write_str(out, s, form),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out, form);
                }
                out.push(b']');
            }
            Json::Object(members) if form == Form::Value && has_repeated_names(members) => {
                serde_json::to_writer(out, &self.to_value()).expect("a JSON value serialises")
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, key, form);
                    out.push(b':');
                    value.write(out, form);
                }
                out.push(b'}');
            }
        }
    }
}

impl WriteJson for Json<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.write(out, Form::Value);
    }

    fn write_json_escaped(&self, out: &mut Vec<u8>) {
        self.write(out, Form::Escaped);
    }
}

/// Whether an object names a member twice: pairwise for a few members, hashed (with a random
/// key, so no body can make it slow) for more.
fn has_repeated_names(members: &[(Cow<'_, str>, Json<'_>)]) -> bool {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (name, _))| members[..i].iter().any(|(earlier, _)| earlier == name));
    }
    let mut seen = HashSet::with_capacity(members.len());
    !members.iter().all(|(name, _)| seen.insert(name.as_ref()))
}

/// How JSON text is written: as it was sent, that escaped to sit inside a JSON string, or as
/// serde_json writes the `Value` it reads (of a repeated name, one member: the last value where
/// the first stood). Structure, numbers and literals are written alike.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Plain,
    Escaped,
    Value,
}

/// Writes a JSON string. Most text in a webhook needs no escape (a string the parser could
/// borrow had none), so it is checked and copied whole; the rest goes through `serde_json`
/// (twice when escaped: the string, then its text).
fn write_str(out: &mut Vec<u8>, s: &str, form: Form) {
    match form {
        Form::Plain | Form::Value => write_text(out, s),
        Form::Escaped if json_plain(s) => {
            out.reserve(s.len() + 4);
            out.extend_from_slice(b"\\\"");
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\\\"");
        }
        Form::Escaped => {
            let literal = serde_json::to_string(s).expect("text serialises");
            write_escaped(out, &literal);
        }
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Parses JSON text into a [`Json`] tree, borrowing every string it can.
pub fn parse(text: &str) -> serde_json::Result<Json<'_>> {
    let mut scratch = Scratch {
        items: Vec::with_capacity(32),
        members: Vec::with_capacity(32),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let tree = Tree(&mut scratch).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(tree)
}

/// Where a parse gathers the items of an array, or the members of an object, while it reads
/// them, before they move into a `Vec` of exactly their number: one buffer for the whole body
/// instead of a `Vec` that grows (and copies itself) for every array and object.
#[derive(Default)]
struct Scratch<'a> {
    items: Vec<Json<'a>>,
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

/// Builds a [`Json`] tree with a [`Scratch`].
struct Tree<'s, 'a>(&'s mut Scratch<'a>);

impl<'de> DeserializeSeed<'de> for Tree<'_, 'de> {
    type Value = Json<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree<'_, 'de> {
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
        let start = self.0.items.len();
        while let Some(item) = seq.next_element_seed(Tree(&mut *self.0))? {
            self.0.items.push(item);
        }
        Ok(Json::Array(self.0.items.drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let start = self.0.members.len();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(Tree(&mut *self.0))?;
            self.0.members.push((key, value));
        }
        Ok(Json::Object(self.0.members.drain(start..).collect()))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Tree(&mut Scratch::default()).deserialize(deserializer)
    }
}

/// An object member's name, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(Tree(&mut Scratch::default()))? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::json::parse;

    /// The tree as a dynamic column's value, or escaped as `RawEvent`.
    fn written(tree: &Json<'_>, form: Form) -> String {
        let mut out = Vec::new();
        match form {
            Form::Value => tree.write_json(&mut out),
            Form::Escaped => tree.write_json_escaped(&mut out),
            Form::Plain => tree.write(&mut out, Form::Plain),
        }
        String::from_utf8(out).unwrap()
    }

    /// A dynamic column holds what `serde_json::Value` would: of a repeated name, one member,
    /// the last value where the first stood, at any depth and however many members there are.
    #[test]
    fn a_dynamic_value_is_written_as_serde_json_writes_the_value_it_reads() {
        let many: String = (0..40).map(|i| format!(r#""k{}":{i},"#, i % 30)).collect();
        for body in [
            r#"{"a":1,"b":[{"x":1,"y":2,"x":3}],"a":{"q\"":"\u0007"}}"#.to_owned(),
            format!(r#"{{"outer":{{{many}"end":null}},"n":-0.0,"big":1e300}}"#),
            format!(r#"[{{{many}"z":true}}, "plain"]"#),
        ] {
            let value: Value = serde_json::from_str(&body).unwrap();
            let tree = parse(body.as_bytes()).unwrap();
            assert_eq!(written(&tree, Form::Value), value.to_string(), "{body}");
        }
    }

    /// `RawEvent` and the StackState key are the same text as when they were written from a
    /// `serde_json::Value`, so claims stored by an earlier build still match.
    #[test]
    fn every_fixture_is_written_back_as_serde_json_writes_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let body = std::fs::read(&path).unwrap();
                let value: Value = serde_json::from_slice(&body).unwrap();
                let tree = parse(&body).unwrap();
                assert_eq!(tree.to_json(), value.to_string(), "{}", path.display());
                // Escaped in the same pass, as serde_json escapes the text inside a string.
                let escaped = serde_json::to_string(&value.to_string()).unwrap();
                let escaped = &escaped[1..escaped.len() - 1];
                assert_eq!(written(&tree, Form::Escaped), escaped, "{}", path.display());
                // And as a dynamic column's value.
                assert_eq!(
                    written(&tree, Form::Value),
                    value.to_string(),
                    "{}",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "{checked} fixtures");
    }

    #[test]
    fn escaped_text_is_the_text_escaped_as_serde_json_escapes_it() {
        let body = br#"{"q\"k":["\\", "tab\t", "\u0001\u001f", "\u00e9\u2028", 1.5e300, null, true], "":{}}"#;
        let tree = parse(body).unwrap();
        let plain = tree.to_json();
        let escaped = serde_json::to_string(&plain).unwrap();
        assert_eq!(written(&tree, Form::Escaped), escaped[1..escaped.len() - 1]);
    }

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
}
