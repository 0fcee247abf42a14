//! The local destination: appends rows to `<dir>/<Table>.jsonl`, one JSON object per line, durably.
//! It previews what Azure would store: columns in the schema's order, and values cut to the
//! Logs Ingestion limit (64 KB) with the same marker and `Truncated` column.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::logs_ingestion::LIMITS;
use super::{batch, DeliveryError};
use crate::schema::{Row, TableName};

/// JSON Lines files under one directory.
#[derive(Debug, Clone)]
pub struct LocalFile {
    dir: PathBuf,
    // Appends are serialised so lines of concurrent webhooks never interleave.
    lock: Arc<Mutex<()>>,
}

impl LocalFile {
    pub fn new(dir: PathBuf) -> Self {
        LocalFile {
            dir,
            lock: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a table's rows go to.
    pub fn path(&self, table: &TableName) -> PathBuf {
        self.dir.join(format!("{table}.jsonl"))
    }

    /// Appends the rows and syncs them to disk before returning. On failure nothing is left behind.
    pub async fn append(&self, table: &TableName, rows: &[Row]) -> Result<(), DeliveryError> {
        let mut lines = Vec::new();
        for row in rows {
            let json = batch::fit(row, LIMITS.field_bytes, LIMITS, |row| Ok(row.to_json(None)))?;
            lines.extend_from_slice(&json);
            lines.push(b'\n');
        }
        let path = self.path(table);
        let lock = Arc::clone(&self.lock);
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            append_durably(&target, &lines)
        })
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join)));
        written.map_err(|source| DeliveryError::Write {
            path: path.display().to_string(),
            source: Arc::new(source),
        })
    }
}

fn append_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    if let Err(error) = file.write_all(bytes).and_then(|()| file.sync_data()) {
        // Cut off a partial write so the file never holds half a webhook.
        let _ = file.set_len(before);
        return Err(error);
    }
    if before == 0 {
        // A new file is durable only once its directory entry is.
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Provenance, Table};
    use chrono::Utc;

    #[tokio::test]
    async fn rows_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalFile::new(dir.path().join("nested"));
        let table = TableName::parse("T").unwrap();
        let provenance = Provenance {
            source: "skytap",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        let row = Row::new(Table::SkytapAudit, &provenance, Utc::now());
        sink.append(&table, &[row.clone(), row.clone()])
            .await
            .unwrap();
        sink.append(&table, &[row]).await.unwrap();
        let text = fs::read_to_string(sink.path(&table)).unwrap();
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["MessageId"], "m");
        }
    }

    #[tokio::test]
    async fn a_value_over_the_azure_limit_is_cut_as_azure_would_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LocalFile::new(dir.path().to_owned());
        let table = TableName::parse("T").unwrap();
        let provenance = Provenance {
            source: "auditwolf",
            message_id: Some("m".into()),
            received: Utc::now(),
        };
        let mut row = Row::new(Table::AuditWolf, &provenance, Utc::now());
        row.text("Summary", Some(&"x".repeat(1_000_000)));
        sink.append(&table, &[row]).await.unwrap();
        let line = fs::read_to_string(sink.path(&table)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let summary = value["Summary"].as_str().unwrap();
        assert!(summary.len() <= LIMITS.field_bytes, "{}", summary.len());
        assert!(summary.ends_with(crate::schema::TRUNCATION_MARKER));
        assert_eq!(value["Truncated"], "Summary");
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_a_delivery_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let sink = LocalFile::new(blocker.join("sub"));
        let table = TableName::parse("T").unwrap();
        let provenance = Provenance {
            source: "skytap",
            message_id: None,
            received: Utc::now(),
        };
        let row = Row::new(Table::SkytapAudit, &provenance, Utc::now());
        assert!(matches!(
            sink.append(&table, &[row]).await,
            Err(DeliveryError::Write { .. })
        ));
    }
}
