//! The composition root: builds what every request shares from the settings, once.

use crate::delivery::claims::Claims;
use crate::delivery::spill::HELD_SUFFIX;
use crate::delivery::Delivery;
use crate::destinations::{DataCollector, Destination, LocalFile, LogsIngestion};
use crate::schema::TableNames;
use crate::settings::{DestinationConfig, Settings};
use crate::sources::Verifier;
use crate::storage_queue::StorageQueue;
use crate::storage_table::TableClient;
use crate::timeouts::Timeouts;

/// What every request shares.
#[derive(Debug)]
pub struct AppState {
    /// Secrets, Entra ID's signing keys and the subscription allowlist.
    pub verifier: Verifier,
    pub tables: TableNames,
    pub max_body_bytes: usize,
    pub timeouts: Timeouts,
    /// Dedup, group commit, the destination, retries and the spill.
    pub delivery: Delivery,
    /// Where `drain` puts a message whose last try failed: it never expires.
    pub held: Option<StorageQueue>,
}

impl AppState {
    /// Builds the shared state. Delivery attempts run on the current runtime, so call it in the
    /// runtime that outlives the HTTP workers (`main`'s).
    pub fn new(settings: &Settings) -> Self {
        let timeouts = settings.timeouts;
        let destination = match &settings.destination {
            DestinationConfig::LogsIngestion(config) => Destination::LogsIngestion(Box::new(
                LogsIngestion::new((**config).clone(), &timeouts),
            )),
            DestinationConfig::DataCollector(config) => {
                Destination::DataCollector(DataCollector::new(config.clone(), &timeouts))
            }
            DestinationConfig::LocalFile(dir) => {
                Destination::LocalFile(LocalFile::new(dir.clone()))
            }
        };
        let spill = settings
            .spill
            .as_ref()
            .map(|spill| StorageQueue::new(&spill.service, &spill.queue, &timeouts));
        let claims = settings.spill.as_ref().map(|spill| {
            let tables = TableClient::new(&spill.service, &timeouts);
            Claims::new(tables, settings.claims, &settings.claims_table)
        });
        let held = settings.spill.as_ref().map(|spill| {
            let name = format!("{}{HELD_SUFFIX}", spill.queue);
            StorageQueue::new(&spill.service, &name, &timeouts)
        });
        AppState {
            verifier: Verifier::new(&settings.credentials, &timeouts),
            tables: settings.tables.clone(),
            max_body_bytes: settings.max_body_bytes,
            timeouts,
            delivery: Delivery::new(
                destination,
                &settings.tables,
                spill,
                claims,
                settings.dedup_window,
                timeouts,
            ),
            held,
        }
    }
}
