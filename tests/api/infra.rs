//! The infrastructure agrees with the handler: the generated schema is checked in unchanged, the
//! Bicep sets only settings the handler reads (and the ones it needs), and every alert and
//! workbook query is a file under queries/ (which the KQL check parses).

use std::collections::BTreeSet;

use webhook_ingest::delivery::spill::DEFAULT_QUEUE;
use webhook_ingest::schema::{declarations, Table};
use webhook_ingest::server::WEBHOOK_FUNCTIONS;
use webhook_ingest::settings::SETTING_NAMES;
use webhook_ingest::sources::Gate;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_checked_in_tables_json_is_what_handler_schema_prints() {
    let checked_in: serde_json::Value = serde_json::from_str(&read("infra/tables.json")).unwrap();
    let generated = declarations(|table: Table| table.default_name().to_owned());
    assert!(
        checked_in == generated,
        "infra/tables.json is stale: run `cargo run -q -- schema > infra/tables.json`"
    );
}

/// The names of the app settings the Bicep gives the Function App: `name:` lines followed by `value:`.
fn bicep_app_settings(bicep: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = bicep.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[1].starts_with("value:"))
        .filter_map(|pair| {
            pair[0]
                .strip_prefix("name: '")?
                .strip_suffix('\'')
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn the_bicep_sets_only_settings_the_handler_reads_and_all_it_needs() {
    let bicep = read("infra/main.bicep");
    let set = bicep_app_settings(&bicep);
    // Read by the Functions host itself, not by the handler.
    let host_settings = [
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AzureWebJobsStorage__credential",
    ];
    for name in &set {
        assert!(
            SETTING_NAMES.contains(&name.as_str()) || host_settings.contains(&name.as_str()),
            "the Bicep sets {name}, which nothing reads"
        );
    }
    let needed = [
        "LOGS_INGESTION_ENDPOINT",
        "LOGS_INGESTION_DCR_ID",
        "AUDITWOLF_SECRETS",
        "STACKSTATE_TOKENS",
        "AzureWebJobsStorage__accountName",
        "SPILL_QUEUE",
        "AZURE_MONITOR_TOKENS",
        "AZURE_MONITOR_TENANT_ID",
        "AZURE_MONITOR_AUDIENCE",
        "SKYTAP_TOKENS",
    ];
    for name in needed {
        assert!(set.contains(name), "the Bicep does not set {name}");
    }
    assert!(
        bicep.contains(&format!("var spillQueue = '{DEFAULT_QUEUE}'")),
        "the Bicep's spill queue is the one drain listens on"
    );
}

#[test]
fn alerts_and_workbook_tiles_run_query_files_not_copies() {
    let bicep = read("infra/main.bicep");
    let referenced: Vec<&str> = bicep
        .split("loadTextContent('../queries/")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap())
        .collect();
    assert!(referenced.len() >= 8, "{referenced:?}");
    for file in &referenced {
        assert!(
            std::path::Path::new(&format!("{}/queries/{file}", env!("CARGO_MANIFEST_DIR")))
                .exists(),
            "{file}"
        );
    }
    for line in bicep.lines().map(str::trim) {
        assert!(
            !line.starts_with("query: '"),
            "an inline query in the Bicep: {line}"
        );
    }
}

#[test]
fn a_bicep_output_named_like_a_handler_setting_holds_what_that_setting_expects() {
    // azd copies outputs into its environment, where a name shared with a setting is taken for
    // it: only these outputs may share a name, each with the value the handler expects.
    let same_meaning = [(
        "LOGS_INGESTION_DCR_ID",
        "dataCollectionRule.properties.immutableId",
    )];
    let bicep = read("infra/main.bicep");
    for line in bicep.lines().filter(|l| l.starts_with("output ")) {
        let name = line.split_whitespace().nth(1).unwrap();
        if !SETTING_NAMES.contains(&name) {
            continue;
        }
        let value = line.split(" = ").nth(1).unwrap_or_default().trim();
        assert!(
            same_meaning.contains(&(name, value)),
            "output {name} = {value} would pass for the handler setting {name}"
        );
    }
}

/// The text of the `alertRules` entry with this name.
fn alert_rule<'a>(bicep: &'a str, name: &str) -> &'a str {
    let start = bicep
        .find(&format!("name: '{name}'"))
        .unwrap_or_else(|| panic!("no alert rule {name}"));
    let rest = &bicep[start..];
    &rest[..rest.find("\n  }").unwrap()]
}

