//! The Data Collector string-to-sign: five lines over the body length and the date.

use crate::azure::shared_key;

/// The resource path that is signed (no query string).
pub const RESOURCE: &str = "/api/logs";
/// The only content type the API accepts, exactly, with no charset.
pub const CONTENT_TYPE: &str = "application/json";

/// `POST\n<bytes>\napplication/json\nx-ms-date:<date>\n/api/logs`, no trailing newline.
pub fn string_to_sign(content_length: usize, date: &str) -> String {
    format!("POST\n{content_length}\n{CONTENT_TYPE}\nx-ms-date:{date}\n{RESOURCE}")
}

/// The `Authorization` header value: `SharedKey <workspace id>:<base64 signature>`.
pub fn authorization(workspace_id: &str, key: &[u8], content_length: usize, date: &str) -> String {
    shared_key::authorization(workspace_id, key, &string_to_sign(content_length, date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD, Engine};

    const WORKSPACE: &str = "11111111-2222-3333-4444-555555555555";
    const KEY: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    const DATE: &str = "Mon, 04 Apr 2016 08:00:00 GMT";

    fn key() -> Vec<u8> {
        STANDARD.decode(KEY).unwrap()
    }

    #[test]
    fn the_reference_test_vector_signs_as_published() {
        let body = br#"[{"category":"audit","message_id":"456","Computer":"host-01","Value":42}]"#;
        assert_eq!(body.len(), 73);
        assert_eq!(
            string_to_sign(body.len(), DATE),
            "POST\n73\napplication/json\nx-ms-date:Mon, 04 Apr 2016 08:00:00 GMT\n/api/logs"
        );
        assert_eq!(
            authorization(WORKSPACE, &key(), body.len(), DATE),
            "SharedKey 11111111-2222-3333-4444-555555555555:rmsvfhhaa07mnG7h1sEk2GqEAwcq2M/kn8Y0/n/j2CA="
        );
    }

    #[test]
    fn the_content_length_counts_bytes_not_characters() {
        let body = r#"[{"msg":"café"}]"#;
        assert_eq!(body.len(), 17);
        assert!(authorization(WORKSPACE, &key(), body.len(), DATE)
            .ends_with(":ER6VSgD6NrHurbFi3ip/ZFYApeMY1E8QF9/XxltZWmc="));
    }
}
