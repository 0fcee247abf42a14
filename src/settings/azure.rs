//! The Azure side of the settings: which destination, which credential, which spill queue.

use reqwest::Url;
use secrecy::SecretString;

use std::path::PathBuf;

use super::{default_sink_dir, invalid, DestinationConfig, SettingsError, SpillConfig, Vars};
use crate::azure::http::is_secure;
use crate::azure::identity::Credential;
use crate::azure::is_guid;
use crate::azure::storage::StorageConfig;
use crate::delivery::spill::{DEFAULT_QUEUE, POISON_SUFFIX};
use crate::destinations::data_collector::{DataCollectorConfig, SharedKey, WorkspaceId};
use crate::destinations::logs_ingestion::{default_audience, DcrId, LogsIngestionConfig};
use crate::schema::{Table, TableNames};
use crate::sources::azure_monitor::bearer::{SecureWebhookConfig, DEFAULT_ROLE};

pub(super) fn destination(
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
    let mut streams = std::collections::HashMap::new();
    for table in Table::ALL {
        let default = format!("Custom-{}_CL", tables.name(table));
        let stream = vars
            .get(table.stream_setting())?
            .map_or(default, str::to_owned);
        streams.insert(table, stream);
    }
    Ok(Some(LogsIngestionConfig {
        endpoint: secure_url(ENDPOINT, endpoint)?,
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
        return Ok(Credential::ClientSecret {
            authority: authority(vars)?,
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

/// `AZURE_AUTHORITY_HOST`: Entra ID's sign-in host, the public cloud's by default.
fn authority(vars: &Vars) -> Result<Url, SettingsError> {
    const AUTHORITY: &str = "AZURE_AUTHORITY_HOST";
    let authority = vars
        .get(AUTHORITY)?
        .unwrap_or("https://login.microsoftonline.com");
    secure_url(AUTHORITY, authority)
}

/// Azure Monitor's secure webhooks: on when the tenant and the audience are set.
pub(super) fn secure_webhook(vars: &Vars) -> Result<Option<SecureWebhookConfig>, SettingsError> {
    const TENANT: &str = "AZURE_MONITOR_TENANT_ID";
    const AUDIENCE: &str = "AZURE_MONITOR_AUDIENCE";
    let (tenant, audience) = match (vars.get(TENANT)?, vars.get(AUDIENCE)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(invalid(AUDIENCE, format!("must be set when {TENANT} is: the app registration's Application ID URI and/or client id"))),
        (None, Some(_)) => return Err(invalid(TENANT, format!("must be set when {AUDIENCE} is: the id of the tenant that issues the tokens"))),
        (Some(tenant), Some(audience)) => (tenant, audience),
    };
    if !is_guid(tenant) {
        return Err(invalid(
            TENANT,
            format!("must be the tenant's id (a GUID), not `{tenant}`: tokens name their issuer by tenant id"),
        ));
    }
    let audiences: Vec<String> = audience
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if audiences.is_empty() {
        return Err(invalid(AUDIENCE, "names no audience"));
    }
    Ok(Some(SecureWebhookConfig {
        tenant_id: tenant.to_ascii_lowercase(),
        audiences,
        role: vars
            .get("AZURE_MONITOR_ROLE")?
            .unwrap_or(DEFAULT_ROLE)
            .to_owned(),
        authority: authority(vars)?,
    }))
}

/// The Functions host's own storage connection: a connection string, or identity-based.
pub(super) fn spill(vars: &Vars) -> Result<Option<SpillConfig>, SettingsError> {
    const CONNECTION: &str = "AzureWebJobsStorage";
    let service = if let Some(connection) = vars.get(CONNECTION)? {
        let service = StorageConfig::from_connection_string(connection)
            .map_err(|e| invalid(CONNECTION, e))?;
        if !is_secure(&service.queue_endpoint) || !is_secure(&service.table_endpoint) {
            return Err(invalid(
                CONNECTION,
                "names a plain-http queue or table endpoint off this machine, so signed \
                 requests, claims and spilled rows would travel in clear: use \
                 DefaultEndpointsProtocol=https (http is for a local emulator only)",
            ));
        }
        service
    } else if let Some((setting, uri)) = identity_queue_uri(vars)? {
        let client_id = vars
            .get("AzureWebJobsStorage__clientId")?
            .map(str::to_owned);
        let credential = managed_identity(vars, client_id)?.ok_or_else(|| {
            invalid(
                setting,
                "needs the Function App's managed identity (IDENTITY_ENDPOINT is not set)",
            )
        })?;
        let uri = secure_url(setting, &uri)?;
        let table_uri = match vars.get(TABLE_SERVICE_URI)? {
            Some(table) => secure_url(TABLE_SERVICE_URI, table)?.to_string(),
            None => uri.as_str().replacen(".queue.", ".table.", 1),
        };
        StorageConfig::with_identity(uri.as_str(), &table_uri, credential)
            .map_err(|e| invalid(setting, e))?
    } else {
        return Ok(None);
    };
    const QUEUE: &str = "SPILL_QUEUE";
    let queue = vars.get(QUEUE)?.unwrap_or(DEFAULT_QUEUE);
    // Queue names are at most 63 characters, and `-poison` and `-held` go beside this one.
    let valid = (3..=(63 - POISON_SUFFIX.len())).contains(&queue.len())
        && queue
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !queue.starts_with('-')
        && !queue.ends_with('-')
        && !queue.contains("--");
    if !valid {
        return Err(invalid(QUEUE, format!("`{queue}` is not a queue name: 3 to 56 lower-case letters, digits and single hyphens (room for `-poison` beside it)")));
    }
    Ok(Some(SpillConfig {
        service,
        queue: queue.to_owned(),
    }))
}

/// The table service of identity-based storage, when it is not the queue service's name with
/// `.table.` for `.queue.`.
const TABLE_SERVICE_URI: &str = "AzureWebJobsStorage__tableServiceUri";

/// `AzureWebJobsStorage__queueServiceUri`, or the public-cloud URI of `AzureWebJobsStorage__accountName`
/// (how Flex Consumption apps name identity-based host storage), with the setting it came from.
fn identity_queue_uri(vars: &Vars) -> Result<Option<(&'static str, String)>, SettingsError> {
    const SERVICE_URI: &str = "AzureWebJobsStorage__queueServiceUri";
    const ACCOUNT: &str = "AzureWebJobsStorage__accountName";
    if let Some(uri) = vars.get(SERVICE_URI)? {
        return Ok(Some((SERVICE_URI, uri.to_owned())));
    }
    Ok(vars
        .get(ACCOUNT)?
        .map(|account| (ACCOUNT, format!("https://{account}.queue.core.windows.net"))))
}

/// The managed identity the platform exposes, if any.
fn managed_identity(
    vars: &Vars,
    client_id: Option<String>,
) -> Result<Option<Credential>, SettingsError> {
    match (vars.get("IDENTITY_ENDPOINT")?, vars.get("IDENTITY_HEADER")?) {
        (Some(endpoint), Some(header)) => Ok(Some(Credential::ManagedIdentity {
            endpoint: secure_url("IDENTITY_ENDPOINT", endpoint)?,
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

/// An absolute https URL, or plain http on a loopback host ([`is_secure`]).
fn secure_url(name: &str, value: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| invalid(name, format!("must be an https URL, not `{value}`")))?;
    if !is_secure(&url) {
        return Err(invalid(
            name,
            format!(
                "must use https, not `{value}` (plain http is accepted only on a loopback host)"
            ),
        ));
    }
    Ok(url)
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
        Some(v) => secure_url(ENDPOINT, v)?,
    };
    Ok(DestinationConfig::DataCollector(DataCollectorConfig {
        workspace_id,
        shared_key,
        endpoint,
    }))
}
