//! RS256 verification for `jsonwebtoken`, on ring (already linked for TLS), so no second RSA
//! library is linked: Entra ID's access tokens are RS256, and every other algorithm, and all
//! signing, is refused.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{Error as SignatureError, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};

/// Installs the provider as `jsonwebtoken`'s default, once per process.
pub fn install() {
    static INSTALL: Once = Once::new();
    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: refuse_signing,
        verifier_factory: rs256_verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };
    INSTALL.call_once(|| {
        // Another provider installed first would be a programming error found by every test.
        let _ = PROVIDER.install_default();
    });
}

fn refuse_signing(
    _: &Algorithm,
    _: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    Err(ErrorKind::UnsupportedAlgorithm.into())
}

fn rs256_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match (algorithm, key.kind()) {
        (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => Ok(Box::new(Rs256 {
            n: n.clone(),
            e: e.clone(),
        })),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// An RSA public key (modulus, exponent) checking RSASSA-PKCS1-v1_5 with SHA-256, 2048 bits
/// or more.
struct Rs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        ring::signature::RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message,
            signature,
        )
        .map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}
