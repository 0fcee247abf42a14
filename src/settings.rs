//! Typed settings, read once at startup from the environment, then `local.settings.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reqwest::Url;
use tracing_subscriber::filter::Targets;

use crate::destinations::data_collector::{DataCollectorConfig, SharedKey, WorkspaceId};
use crate::schema::{Table, TableName};
use crate::sources::{Credentials, Secrets};

/// The file `func start` reads; the binary reads its `Values` too when run on its own.
pub const LOCAL_SETTINGS_FILE: &str = "local.settings.json";
const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";

/// A setting that is missing or wrong; the process stops with this message.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("setting {setting} {problem}")]
pub struct SettingsError {
    pub setting: String,
    pub problem: String,
}

fn invalid(setting: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// Where rows are delivered.
#[derive(Clone, Debug)]
pub enum DestinationConfig {
    /// `LOG_ANALYTICS_WORKSPACE_ID` and `LOG_ANALYTICS_SHARED_KEY` are set.
    DataCollector(DataCollectorConfig),
    /// No Azure destination: JSON Lines files under `LOCAL_SINK_DIR`.
    LocalFile(PathBuf),
}

/// Everything the handler is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`: set by the Functions host; 7071 when run alone.
    pub port: u16,
    /// Data Collector when its settings are present, else local files.
    pub destination: DestinationConfig,
    /// `AUDITWOLF_SECRETS`, `STACKSTATE_TOKENS`, `AZURE_MONITOR_TOKENS`, `SKYTAP_TOKENS`.
    pub credentials: Credentials,
    /// `SKYTAP_AUDIT_TABLE` and the other table names.
    pub tables: TableNames,
    /// `MAX_BODY_BYTES`: larger requests are answered 413.
    pub max_body_bytes: usize,
    /// `RUST_LOG`: log filter, `info` by default (e.g. `warn,webhook_ingest=debug`).
    pub log_filter: Targets,
}

/// The port `func start` uses, so local URLs are the same with and without the host.
pub fn default_port() -> u16 {
    7071
}

/// Where local rows go when no Azure destination is set.
pub fn default_sink_dir() -> PathBuf {
    PathBuf::from("./data")
}

/// 4 MiB: well above an Azure common-schema alert (256 KB) and a large Skytap batch.
pub fn default_max_body_bytes() -> usize {
    4 * 1024 * 1024
}

/// The Functions host refuses requests over 100 MB, so a larger limit would never apply.
const MAX_BODY_CEILING: usize = 104_857_600;

/// The configured name of each table.
#[derive(Clone, Debug)]
pub struct TableNames(HashMap<Table, TableName>);

impl TableNames {
    pub fn name(&self, table: Table) -> &TableName {
        &self.0[&table]
    }
}

/// Every setting the handler reads (the README documents each; infrastructure must set only these).
pub const SETTING_NAMES: [&str; 16] = [
    "FUNCTIONS_CUSTOMHANDLER_PORT",
    "LOG_ANALYTICS_WORKSPACE_ID",
    "LOG_ANALYTICS_SHARED_KEY",
    "LOG_ANALYTICS_ENDPOINT",
    "LOCAL_SINK_DIR",
    "AUDITWOLF_SECRETS",
    "STACKSTATE_TOKENS",
    "AZURE_MONITOR_TOKENS",
    "SKYTAP_TOKENS",
    "SKYTAP_AUDIT_TABLE",
    "SKYTAP_USAGE_TABLE",
    "AUDITWOLF_TABLE",
    "AZURE_MONITOR_TABLE",
    "STACKSTATE_TABLE",
    "MAX_BODY_BYTES",
    "RUST_LOG",
];

/// Raw setting values: the environment wins over `local.settings.json`.
pub struct Vars {
    values: HashMap<String, String>,
    #[cfg(test)]
    read: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Vars {
    pub fn new(values: HashMap<String, String>) -> Self {
        Vars {
            values,
            #[cfg(test)]
            read: Default::default(),
        }
    }

    /// The process environment over the `Values` of `local.settings.json`, if that file exists.
    pub fn from_env_and_file(file: &Path) -> Result<Self, SettingsError> {
        let mut values = read_local_settings(file)?;
        values.extend(std::env::vars());
        Ok(Vars::new(values))
    }

    /// A trimmed, non-empty value. An unresolved Key Vault reference is an error, never a secret.
    fn get(&self, name: &str) -> Result<Option<&str>, SettingsError> {
        #[cfg(test)]
        self.read.borrow_mut().insert(name.to_owned());
        match self
            .values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(v) if v.starts_with(KEY_VAULT_REFERENCE) => Err(invalid(
                name,
                "is an unresolved Key Vault reference: give the app's managed identity the \
                 Key Vault Secrets User role (or Get permission) on the vault",
            )),
            other => Ok(other),
        }
    }
}

