//! Typed settings, read once at startup from the environment, then `local.settings.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reqwest::Url;
use secrecy::SecretString;
use tracing_subscriber::filter::Targets;

use crate::destinations::data_collector::{DataCollectorConfig, SharedKey, WorkspaceId};
use crate::destinations::logs_ingestion::{default_audience, DcrId, LogsIngestionConfig};
use crate::identity::Credential;
use crate::schema::{Table, TableName};
use crate::sources::{Credentials, Secrets};
use crate::spill::DEFAULT_QUEUE;
use crate::storage_queue::QueueServiceConfig;

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
    /// `LOGS_INGESTION_ENDPOINT` and `LOGS_INGESTION_DCR_ID` are set (wins over the Data Collector).
    LogsIngestion(Box<LogsIngestionConfig>),
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
    /// `AzureWebJobsStorage` (or `AzureWebJobsStorage__queueServiceUri`) and `SPILL_QUEUE`:
    /// where rows go when the destination fails; `None` = answer 503 instead.
    pub spill: Option<SpillConfig>,
    /// `DEDUP_WINDOW_SECONDS`: how long a delivered webhook's key is remembered; zero turns it off.
    pub dedup_window: std::time::Duration,
    /// `GROUP_COMMIT_MS`: how long a webhook waits for others to share its request; zero turns it off.
    pub group_commit: std::time::Duration,
    /// `DELIVERY_TIMEOUT_SECONDS`: how long a webhook waits for the destination, retries included.
    pub delivery_timeout: std::time::Duration,
    /// `RUST_LOG`: log filter, `info` by default (e.g. `warn,webhook_ingest=debug`).
    pub log_filter: Targets,
    /// Things worth a startup log line that are not errors (e.g. settings that were overridden).
    pub notices: Vec<String>,
}

