//! Unit tests of the settings.

use super::*;
use std::path::Path;

use crate::azure::identity::Credential;

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

const SECURE_WEBHOOK: [(&str, &str); 4] = [
    (
        "AZURE_MONITOR_TENANT_ID",
        "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
    ),
    (
        "AZURE_MONITOR_AUDIENCE",
        "api://webhooks-alerts, 0a1b2c3d-0000-0000-0000-000000000000",
    ),
    ("AZURE_MONITOR_ROLE", "Alerts.Send"),
    (
        "AZURE_MONITOR_SUBSCRIPTIONS",
        "AAAA0A0A-bb1b-cc2c-dd3d-eeeeee4e4e4e,",
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
        vars(&SECURE_WEBHOOK),
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
    let by_account = [
        ("AzureWebJobsStorage__accountName", "acct"),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
        ("IDENTITY_HEADER", "h"),
    ];
    let spill = Settings::from_vars(&vars(&by_account))
        .unwrap()
        .spill
        .unwrap();
    assert_eq!(
        spill.service.queue_endpoint.as_str(),
        "https://acct.queue.core.windows.net/"
    );
    assert_eq!(
        spill.service.table_endpoint.as_str(),
        "https://acct.table.core.windows.net/"
    );
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
    std::fs::write(
        &file,
        r#"{"IsEncrypted": false, "Values": {"SKYTAP_AUDIT_TABLE": "FromFile", "PATH": "file"}}"#,
    )
    .unwrap();
    let vars = Vars::from_env_and_file(&file).unwrap();
    assert_eq!(vars.get("SKYTAP_AUDIT_TABLE").unwrap(), Some("FromFile"));
    assert_ne!(vars.get("PATH").unwrap(), Some("file"));
    let missing = Vars::from_env_and_file(&dir.path().join("none.json")).unwrap();
    assert_eq!(missing.get("SKYTAP_AUDIT_TABLE").unwrap(), None);
}

#[test]
fn a_table_name_with_the_suffix_or_shared_by_two_sources_is_refused() {
    let suffixed = error(&[("SKYTAP_AUDIT_TABLE", "Skytap_CL")]);
    assert_eq!(suffixed.setting, "SKYTAP_AUDIT_TABLE");
    assert!(suffixed.to_string().contains("`Skytap`"), "{suffixed}");
    let shared = error(&[("SKYTAP_AUDIT_TABLE", "auditwolf")]);
    assert_eq!(shared.setting, "AUDITWOLF_TABLE");
    assert!(
        shared.to_string().contains("SKYTAP_AUDIT_TABLE"),
        "{shared}"
    );
    let renamed_both = Settings::from_vars(&vars(&[
        ("SKYTAP_AUDIT_TABLE", "AuditWolf"),
        ("AUDITWOLF_TABLE", "Governance"),
    ]));
    assert!(
        renamed_both.is_ok(),
        "a name freed by renaming may be reused"
    );
}

#[test]
fn a_log_filter_that_would_silence_every_line_is_refused() {
    for bad in [
        "verbose",
        "warning",
        "info,webhook_ingest=loud",
        "webhook_ingest",
    ] {
        let e = error(&[("RUST_LOG", bad)]);
        assert_eq!(e.setting, "RUST_LOG", "{bad}");
        assert!(e.to_string().contains("level"), "{e}");
    }
    for good in [
        "info",
        "WARN",
        "warn,webhook_ingest=debug",
        "off",
        "actix_web=error,info",
    ] {
        assert!(
            Settings::from_vars(&vars(&[("RUST_LOG", good)])).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn plain_http_is_refused_for_every_azure_endpoint_except_on_loopback() {
    let key = [
        (
            "LOG_ANALYTICS_WORKSPACE_ID",
            "11111111-2222-3333-4444-555555555555",
        ),
        ("LOG_ANALYTICS_SHARED_KEY", "dGVzdA=="),
    ];
    let in_clear = [
        (
            "LOG_ANALYTICS_ENDPOINT",
            "http://ws.ods.opinsights.azure.com",
        ),
        (
            "LOGS_INGESTION_ENDPOINT",
            "http://dce.eastus-1.ingest.monitor.azure.com",
        ),
        ("IDENTITY_ENDPOINT", "http://10.0.0.4/msi/token"),
        ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        (
            "AzureWebJobsStorage__queueServiceUri",
            "http://st.queue.core.windows.net",
        ),
    ];
    for (setting, url) in in_clear {
        let mut pairs: Vec<(&str, &str)> = key.to_vec();
        pairs.extend(LI);
        pairs.extend([
            ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ("IDENTITY_HEADER", "h"),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
            ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        if setting == "AzureWebJobsStorage__queueServiceUri" || setting == "IDENTITY_ENDPOINT" {
            pairs.retain(|(name, _)| {
                !name.starts_with("AZURE_CLIENT") && *name != "AZURE_TENANT_ID"
            });
        }
        pairs.retain(|(name, _)| *name != setting);
        pairs.push((setting, url));
        let e = error(&pairs);
        assert_eq!(e.setting, setting, "{e}");
        assert!(e.to_string().contains("https"), "{e}");
    }
}

#[test]
fn identity_storage_named_by_account_alone_names_that_setting() {
    let e = error(&[("AzureWebJobsStorage__accountName", "st")]);
    assert_eq!(e.setting, "AzureWebJobsStorage__accountName");
    assert!(e.to_string().contains("IDENTITY_ENDPOINT"), "{e}");
}

#[test]
fn secure_webhooks_are_read_with_their_defaults() {
    let settings = Settings::from_vars(&vars(&SECURE_WEBHOOK)).unwrap();
    let config = settings.credentials.secure_webhook.unwrap();
    assert_eq!(config.tenant_id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_eq!(
        config.audiences,
        [
            "api://webhooks-alerts",
            "0a1b2c3d-0000-0000-0000-000000000000"
        ]
    );
    assert_eq!(config.role, "Alerts.Send");
    assert_eq!(
        config.authority.as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(
        settings.credentials.azure_monitor_subscriptions,
        Subscriptions::parse_list("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e").unwrap()
    );
    let defaults = Settings::from_vars(&vars(&SECURE_WEBHOOK[..2])).unwrap();
    let config = defaults.credentials.secure_webhook.unwrap();
    assert_eq!(config.role, "ActionGroupsSecureWebhook");
    assert!(defaults.credentials.azure_monitor_subscriptions.is_none());
    let none = Settings::from_vars(&vars(&[])).unwrap();
    assert!(none.credentials.secure_webhook.is_none());
}

#[test]
fn secure_webhook_settings_that_cannot_work_name_the_setting() {
    let tenant = SECURE_WEBHOOK[0];
    let audience = SECURE_WEBHOOK[1];
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            &[tenant, ("AZURE_MONITOR_AUDIENCE", " , ")],
            "AZURE_MONITOR_AUDIENCE",
            "names no audience",
        ),
        (&[tenant], "AZURE_MONITOR_AUDIENCE", "Application ID URI"),
        (&[audience], "AZURE_MONITOR_TENANT_ID", "must be set"),
        (
            &[
                ("AZURE_MONITOR_TENANT_ID", "contoso.onmicrosoft.com"),
                audience,
            ],
            "AZURE_MONITOR_TENANT_ID",
            "GUID",
        ),
        (
            &[
                tenant,
                audience,
                ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
            ],
            "AZURE_AUTHORITY_HOST",
            "https",
        ),
        (
            &[(
                "AZURE_MONITOR_SUBSCRIPTIONS",
                "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e, my-sub",
            )],
            "AZURE_MONITOR_SUBSCRIPTIONS",
            "`my-sub` is not a subscription id",
        ),
    ];
    for (pairs, setting, says) in cases {
        let e = error(pairs);
        assert_eq!(e.setting, setting, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn a_storage_connection_string_in_clear_off_this_machine_is_refused() {
    let key = "AccountKey=dGVzdA==";
    for connection in [
        format!("DefaultEndpointsProtocol=http;AccountName=st;{key}"),
        format!("AccountName=st;{key};QueueEndpoint=http://st.queue.core.windows.net"),
    ] {
        let e = error(&[("AzureWebJobsStorage", &connection)]);
        assert_eq!(e.setting, "AzureWebJobsStorage", "{e}");
        assert!(e.to_string().contains("https"), "{e}");
    }
    let local = format!("AccountName=st;{key};QueueEndpoint=http://127.0.0.1:10001/st");
    assert!(Settings::from_vars(&vars(&[("AzureWebJobsStorage", &local)])).is_ok());
}

#[test]
fn a_spill_queue_name_leaves_room_for_its_poison_and_holding_queues() {
    let storage = ("AzureWebJobsStorage", "UseDevelopmentStorage=true");
    let longest = "q".repeat(56);
    assert!(Settings::from_vars(&vars(&[storage, ("SPILL_QUEUE", &longest)])).is_ok());
    let e = error(&[storage, ("SPILL_QUEUE", &"q".repeat(57))]);
    assert_eq!(e.setting, "SPILL_QUEUE");
}
