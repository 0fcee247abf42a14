//! AuditWolf cloud-governance events: one row per webhook.
//!
//! See <https://www.auditwolf.com/help/webhook-reference>.

use actix_web::http::header::HeaderMap;
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};

use super::json::{self, Json, PayloadError};
use super::proof::{header, required, VerifyError};
use super::verify::Secrets;
use crate::schema::{Batch, Provenance, Row, Table};

/// AuditWolf's signature header: base64(HMAC-SHA256(secret, body)).
const SIGNATURE_HEADER: &str = "x-auditwolf-webhook-sig";

/// The proof: the signature header is the HMAC of the exact bytes under one of `secrets`
/// (`AUDITWOLF_SECRETS`, required).
pub fn prove(
    secrets: Option<&Secrets>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    let secrets = required(secrets, "AUDITWOLF_SECRETS", "auditwolf")?;
    let signature = STANDARD
        .decode(header(headers, SIGNATURE_HEADER)?.trim())
        .map_err(|_| VerifyError::SignatureNotBase64(SIGNATURE_HEADER))?;
    if !secrets.matches_hmac(body, &signature) {
        return Err(VerifyError::BadSignature(SIGNATURE_HEADER));
    }
    Ok(())
}

/// Turns an AuditWolf event into one row.
pub fn rows(event: &Json<'_>, received: DateTime<Utc>) -> Result<Batch, PayloadError> {
    json::required_object(event, "").map_err(|_| PayloadError::Unrecognised("a JSON object"))?;
    let account = json::required_text(event, "/awid")?;
    let id = json::required_id(event, "/id")?;
    let key = format!("auditwolf:{id}");
    let provenance = Provenance {
        source: "auditwolf",
        message_id: Some(id),
        received,
    };
    let event_type = json::required_text(event, "/type")?;
    let time = json::required_time(event, "/timestamp")?;
    let mut row = Row::new(Table::AuditWolf, &provenance, time);
    row.text("AccountId", Some(account))
        .text("ObjectId", json::id(event, "/objectid").as_deref())
        .text("EventType", Some(event_type))
        .text("Severity", json::text(event, "/severity"))
        .text("SubscriptionId", json::text(event, "/subscriptionId"))
        .text("ResourceId", json::text(event, "/resourceId"))
        .text("ResourceName", json::text(event, "/resourceName"))
        .text("Summary", json::text(event, "/summary"))
        .text("Uri", json::text(event, "/uri"))
        .raw_event_of(event);
    Ok(Batch {
        table: Table::AuditWolf,
        rows: vec![row],
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sign_auditwolf;
    use actix_web::http::header::HeaderValue;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/auditwolf-task-create.json");

    fn signed(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(signature).unwrap();
        headers.insert(SIGNATURE_HEADER.parse().unwrap(), value);
        headers
    }

    #[test]
    fn any_live_secret_proves_the_exact_bytes_and_a_tampered_body_is_refused() {
        let secrets = Secrets::parse_list("old, new");
        let headers = signed(&sign_auditwolf("new", FIXTURE));
        assert!(prove(secrets.as_ref(), &headers, FIXTURE).is_ok());
        let mut tampered = FIXTURE.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            prove(secrets.as_ref(), &headers, &tampered),
            Err(VerifyError::BadSignature(SIGNATURE_HEADER))
        );
        assert_eq!(
            prove(secrets.as_ref(), &signed("not base64!"), FIXTURE),
            Err(VerifyError::SignatureNotBase64(SIGNATURE_HEADER))
        );
        let error = prove(None, &headers, FIXTURE).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("AUDITWOLF_SECRETS is not set"));
    }
}
