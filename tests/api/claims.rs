//! Durable claims in Azure Table storage (real Azurite): the table client's guarantees first,
//! then the handler's claims across instances and restarts.

use serde_json::{json, Map, Value};
use webhook_ingest::azure::storage::StorageConfig;
use webhook_ingest::storage_table::{TableClient, TableError};
use webhook_ingest::timeouts::Timeouts;

use crate::azurite::connection_string;

fn client() -> TableClient {
    let config = StorageConfig::from_connection_string(&connection_string()).unwrap();
    TableClient::new(&config, &Timeouts::default())
}

fn unique_table(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}", nanos % 1_000_000_000_000)
}

fn properties(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[actix_web::test]
async fn two_concurrent_inserts_of_one_key_and_exactly_one_wins() {
    let tables = client();
    let table = unique_table("race");
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
    let table = unique_table("etag");
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
    tables.delete_table(&table).await.unwrap();
    tables.delete_table(&table).await.unwrap();
}
