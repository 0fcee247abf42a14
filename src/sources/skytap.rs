//! Skytap audit and usage messages: one row per element of `payload`.
//!
//! See <https://help.skytap.com/webhook-audit-data.html> and
//! <https://help.skytap.com/webhook-usage-data.html>.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::json::{self, Json, PayloadError};
use super::proof::{query_token, VerifyError};
use super::verify::Secrets;
use crate::schema::{writable, Batch, Provenance, Row, Table};

/// The proof, when `tokens` (`SKYTAP_TOKENS`) are set: `?token=` holds one of them.
pub fn prove(tokens: Option<&Secrets>, query: &str) -> Result<(), VerifyError> {
    query_token(tokens, query, "token")
}

/// Turns a Skytap message into rows for the audit or the usage table, by `category`.
pub fn rows(message: &Json<'_>, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    let category = json::required_text(message, "/category")?;
    let table = match category {
        "auditing" => Table::SkytapAudit,
        "usage" => Table::SkytapUsage,
        other => {
            return Err(json::unexpected(
                "/category",
                other,
                "`auditing` or `usage`",
            ))
        }
    };
    let message_id = json::required_id(message, "/message_id")?;
    let key = format!("skytap:{message_id}");
    let provenance = Provenance {
        source: "skytap",
        message_id: Some(message_id),
        received,
    };
    let sent = json::required_time(message, "/timestamp")?;
    let version = message.get("version").and_then(Json::as_i64);
    let items = json::required_array(message, "/payload")?;
    let rows = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            json::required_object(item, "").map_err(|_| {
                json::unexpected(&format!("/payload/{index}"), &item.to_string(), "an object")
            })?;
            let mut row = Row::new(table, &provenance, sent);
            row.long("MessageVersion", version)
                .text("Category", Some(category))
                .text("EventId", json::id(item, "/id").as_deref())
                .text("Region", json::text(item, "/region"))
                .raw_event_of(item);
            match table {
                Table::SkytapAudit => audit_columns(&mut row, item),
                _ => usage_columns(&mut row, item),
            }
            Ok(row)
        })
        .collect::<Result<_, _>>()?;
    Ok(Batch { table, rows, key })
}

fn audit_columns(row: &mut Row, item: &Json<'_>) {
    row.time("ActionTime", skytap_time(item, "/date"))
        .text("AuditType", json::text(item, "/type"))
        .text("TypeCode", json::text(item, "/type_code"))
        .text("User", json::text(item, "/user"))
        .text("IpAddress", json::text(item, "/ip_address"))
        .dynamic("OperatedOn", item.get("operated_on"));
}

fn usage_columns(row: &mut Row, item: &Json<'_>) {
    row.text("UsageType", json::text(item, "/type"))
        .time("StartTime", skytap_time(item, "/start_time"))
        .time("EndTime", skytap_time(item, "/end_time"))
        .real("Value", item.get("value").and_then(Json::as_f64));
}

/// Reads Skytap's `YYYY/MM/DD HH:MM:SS` (UTC); ISO 8601 is accepted too.
fn skytap_time(item: &Json<'_>, pointer: &str) -> Option<DateTime<Utc>> {
    let text = json::text(item, pointer)?;
    let trimmed = text.trim();
    exact_skytap_time(trimmed)
        .or_else(|| NaiveDateTime::parse_from_str(trimmed, SKYTAP_TIME).ok())
        .and_then(|t| writable(t.and_utc()))
        .or_else(|| json::parse_iso8601(text))
}

const SKYTAP_TIME: &str = "%Y/%m/%d %H:%M:%S";

