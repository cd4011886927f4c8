//! Secrets we generate (tokens, client secrets): 256 random bits, shown once,
//! stored only as SHA-256. They are random, so a fast hash is right: no slow
//! password hash per request (user passwords are the only Argon2 case).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a secret is for; its prefix makes leaked values recognizable to
/// secret scanners and to people.
#[derive(Clone, Copy, Debug)]
pub enum SecretKind {
    AccessToken,
    RefreshToken,
    ClientSecret,
    ClientId,
    Family,
    Code,
    Session,
    Csrf,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "sgat_",
            SecretKind::RefreshToken => "sgrt_",
            SecretKind::ClientSecret => "sgcs_",
            SecretKind::ClientId => "sgci_",
            SecretKind::Family => "sgfm_",
            SecretKind::Code => "sgac_",
            SecretKind::Session => "sgss_",
            SecretKind::Csrf => "sgcf_",
        }
    }
}

/// A fresh random value with its kind's prefix.
pub fn generate(kind: SecretKind) -> String {
    let bytes: [u8; 32] = rand::random();
    let len = if matches!(kind, SecretKind::ClientId | SecretKind::Family) {
        16
    } else {
        32
    };
    format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(&bytes[..len]))
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `presented` hashes to `stored`, in constant time.
pub fn verify(presented: &str, stored: &[u8]) -> bool {
    hash(presented).ct_eq(stored).into()
}

/// The PKCE S256 challenge for `verifier` (RFC 7636 section 4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Constant-time equality of two presented strings (CSRF tokens, challenges).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
