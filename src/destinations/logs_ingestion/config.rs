//! The Logs Ingestion destination's settings: endpoint, DCR, streams, credential, audience.

use std::collections::HashMap;

use reqwest::Url;

use crate::azure::identity::Credential;
use crate::schema::Table;

/// A data collection rule's immutable id: `dcr-` followed by 32 hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcrId(String);

impl DcrId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let hex = value.strip_prefix("dcr-").unwrap_or_default();
        if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "`{value}` is not a DCR immutable id: expected `dcr-` and 32 hex digits (the DCR's `immutableId`, not its name or resource id)"
            ));
        }
        Ok(DcrId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything the Logs Ingestion client needs.
#[derive(Clone, Debug)]
pub struct LogsIngestionConfig {
    /// The DCR's logs ingestion endpoint or a DCE's.
    pub endpoint: Url,
    pub dcr_id: DcrId,
    /// The DCR input stream for each table, `Custom-<Table>_CL` by default.
    pub streams: HashMap<Table, String>,
    pub credential: Credential,
    /// Token audience: `https://monitor.azure.com` in the public cloud.
    pub audience: String,
}

impl LogsIngestionConfig {
    pub fn stream(&self, table: Table) -> &str {
        &self.streams[&table]
    }
}

/// The audience of the public cloud (`https://monitor.azure.us`, `https://monitor.azure.cn` elsewhere).
pub fn default_audience() -> String {
    "https://monitor.azure.com".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcr_ids_are_dcr_and_32_hex_digits() {
        assert!(DcrId::parse("dcr-000a00a000a00000a000000aa000a0aa").is_ok());
        assert!(DcrId::parse("dcr-000a00a000a00000a000000aa000a0a").is_err());
        assert!(DcrId::parse("my-dcr").is_err());
        assert!(DcrId::parse("/subscriptions/x/dataCollectionRules/my-dcr").is_err());
    }
}
