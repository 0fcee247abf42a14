//! A client for one Azure Storage queue: put, receive and delete messages over the REST API,
//! signed with the account key (connection string) or a managed-identity token.
//!
//! See <https://learn.microsoft.com/rest/api/storageservices/queue-service-rest-api> and
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>.

mod service;
mod signing;

pub use service::{parse_messages, QueueError, QueueMessage, StorageQueue};
pub use signing::API_VERSION;
