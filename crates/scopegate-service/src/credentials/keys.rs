//! Keys that sign JWT access tokens (RFC 9068): P-256 (`ES256`, the
//! default), RSA (`RS256`) or Ed25519 (`EdDSA`), per `tokens.algorithm`;
//! generated on first start (and when the algorithm changes) and kept in the
//! store; `kid` is the RFC 7638 thumbprint. Every key in the store is
//! published at `/oauth2/jwks`; the newest that is not retired signs.
//!
//! A key record's `public_x` holds the public key as the JWK needs it: the
//! Ed25519 key itself (the JWK's `x`), the uncompressed P-256 point
//! (`0x04 ‖ x ‖ y`), split into `x` and `y` when published, or an RSA key's
//! `n.e` (both base64url).
//!
//! ring signs with every algorithm (in constant time) but cannot make RSA
//! keys: the `rsa` crate makes them, and nothing else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use scopegate_core::SigningAlgorithm;
pub use scopegate_core::jwt::{AT_JWT, AccessClaims, PublicKeys, looks_like_jwt};
use scopegate_store::{KeyRecord, Store, StoreError};

use crate::credentials::sealing::{KeyEncryptionKey, is_sealed, unseal};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// The key that signs, parsed once: deriving it from PKCS#8 costs a scalar
/// multiplication, as much as a signature.
enum Signer {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair, SystemRandom),
    Rsa(RsaKeyPair, SystemRandom),
}

/// Bits of the RSA keys scopegate makes (RFC 7518 section 3.3: at least 2048).
const RSA_BITS: usize = 2048;

/// This node's keys: the set loaded from the store, replaced whole when
/// any node makes or retires a key (see the server's change feed), so that
/// every node signs with the same key and publishes the same JWKS.
pub struct Keys {
    /// Seals keys this process makes (rotation through the admin API).
    kek: Option<Arc<KeyEncryptionKey>>,
    set: ArcSwap<KeySet>,
}

/// The keys in the store at one moment, parsed.
struct KeySet {
    kid: String,
    signing: Signer,
    /// The protected header, encoded once.
    header: String,
    decoding: PublicKeys,
    jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.set.load().kid)
            .finish_non_exhaustive()
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

fn crypto(e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

/// The public JWK of a stored key (RFC 7517/7518), without `kid`, `alg`, `use`.
fn public_jwk(alg: &str, public: &str) -> Result<Value, KeyError> {
    match alg {
        "EdDSA" => Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": public})),
        "ES256" => {
            let point = URL_SAFE_NO_PAD.decode(public).map_err(crypto)?;
            if point.len() != 65 || point[0] != 4 {
                return Err(KeyError::Crypto("a P-256 key that is not an uncompressed point".into()));
            }
            Ok(json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }))
        }
        "RS256" => {
            let (n, e) = public
                .split_once('.')
                .ok_or_else(|| KeyError::Crypto("an RSA key without n.e".into()))?;
            Ok(json!({"kty": "RSA", "n": n, "e": e}))
        }
        other => Err(KeyError::Crypto(format!("unknown key algorithm {other:?}"))),
    }
}

/// RFC 7638 thumbprint: SHA-256 of the required members, in order, no spaces.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap_or_default(),
            jwk["n"].as_str().unwrap_or_default()
        ),
        Some("EC") => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap_or_default(),
            jwk["y"].as_str().unwrap_or_default()
        ),
        _ => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            jwk["x"].as_str().unwrap_or_default()
        ),
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A fresh key for `alg` as the store keeps it.
pub fn generate_key(now: i64, alg: SigningAlgorithm) -> Result<KeyRecord, KeyError> {
    let rng = SystemRandom::new();
    let (pkcs8, public): (Vec<u8>, String) = match alg {
        SigningAlgorithm::EdDSA => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(crypto)?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(crypto)?;
            let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (pkcs8.as_ref().to_vec(), public)
        }
        SigningAlgorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(crypto)?;
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).map_err(crypto)?;
            let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (pkcs8.as_ref().to_vec(), public)
        }
        SigningAlgorithm::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(crypto)?;
            let der = key.to_pkcs8_der().map_err(crypto)?.as_bytes().to_vec();
            // What ring cannot read, it could not sign with: found now, not at the first token.
            RsaKeyPair::from_pkcs8(&der).map_err(crypto)?;
            let public = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())
            );
            (der, public)
        }
    };
    Ok(KeyRecord {
        kid: thumbprint(&public_jwk(alg.as_str(), &public)?),
        alg: alg.as_str().into(),
        private_der: pkcs8,
        public_x: public,
        created_at: now,
        retired_at: None,
    })
}

/// A key record as the store should keep it: sealed when there is a KEK.
pub fn sealed(mut key: KeyRecord, kek: Option<&KeyEncryptionKey>) -> Result<KeyRecord, KeyError> {
    if let Some(kek) = kek
        && !is_sealed(&key.private_der)
    {
        key.private_der = kek.seal(&key.private_der, &key.kid).map_err(crypto)?;
    }
    Ok(key)
}