#[test]
fn the_failed_sign_in_alert_fires_for_each_sign_in_by_arrival_and_the_silent_source_rule_resolves()
{
    let bicep = read("infra/main.bicep");
    let failed = alert_rule(&bicep, "skytap-failed-sign-in");
    assert!(
        failed.contains("autoMitigate: false"),
        "stateless: {failed}"
    );
    assert!(
        failed.contains("name: 'EventId'"),
        "one alert per sign-in: {failed}"
    );
    assert!(
        failed.contains("window: 'P2D'"),
        "late rows stay in range: {failed}"
    );
    let file = failed
        .split("loadTextContent('../queries/")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    let query = read(&format!("queries/{file}"));
    assert!(query.contains("ingestion_time() > ago(5m)"), "{query}");
    assert!(
        query.contains("EventId"),
        "the dimension is a column: {query}"
    );
    let silent = alert_rule(&bicep, "webhook-source-silent");
    assert!(silent.contains("autoMitigate: true"), "{silent}");
    assert!(bicep.contains("autoMitigate: rule.autoMitigate"));
    assert!(bicep.contains("dimensions: rule.dimensions"));
}

#[test]
fn the_bicep_keeps_flex_consumption_bounds_ga_api_versions_and_names_any_environment_can_use() {
    let bicep = read("infra/main.bicep");
    let max_instances = bicep
        .split("param maximumInstanceCount")
        .next()
        .unwrap()
        .rsplit("@description")
        .next()
        .unwrap();
    assert!(max_instances.contains("@minValue(40)"), "{max_instances}");
    // Flex scales HTTP on concurrency: the app sets it rather than take the default.
    assert!(bicep.contains("perInstanceConcurrency: perInstanceConcurrency"));
    assert!(bicep.contains("param perInstanceConcurrency int = 200"));
    assert!(bicep.contains("name: 'http'\n            instanceCount: alwaysReadyInstances"));
    assert!(
        !bicep.contains("ftpsState:"),
        "not supported on Flex Consumption"
    );
    for line in bicep.lines().filter(|l| l.starts_with("resource ")) {
        assert!(!line.contains("-preview'"), "a preview API version: {line}");
    }
    assert!(
        !bicep.contains("publicNetworkAccess: 'Disabled'")
            || (bicep.contains("privateLinkScopes@") && bicep.contains("privateEndpoints@")),
        "an endpoint closed to the public needs a private link scope and endpoint to stay reachable"
    );
    assert!(
        !bicep.contains("enablePurgeProtection: true"),
        "a fixed vault name with purge protection blocks azd up after azd down for 90 days"
    );
    for line in bicep.lines().map(str::trim) {
        if line.starts_with("name: '") {
            assert!(!line.contains("${name}"), "raw environment name in {line}");
        }
    }
}

#[test]
fn the_app_starts_with_an_identity_whose_roles_already_exist() {
    let bicep = read("infra/main.bicep");
    let app = &bicep[bicep.find("resource app 'Microsoft.Web/sites@").unwrap()..];
    let app = &app[..app.find("\n}\n").unwrap()];
    assert!(app.contains("type: 'UserAssigned'"), "{app}");
    assert!(app.contains("keyVaultReferenceIdentity: identity.id"));
    assert!(app.contains("userAssignedIdentityResourceId: identity.id"));
    for role in ["storageAccess", "publishAccess", "vaultAccess"] {
        let depends = &app[app.rfind("dependsOn: [").unwrap()..];
        assert!(depends.contains(role), "the app is created before {role}");
    }
    assert!(!bicep.contains("app.identity.principalId"));
    let settings = bicep_app_settings(&bicep);
    for name in [
        "AZURE_CLIENT_ID",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__credential",
    ] {
        assert!(settings.contains(name), "{name}");
    }
}

