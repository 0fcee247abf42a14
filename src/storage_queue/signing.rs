//! The queue service's SharedKey string-to-sign (the HMAC itself is `azure::shared_key`).

use reqwest::{Method, Url};

/// Recent enough for `messagettl=-1` (2017-07-29) and accepted by Azurite 3.
pub const API_VERSION: &str = "2021-08-06";

/// The content type of every request body sent to the queue service.
pub const CONTENT_TYPE: &str = "application/xml";

/// The Shared Key string-to-sign for the queue service: twelve standard header lines, the
/// `x-ms-` headers, then `/<account><path>` and the query parameters sorted by name.
pub fn string_to_sign(
    method: &Method,
    content_length: usize,
    date: &str,
    account: &str,
    url: &Url,
    query: &[(&str, &str)],
) -> String {
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let content_type = if content_length == 0 {
        ""
    } else {
        CONTENT_TYPE
    };
    let mut resource = format!("/{account}{}", url.path());
    let mut params: Vec<(String, &str)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    params.sort();
    for (name, value) in params {
        resource.push_str(&format!("\n{name}:{value}"));
    }
    format!(
        "{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n{resource}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_resource_names_the_account_twice_and_sorts_parameters() {
        let url = Url::parse("http://127.0.0.1:10001/devstoreaccount1/q/messages?visibilitytimeout=5&numofmessages=2").unwrap();
        let signed = string_to_sign(
            &Method::GET,
            0,
            "D",
            "devstoreaccount1",
            &url,
            &[("visibilitytimeout", "5"), ("numofmessages", "2")],
        );
        assert_eq!(
            signed,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:D\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/q/messages\nnumofmessages:2\nvisibilitytimeout:5"
        );
    }
}
