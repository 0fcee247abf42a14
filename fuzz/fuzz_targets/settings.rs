//! Any environment through settings validation: it never panics, and every refusal names a
//! setting the README documents (or a table setting).

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use webhook_ingest::settings::{Settings, Vars, SETTING_NAMES};

// The input is `NAME=value` lines; a name that is not a setting picks one by its first byte.
fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let values: HashMap<String, String> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| {
            let known = SETTING_NAMES.iter().find(|n| **n == name);
            let pick = || {
                SETTING_NAMES[usize::from(name.bytes().next().unwrap_or(0)) % SETTING_NAMES.len()]
            };
            (
                known.copied().unwrap_or_else(pick).to_owned(),
                value.to_owned(),
            )
        })
        .collect();
    if let Err(error) = Settings::from_vars(&Vars::new(values)) {
        assert!(
            SETTING_NAMES.contains(&error.setting.as_str()),
            "the refusal names `{}`, not a setting",
            error.setting
        );
    }
});