#[test]
fn the_optional_secure_webhook_sends_the_deployments_alerts_to_the_anonymous_function_with_no_secret(
) {
    let bicep = read("infra/main.bicep");
    let group = bicep
        .split("resource alertsToTable ")
        .nth(1)
        .expect("the secure webhook action group")
        .split("\n}\n")
        .next()
        .unwrap();
    assert!(
        group.contains("= if (secureWebhook) {"),
        "off unless the ids are given"
    );
    assert!(bicep
        .contains("var secureWebhook = !empty(alertsAppObjectId) && !empty(alertsAppClientId)"));
    let secure = WEBHOOK_FUNCTIONS
        .iter()
        .find(|(_, _, gate)| *gate == Gate::EntraToken)
        .unwrap()
        .0;
    let uri = format!("serviceUri: 'https://${{app.properties.defaultHostName}}/api/{secure}'");
    assert!(
        group.contains(&uri),
        "it calls the anonymous function: {group}"
    );
    assert!(
        !group.contains("code=") && !group.contains("tokenid"),
        "no secret in the URL"
    );
    for line in [
        "useAadAuth: true",
        "useCommonAlertSchema: true",
        "objectId: alertsAppObjectId",
        "identifierUri: alertsAudience",
        "tenantId: tenant().tenantId",
    ] {
        assert!(group.contains(line), "the action group lacks {line}");
    }
    // The handler accepts exactly what the action group asks Entra ID for.
    assert!(bicep.contains("value: '${alertsAudience},${alertsAppClientId}'"));
    let actions = bicep
        .split("actions: {")
        .nth(1)
        .unwrap()
        .split("\n    }")
        .next()
        .unwrap();
    assert!(
        actions.contains("alertsToTable.id"),
        "every alert rule uses it: {actions}"
    );
}

#[test]
fn the_holding_queue_exists_and_rows_waiting_in_any_queue_for_an_hour_alert_an_operator() {
    let bicep = read("infra/main.bicep");
    let held = format!(
        "name: '${{spillQueue}}{}'",
        webhook_ingest::delivery::spill::HELD_SUFFIX
    );
    assert!(bicep.contains(&held), "the holding queue is declared");
    let start = bicep
        .find("resource rowsWaiting 'Microsoft.Insights/metricAlerts@")
        .unwrap();
    let alert = &bicep[start..start + bicep[start..].find("\n}\n").unwrap()];
    for needed in [
        "queueService.id",
        "metricName: 'QueueMessageCount'",
        "timeAggregation: 'Minimum'",
        "threshold: 0",
        "actionGroupId: actionGroup.id",
        "replay-held",
    ] {
        assert!(alert.contains(needed), "{needed}");
    }
}

#[test]
fn the_apps_identity_may_write_durable_claims_in_its_storage_tables() {
    let bicep = read("infra/main.bicep");
    let start = bicep.find("var storageRoles = [").unwrap();
    let roles = &bicep[start..start + bicep[start..].find(']').unwrap()];
    assert!(
        roles.contains("roles.storageTableDataContributor"),
        "{roles}"
    );
    assert!(bicep.contains("storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'"));
}

#[test]
fn the_region_function_is_deployed_with_the_signature_its_file_declares_and_used_by_the_storage_tile(
) {
    let bicep = read("infra/main.bicep");
    let function = read("queries/functions/SkytapRegionName.kql");
    let signature = function.lines().next().unwrap();
    assert_eq!(signature, "// SkytapRegionName(region:string)");
    assert!(bicep.contains("functionAlias: 'SkytapRegionName'"));
    assert!(bicep.contains("functionParameters: 'region:string'"));
    assert!(bicep.contains("loadTextContent('../queries/functions/SkytapRegionName.kql')"));
    let storage = read("queries/skytap-storage-usage-by-day.kql");
    assert!(storage.contains("SkytapRegionName(Region)"), "{storage}");
    // The workbook runs the storage query, so it waits for the function.
    let workbook = bicep.split("resource workbook").nth(1).unwrap();
    assert!(workbook.contains("skytapRegionName"), "{workbook}");
    // Every code the original report named, and anything else as it is.
    for (code, name) in [
        ("prod/amm1r1", "NL-Amsterdam-M-1"),
        ("prod/txm1r1", "US-Texas-M-1"),
    ] {
        assert!(function.contains(&format!("region == \"{code}\", \"{name}\"")));
    }
    assert_eq!(function.matches("region == \"prod/").count(), 12);
}
