//! The constant-time core every proof is checked with: a source's live secrets, compared over
//! SHA-256 digests or as an HMAC-SHA256 of the exact bytes received.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// One or more live secrets for a source (several while rotating). `Debug` shows none of them.
#[derive(Clone)]
pub struct Secrets(Vec<SecretString>);

impl Secrets {
    /// Splits a comma-separated setting; `None` when it holds no secret at all.
    pub fn parse_list(value: &str) -> Option<Secrets> {
        let secrets: Vec<SecretString> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        (!secrets.is_empty()).then_some(Secrets(secrets))
    }

    /// True when `presented` equals one of the secrets. Every secret is compared, in constant
    /// time over SHA-256 digests, so neither the match nor the secrets' lengths leak by timing.
    pub(super) fn matches_token(&self, presented: &str) -> bool {
        let presented = Sha256::digest(presented.as_bytes());
        self.0.iter().fold(false, |found, secret| {
            let expected = Sha256::digest(secret.expose_secret().as_bytes());
            found | bool::from(expected.ct_eq(&presented))
        })
    }

    /// True when `signature` is the HMAC-SHA256 of `body` under one of the secrets.
    pub(super) fn matches_hmac(&self, body: &[u8], signature: &[u8]) -> bool {
        self.0.iter().fold(false, |found, secret| {
            let mut mac = hmac_for(secret.expose_secret());
            mac.update(body);
            found | mac.verify_slice(signature).is_ok()
        })
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets([{} redacted])", self.0.len())
    }
}

fn hmac_for(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Computes AuditWolf's signature for a body: base64(HMAC-SHA256(secret as UTF-8, body)).
pub fn sign_auditwolf(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac_for(secret);
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditwolf_signature_matches_the_published_vector() {
        let fixture = include_bytes!("../../tests/fixtures/auditwolf-task-create.json");
        assert_eq!(
            sign_auditwolf("test-webhook-secret", fixture),
            "sWM8Jsu3vLgdjUi82yTT6HUcIL2TPymqnQ3tpVZwqgQ="
        );
    }

    #[test]
    fn any_live_secret_matches_and_nothing_else_does() {
        let secrets = Secrets::parse_list("old, new").unwrap();
        assert!(secrets.matches_token("new") && secrets.matches_token("old"));
        assert!(!secrets.matches_token("ne") && !secrets.matches_token(""));
        let signature = STANDARD.decode(sign_auditwolf("new", b"body")).unwrap();
        assert!(secrets.matches_hmac(b"body", &signature));
        assert!(!secrets.matches_hmac(b"bodY", &signature));
        assert!(Secrets::parse_list(" , ").is_none());
    }

    #[test]
    fn secrets_never_print() {
        let secrets = Secrets::parse_list("hunter2").unwrap();
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }
}
