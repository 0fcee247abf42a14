//! Durable claims in Azure Table storage (real Azurite): the table client's guarantees first,
//! then the handler's claims across instances and restarts.

use serde_json::{json, Map, Value};
use webhook_ingest::azure::storage::StorageConfig;
use webhook_ingest::storage_table::{TableClient, TableError};
use webhook_ingest::timeouts::Timeouts;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::azurite::connection_string;
use crate::binary::{handler, start_logging, Running};
use crate::fake_ingestion::{spawn_ingestion_app, FakeLogsIngestion};
use crate::helpers::{fixture_with_id, unique_name, Answer, TestApp};
use crate::storage_proxy::StorageProxy;

fn client() -> TableClient {
    let config = StorageConfig::from_connection_string(&connection_string()).unwrap();
    TableClient::new(&config, &Timeouts::default())
}

fn properties(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[actix_web::test]
async fn two_concurrent_inserts_of_one_key_and_exactly_one_wins() {
    let tables = client();
    let table = unique_name("race");
    tables.create_table(&table).await.unwrap();
    tables.create_table(&table).await.unwrap();
    let key = ("ab", "abcdef");
    let inserts = (0..8).map(|i| {
        let (tables, table) = (&tables, &table);
        async move {
            let owner = properties(json!({ "Owner": format!("instance-{i}") }));
            tables.insert(table, key, &owner).await
        }
    });
    let results = futures_util::future::join_all(inserts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(TableError::Conflict)))
        .count();
    assert_eq!((won, lost), (1, 7));
}

#[actix_web::test]
async fn a_replace_with_a_stale_etag_is_refused_and_the_service_clock_is_read() {
    let tables = client();
    let table = unique_name("etag");
    tables.create_table(&table).await.unwrap();
    let key = ("cd", "0123");
    let first = tables
        .insert(&table, key, &properties(json!({"State": "InFlight"})))
        .await
        .unwrap();
    let second = tables
        .replace(
            &table,
            key,
            &properties(json!({"State": "Committed"})),
            &first.etag,
        )
        .await
        .unwrap();
    assert_ne!(first.etag, second.etag);
    let stale = tables
        .replace(
            &table,
            key,
            &properties(json!({"State": "Lost"})),
            &first.etag,
        )
        .await;
    assert!(matches!(stale, Err(TableError::Changed)), "{stale:?}");
    let read = tables.get(&table, key).await.unwrap().unwrap();
    assert_eq!(read.properties["State"], "Committed");
    assert_eq!(read.etag, second.etag);
    let (written, now) = (read.timestamp.unwrap(), read.date.unwrap());
    assert!(
        (now - written).num_seconds().abs() <= 5,
        "{written} vs {now}"
    );
    assert!(tables.get(&table, ("cd", "none")).await.unwrap().is_none());
    // A delete is conditional too, and one already gone is fine.
    let stale = tables.delete(&table, key, &first.etag).await;
    assert!(matches!(stale, Err(TableError::Changed)), "{stale:?}");
    tables.delete(&table, key, &second.etag).await.unwrap();
    assert!(tables.get(&table, key).await.unwrap().is_none());
    tables.delete(&table, key, &second.etag).await.unwrap();
    tables.delete_table(&table).await.unwrap();
    tables.delete_table(&table).await.unwrap();
}

/// Rows the fake accepted, as (MessageId, EventId), sorted.
fn delivered(azure: &FakeLogsIngestion) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = azure
        .rows()
        .iter()
        .map(|row| {
            let text = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
            (text("MessageId"), text("EventId"))
        })
        .collect();
    rows.sort();
    rows
}

/// Every (message, event) the Skytap audit fixture gives for these message ids, sorted.
fn expected(ids: &[String]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = ids
        .iter()
        .flat_map(|id| ["9871234", "9871235"].map(|event| (id.clone(), event.to_owned())))
        .collect();
    rows.sort();
    rows
}

