//! A client for one Azure Storage queue: put, receive and delete messages over the REST API,
//! signed with the account key (connection string) or a managed-identity token.
//!
//! See <https://learn.microsoft.com/rest/api/storageservices/queue-service-rest-api> and
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>.

mod config;
mod service;
mod signing;

pub use config::{QueueAuth, QueueServiceConfig, API_VERSION, STORAGE_AUDIENCE};
pub use service::{QueueError, QueueMessage, StorageQueue};
