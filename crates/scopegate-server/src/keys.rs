//! Keys that sign JWT access tokens (RFC 9068): Ed25519 (`EdDSA`), generated
//! on first start and kept in the store; `kid` is the RFC 7638 thumbprint.
//! Every key in the store is published at `/oauth2/jwks`; the newest that is
//! not retired signs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{Ed25519KeyPair, KeyPair};
pub use scopegate_layer::jwt::{AT_JWT, AccessClaims, PublicKeys, looks_like_jwt};
use scopegate_store::{KeyRecord, Store, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct Keys {
    kid: String,
    /// The signing key pair, parsed once: deriving it from the PKCS#8 seed
    /// costs a scalar multiplication, as much as the signature itself.
    signing: Ed25519KeyPair,
    /// The protected header, encoded once.
    header: String,
    decoding: PublicKeys,
    jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Why keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Store(StoreError),
    #[error("signing key: {0}")]
    Crypto(String),
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        KeyError::Store(e)
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A fresh Ed25519 key as the store keeps it.
pub fn generate_key(now: i64) -> Result<KeyRecord, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Ok(KeyRecord {
        kid: thumbprint(&x),
        alg: "EdDSA".into(),
        private_der: pkcs8.as_ref().to_vec(),
        public_x: x,
        created_at: now,
        retired_at: None,
    })
}

impl Keys {
    /// Loads the store's keys, creating the first one if there is none in use.
    pub async fn load_or_create<S: Store>(store: &S, now: i64) -> Result<Keys, KeyError> {
        let mut records = store.signing_keys().await?;
        if records.iter().all(|k| k.retired_at.is_some()) {
            let key = generate_key(now)?;
            store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, "created a signing key");
            records = store.signing_keys().await?;
        }
        Keys::from_records(&records)
    }

    pub fn from_records(records: &[KeyRecord]) -> Result<Keys, KeyError> {
        let active = records
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| KeyError::Crypto("no signing key in use".into()))?;
        let signing = Ed25519KeyPair::from_pkcs8(&active.private_der).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let header = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({"alg": "EdDSA", "typ": AT_JWT, "kid": active.kid}))
                .map_err(|e| KeyError::Crypto(e.to_string()))?,
        );
        let mut decoding = PublicKeys::default();
        let mut published = Vec::new();
        for k in records.iter().filter(|k| k.alg == "EdDSA") {
            decoding
                .add(&k.kid, &k.public_x)
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
            published.push(
                json!({"kty": "OKP", "crv": "Ed25519", "x": k.public_x, "kid": k.kid, "alg": "EdDSA", "use": "sig"}),
            );
        }
        Ok(Keys {
            kid: active.kid.clone(),
            signing,
            header,
            decoding,
            jwks: json!({ "keys": published }),
        })
    }

    /// The JWK Set (RFC 7517) of every published key.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims` as an RFC 9068 access token.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, serde_json::Error> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
        let mut token = format!("{}.{payload}", self.header);
        let signature = self.signing.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(token)
    }

    /// Verifies an access token signed by one of our keys at time `now`
    /// (see [`PublicKeys::verify`]).
    pub fn verify(&self, token: &str, issuer: &str, now: i64) -> Option<AccessClaims> {
        self.decoding.verify(token, issuer, now)
    }
}
