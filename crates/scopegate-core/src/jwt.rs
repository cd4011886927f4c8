//! RFC 9068 access tokens as scopegate signs them, and their verification
//! against a set of public keys. The token server verifies with the keys in
//! its store, the layer with the JWKS it fetched: one verifier for both.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// `typ` of an RFC 9068 access token.
pub const AT_JWT: &str = "at+jwt";

/// RFC 9068 section 2.2 claims, plus `env` (the environment of the client's
/// keys), `gid` (the grant id, so that revoking a grant reaches its JWTs) and
/// `granted_at` (when that grant was made).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    pub env: String,
    /// The grant id (claim `gid`).
    #[serde(rename = "gid")]
    pub grant_id: String,
    /// When the grant was made, for `max_lifetime` at request time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<i64>,
}

impl AccessClaims {
    /// The resource the token was issued for (RFC 8707), `None` when its
    /// audience is the issuer itself (a token that named none).
    pub fn resource(&self) -> Option<&str> {
        (self.aud != self.iss).then_some(self.aud.as_str())
    }
}

/// Whether the token's header has a `crit` member (or cannot be read):
/// `jsonwebtoken` ignores header members it does not know.
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine;
    let Some(header) = token.split('.').next() else {
        return true;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return true;
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(members)) => members.contains_key("crit"),
        _ => true,
    }
}

/// Whether `token` has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Public keys by `kid`, each with the one algorithm it verifies: Ed25519
/// (`EdDSA`), P-256 (`ES256`) or RSA (`RS256`).
#[derive(Default)]
pub struct PublicKeys {
    keys: Vec<(String, Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|(kid, _, _)| kid)).finish()
    }
}

/// A JWK that is not a signing key we can use.
#[derive(Debug, thiserror::Error)]
#[error("JWKS: {0}")]
pub struct JwksError(pub String);

impl PublicKeys {
    /// Adds an Ed25519 key given by its `x` (base64url) under `kid`.
    pub fn add(&mut self, kid: &str, x: &str) -> Result<(), JwksError> {
        let key = DecodingKey::from_ed_components(x).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
        self.keys.push((kid.to_owned(), Algorithm::EdDSA, key));
        Ok(())
    }

    /// Adds a P-256 key given by its `x` and `y` (base64url) under `kid`.
    pub fn add_p256(&mut self, kid: &str, x: &str, y: &str) -> Result<(), JwksError> {
        let key = DecodingKey::from_ec_components(x, y).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
        self.keys.push((kid.to_owned(), Algorithm::ES256, key));
        Ok(())
    }

    /// Adds an RSA key (RS256) given by its modulus `n` and exponent `e`
    /// (base64url) under `kid`.
    pub fn add_rsa(&mut self, kid: &str, n: &str, e: &str) -> Result<(), JwksError> {
        let key = DecodingKey::from_rsa_components(n, e).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
        self.keys.push((kid.to_owned(), Algorithm::RS256, key));
        Ok(())
    }

    /// Reads a JWK Set (RFC 7517): every `OKP`/`Ed25519`, `EC`/`P-256` and
    /// `RSA` key with a `kid`; other keys are skipped, since scopegate never
    /// signs with them.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<PublicKeys, JwksError> {
        let list = jwks["keys"]
            .as_array()
            .ok_or_else(|| JwksError("no \"keys\" array".into()))?;
        let mut keys = PublicKeys::default();
        for jwk in list {
            if let (Some(kid), "RSA", Some(n), Some(e)) = (
                jwk["kid"].as_str(),
                jwk["kty"].as_str().unwrap_or_default(),
                jwk["n"].as_str(),
                jwk["e"].as_str(),
            ) {
                keys.add_rsa(kid, n, e)?;
                continue;
            }
            let (Some(kid), Some(x)) = (jwk["kid"].as_str(), jwk["x"].as_str()) else {
                continue;
            };
            if jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519" {
                keys.add(kid, x)?;
            } else if let (true, Some(y)) = (jwk["kty"] == "EC" && jwk["crv"] == "P-256", jwk["y"].as_str()) {
                keys.add_p256(kid, x, y)?;
            }
        }
        Ok(keys)
    }

    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _, _)| k == kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies an access token at time `now`: `typ`, `alg` (the one
    /// algorithm of the key the `kid` names, EdDSA, ES256 or RS256; never a key
    /// carried or pointed to by the header), no `crit` (we understand no
    /// extension, so any listed one must be refused: RFC 7515 section
    /// 4.1.11), signature, `iss`, `aud` (the issuer), `exp` and `nbf`.
    pub fn verify(&self, token: &str, issuer: &str, now: i64) -> Option<AccessClaims> {
        self.verify_for(token, issuer, &[issuer], now)
    }

    /// [`PublicKeys::verify`], accepting any of `audiences` as `aud` (the
    /// issuer and the resources of the policy, `Policy::audiences`).
    pub fn verify_for(&self, token: &str, issuer: &str, audiences: &[&str], now: i64) -> Option<AccessClaims> {
        if names_critical_extensions(token) {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some(AT_JWT) || header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some()
        {
            return None;
        }
        let kid = header.kid?;
        let (_, alg, key) = self.keys.iter().find(|(k, _, _)| *k == kid)?;
        if header.alg != *alg {
            return None;
        }
        let mut validation = Validation::new(*alg);
        validation.set_issuer(&[issuer]);
        // `aud` is the resource the token is for (RFC 8707), or the issuer;
        // which one may be used where is the audience rule of the decision
        // path (`Policy::audience_refusal`).
        validation.set_audience(audiences);
        // Time is a parameter: checked below against `now`, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .ok()?
            .claims;
        (claims.nbf <= now && now < claims.exp).then_some(claims)
    }

    /// The `kid` a token names, if it is shaped like one of ours.
    pub fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }
}
