//! JWT decoding and verification (`scopegate-layer`'s verifier, which the
//! token server and the gateway share): whatever the bytes, no panic, and
//! nothing but the exact token signed here verifies. The input is either a
//! whole token or an edit of a real one (a byte changed, inserted or cut),
//! so that the fuzzer reaches the signature check and the claims.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};
use scopegate_layer::jwt::{AT_JWT, AccessClaims, PublicKeys};

const ISSUER: &str = "https://auth.example";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    keys: PublicKeys,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut keys = PublicKeys::default();
    keys.add("k1", &URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()))
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(AT_JWT.into());
    header.kid = Some("k1".into());
    let claims = AccessClaims {
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        sub: "sgci_app".into(),
        client_id: "sgci_app".into(),
        iat: NOW - 10,
        nbf: NOW - 10,
        exp: NOW + 3600,
        jti: "j1".into(),
        scope: "account:read".into(),
        env: "production".into(),
        grant_id: "g1".into(),
        granted_at: None,
    };
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
    assert!(keys.verify(&token, ISSUER, NOW).is_some(), "the fixture verifies");
    Fixture { keys, token }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let candidate = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        // An edit of the real token at a position the input picks.
        let mut bytes = fixture.token.clone().into_bytes();
        let at = rest.first().map_or(0, |b| usize::from(*b) * 7 % bytes.len());
        let byte = rest.get(1).copied().unwrap_or(b'A');
        match mode % 6 {
            1 => bytes[at] = byte,
            3 => bytes.insert(at, byte),
            _ => {
                bytes.remove(at);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let verified = fixture.keys.verify(&candidate, ISSUER, NOW);
    if verified.is_some() {
        assert_eq!(candidate, fixture.token, "a token that was not signed here verified");
    }
    let _ = PublicKeys::kid_of(&candidate);
    let _ = scopegate_layer::jwt::looks_like_jwt(&candidate);
});