/// [`SKYTAP_TIME`] read without chrono's format interpreter when the text is exactly what
/// Skytap sends (`2019/06/07 23:41:29`); anything else (a leap second, a short field) is left
/// to chrono.
fn exact_skytap_time(text: &str) -> Option<NaiveDateTime> {
    let bytes: &[u8; 19] = text.as_bytes().try_into().ok()?;
    let shape = b"0000/00/00 00:00:00";
    let fits = bytes.iter().zip(shape).all(|(b, s)| match s {
        b'0' => b.is_ascii_digit(),
        _ => b == s,
    });
    if !fits {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
    };
    let year = i32::try_from(number(0..4)).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))?.and_hms_opt(
        number(11..13),
        number(14..16),
        number(17..19),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `admit` fuzz target: `-019/03/07 23:41:30` was written as the datetime
    /// `-0019-03-07T23:41:30Z`, which Log Analytics cannot hold. A time outside the years 0001
    /// to 9999 is now no time at all (the raw event keeps the text).
    #[test]
    fn a_time_outside_four_digit_years_is_left_out() {
        let message = json!({
            "message_id": "m", "category": "auditing", "timestamp": "2019-06-07T23:41:31Z",
            "payload": [{"id": 1, "date": "-019/03/07 23:41:30", "type": "Failed User Login"},
                        {"id": 2, "date": "9999-12-31T23:00:00-05:00"}]
        });
        let batch = rows(&json::tree(&message), now()).unwrap();
        for row in &batch.rows {
            assert!(row.get("ActionTime").is_none(), "{row:?}");
        }
        assert!(json::parse_iso8601("0001-01-01T00:00:00+01:00").is_none());
        assert!(json::parse_iso8601("0000-06-01T00:00:00Z").is_none());
        assert!(json::parse_iso8601("0001-01-01T00:00:00Z").is_some());
        let late = json!({"message_id": "m", "category": "usage", "timestamp": "10000-01-01T00:00:00Z", "payload": []});
        assert!(
            rows(&json::tree(&late), now()).is_err(),
            "a required time Log Analytics cannot read is a 400"
        );
    }

    /// Found by the `admit` fuzz target: a number serde_json parsed with best-effort precision
    /// came back from `RawEvent` as a different number.
    #[test]
    fn raw_event_parses_back_to_the_event_even_for_numbers_at_the_edge_of_precision() {
        let body = format!(
            r#"{{"message_id":"m","category":"usage","timestamp":"2019-06-07T23:41:17Z",
               "payload":[{{"type":"svms","regid":5{},"rate":0.30000000000000004,"tiny":4.9e-324}}]}}"#,
            "0".repeat(75)
        );
        let message: serde_json::Value = serde_json::from_str(&body).unwrap();
        let batch = rows(&json::tree(&message), Utc::now()).unwrap();
        let raw = batch.rows[0].text_of("RawEvent").unwrap();
        let back: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(back, message["payload"][0]);
    }

    #[test]
    fn the_query_token_is_checked_only_when_configured() {
        assert!(prove(None, "").is_ok());
        let tokens = Secrets::parse_list("s3cret");
        assert!(prove(tokens.as_ref(), "code=x&token=s3cret").is_ok());
        assert_eq!(
            prove(tokens.as_ref(), "token=nope"),
            Err(VerifyError::BadQueryToken("token"))
        );
        assert_eq!(
            prove(tokens.as_ref(), "code=x"),
            Err(VerifyError::MissingQueryToken("token"))
        );
    }
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    /// The fast path reads what chrono's format reads, and leaves everything else to it.
    #[test]
    fn a_skytap_time_is_read_as_chrono_reads_it() {
        for text in [
            "2019/06/07 23:41:29",
            "0001/01/01 00:00:00",
            "9999/12/31 23:59:59",
            "2024/02/29 12:00:00",
            "2023/02/29 12:00:00",
            "2019/13/07 23:41:29",
            "2019/06/07 24:00:00",
            "2019/06/07 23:59:60",
            "2019/6/07 23:41:29",
            "2019/06/07T23:41:29",
            "2019-06-07 23:41:29",
            "+2019/06/07 23:41:2",
            "2019/06/07 23:41:29Z",
        ] {
            let chrono = NaiveDateTime::parse_from_str(text, SKYTAP_TIME).ok();
            if let Some(fast) = exact_skytap_time(text) {
                assert_eq!(Some(fast), chrono, "{text}");
            }
            let item = json!({ "date": text });
            let read = skytap_time(&json::tree(&item), "/date");
            let expected = chrono
                .and_then(|t| writable(t.and_utc()))
                .or_else(|| json::parse_iso8601(text));
            assert_eq!(read, expected, "{text}");
        }
        assert!(exact_skytap_time("2019/06/07 23:41:29").is_some());
    }

    #[test]
    fn skytap_times_become_iso_8601_utc() {
        let item = json!({"date": "2019/06/07 23:41:29", "bad": "07-06-2019"});
        assert_eq!(
            skytap_time(&json::tree(&item), "/date")
                .unwrap()
                .to_rfc3339(),
            "2019-06-07T23:41:29+00:00"
        );
        assert!(skytap_time(&json::tree(&item), "/bad").is_none());
    }

    #[test]
    fn an_unknown_category_is_named_in_the_error() {
        let message = json!({"category": "billing", "message_id": "1", "timestamp": "2019-06-07T23:41:31Z", "payload": []});
        let error = rows(&json::tree(&message), now()).unwrap_err().to_string();
        assert_eq!(
            error,
            "`category` is `billing`, expected `auditing` or `usage`"
        );
    }

    #[test]
    fn a_payload_element_that_is_not_an_object_is_named_by_index() {
        let message = json!({"category": "usage", "message_id": "1", "timestamp": "2019-06-07T23:41:31Z", "payload": [{}, 7]});
        let error = rows(&json::tree(&message), now()).unwrap_err().to_string();
        assert_eq!(error, "`payload[1]` is `7`, expected an object");
    }

    #[test]
    fn a_running_usage_record_has_no_end_time() {
        let message = json!({"category": "usage", "message_id": "1", "timestamp": "2019-06-07T23:41:31Z",
            "payload": [{"id": 5, "start_time": "2019/06/01 08:15:00", "end_time": null, "value": 120}]});
        let batch = rows(&json::tree(&message), now()).unwrap();
        let row = &batch.rows[0];
        assert_eq!(row.get("StartTime"), Some(json!("2019-06-01T08:15:00Z")));
        assert_eq!(row.get("EndTime"), None);
        assert_eq!(row.get("Value"), Some(json!(120.0)));
        assert_eq!(
            row.get("TimeGenerated"),
            Some(json!("2019-06-07T23:41:31Z"))
        );
    }
}
