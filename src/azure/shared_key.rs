//! SharedKey authorisation, as the Data Collector API and Azure Storage both use it:
//! HMAC-SHA256 over a service-specific string-to-sign, keyed by the decoded account key.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Datelike, Timelike, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::digits;

/// The `Authorization` header value: `SharedKey <account>:<base64 HMAC-SHA256(string_to_sign)>`.
pub fn authorization(account: &str, key: &[u8], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    format!("SharedKey {account}:{signature}")
}

/// RFC 1123 date in GMT with English names, as `x-ms-date` requires.
pub fn rfc1123(time: DateTime<Utc>) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !(0..=9999).contains(&time.year()) {
        return time.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    }
    // Written by hand: one is made for every request, and chrono's formatter parses its pattern
    // each time.
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[time.weekday().num_days_from_monday() as usize]);
    out.push_str(", ");
    digits::push(&mut out, time.day(), 2, " ");
    out.push_str(MONTHS[time.month0() as usize]);
    out.push(' ');
    digits::push(&mut out, time.year() as u32, 4, " ");
    digits::push(&mut out, time.hour(), 2, ":");
    digits::push(&mut out, time.minute(), 2, ":");
    digits::push(&mut out, time.second(), 2, " GMT");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_1123_gmt() {
        let time = DateTime::parse_from_rfc3339("2016-04-04T08:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(rfc1123(time), "Mon, 04 Apr 2016 08:00:00 GMT");
    }

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        // Every day of several years, at times that walk through every hour, minute and second.
        let start = DateTime::parse_from_rfc3339("1999-12-25T00:00:00Z")
            .unwrap()
            .to_utc();
        for step in 0..12_000 {
            let time = start + chrono::Duration::seconds(step * 86_400 + step * 3_797 % 86_400);
            let expected = time.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            assert_eq!(rfc1123(time), expected);
        }
    }

    #[test]
    fn the_signature_is_base64_hmac_sha256_under_the_account_name() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = authorization("acct", b"Jefe", "what do ya want for nothing?");
        let expected = STANDARD.encode(hex_bytes(
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ));
        assert_eq!(header, format!("SharedKey acct:{expected}"));
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
}
