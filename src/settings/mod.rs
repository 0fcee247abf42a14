//! Typed settings, read once at startup from the environment, then `local.settings.json`.

mod azure;
#[cfg(test)]
mod tests;
mod vars;

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing_subscriber::filter::Targets;

pub use vars::Vars;

use crate::azure::storage::StorageConfig;
use crate::delivery::claims::{ClaimsMode, DEFAULT_TABLE_PREFIX};
use crate::destinations::data_collector::DataCollectorConfig;
use crate::destinations::logs_ingestion::LogsIngestionConfig;
use crate::schema::{Table, TableName, TableNames};
use crate::sources::{Credentials, Secrets, Subscriptions};
use crate::timeouts::Timeouts;

/// The file `func start` reads; the binary reads its `Values` too when run on its own.
pub const LOCAL_SETTINGS_FILE: &str = "local.settings.json";

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
    /// `AUDITWOLF_SECRETS`, `STACKSTATE_TOKENS`, `AZURE_MONITOR_TOKENS`, `SKYTAP_TOKENS`, and
    /// the `AZURE_MONITOR_*` settings of secure webhooks.
    pub credentials: Credentials,
    /// `SKYTAP_AUDIT_TABLE` and the other table names.
    pub tables: TableNames,
    /// `MAX_BODY_BYTES`: larger requests are answered 413.
    pub max_body_bytes: usize,
    /// `AzureWebJobsStorage` (or `AzureWebJobsStorage__queueServiceUri`) and `SPILL_QUEUE`:
    /// where rows go when the destination fails; `None` = answer 503 instead.
    pub spill: Option<SpillConfig>,
    /// `DEDUP_WINDOW_SECONDS`: how long a delivered webhook's key is remembered; zero turns it off.
    pub dedup_window: Duration,
    /// `DURABLE_CLAIMS`: `auto` (claims in the app's Table storage, falling back to memory when
    /// it cannot be reached), `required` (503 instead) or `off`.
    pub claims: ClaimsMode,
    /// `CLAIMS_TABLE`: the claims tables' name before the date (one table per day).
    pub claims_table: String,
    /// `DELIVERY_TIMEOUT_SECONDS` and the budgets around it: every timeout the handler has.
    pub timeouts: Timeouts,
    /// `RUST_LOG`: log filter, `info` by default (e.g. `warn,webhook_ingest=debug`).
    pub log_filter: Targets,
    /// Things worth a startup log line that are not errors (e.g. settings that were overridden).
    pub notices: Vec<String>,
}

