//! Fault injection against the destination: slow answers, connection resets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{fixture, spawn_app_with, TestApp};

/// A TCP proxy in front of `target` that closes the first `resets` connections at once.
async fn flaky_proxy(target: String, resets: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    actix_web::rt::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if accepted.fetch_add(1, Ordering::SeqCst) < resets {
                drop(inbound);
                continue;
            }
            let target = target.clone();
            actix_web::rt::spawn(async move {
                let mut outbound = TcpStream::connect(target.trim_start_matches("http://"))
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    address
}

async fn app_behind_proxy(resets: usize) -> TestApp {
    // The app talks to the proxy; the proxy to this fake, which the test then inspects.
    let fake = crate::helpers::FakeDataCollector::start();
    let proxy = flaky_proxy(fake.url.clone(), resets).await;
    let mut app = spawn_app_with(&[("LOG_ANALYTICS_ENDPOINT", &proxy)]).await;
    app.azure = fake;
    app
}

#[actix_web::test]
async fn connection_resets_are_retried_and_the_rows_delivered_once() {
    let app = app_behind_proxy(2).await;
    let answer = app
        .post_signed("/api/skytap", &fixture("skytap-audit.json"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(app.azure.accepted().len(), 1);
}
