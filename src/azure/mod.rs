//! Plumbing every Azure client shares: the HTTP client, SharedKey signing and Entra ID tokens.

pub mod http;
pub mod identity;
pub mod shared_key;
