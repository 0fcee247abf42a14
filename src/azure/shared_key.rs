//! SharedKey authorisation, as the Data Collector API and Azure Storage both use it:
//! HMAC-SHA256 over a service-specific string-to-sign, keyed by the decoded account key.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `Authorization` header value: `SharedKey <account>:<base64 HMAC-SHA256(string_to_sign)>`.
pub fn authorization(account: &str, key: &[u8], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    format!("SharedKey {account}:{signature}")
}

/// RFC 1123 date in GMT with English names, as `x-ms-date` requires.
pub fn rfc1123(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
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
