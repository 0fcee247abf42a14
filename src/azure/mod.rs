//! Plumbing every Azure client shares: the HTTP client, request bodies that say when they leave,
//! SharedKey signing, Entra ID tokens, Entra ID's signing keys and RS256 checks, and the GUIDs Azure names things by.

pub mod http;
pub mod identity;
pub mod rs256;
pub mod send_phase;
pub mod shared_key;
pub mod signing_keys;
pub mod storage;

/// Whether `value` is a GUID in Azure's 8-4-4-4-12 form (workspace, tenant, subscription ids).
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
