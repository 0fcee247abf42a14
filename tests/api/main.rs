//! Integration tests: the handler over real HTTP on loopback, against a fake Azure endpoint.

mod azurite;
mod binary;
mod claims;
mod docs;
mod duplicates;
mod exactly_once;
mod failures;
mod fake_ingestion;
mod fake_issuer;
mod faults;
mod fixtures;
mod functions_json;
mod group_commit;
mod hardening;
mod helpers;
mod host_proxy;
mod infra;
mod logs_ingestion;
mod secure_webhook;
mod spill;
mod storage_proxy;
mod verification;
