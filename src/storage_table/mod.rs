//! A client for the account's Table service: the few operations durable claims need (create and
//! delete a table; insert, get and conditionally replace an entity), signed with the account
//! key (Table's own SharedKey string) or a managed-identity token.
//!
//! See <https://learn.microsoft.com/rest/api/storageservices/table-service-rest-api>.

mod service;
mod signing;

pub use service::{parse_entity, Entity, TableClient, TableError, Written, API_VERSION};