/// The Storage queue that keeps rows through a destination outage.
#[derive(Clone, Debug)]
pub struct SpillConfig {
    pub service: QueueServiceConfig,
    pub queue: String,
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
pub const SETTING_NAMES: [&str; 37] = [
    "FUNCTIONS_CUSTOMHANDLER_PORT",
    "LOGS_INGESTION_ENDPOINT",
    "LOGS_INGESTION_DCR_ID",
    "LOGS_INGESTION_AUDIENCE",
    "SKYTAP_AUDIT_STREAM",
    "SKYTAP_USAGE_STREAM",
    "AUDITWOLF_STREAM",
    "AZURE_MONITOR_STREAM",
    "STACKSTATE_STREAM",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
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
    "DELIVERY_TIMEOUT_SECONDS",
    "DEDUP_WINDOW_SECONDS",
    "GROUP_COMMIT_MS",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__clientId",
    "SPILL_QUEUE",
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
        let tables = table_names(vars)?;
        let mut notices = Vec::new();
        Ok(Settings {
            port: parse_port(vars)?,
            destination: destination(vars, &tables, &mut notices)?,
            credentials: Credentials {
                auditwolf: secrets(vars, "AUDITWOLF_SECRETS")?,
                stackstate: secrets(vars, "STACKSTATE_TOKENS")?,
                azure_monitor: secrets(vars, "AZURE_MONITOR_TOKENS")?,
                skytap: secrets(vars, "SKYTAP_TOKENS")?,
            },
            tables,
            max_body_bytes: max_body_bytes(vars)?,
            spill: spill(vars)?,
            delivery_timeout: delivery_timeout(vars)?,
            dedup_window: dedup_window(vars)?,
            group_commit: group_commit(vars)?,
            log_filter: log_filter(vars)?,
            notices,
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

fn destination(
    vars: &Vars,
    tables: &TableNames,
    notices: &mut Vec<String>,
) -> Result<DestinationConfig, SettingsError> {
    let data_collector = data_collector(vars)?;
    let Some(logs_ingestion) = logs_ingestion(vars, tables)? else {
        return Ok(data_collector);
    };
    if matches!(data_collector, DestinationConfig::DataCollector(_)) {
        notices.push(
            "LOGS_INGESTION_ENDPOINT is set, so rows go to the Logs Ingestion API; \
             LOG_ANALYTICS_WORKSPACE_ID and LOG_ANALYTICS_SHARED_KEY are ignored"
                .into(),
        );
    }
    Ok(DestinationConfig::LogsIngestion(Box::new(logs_ingestion)))
}

fn logs_ingestion(
    vars: &Vars,
    tables: &TableNames,
) -> Result<Option<LogsIngestionConfig>, SettingsError> {
    const ENDPOINT: &str = "LOGS_INGESTION_ENDPOINT";
    const DCR: &str = "LOGS_INGESTION_DCR_ID";
    let (endpoint, dcr) = match (vars.get(ENDPOINT)?, vars.get(DCR)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(invalid(DCR, format!("must be set when {ENDPOINT} is"))),
        (None, Some(_)) => return Err(invalid(ENDPOINT, format!("must be set when {DCR} is"))),
        (Some(endpoint), Some(dcr)) => (endpoint, dcr),
    };
    let mut streams = HashMap::new();
    for table in Table::ALL {
        let default = format!("Custom-{}_CL", tables.name(table));
        let stream = vars
            .get(table.stream_setting())?
            .map_or(default, str::to_owned);
        streams.insert(table, stream);
    }
    Ok(Some(LogsIngestionConfig {
        endpoint: http_url(ENDPOINT, endpoint)?,
        dcr_id: DcrId::parse(dcr).map_err(|e| invalid(DCR, e))?,
        streams,
        credential: credential(vars)?,
        audience: vars
            .get("LOGS_INGESTION_AUDIENCE")?
            .map_or_else(default_audience, str::to_owned),
    }))
}

/// A client secret when one is given, else the managed identity the platform exposes.
fn credential(vars: &Vars) -> Result<Credential, SettingsError> {
    let client_id = vars.get("AZURE_CLIENT_ID")?.map(str::to_owned);
    if let Some(secret) = vars.get("AZURE_CLIENT_SECRET")? {
        let required = |name: &str| {
            vars.get(name)?
                .map(str::to_owned)
                .ok_or_else(|| invalid(name, "must be set when AZURE_CLIENT_SECRET is"))
        };
        const AUTHORITY: &str = "AZURE_AUTHORITY_HOST";
        let authority = vars
            .get(AUTHORITY)?
            .unwrap_or("https://login.microsoftonline.com");
        let authority = http_url(AUTHORITY, authority)?;
        if authority.scheme() != "https" && !is_loopback(&authority) {
            return Err(invalid(AUTHORITY, "must use https"));
        }
        return Ok(Credential::ClientSecret {
            authority,
            tenant_id: required("AZURE_TENANT_ID")?,
            client_id: required("AZURE_CLIENT_ID")?,
            secret: SecretString::from(secret.to_owned()),
        });
    }
    managed_identity(vars, client_id)?.ok_or_else(|| {
        invalid(
            "LOGS_INGESTION_ENDPOINT",
            "is set but no credential is available: enable the Function App's managed identity \
             (the platform then sets IDENTITY_ENDPOINT and IDENTITY_HEADER) or set AZURE_TENANT_ID, \
             AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
        )
    })
}

/// The Functions host's own storage connection: a connection string, or identity-based.
fn spill(vars: &Vars) -> Result<Option<SpillConfig>, SettingsError> {
    const CONNECTION: &str = "AzureWebJobsStorage";
    const SERVICE_URI: &str = "AzureWebJobsStorage__queueServiceUri";
    let service = if let Some(connection) = vars.get(CONNECTION)? {
        QueueServiceConfig::from_connection_string(connection)
            .map_err(|e| invalid(CONNECTION, e))?
    } else if let Some(uri) = vars.get(SERVICE_URI)? {
        let client_id = vars
            .get("AzureWebJobsStorage__clientId")?
            .map(str::to_owned);
        let credential = managed_identity(vars, client_id)?.ok_or_else(|| {
            invalid(
                SERVICE_URI,
                "needs the Function App's managed identity (IDENTITY_ENDPOINT is not set)",
            )
        })?;
        QueueServiceConfig::with_identity(uri, credential).map_err(|e| invalid(SERVICE_URI, e))?
    } else {
        return Ok(None);
    };
    const QUEUE: &str = "SPILL_QUEUE";
    let queue = vars.get(QUEUE)?.unwrap_or(DEFAULT_QUEUE);
    let valid = (3..=63).contains(&queue.len())
        && queue
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !queue.starts_with('-')
        && !queue.ends_with('-')
        && !queue.contains("--");
    if !valid {
        return Err(invalid(QUEUE, format!("`{queue}` is not a queue name: 3 to 63 lower-case letters, digits and single hyphens")));
    }
    Ok(Some(SpillConfig {
        service,
        queue: queue.to_owned(),
    }))
}

/// The managed identity the platform exposes, if any.
fn managed_identity(
    vars: &Vars,
    client_id: Option<String>,
) -> Result<Option<Credential>, SettingsError> {
    match (vars.get("IDENTITY_ENDPOINT")?, vars.get("IDENTITY_HEADER")?) {
        (Some(endpoint), Some(header)) => Ok(Some(Credential::ManagedIdentity {
            endpoint: http_url("IDENTITY_ENDPOINT", endpoint)?,
            header: SecretString::from(header.to_owned()),
            client_id,
        })),
        (Some(_), None) => Err(invalid(
            "IDENTITY_HEADER",
            "must be set when IDENTITY_ENDPOINT is",
        )),
        _ => Ok(None),
    }
}

/// Loopback hosts may use plain http: that is how tests fake Entra ID.
fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An absolute http(s) URL.
fn http_url(name: &str, value: &str) -> Result<Url, SettingsError> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| invalid(name, format!("must be an http(s) URL, not `{value}`")))
}

fn data_collector(vars: &Vars) -> Result<DestinationConfig, SettingsError> {
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
        Some(v) => http_url(ENDPOINT, v)?,
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

/// 8 s: within Azure action groups' and AuditWolf's (15 s) timeouts, with time left to spill.
pub fn default_delivery_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(8)
}

fn delivery_timeout(vars: &Vars) -> Result<std::time::Duration, SettingsError> {
    const NAME: &str = "DELIVERY_TIMEOUT_SECONDS";
    let Some(v) = vars.get(NAME)? else {
        return Ok(default_delivery_timeout());
    };
    v.parse::<f64>()
        .ok()
        .filter(|s| (0.1..=200.0).contains(s))
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| invalid(NAME, format!("must be a number of seconds from 0.1 to 200 (under the 230 s HTTP limit), not `{v}`")))
}

/// One hour: longer than any sender's retry schedule (Skytap retries for six hours, but a
/// message it retries that long was never answered 2xx, so it was never remembered).
pub fn default_dedup_window() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}

