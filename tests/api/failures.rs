//! Bad payloads, limits and destination failures: each gets its documented status, and 4xx delivers nothing.

use std::io::{Read, Write};

use crate::helpers::{closed_port_url, fixture, spawn_app, spawn_app_with};

#[actix_web::test]
async fn malformed_json_is_a_400_that_says_so() {
    let app = spawn_app().await;
    for route in ["/api/skytap", "/api/webhook"] {
        let answer = app.post_signed(route, b"{\"category\": ").await;
        assert_eq!(answer.status, 400);
        assert!(answer.json["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON"));
    }
    assert!(app.azure.accepted().is_empty() && app.azure.rejected().is_empty());
}

#[actix_web::test]
async fn an_unknown_shape_is_a_400_naming_what_was_expected() {
    let app = spawn_app().await;
    let answer = app
        .post_signed("/api/webhook", br#"{"hello": "world"}"#)
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.json["error"]
        .as_str()
        .unwrap()
        .contains("`schemaId`"));
    let answer = app
        .post_signed("/api/azuremonitor", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"], "`schemaId` is missing");
    let answer = app
        .post_signed(
            "/api/skytap",
            br#"{"category":"usage","message_id":"1","timestamp":"soon","payload":[]}"#,
        )
        .await;
    assert_eq!(
        answer.json["error"],
        "`timestamp` is not an ISO 8601 time: `soon`"
    );
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn an_empty_body_is_a_400() {
    let app = spawn_app().await;
    let answer = app.post("/api/skytap", b"", &[]).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json["error"].as_str().unwrap().contains("empty"));
}

#[actix_web::test]
async fn an_oversized_body_is_a_413_and_nothing_is_delivered() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let mut body = fixture("skytap-audit.json");
    body.extend(std::iter::repeat_n(b' ', 2048));
    let answer = app.post("/api/skytap", &body, &[]).await;
    assert_eq!(answer.status, 413);
    assert!(answer.json["error"]
        .as_str()
        .unwrap()
        .contains("2048 bytes"));
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn an_oversized_chunked_body_without_content_length_is_a_413() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let response = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let chunk = "x".repeat(1000);
        let mut request = String::from("POST /api/skytap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for _ in 0..3 {
            request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        request.push_str("0\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_destination_answering_500_is_a_503_with_retry_after() {
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    app.azure.answer_with(500);
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after.as_deref(), Some("30"));
    assert_eq!(
        answer.json["error"],
        "the rows were not delivered (Log Analytics answered HTTP 500); retry later"
    );
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_destination_answering_a_redirect_is_not_followed_and_the_webhook_is_a_503() {
    // An endpoint setting that points at something that redirects (a portal, a front door):
    // followed, a 301, 302 or 303 became a GET that a page answered 200, so the webhook was
    // answered 200 with its rows delivered nowhere. A 307 or 308 must fail the same way.
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    for status in [301, 302, 303, 307, 308] {
        app.azure.answer_with(status);
        let answer = app
            .post_signed("/api/stackstate", &fixture("stackstate-open.json"))
            .await;
        assert_eq!(answer.status, 503, "{status}: {}", answer.json);
        assert!(answer.retry_after.is_some(), "{status}");
        let error = answer.json["error"].as_str().unwrap();
        assert!(error.contains(&format!("HTTP {status}")), "{error}");
    }
    assert_eq!(app.azure.moved(), 0, "no redirect was followed");
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_destination_answering_a_2xx_other_than_200_is_not_the_api_and_the_webhook_is_a_503() {
    // The Data Collector API accepts with 200 and nothing else. Another 2xx comes from something
    // that is not the API (a mock, a gateway, a page), which stores nothing: counted as
    // delivered, the webhook would be answered 200 with its rows lost.
    let app = spawn_app_with(&[("DELIVERY_TIMEOUT_SECONDS", "0.5")]).await;
    for status in [201, 202, 204] {
        app.azure.answer_with(status);
        let answer = app
            .post_signed("/api/stackstate", &fixture("stackstate-open.json"))
            .await;
        assert_eq!(answer.status, 503, "{status}: {}", answer.json);
        let error = answer.json["error"].as_str().unwrap();
        assert!(error.contains(&format!("HTTP {status}")), "{error}");
    }
    assert!(app.azure.accepted().is_empty());
    app.azure.answer_with(200);
    let answer = app
        .post_signed("/api/stackstate", &fixture("stackstate-open.json"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(app.azure.accepted().len(), 1);
}

#[actix_web::test]
async fn a_destination_answering_403_is_a_503_with_retry_after() {
    let app = spawn_app().await;
    app.azure.answer_with(403);
    let answer = app
        .post_signed("/api/stackstate", &fixture("stackstate-open.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert!(answer.retry_after.is_some());
    assert!(app.azure.accepted().is_empty());
}

#[actix_web::test]
async fn a_wrong_shared_key_is_refused_by_azure_and_answered_503() {
    let app = spawn_app_with(&[("LOG_ANALYTICS_SHARED_KEY", "d3Jvbmcta2V5")]).await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(app.azure.rejected(), ["InvalidAuthorization: signature"]);
}

#[actix_web::test]
async fn an_unreachable_destination_is_a_503() {
    let url = closed_port_url();
    let app = spawn_app_with(&[
        ("LOG_ANALYTICS_ENDPOINT", &url),
        ("DELIVERY_TIMEOUT_SECONDS", "0.5"),
    ])
    .await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.json["error"],
        "the rows were not delivered (Log Analytics could not be reached); retry later"
    );
}

#[actix_web::test]
async fn a_local_file_that_cannot_be_written_is_a_503() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let sink = blocker.join("data");
    let app = spawn_app_with(&[
        ("LOG_ANALYTICS_WORKSPACE_ID", ""),
        ("LOG_ANALYTICS_SHARED_KEY", ""),
        ("LOCAL_SINK_DIR", sink.to_str().unwrap()),
    ])
    .await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 503);
    assert!(answer.retry_after.is_some());
}

#[actix_web::test]
async fn the_local_destination_writes_nothing_for_a_rejected_request() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(&[
        ("LOG_ANALYTICS_WORKSPACE_ID", ""),
        ("LOG_ANALYTICS_SHARED_KEY", ""),
        ("LOCAL_SINK_DIR", dir.path().to_str().unwrap()),
    ])
    .await;
    let body = fixture("auditwolf-task-create.json");
    let answer = app
        .post(
            "/api/auditwolf",
            &body,
            &[("x-auditwolf-webhook-sig", "AAAA")],
        )
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let answer = app.post_signed("/api/auditwolf", &body).await;
    assert_eq!(answer.status, 200);
    let text = std::fs::read_to_string(dir.path().join("AuditWolf.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 1);
}

#[actix_web::test]
async fn an_empty_skytap_payload_is_accepted_with_zero_rows_and_no_post() {
    let app = spawn_app().await;
    let body =
        br#"{"category":"usage","message_id":"m","timestamp":"2019-06-07T23:41:17Z","payload":[]}"#;
    let answer = app.post_signed("/api/skytap", body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["rows"], 0);
    assert!(app.azure.accepted().is_empty());
}
