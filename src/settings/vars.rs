//! Raw setting values: the environment over the `Values` of `local.settings.json`.

use std::collections::HashMap;
use std::path::Path;

use super::{invalid, SettingsError};

const KEY_VAULT_REFERENCE: &str = "@Microsoft.KeyVault(";

/// Raw setting values: the environment wins over `local.settings.json`.
pub struct Vars {
    values: HashMap<String, String>,
    #[cfg(test)]
    pub(super) read: std::cell::RefCell<std::collections::BTreeSet<String>>,
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
    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, SettingsError> {
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
