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