fn read_local_settings(file: &Path) -> Result<HashMap<String, String>, SettingsError> {
    let setting = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(invalid(&setting, format!("cannot be read: {e}"))),
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(&setting, format!("is not valid JSON: {e}")))?;
    if json.get("IsEncrypted").and_then(|v| v.as_bool()) == Some(true) {
        return Err(invalid(
            &setting,
            "is encrypted; run `func settings decrypt` first",
        ));
    }
    let values = json.get("Values").and_then(|v| v.as_object());
    Ok(values
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect())
}

impl Settings {
    /// Reads and validates every setting; the first problem found is returned.
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Settings {
            port: parse_port(vars)?,
            destination: destination(vars)?,
            credentials: Credentials {
                auditwolf: secrets(vars, "AUDITWOLF_SECRETS")?,
                stackstate: secrets(vars, "STACKSTATE_TOKENS")?,
                azure_monitor: secrets(vars, "AZURE_MONITOR_TOKENS")?,
                skytap: secrets(vars, "SKYTAP_TOKENS")?,
            },
            tables: table_names(vars)?,
            max_body_bytes: max_body_bytes(vars)?,
            log_filter: log_filter(vars)?,
        })
    }
}

fn parse_port(vars: &Vars) -> Result<u16, SettingsError> {
    const NAME: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
    match vars.get(NAME)? {
        None => Ok(default_port()),
        Some(v) => v
            .parse()
            .map_err(|_| invalid(NAME, format!("must be a port number, not `{v}`"))),
    }
}

fn destination(vars: &Vars) -> Result<DestinationConfig, SettingsError> {
    const WORKSPACE: &str = "LOG_ANALYTICS_WORKSPACE_ID";
    const KEY: &str = "LOG_ANALYTICS_SHARED_KEY";
    const ENDPOINT: &str = "LOG_ANALYTICS_ENDPOINT";
    let (workspace, key) = match (vars.get(WORKSPACE)?, vars.get(KEY)?) {
        (None, None) => {
            let dir = vars.get("LOCAL_SINK_DIR")?.map(PathBuf::from);
            return Ok(DestinationConfig::LocalFile(
                dir.unwrap_or_else(default_sink_dir),
            ));
        }
        (Some(_), None) => return Err(invalid(KEY, format!("must be set when {WORKSPACE} is"))),
        (None, Some(_)) => return Err(invalid(WORKSPACE, format!("must be set when {KEY} is"))),
        (Some(workspace), Some(key)) => (workspace, key),
    };
    let workspace_id = WorkspaceId::parse(workspace).map_err(|e| invalid(WORKSPACE, e))?;
    let shared_key = SharedKey::parse(key).map_err(|e| invalid(KEY, e))?;
    let endpoint = match vars.get(ENDPOINT)? {
        None => DataCollectorConfig::default_endpoint(&workspace_id),
        Some(v) => Url::parse(v)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| invalid(ENDPOINT, format!("must be an http(s) URL, not `{v}`")))?,
    };
    Ok(DestinationConfig::DataCollector(DataCollectorConfig {
        workspace_id,
        shared_key,
        endpoint,
    }))
}

fn secrets(vars: &Vars, name: &str) -> Result<Option<Secrets>, SettingsError> {
    Ok(vars.get(name)?.and_then(Secrets::parse_list))
}

fn table_names(vars: &Vars) -> Result<TableNames, SettingsError> {
    let mut names = HashMap::new();
    for table in Table::ALL {
        let name = vars.get(table.setting())?.unwrap_or(table.default_name());
        let name = TableName::parse(name).map_err(|e| invalid(table.setting(), e))?;
        names.insert(table, name);
    }
    Ok(TableNames(names))
}

fn max_body_bytes(vars: &Vars) -> Result<usize, SettingsError> {
    const NAME: &str = "MAX_BODY_BYTES";
    let Some(v) = vars.get(NAME)? else {
        return Ok(default_max_body_bytes());
    };
    v.parse()
        .ok()
        .filter(|n| (1024..=MAX_BODY_CEILING).contains(n))
        .ok_or_else(|| {
            invalid(
                NAME,
                format!("must be a number of bytes from 1024 to {MAX_BODY_CEILING}, not `{v}`"),
            )
        })
}