impl Keys {
    /// Loads the store's keys. With no key in use, or one of another
    /// algorithm than `alg` (the policy changed it), a new key of `alg` signs
    /// from now on; earlier keys stay published, so the tokens they signed
    /// keep verifying until they expire. With a KEK, new keys are stored
    /// sealed and keys stored in the clear are sealed now.
    pub async fn load_or_create<S: Store>(
        store: &S,
        now: i64,
        alg: SigningAlgorithm,
        kek: Option<Arc<KeyEncryptionKey>>,
    ) -> Result<Keys, KeyError> {
        let mut records = store.signing_keys().await?;
        if let Some(kek) = &kek {
            for k in records.iter().filter(|k| !is_sealed(&k.private_der)) {
                let key = sealed(k.clone(), Some(kek))?;
                store.set_signing_key_der(&key.kid, &key.private_der).await?;
                tracing::info!(kid = %key.kid, "sealed a signing key stored in the clear");
            }
        }
        let signing = records.iter().find(|k| k.retired_at.is_none());
        if signing.is_none_or(|k| k.alg != alg.as_str()) {
            let key = sealed(generate_key(now, alg)?, kek.as_deref())?;
            // Another node starting now may have made one first: then its key signs.
            if store.ensure_signing_key(&key).await? {
                tracing::info!(kid = %key.kid, alg = alg.as_str(), "created a signing key");
            }
        }
        records = store.signing_keys().await?;
        Keys::from_records(&records, kek)
    }

    /// The key-encryption key this process seals signing keys with.
    pub fn kek(&self) -> Option<&KeyEncryptionKey> {
        self.kek.as_deref()
    }

    /// A new key to rotate to, sealed as this process seals keys.
    pub fn new_key(&self, now: i64, alg: SigningAlgorithm) -> Result<KeyRecord, KeyError> {
        sealed(generate_key(now, alg)?, self.kek.as_deref())
    }

    pub fn from_records(records: &[KeyRecord], kek: Option<Arc<KeyEncryptionKey>>) -> Result<Keys, KeyError> {
        let set = KeySet::from_records(records, kek.as_deref())?;
        Ok(Keys {
            kek,
            set: ArcSwap::from_pointee(set),
        })
    }

    /// Reads the keys again: a node made or retired one.
    pub async fn reload<S: Store>(&self, store: &S) -> Result<(), KeyError> {
        let records = store.signing_keys().await?;
        let set = KeySet::from_records(&records, self.kek.as_deref())?;
        let (old, new) = (self.set.load().kid.clone(), set.kid.clone());
        self.set.store(Arc::new(set));
        if old != new {
            tracing::info!(kid = %new, "signing with another key");
        }
        Ok(())
    }

    /// The `kid` that signs now.
    pub fn kid(&self) -> String {
        self.set.load().kid.clone()
    }

    /// The JWK Set (RFC 7517) of every published key.
    pub fn jwks(&self) -> Value {
        self.set.load().jwks.clone()
    }

    /// Signs `claims` as an RFC 9068 access token.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        self.set.load().sign(claims)
    }

    /// Verifies an access token signed by one of our keys at time `now`
    /// (see [`PublicKeys::verify`]).
    pub fn verify(&self, token: &str, issuer: &str, now: i64) -> Option<AccessClaims> {
        self.set.load().decoding.verify(token, issuer, now)
    }

    /// [`Keys::verify`] for a token that may be for any of `audiences`
    /// (`Policy::audiences`).
    pub fn verify_for(&self, token: &str, issuer: &str, audiences: &[&str], now: i64) -> Option<AccessClaims> {
        self.set.load().decoding.verify_for(token, issuer, audiences, now)
    }
}

impl KeySet {
    fn from_records(records: &[KeyRecord], kek: Option<&KeyEncryptionKey>) -> Result<KeySet, KeyError> {
        let active = records
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| KeyError::Crypto("no signing key in use".into()))?;
        let der = unseal(&active.private_der, &active.kid, kek).map_err(crypto)?;
        let signing = match active.alg.as_str() {
            "RS256" => Signer::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(crypto)?, SystemRandom::new()),
            "ES256" => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).map_err(crypto)?;
                Signer::P256(pair, rng)
            }
            _ => Signer::Ed25519(Ed25519KeyPair::from_pkcs8(&der).map_err(crypto)?),
        };
        let header = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"alg": active.alg, "typ": AT_JWT, "kid": active.kid})).map_err(crypto)?);
        let mut decoding = PublicKeys::default();
        let mut published = Vec::new();
        for k in records {
            let mut jwk = public_jwk(&k.alg, &k.public_x)?;
            match (
                jwk["x"].as_str(),
                jwk["y"].as_str(),
                jwk["n"].as_str(),
                jwk["e"].as_str(),
            ) {
                (_, _, Some(n), Some(e)) => decoding.add_rsa(&k.kid, n, e),
                (Some(x), Some(y), _, _) => decoding.add_p256(&k.kid, x, y),
                (Some(x), None, _, _) => decoding.add(&k.kid, x),
                _ => continue,
            }
            .map_err(crypto)?;
            jwk["kid"] = k.kid.clone().into();
            jwk["alg"] = k.alg.clone().into();
            jwk["use"] = "sig".into();
            published.push(jwk);
        }
        Ok(KeySet {
            kid: active.kid.clone(),
            signing,
            header,
            decoding,
            jwks: json!({ "keys": published }),
        })
    }

    fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(crypto)?);
        let mut token = format!("{}.{payload}", self.header);
        let append = |token: &mut String, signature: &[u8]| {
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(signature, token);
        };
        match &self.signing {
            Signer::Ed25519(pair) => {
                let signature = pair.sign(token.as_bytes());
                append(&mut token, signature.as_ref());
            }
            // `FIXED`: r ‖ s, 64 bytes, as JWS wants (RFC 7518 section 3.4).
            Signer::P256(pair, rng) => {
                let signature = pair.sign(rng, token.as_bytes()).map_err(crypto)?;
                append(&mut token, signature.as_ref());
            }
            Signer::Rsa(pair, rng) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, rng, token.as_bytes(), &mut signature)
                    .map_err(crypto)?;
                append(&mut token, &signature);
            }
        }
        Ok(token)
    }
}