/// The settings of one instance of the app: Logs Ingestion at the fake, Azurite for the spill
/// queue and the claims, `claims` naming the claims shared by every instance.
fn instance_settings(azure: &FakeLogsIngestion, claims: &str) -> Vec<(String, String)> {
    let mut settings = azure.managed_identity_settings();
    settings.extend([
        ("AzureWebJobsStorage".to_owned(), connection_string()),
        ("SPILL_QUEUE".to_owned(), unique_name("spill")),
        ("CLAIMS_TABLE".to_owned(), claims.to_owned()),
    ]);
    settings
}

async fn post_skytap(app: &TestApp, id: &str) -> Answer {
    let body = fixture_with_id("skytap-audit.json", id);
    app.post("/api/skytap", &body, &[]).await
}

#[actix_web::test]
async fn after_a_restart_webhooks_already_answered_are_duplicates_and_nothing_is_written_again() {
    let azure = FakeLogsIngestion::start();
    let claims = unique_name("restart");
    let ids: Vec<String> = (0..10).map(|i| format!("restart-{i}")).collect();
    let first = spawn_ingestion_app(instance_settings(&azure, &claims)).await;
    for id in &ids {
        let answer = post_skytap(&first, id).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    // A new instance: nothing in its memory, everything in Storage.
    let restarted = spawn_ingestion_app(instance_settings(&azure, &claims)).await;
    for id in &ids {
        let answer = post_skytap(&restarted, id).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert_eq!(answer.json["duplicate"], true, "{id}: {}", answer.json);
    }
    assert_eq!(delivered(&azure), expected(&ids));
}

#[actix_web::test]
async fn with_storage_down_claims_fall_back_to_memory_or_refuse_as_the_setting_says() {
    let azure = FakeLogsIngestion::start();
    let down = format!("{}/devstoreaccount1", crate::helpers::closed_port_url());
    let storage = connection_string().replace(&crate::azurite::azurite().table_endpoint, &down);
    for (mode, status) in [("auto", 200), ("required", 503)] {
        let mut settings = instance_settings(&azure, &unique_name("down"));
        settings.push(("AzureWebJobsStorage".into(), storage.clone()));
        settings.push(("DURABLE_CLAIMS".into(), mode.into()));
        let app = spawn_ingestion_app(settings).await;
        let id = format!("down-{mode}");
        let answer = post_skytap(&app, &id).await;
        assert_eq!(answer.status, status, "{mode}: {}", answer.json);
        if status == 503 {
            let error = answer.json["error"].as_str().unwrap();
            assert!(error.contains("claimed in Storage"), "{error}");
            assert!(answer.retry_after.is_some());
        }
    }
    assert_eq!(delivered(&azure), expected(&["down-auto".to_owned()]));
}

#[actix_web::test]
async fn three_instances_behind_a_router_write_every_event_exactly_once() {
    let azure = FakeLogsIngestion::start();
    // A quarter of requests commit after 3 s; senders give up after 2 s and retry elsewhere.
    azure.slow_every(4, Duration::from_secs(3));
    let claims = unique_name("scaleout");
    let dir = tempfile::tempdir().unwrap();
    let settings = instance_settings(&azure, &claims);
    let log = Log::default();
    let instances: Vec<_> = (0..3)
        .map(|_| start_instance(dir.path(), &settings, &log))
        .collect();
    let addresses: Vec<String> = instances.iter().map(|(_, a)| a.clone()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..60).map(|i| format!("scaleout-{i}")).collect();
    let senders = ids.iter().enumerate().map(|(i, id)| {
        let (client, addresses) = (&client, &addresses);
        async move {
            let body = fixture_with_id("skytap-audit.json", id);
            let mut pick = i * 7 + 3;
            for _ in 0..40 {
                pick = (pick * 1_103_515_245 + 12_345) % 2_147_483_648;
                let address = &addresses[(pick >> 8) % addresses.len()];
                let sent = client
                    .post(format!("{address}/api/skytap"))
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(answer) = sent {
                    if answer.status().is_success() {
                        return true;
                    }
                }
                actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    });
    let answered = futures_util::future::join_all(senders).await;
    assert!(answered.iter().all(|ok| *ok), "every sender got a 2xx");
    // Attempts that outlived their senders have committed by now.
    actix_web::rt::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        delivered(&azure),
        expected(&ids),
        "every event exactly once"
    );
    drop(instances);
}

/// Every line an instance logs, on either stream.
type Log = Arc<Mutex<Vec<String>>>;

/// Starts one instance of the app as its own process; its log lines are collected in `log`
/// as they come (so its pipes never fill).
fn start_instance(dir: &Path, settings: &[(String, String)], log: &Log) -> (Running, String) {
    let mut command = handler(dir);
    command.env("FUNCTIONS_CUSTOMHANDLER_PORT", "0");
    command.envs(settings.iter().map(|(name, value)| (name, value)));
    let (mut process, address, stdout) = start_logging(command);
    let stderr = BufReader::new(process.0.stderr.take().unwrap());
    let streams: [Box<dyn BufRead + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
    for stream in streams {
        let log = Arc::clone(log);
        std::thread::spawn(move || {
            for line in stream.lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    (process, address)
}

/// Rows the logged takeovers said may be written again (`unknown_rows=`), summed.
fn counted_unknown_rows(log: &Log) -> usize {
    let log = log.lock().unwrap();
    log.iter()
        .filter(|line| line.contains("Took over a claim"))
        .map(|line| {
            let value = line.split("unknown_rows=").nth(1).unwrap_or_default();
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().unwrap()
        })
        .sum()
}

#[actix_web::test]
async fn instances_killed_mid_delivery_lose_nothing_and_write_again_only_rows_they_counted() {
    let azure = FakeLogsIngestion::start();
    // Every request takes 300 ms at the destination, so a kill often lands mid-attempt; the
    // destination commits what it received even when the instance that sent it is gone.
    azure.delay_with(Duration::from_millis(300));
    let mut settings = instance_settings(&azure, &unique_name("sigkill"));
    // A short deadline keeps the leases of killed instances short (deadline + 40 s).
    settings.push(("DELIVERY_TIMEOUT_SECONDS".into(), "2".into()));
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let mut instances: Vec<(Running, String)> = (0..3)
        .map(|_| start_instance(dir.path(), &settings, &log))
        .collect();
    let addresses = Arc::new(Mutex::new(
        instances.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let ids: Vec<String> = (0..90).map(|i| format!("sigkill-{i}")).collect();
    let senders = ids.iter().enumerate().map(|(i, id)| {
        let (client, addresses) = (&client, &addresses);
        async move {
            // Arrivals spread over the 6 s of kills.
            actix_web::rt::time::sleep(Duration::from_millis(i as u64 * 65)).await;
            let body = fixture_with_id("skytap-audit.json", id);
            let mut pick = i * 7 + 3;
            let give_up = std::time::Instant::now() + Duration::from_secs(150);
            while std::time::Instant::now() < give_up {
                pick = (pick * 1_103_515_245 + 12_345) % 2_147_483_648;
                let address = {
                    let addresses = addresses.lock().unwrap();
                    addresses[(pick >> 8) % addresses.len()].clone()
                };
                let sent = client
                    .post(format!("{address}/api/skytap"))
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|answer| answer.status().is_success()) {
                    return true;
                }
                actix_web::rt::time::sleep(Duration::from_millis(500)).await;
            }
            false
        }
    });
    let killer = async {
        for round in 0..8_usize {
            actix_web::rt::time::sleep(Duration::from_millis(700)).await;
            let victim = (round * 5 + 1) % instances.len();
            // SIGKILL, as the Functions host stops a handler; a new instance takes its place.
            instances[victim].0 .0.kill().unwrap();
            let (settings, log, dir) = (settings.clone(), Arc::clone(&log), dir.path().to_owned());
            let fresh =
                actix_web::rt::task::spawn_blocking(move || start_instance(&dir, &settings, &log));
            instances[victim] = fresh.await.unwrap();
            addresses.lock().unwrap()[victim] = instances[victim].1.clone();
        }
    };
    let (answered, ()) = tokio::join!(futures_util::future::join_all(senders), killer);
    assert!(answered.iter().all(|ok| *ok), "every sender got a 2xx");
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;

    let rows = delivered(&azure);
    let mut distinct = rows.clone();
    distinct.dedup();
    assert_eq!(distinct, expected(&ids), "every event, none lost");
    let written_again = rows.len() - distinct.len();
    let counted = counted_unknown_rows(&log);
    eprintln!("written again: {written_again} rows; counted by takeovers: {counted}");
    assert!(
        written_again <= counted,
        "{written_again} rows written again, only {counted} counted by takeovers"
    );
    drop(instances);
}

#[actix_web::test]
async fn a_new_webhook_costs_three_table_requests_and_a_copy_at_another_instance_no_more() {
    let azure = FakeLogsIngestion::start();
    let proxy = StorageProxy::tables();
    let mut settings = instance_settings(&azure, &unique_name("cost"));
    settings.push(("AzureWebJobsStorage".into(), proxy.connection_string()));
    let first = spawn_ingestion_app(settings.clone()).await;
    let second = spawn_ingestion_app(settings).await;
    // Each instance's first claim also creates today's table and drops an expired one.
    for (app, id) in [(&first, "cost-warm-1"), (&second, "cost-warm-2")] {
        assert_eq!(post_skytap(app, id).await.status, 200);
    }
    let entity_requests = |from: usize| {
        let requests = proxy.requests();
        let entity = |path: &String| !path.ends_with("/Tables") && !path.contains("Tables('");
        assert!(requests[from..].iter().all(|(_, path)| entity(path)));
        requests.len() - from
    };
    let before = proxy.requests().len();
    let answer = post_skytap(&first, "cost-new").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(entity_requests(before), 3, "{:?}", proxy.requests());
    let before = proxy.requests().len();
    let answer = post_skytap(&second, "cost-new").await;
    assert_eq!(answer.json["duplicate"], true, "{}", answer.json);
    assert!(entity_requests(before) <= 3, "{:?}", proxy.requests());
    // Remembered there now: the next copy never touches Storage.
    let before = proxy.requests().len();
    let answer = post_skytap(&second, "cost-new").await;
    assert_eq!(answer.json["duplicate"], true, "{}", answer.json);
    assert_eq!(entity_requests(before), 0);
}

#[actix_web::test]
async fn a_live_claim_is_waited_for_and_an_expired_one_taken_over_by_the_services_clock() {
    use tokio::time::Instant;
    use webhook_ingest::delivery::claims::{Claims, ClaimsMode, Durable, End};
    let prefix = unique_name("lease");
    let first = Claims::new(client(), ClaimsMode::Auto, &prefix);
    let second = Claims::new(client(), ClaimsMode::Auto, &prefix);
    let digest = "0123456789abcdef0123456789abcdef";
    let soon = || Instant::now() + Duration::from_millis(600);
    let Durable::Ours(lease) = first
        .claim(digest, soon(), Duration::from_secs(2))
        .await
        .unwrap()
    else {
        panic!("the first claim is ours");
    };
    assert!(
        matches!(
            second
                .claim(digest, soon(), Duration::from_secs(2))
                .await
                .unwrap(),
            Durable::Busy
        ),
        "a live lease makes a copy wait, then answer busy"
    );
    // The lease (2 s, and a second for the Date header's resolution) runs out by Storage's clock.
    actix_web::rt::time::sleep(Duration::from_millis(3_500)).await;
    let later = Instant::now() + Duration::from_secs(5);
    let Durable::Ours(taken) = second
        .claim(digest, later, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("an expired claim is taken over");
    };
    // The first owner's late outcome is not recorded over the new owner's claim.
    first.finish(lease, End::Committed).await.unwrap();
    assert!(matches!(
        first
            .claim(digest, soon(), Duration::from_secs(2))
            .await
            .unwrap(),
        Durable::Busy
    ));
    second.finish(taken, End::Committed).await.unwrap();
    assert!(matches!(
        first
            .claim(digest, soon(), Duration::from_secs(2))
            .await
            .unwrap(),
        Durable::Duplicate
    ));
}

#[actix_web::test]
async fn a_copy_of_a_webhook_claimed_yesterday_is_a_duplicate_and_leaves_no_claim_today() {
    use webhook_ingest::delivery::claims::{Claims, ClaimsMode, Durable};
    let prefix = unique_name("days");
    let day = |days_ago: i64| {
        let date = chrono::Utc::now().date_naive() - chrono::TimeDelta::days(days_ago);
        format!("{prefix}{}", date.format("%Y%m%d"))
    };
    let tables = client();
    let digest = "fedcba9876543210fedcba9876543210";
    let key = (&digest[..2], digest);
    tables.create_table(&day(1)).await.unwrap();
    let committed = properties(json!({"State": "Committed", "Attempt": 1}));
    tables.insert(&day(1), key, &committed).await.unwrap();
    let claims = Claims::new(client(), ClaimsMode::Auto, &prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let claimed = claims
        .claim(digest, deadline, Duration::from_secs(10))
        .await;
    assert!(matches!(claimed.unwrap(), Durable::Duplicate));
    assert!(tables.get(&day(0), key).await.unwrap().is_none());
    // A key from the day before yesterday is forgotten: its table is dropped whole.
    tables.create_table(&day(2)).await.unwrap();
    // A new process's first claim drops it.
    let restarted = Claims::new(client(), ClaimsMode::Auto, &prefix);
    let other = "00000000000000000000000000000000";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    restarted
        .claim(other, deadline, Duration::from_secs(10))
        .await
        .unwrap();
    let dropped = tables.insert(&day(2), key, &committed).await;
    assert!(
        matches!(dropped, Err(TableError::Refused { status: 404, .. })),
        "{dropped:?}"
    );
}

/// A table endpoint in front of Azurite that passes each request on (one per connection) but
/// drops the connection without an answer after passing on the first entity insert.
async fn table_proxy_losing_the_first_insert_answer() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let upstream = crate::azurite::azurite().table_endpoint.clone();
    let origin = upstream.trim_end_matches("/devstoreaccount1").to_owned();
    actix_web::rt::spawn(async move {
        let mut lost = false;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            let (head, body) = loop {
                let read = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break (
                            text[..end].to_owned(),
                            request[end + 4..end + 4 + length].to_vec(),
                        );
                    }
                }
            };
            let mut lines = head.lines();
            let mut start = lines.next().unwrap().split(' ');
            let (method, path) = (
                start.next().unwrap().to_owned(),
                start.next().unwrap().to_owned(),
            );
            let mut forward = reqwest::Client::new().request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{origin}{path}"),
            );
            for line in lines {
                let (name, value) = line.split_once(':').unwrap();
                if !["host", "content-length", "connection"]
                    .contains(&name.to_ascii_lowercase().as_str())
                {
                    forward = forward.header(name.trim(), value.trim());
                }
            }
            let answer = forward.body(body).send().await.unwrap();
            let is_insert = method == "POST" && !path.ends_with("/Tables");
            if is_insert && !lost {
                lost = true;
                continue; // the socket is dropped unanswered
            }
            let status = answer.status();
            let headers: Vec<String> = answer
                .headers()
                .iter()
                .filter(|(n, _)| {
                    !["content-length", "connection", "transfer-encoding"].contains(&n.as_str())
                })
                .map(|(n, v)| format!("{n}: {}\r\n", v.to_str().unwrap()))
                .collect();
            let body = answer.bytes().await.unwrap();
            let head = format!(
                "HTTP/1.1 {} {}\r\n{}content-length: {}\r\nconnection: close\r\n\r\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                headers.concat(),
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(&body).await.unwrap();
        }
    });
    format!("http://{address}/devstoreaccount1")
}

#[actix_web::test]
async fn an_insert_whose_answer_was_lost_is_recognised_as_ours() {
    use tokio::time::Instant;
    use webhook_ingest::delivery::claims::{Claims, ClaimsMode, Durable};
    let proxy = table_proxy_losing_the_first_insert_answer().await;
    let connection = connection_string().replace(&crate::azurite::azurite().table_endpoint, &proxy);
    let config = StorageConfig::from_connection_string(&connection).unwrap();
    let claims = Claims::new(
        TableClient::new(&config, &Timeouts::default()),
        ClaimsMode::Auto,
        &unique_name("lost"),
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    let claimed = claims
        .claim(
            "fedcba9876543210fedcba9876543210",
            deadline,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(
        matches!(claimed, Durable::Ours(_)),
        "the landed insert is ours"
    );
}