fn log_filter(vars: &Vars) -> Result<Targets, SettingsError> {
    const NAME: &str = "RUST_LOG";
    let value = vars.get(NAME)?.unwrap_or("info");
    value.parse().map_err(|e| {
        invalid(
            NAME,
            format!("is not a log filter like `info` or `warn,webhook_ingest=debug`: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn error(pairs: &[(&str, &str)]) -> SettingsError {
        Settings::from_vars(&vars(pairs)).unwrap_err()
    }

    #[test]
    fn setting_names_lists_exactly_the_settings_read() {
        let local = vars(&[]);
        Settings::from_vars(&local).unwrap();
        let azure = vars(&[
            (
                "LOG_ANALYTICS_WORKSPACE_ID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
        ]);
        Settings::from_vars(&azure).unwrap();
        let mut read = local.read.into_inner();
        read.extend(azure.read.into_inner());
        let listed: std::collections::BTreeSet<String> =
            SETTING_NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(read, listed);
    }

    #[test]
    fn no_settings_means_local_files_on_port_7071() {
        let settings = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(settings.port, 7071);
        assert!(
            matches!(settings.destination, DestinationConfig::LocalFile(ref d) if d == Path::new("./data"))
        );
        assert_eq!(
            settings.tables.name(Table::AzureMonitor).as_str(),
            "AzureMonitorAlerts"
        );
        assert!(settings.credentials.auditwolf.is_none());
    }

    #[test]
    fn empty_values_count_as_unset() {
        let settings = Settings::from_vars(&vars(&[
            ("LOG_ANALYTICS_WORKSPACE_ID", " "),
            ("AUDITWOLF_SECRETS", ","),
        ]))
        .unwrap();
        assert!(matches!(
            settings.destination,
            DestinationConfig::LocalFile(_)
        ));
        assert!(settings.credentials.auditwolf.is_none());
    }

    #[test]
    fn workspace_and_key_select_the_data_collector_with_its_default_endpoint() {
        let settings = Settings::from_vars(&vars(&[
            (
                "LOG_ANALYTICS_WORKSPACE_ID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
        ]))
        .unwrap();
        let DestinationConfig::DataCollector(config) = settings.destination else {
            panic!("expected the Data Collector");
        };
        assert_eq!(
            config.endpoint.as_str(),
            "https://11111111-2222-3333-4444-555555555555.ods.opinsights.azure.com/"
        );
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[("FUNCTIONS_CUSTOMHANDLER_PORT", "http")],
                "FUNCTIONS_CUSTOMHANDLER_PORT",
            ),
            (
                &[(
                    "LOG_ANALYTICS_WORKSPACE_ID",
                    "11111111-2222-3333-4444-555555555555",
                )],
                "LOG_ANALYTICS_SHARED_KEY",
            ),
            (
                &[
                    ("LOG_ANALYTICS_WORKSPACE_ID", "ws"),
                    ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
                ],
                "LOG_ANALYTICS_WORKSPACE_ID",
            ),
            (
                &[("SKYTAP_USAGE_TABLE", "usage-table")],
                "SKYTAP_USAGE_TABLE",
            ),
            (&[("MAX_BODY_BYTES", "10")], "MAX_BODY_BYTES"),
            (
                &[
                    (
                        "LOG_ANALYTICS_WORKSPACE_ID",
                        "11111111-2222-3333-4444-555555555555",
                    ),
                    ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
                    ("LOG_ANALYTICS_ENDPOINT", "ftp://x"),
                ],
                "LOG_ANALYTICS_ENDPOINT",
            ),
            (
                &[(
                    "AUDITWOLF_SECRETS",
                    "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/s/)",
                )],
                "AUDITWOLF_SECRETS",
            ),
        ];
        for (pairs, setting) in cases {
            assert_eq!(error(pairs).setting, setting);
        }
    }

    #[test]
    fn a_bad_shared_key_is_named_without_printing_it() {
        let e = error(&[
            (
                "LOG_ANALYTICS_WORKSPACE_ID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("LOG_ANALYTICS_SHARED_KEY", "sup3r-secret!"),
        ]);
        assert_eq!(e.setting, "LOG_ANALYTICS_SHARED_KEY");
        assert!(!e.to_string().contains("sup3r-secret"));
    }

    #[test]
    fn local_settings_values_are_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LOCAL_SETTINGS_FILE);
        std::fs::write(&file, r#"{"IsEncrypted": false, "Values": {"SKYTAP_AUDIT_TABLE": "FromFile", "PATH": "file"}}"#).unwrap();
        let vars = Vars::from_env_and_file(&file).unwrap();
        assert_eq!(vars.get("SKYTAP_AUDIT_TABLE").unwrap(), Some("FromFile"));
        assert_ne!(vars.get("PATH").unwrap(), Some("file"));
        let missing = Vars::from_env_and_file(&dir.path().join("none.json")).unwrap();
        assert_eq!(missing.get("SKYTAP_AUDIT_TABLE").unwrap(), None);
    }
}