/// The Storage queue that keeps rows through a destination outage.
#[derive(Clone, Debug)]
pub struct SpillConfig {
    pub service: StorageConfig,
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

/// Every setting the handler reads (the README documents each; infrastructure must set only these).
pub const SETTING_NAMES: [&str; 44] = [
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
    "AZURE_MONITOR_TENANT_ID",
    "AZURE_MONITOR_AUDIENCE",
    "AZURE_MONITOR_ROLE",
    "AZURE_MONITOR_SUBSCRIPTIONS",
    "SKYTAP_TOKENS",
    "SKYTAP_AUDIT_TABLE",
    "SKYTAP_USAGE_TABLE",
    "AUDITWOLF_TABLE",
    "AZURE_MONITOR_TABLE",
    "STACKSTATE_TABLE",
    "MAX_BODY_BYTES",
    "DELIVERY_TIMEOUT_SECONDS",
    "DEDUP_WINDOW_SECONDS",
    "DURABLE_CLAIMS",
    "CLAIMS_TABLE",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__clientId",
    "SPILL_QUEUE",
    "RUST_LOG",
];

impl Settings {
    /// Reads and validates every setting; the first problem found is returned.
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        let tables = table_names(vars)?;
        let mut notices = Vec::new();
        Ok(Settings {
            port: parse_port(vars)?,
            destination: azure::destination(vars, &tables, &mut notices)?,
            credentials: Credentials {
                auditwolf: secrets(vars, "AUDITWOLF_SECRETS")?,
                stackstate: secrets(vars, "STACKSTATE_TOKENS")?,
                azure_monitor: secrets(vars, "AZURE_MONITOR_TOKENS")?,
                skytap: secrets(vars, "SKYTAP_TOKENS")?,
                secure_webhook: azure::secure_webhook(vars)?,
                azure_monitor_subscriptions: subscriptions(vars)?,
            },
            tables,
            max_body_bytes: max_body_bytes(vars)?,
            spill: azure::spill(vars)?,
            timeouts: Timeouts::new(delivery_timeout(vars)?),
            dedup_window: dedup_window(vars)?,
            claims: claims_mode(vars)?,
            claims_table: claims_table(vars)?,
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

fn secrets(vars: &Vars, name: &str) -> Result<Option<Secrets>, SettingsError> {
    Ok(vars.get(name)?.and_then(Secrets::parse_list))
}

fn subscriptions(vars: &Vars) -> Result<Option<Subscriptions>, SettingsError> {
    const NAME: &str = "AZURE_MONITOR_SUBSCRIPTIONS";
    let Some(value) = vars.get(NAME)? else {
        return Ok(None);
    };
    Subscriptions::parse_list(value).map_err(|e| invalid(NAME, e))
}

fn table_names(vars: &Vars) -> Result<TableNames, SettingsError> {
    let mut names: HashMap<Table, TableName> = HashMap::new();
    for table in Table::ALL {
        let name = vars.get(table.setting())?.unwrap_or(table.default_name());
        let name = TableName::parse(name).map_err(|e| invalid(table.setting(), e))?;
        // Log Analytics table names are case-insensitive; two sources in one table would mix
        // their columns and give the DCR two data flows into one stream.
        let same = |other: &Table| names[other].as_str().eq_ignore_ascii_case(name.as_str());
        if let Some(other) = Table::ALL.iter().find(|t| names.contains_key(t) && same(t)) {
            return Err(invalid(
                table.setting(),
                format!(
                    "`{name}` is also the table of {} (by default or as set): each source needs its own table",
                    other.setting()
                ),
            ));
        }
        names.insert(table, name);
    }
    Ok(TableNames::new(names))
}

/// A number within `range`, or `default` when the setting is unset; `what` names the unit.
fn number<T>(
    vars: &Vars,
    name: &str,
    default: T,
    range: RangeInclusive<T>,
    what: &str,
) -> Result<T, SettingsError>
where
    T: FromStr + PartialOrd + Display,
{
    let Some(v) = vars.get(name)? else {
        return Ok(default);
    };
    v.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        invalid(
            name,
            format!(
                "must be {what} from {} to {}, not `{v}`",
                range.start(),
                range.end()
            ),
        )
    })
}

fn max_body_bytes(vars: &Vars) -> Result<usize, SettingsError> {
    let range = 1024..=MAX_BODY_CEILING;
    number(
        vars,
        "MAX_BODY_BYTES",
        default_max_body_bytes(),
        range,
        "a number of bytes",
    )
}

/// 8 s: within Azure action groups' and AuditWolf's (15 s) timeouts, with time left to spill.
pub fn default_delivery_timeout() -> Duration {
    Duration::from_secs(8)
}

fn delivery_timeout(vars: &Vars) -> Result<Duration, SettingsError> {
    let default = default_delivery_timeout().as_secs_f64();
    // The Functions front end cuts HTTP requests at 230 s.
    let seconds = number(
        vars,
        "DELIVERY_TIMEOUT_SECONDS",
        default,
        0.1..=200.0,
        "a number of seconds",
    )?;
    Ok(Duration::from_secs_f64(seconds))
}

/// One hour: longer than any sender's retry schedule (Skytap retries for six hours, but a
/// message it retries that long was never answered 2xx, so it was never remembered).
pub fn default_dedup_window() -> Duration {
    Duration::from_secs(3600)
}

fn dedup_window(vars: &Vars) -> Result<Duration, SettingsError> {
    let default = default_dedup_window().as_secs();
    let what = "a whole number of seconds (0 turns it off)";
    Ok(Duration::from_secs(number(
        vars,
        "DEDUP_WINDOW_SECONDS",
        default,
        0..=7 * 24 * 3600,
        what,
    )?))
}

fn claims_mode(vars: &Vars) -> Result<ClaimsMode, SettingsError> {
    const NAME: &str = "DURABLE_CLAIMS";
    match vars.get(NAME)?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") => Ok(ClaimsMode::Auto),
        Some("required") => Ok(ClaimsMode::Required),
        Some("off") => Ok(ClaimsMode::Off),
        Some(other) => Err(invalid(
            NAME,
            format!("must be `auto`, `required` or `off`, not `{other}`"),
        )),
    }
}

/// Table names are 3 to 63 letters and digits, starting with a letter; the date adds 8.
fn claims_table(vars: &Vars) -> Result<String, SettingsError> {
    const NAME: &str = "CLAIMS_TABLE";
    let value = vars.get(NAME)?.unwrap_or(DEFAULT_TABLE_PREFIX);
    let valid = (3..=55).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(invalid(
            NAME,
            format!("`{value}` is not a table name prefix: 3 to 55 letters and digits, starting with a letter"),
        ));
    }
    Ok(value.to_owned())
}

fn log_filter(vars: &Vars) -> Result<Targets, SettingsError> {
    const NAME: &str = "RUST_LOG";
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let value = vars.get(NAME)?.unwrap_or("info");
    let explain = |problem: String| {
        invalid(
            NAME,
            format!("{problem}: use a level ({}) or `target=level` items separated by commas, like `warn,webhook_ingest=debug`", LEVELS.join(", ")),
        )
    };
    // A bare word is taken by the filter syntax as a target to log at every level, which
    // silently turns every other line off (`verbose`, `warning`): only levels may stand alone.
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let level = item.rsplit_once('=').map_or(item, |(_, level)| level);
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(explain(format!("`{item}` is not a log level")));
        }
    }
    value
        .parse()
        .map_err(|e| explain(format!("`{value}` is not a log filter ({e})")))
}
