//! The four webhook sources: telling them apart, verifying them, and turning them into rows,
//! behind one door ([`Verifier::admit`]).

mod auditwolf;
pub mod azure_monitor;
mod door;
pub mod json;
mod proof;
mod skytap;
mod stackstate;
mod verify;

pub use door::{Admitted, Credentials, Refusal, Refused, Request, Verifier};
pub use json::{Json, PayloadError};
pub use proof::{Gate, Subscriptions, VerifyError};
pub use verify::{sign_auditwolf, Secrets};

/// A service that sends webhooks to this handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Skytap,
    AuditWolf,
    AzureMonitor,
    StackState,
}

impl Source {
    /// The source's name, as in its route and the `Source` column.
    pub fn name(self) -> &'static str {
        match self {
            Source::Skytap => "skytap",
            Source::AuditWolf => "auditwolf",
            Source::AzureMonitor => "azuremonitor",
            Source::StackState => "stackstate",
        }
    }

    /// Classifies a body by its top-level discriminators, in the order
    /// `schemaId`, `category`, `notificationId` + `event`, `awid` + `type`.
    pub fn detect(value: &Json<'_>) -> Result<Source, PayloadError> {
        let has = |key: &str| value.get(key).is_some_and(|v| !v.is_null());
        if has("schemaId") {
            Ok(Source::AzureMonitor)
        } else if has("category") {
            Ok(Source::Skytap)
        } else if has("notificationId") && has("event") {
            Ok(Source::StackState)
        } else if has("awid") && has("type") {
            Ok(Source::AuditWolf)
        } else {
            Err(PayloadError::Unrecognised(
                "a Skytap, AuditWolf, Azure Monitor or StackState webhook \
                 (top-level `schemaId`, `category`, `notificationId` and `event`, or `awid` and `type`)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart_by_their_discriminators() {
        let cases: [(&str, Source); 4] = [
            (
                r#"{"schemaId":"x","category":"usage"}"#,
                Source::AzureMonitor,
            ),
            (r#"{"category":"usage"}"#, Source::Skytap),
            (r#"{"notificationId":"n","event":{}}"#, Source::StackState),
            (r#"{"awid":"a","type":"task.create"}"#, Source::AuditWolf),
        ];
        for (body, source) in cases {
            let value = json::parse(body.as_bytes()).unwrap();
            assert_eq!(Source::detect(&value), Ok(source), "{body}");
        }
    }

    #[test]
    fn an_unknown_shape_is_not_classified() {
        let value = json::parse(br#"{"hello":"world"}"#).unwrap();
        assert!(matches!(
            Source::detect(&value),
            Err(PayloadError::Unrecognised(_))
        ));
        let value = json::parse(b"[1]").unwrap();
        assert!(matches!(
            Source::detect(&value),
            Err(PayloadError::Unrecognised(_))
        ));
    }
}