fn dedup_window(vars: &Vars) -> Result<std::time::Duration, SettingsError> {
    const NAME: &str = "DEDUP_WINDOW_SECONDS";
    let Some(v) = vars.get(NAME)? else {
        return Ok(default_dedup_window());
    };
    v.parse::<u64>()
        .ok()
        .filter(|s| *s <= 7 * 24 * 3600)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            invalid(
                NAME,
                format!(
                    "must be a whole number of seconds up to 604800 (0 turns it off), not `{v}`"
                ),
            )
        })
}

/// 5 ms: short next to a Log Analytics round trip, long enough to gather a burst.
pub fn default_group_commit() -> std::time::Duration {
    std::time::Duration::from_millis(5)
}

fn group_commit(vars: &Vars) -> Result<std::time::Duration, SettingsError> {
    const NAME: &str = "GROUP_COMMIT_MS";
    let Some(v) = vars.get(NAME)? else {
        return Ok(default_group_commit());
    };
    v.parse::<u64>()
        .ok()
        .filter(|ms| *ms <= 1000)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            invalid(
                NAME,
                format!(
                    "must be a whole number of milliseconds up to 1000 (0 turns it off), not `{v}`"
                ),
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

    const LI: [(&str, &str); 2] = [
        (
            "LOGS_INGESTION_ENDPOINT",
            "https://dcr.eastus-1.ingest.monitor.azure.com",
        ),
        (
            "LOGS_INGESTION_DCR_ID",
            "dcr-000a00a000a00000a000000aa000a0aa",
        ),
    ];

    #[test]
    fn setting_names_lists_exactly_the_settings_read() {
        let runs = [
            vars(&[]),
            vars(&[
                (
                    "LOG_ANALYTICS_WORKSPACE_ID",
                    "11111111-2222-3333-4444-555555555555",
                ),
                ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
            ]),
            vars(&[
                LI[0],
                LI[1],
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
                ("IDENTITY_HEADER", "h"),
            ]),
            vars(&[
                LI[0],
                LI[1],
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s"),
            ]),
            vars(&[("AzureWebJobsStorage", "UseDevelopmentStorage=true")]),
            vars(&[
                (
                    "AzureWebJobsStorage__queueServiceUri",
                    "https://acct.queue.core.windows.net",
                ),
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
                ("IDENTITY_HEADER", "h"),
            ]),
        ];
        let mut read = std::collections::BTreeSet::new();
        for run in runs {
            Settings::from_vars(&run).unwrap();
            read.extend(run.read.into_inner());
        }
        let listed: std::collections::BTreeSet<String> =
            SETTING_NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(read, listed);
    }

    #[test]
    fn logs_ingestion_wins_over_the_data_collector_and_says_so() {
        let settings = Settings::from_vars(&vars(&[
            LI[0],
            LI[1],
            ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ("IDENTITY_HEADER", "h"),
            ("AZURE_CLIENT_ID", "uami"),
            (
                "LOG_ANALYTICS_WORKSPACE_ID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
            ("STACKSTATE_TABLE", "Notes"),
            ("AUDITWOLF_STREAM", "Custom-WolfRaw"),
        ]))
        .unwrap();
        let DestinationConfig::LogsIngestion(config) = settings.destination else {
            panic!("expected the Logs Ingestion API");
        };
        assert_eq!(config.stream(Table::StackState), "Custom-Notes_CL");
        assert_eq!(config.stream(Table::AuditWolf), "Custom-WolfRaw");
        assert_eq!(config.audience, "https://monitor.azure.com");
        assert!(
            matches!(config.credential, Credential::ManagedIdentity { client_id: Some(ref id), .. } if id == "uami")
        );
        assert_eq!(settings.notices.len(), 1);
    }

    #[test]
    fn logs_ingestion_without_a_credential_or_with_a_bad_one_names_the_setting() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[], "LOGS_INGESTION_ENDPOINT"),
            (
                &[("AZURE_CLIENT_SECRET", "s"), ("AZURE_CLIENT_ID", "c")],
                "AZURE_TENANT_ID",
            ),
            (
                &[
                    ("AZURE_CLIENT_SECRET", "s"),
                    ("AZURE_CLIENT_ID", "c"),
                    ("AZURE_TENANT_ID", "t"),
                    ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
                ],
                "AZURE_AUTHORITY_HOST",
            ),
            (
                &[("IDENTITY_ENDPOINT", "http://localhost/msi")],
                "IDENTITY_HEADER",
            ),
        ];
        for (extra, setting) in cases {
            let mut pairs = LI.to_vec();
            pairs.extend_from_slice(extra);
            assert_eq!(error(&pairs).setting, setting, "{extra:?}");
        }
        assert_eq!(error(&[LI[0]]).setting, "LOGS_INGESTION_DCR_ID");
        assert_eq!(
            error(&[LI[0], ("LOGS_INGESTION_DCR_ID", "my-dcr")]).setting,
            "LOGS_INGESTION_DCR_ID"
        );
    }

    #[test]
    fn storage_settings_turn_the_spill_on() {
        let settings = Settings::from_vars(&vars(&[(
            "AzureWebJobsStorage",
            "UseDevelopmentStorage=true",
        )]))
        .unwrap();
        assert_eq!(settings.spill.unwrap().queue, "webhook-spill");
        assert!(Settings::from_vars(&vars(&[])).unwrap().spill.is_none());
        let bad = [
            ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
            ("SPILL_QUEUE", "Bad_Queue"),
        ];
        assert_eq!(error(&bad).setting, "SPILL_QUEUE");
        let no_identity = [(
            "AzureWebJobsStorage__queueServiceUri",
            "https://acct.queue.core.windows.net",
        )];
        assert_eq!(
            error(&no_identity).setting,
            "AzureWebJobsStorage__queueServiceUri"
        );
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
