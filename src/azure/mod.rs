//! Plumbing every Azure client shares: the HTTP client, SharedKey signing, Entra ID tokens
//! and Entra ID's signing keys.

pub mod http;
pub mod identity;
pub mod shared_key;
pub mod signing_keys;
