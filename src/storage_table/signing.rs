//! The Table service's SharedKey string-to-sign (the HMAC itself is `azure::shared_key`).

use reqwest::{Method, Url};

/// The Table service's Shared Key string: verb, Content-MD5 (empty), Content-Type, the
/// `x-ms-date` value and `/<account><path>` (no query parameters but `comp`, which is unused).
pub fn string_to_sign(
    method: &Method,
    content_type: &str,
    date: &str,
    account: &str,
    url: &Url,
) -> String {
    format!(
        "{method}\n\n{content_type}\n{date}\n/{account}{}",
        url.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_resource_names_the_account_twice_and_leaves_out_the_query() {
        let url = Url::parse(
            "http://127.0.0.1:10002/devstoreaccount1/claims(PartitionKey='ab',RowKey='cd')?x=1",
        )
        .unwrap();
        assert_eq!(
            string_to_sign(&Method::PUT, "application/json", "D", "devstoreaccount1", &url),
            "PUT\n\napplication/json\nD\n/devstoreaccount1/devstoreaccount1/claims(PartitionKey='ab',RowKey='cd')"
        );
    }
}
