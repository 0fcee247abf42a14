//! The README stays true: every setting the handler reads and every column it writes is documented.

use webhook_ingest::schema::Table;
use webhook_ingest::settings::SETTING_NAMES;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn the_readme_documents_every_setting() {
    let readme = readme();
    for name in SETTING_NAMES {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks a row for {name}"
        );
    }
}

#[test]
fn the_readme_documents_every_column_of_every_table() {
    let readme = readme();
    for table in Table::ALL {
        let heading = format!("### {}\n", table.default_name());
        let section = readme
            .split(&heading)
            .nth(1)
            .unwrap_or_else(|| panic!("README lacks {heading}"));
        let section = section.split("\n### ").next().unwrap();
        for column in table.columns() {
            assert!(
                section.contains(&format!("`{}`", column.name)),
                "README's {heading} lacks {}",
                column.name
            );
        }
    }
}

#[test]
fn local_settings_give_every_setting_a_harmless_local_value() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/local.settings.json"))
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let values = json["Values"].as_object().unwrap();
    assert_eq!(values["FUNCTIONS_WORKER_RUNTIME"], "custom");
    // The host sets the port, and the platform the identity endpoint; the rest are listed.
    let set_by_azure = [
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
    ];
    for name in SETTING_NAMES.iter().filter(|n| !set_by_azure.contains(n)) {
        assert!(
            values.contains_key(*name),
            "local.settings.json lacks {name}"
        );
    }
    for name in [
        "LOGS_INGESTION_ENDPOINT",
        "LOG_ANALYTICS_WORKSPACE_ID",
        "AZURE_CLIENT_SECRET",
    ] {
        assert_eq!(
            values[name], "",
            "{name} stays empty locally: rows go to local files"
        );
    }
}
