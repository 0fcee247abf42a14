//! The Data Collector destination's settings: workspace id, shared key, endpoint.

use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretSlice};

use crate::azure::is_guid;

/// A Log Analytics workspace id (a GUID, the "customer id").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_lowercase();
        if !is_guid(&value) {
            return Err(format!(
                "`{value}` is not a workspace id: expected a GUID like 11111111-2222-3333-4444-555555555555"
            ));
        }
        Ok(WorkspaceId(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The workspace's primary or secondary key, decoded from base64. `Debug` never shows it.
#[derive(Clone)]
pub struct SharedKey(SecretSlice<u8>);

impl SharedKey {
    pub fn parse(value: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(value.trim()).map_err(|_| {
            "is not base64: copy the workspace's primary or secondary key".to_owned()
        })?;
        if bytes.is_empty() {
            return Err("is empty".into());
        }
        Ok(SharedKey(bytes.into()))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKey([redacted])")
    }
}

/// Everything the Data Collector client needs.
#[derive(Clone, Debug)]
pub struct DataCollectorConfig {
    pub workspace_id: WorkspaceId,
    pub shared_key: SharedKey,
    /// Base URL, `https://<workspace id>.ods.opinsights.azure.com` unless overridden.
    pub endpoint: Url,
}

impl DataCollectorConfig {
    /// The public-cloud endpoint of a workspace.
    pub fn default_endpoint(workspace_id: &WorkspaceId) -> Url {
        Url::parse(&format!(
            "https://{}.ods.opinsights.azure.com",
            workspace_id.as_str()
        ))
        .expect("a GUID makes a valid host name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_must_be_guids() {
        assert!(WorkspaceId::parse("11111111-2222-3333-4444-555555555555").is_ok());
        assert_eq!(
            WorkspaceId::parse("ABCDEF01-2222-3333-4444-555555555555")
                .unwrap()
                .as_str(),
            "abcdef01-2222-3333-4444-555555555555"
        );
        assert!(WorkspaceId::parse("my-workspace").is_err());
    }

    #[test]
    fn shared_keys_must_be_base64_and_never_print() {
        assert!(SharedKey::parse("not base64!").is_err());
        let key = SharedKey::parse("dGVzdA==").unwrap();
        assert_eq!(key.bytes(), b"test");
        assert!(!format!("{key:?}").contains("dGVzdA"));
    }
}
