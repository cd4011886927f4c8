//! `tokens.format = "jwt"`: RFC 9068 access tokens, signed with the key the
//! JWKS publishes, and the verifier that the gateway will use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use scopegate_store::Store;

use crate::{Harness, T0};

fn part(token: &str, i: usize) -> Value {
    let raw = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
}

async fn issue(h: &Harness) -> (crate::Client, String) {
    let c = h
        .client("production", "account:read orders", "account:read orders", false)
        .await;
    let t = h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (c, t)
}

#[tokio::test]
async fn jwt_access_tokens_follow_rfc9068() {
    let h = Harness::jwt().await;
    let (c, token) = issue(&h).await;
    assert_eq!(token.split('.').count(), 3, "{token}");
    let header = part(&token, 0);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("EdDSA"))
    );
    let claims = part(&token, 1);
    assert_eq!(claims["iss"], "http://127.0.0.1:8080");
    assert_eq!(claims["aud"], "http://127.0.0.1:8080");
    assert_eq!(claims["client_id"], c.id.as_str());
    assert_eq!(claims["sub"], c.id.as_str(), "an app token's subject is the client");
    assert_eq!(claims["scope"], "account:read orders");
    assert_eq!(claims["env"], "production");
    assert_eq!(
        (claims["iat"].as_i64(), claims["exp"].as_i64()),
        (Some(T0), Some(T0 + 3600))
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() > 16));
}

#[tokio::test]
async fn jwks_publishes_the_key_that_signs() {
    let h = Harness::jwt().await;
    let (_, token) = issue(&h).await;
    let jwks = h.get("/oauth2/jwks").await;
    let key = &jwks.ok()["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(key["kid"], part(&token, 0)["kid"]);
    assert!(key.get("d").is_none(), "never the private key");
    let meta = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta.ok()["jwks_uri"], "http://127.0.0.1:8080/oauth2/jwks");
}

#[tokio::test]
async fn jwt_tokens_are_introspected_and_revoked_like_opaque_ones() {
    let h = Harness::jwt().await;
    let (c, token) = issue(&h).await;
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok()["active"], true);
    h.post("/oauth2/revoke", Some(&c), &[("token", &token)], &[]).await;
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok(), &json!({"active": false}));
}

#[tokio::test]
async fn no_expiry_tokens_stay_opaque_in_jwt_format() {
    // RFC 9068 requires `exp`; a token that never expires must stay revocable at the store.
    let h = Harness::jwt().await;
    let c = h
        .client("production", "account:read no_expiry", "account:read no_expiry", false)
        .await;
    let t = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert!(t.ok()["access_token"].as_str().unwrap().starts_with("sgat_"));
}

fn forge(header: Value, claims: &Value, signature: &[u8]) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{}", enc(&header), enc(claims), URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn the_verifier_accepts_our_tokens_and_refuses_forgeries() {
    let h = Harness::jwt().await;
    let (_, token) = issue(&h).await;
    let iss = "http://127.0.0.1:8080";
    // Our token verifies while it is valid (the verifier uses the real clock, so check the signature path).
    let mut claims = part(&token, 1);
    claims["exp"] = json!(i64::MAX / 2);
    claims["iat"] = json!(1);
    claims["nbf"] = json!(1);
    let kid = part(&token, 0)["kid"].clone();
    let sig = URL_SAFE_NO_PAD.decode(token.split('.').nth(2).unwrap()).unwrap();
    let tampered = forge(json!({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}), &claims, &sig);
    assert!(
        h.keys.verify(&tampered, iss, T0).is_none(),
        "changed claims break the signature"
    );
    let none = forge(json!({"typ": "at+jwt", "alg": "none", "kid": kid}), &claims, b"");
    assert!(h.keys.verify(&none, iss, T0).is_none(), "alg none");
    let public_x = h.get("/oauth2/jwks").await.json["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            alg: jsonwebtoken::Algorithm::HS256,
            typ: Some("at+jwt".into()),
            kid: kid.as_str().map(str::to_owned),
            ..Default::default()
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    assert!(
        h.keys.verify(&hmac, iss, T0).is_none(),
        "HMAC with the public key as secret"
    );
    let plain_jwt = forge(json!({"typ": "JWT", "alg": "EdDSA", "kid": kid}), &claims, &sig);
    assert!(h.keys.verify(&plain_jwt, iss, T0).is_none(), "typ must be at+jwt");
    let embedded = forge(
        json!({"typ": "at+jwt", "alg": "EdDSA", "kid": kid, "jwk": {"kty": "OKP", "crv": "Ed25519", "x": public_x}}),
        &claims,
        &sig,
    );
    assert!(h.keys.verify(&embedded, iss, T0).is_none(), "embedded jwk");
    // A token naming a critical extension we do not understand (RFC 7515
    // section 4.1.11), signed by our own key: refused all the same.
    let header = json!({"typ": "at+jwt", "alg": "EdDSA", "kid": kid, "crit": ["exp"]});
    let critical = sign(&h, &header, &part(&token, 1)).await;
    assert!(h.keys.verify(&critical, iss, T0).is_none(), "unknown crit");
    let mut other_audience = part(&token, 1);
    other_audience["aud"] = json!("https://api.other.example");
    let header = json!({"typ": "at+jwt", "alg": "EdDSA", "kid": kid});
    let foreign = sign(&h, &header, &other_audience).await;
    assert!(h.keys.verify(&foreign, iss, T0).is_none(), "another audience");
    let resigned = sign(&h, &header, &part(&token, 1)).await;
    assert!(
        h.keys.verify(&resigned, iss, T0).is_some(),
        "the same header and claims verify: the checks above are the cause"
    );
    assert!(
        h.keys.verify(&token, "https://other.example", T0).is_none(),
        "another issuer"
    );
    let ours = h
        .keys
        .verify(&token, iss, T0)
        .expect("our own token verifies at issue time");
    assert_eq!(ours.scope, "account:read orders");
    assert!(h.keys.verify(&token, iss, ours.exp).is_none(), "expired at exp");
    assert!(
        h.keys.verify(&token, iss, ours.nbf - 1).is_none(),
        "not yet valid before nbf"
    );
}

#[tokio::test]
async fn jwt_access_tokens_are_stateless() {
    let h = Harness::jwt().await;
    let (_, token) = issue(&h).await;
    let stored = scopegate_store::Store::token(&h.store, &scopegate_service::credentials::secrets::hash(&token))
        .await
        .unwrap();
    assert_eq!(
        stored, None,
        "a JWT access token is verified by its signature, not stored"
    );
}

#[tokio::test]
async fn expired_jwt_is_inactive() {
    let h = Harness::jwt().await;
    let (c, token) = issue(&h).await;
    // Verified once (and remembered), then its time runs out.
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok()["active"], true);
    h.advance(3600);
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok(), &json!({"active": false}));
}

#[tokio::test]
async fn revoking_a_grant_reaches_its_jwt_access_tokens() {
    let h = Harness::jwt().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read", T0).await;
    let first = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    let access = first.ok()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(part(&access, 1)["sub"], "alice");
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(seen.ok()["active"], true);
    // Reusing the rotated refresh token revokes the whole grant, JWTs included.
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error("invalid_grant", "already used");
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(seen.ok(), &json!({"active": false}));
}

#[tokio::test]
async fn introspection_says_inactive_for_a_disabled_users_jwt_and_drops_a_scope_whose_permission_is_lost() {
    let h = Harness::jwt().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h.client("production", "orders", "orders", false).await;
    let rt = h.seed_refresh(&c, "alice", "orders", T0).await;
    let first = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    let access = first.ok()["access_token"].as_str().unwrap().to_owned();
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(seen.ok()["scope"], "orders");
    h.store.set_permissions("alice", &["Orders".to_owned()]).await.unwrap();
    h.advance(6);
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(
        (&seen.ok()["active"], &seen.ok()["scope"]),
        (&json!(true), &json!("read_orders"))
    );
    h.store.set_user_enabled("alice", false).await.unwrap();
    h.advance(6);
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(seen.ok(), &json!({"active": false}));
}

/// The harness's policy with ES256-signed JWT access tokens.
async fn es256() -> Harness {
    Harness::with_policy(&format!(
        "{}\n[tokens]\nformat = \"jwt\"\nalgorithm = \"ES256\"\n",
        crate::POLICY
    ))
    .await
}

#[tokio::test]
async fn es256_tokens_verify_with_the_published_p256_key_alone() {
    let h = es256().await;
    let (c, token) = issue(&h).await;
    let header = part(&token, 0);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("ES256"))
    );
    let jwks = h.get("/oauth2/jwks").await;
    let key = &jwks.ok()["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert_eq!(key["kid"], header["kid"]);
    assert!(key.get("d").is_none(), "never the private key");
    // Any JOSE library can check it with the JWKS: here, jsonwebtoken.
    let decoding =
        jsonwebtoken::DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["http://127.0.0.1:8080"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["client_id"], c.id.as_str());
    // RFC 7638: the kid is the thumbprint of the required members.
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        key["x"].as_str().unwrap(),
        key["y"].as_str().unwrap()
    );
    use sha2::Digest;
    assert_eq!(
        key["kid"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok()["active"], true);
}

#[tokio::test]
async fn the_default_algorithm_is_es256() {
    let h = Harness::with_policy(&format!("{}\n[tokens]\nformat = \"jwt\"\n", crate::POLICY)).await;
    let (_, token) = issue(&h).await;
    assert_eq!(part(&token, 0)["alg"], "ES256");
}

/// RFC 9068 section 2.1: every implementation supports RS256.
#[tokio::test]
async fn rs256_tokens_verify_with_the_published_rsa_key_alone() {
    let h = Harness::with_policy(&format!(
        "{}\n[tokens]\nformat = \"jwt\"\nalgorithm = \"RS256\"\n",
        crate::POLICY
    ))
    .await;
    let (c, token) = issue(&h).await;
    let header = part(&token, 0);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("RS256"))
    );
    let signature = URL_SAFE_NO_PAD.decode(token.split('.').nth(2).unwrap()).unwrap();
    assert_eq!(signature.len(), 256, "a 2048-bit key's signature");
    let jwks = h.get("/oauth2/jwks").await;
    let key = jwks.ok()["keys"][0].clone();
    assert_eq!((key["kty"].as_str(), key["alg"].as_str()), (Some("RSA"), Some("RS256")));
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "never the private key's {private}");
    }
    let (n, e) = (key["n"].as_str().unwrap(), key["e"].as_str().unwrap());
    assert_eq!(URL_SAFE_NO_PAD.decode(n).unwrap().len(), 256);
    // The kid is the RFC 7638 thumbprint.
    use sha2::Digest;
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    assert_eq!(
        key["kid"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    assert_eq!(header["kid"], key["kid"]);
    // A verifier that knows only the published n and e accepts it.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["http://127.0.0.1:8080"]);
    validation.validate_exp = false;
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_rsa_components(n, e).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims["client_id"], c.id.as_str());
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(seen.ok()["active"], true);
    // An RS256 header on another key's token, or an HMAC keyed with the
    // public key, is refused.
    let iss = "http://127.0.0.1:8080";
    let mut confused = part(&token, 0);
    confused["alg"] = json!("HS256");
    let forged = forge(confused, &part(&token, 1), &signature);
    assert!(h.keys.verify(&forged, iss, T0).is_none());
    assert!(h.keys.verify(&token, iss, T0).is_some());
}

#[tokio::test]
async fn a_token_whose_alg_is_not_its_keys_is_refused() {
    let h = es256().await;
    let (_, token) = issue(&h).await;
    let iss = "http://127.0.0.1:8080";
    let mut header = part(&token, 0);
    header["alg"] = json!("EdDSA");
    let sig = URL_SAFE_NO_PAD.decode(token.split('.').nth(2).unwrap()).unwrap();
    let confused = forge(header, &part(&token, 1), &sig);
    assert!(
        h.keys.verify(&confused, iss, T0).is_none(),
        "EdDSA named on a P-256 key"
    );
    assert!(h.keys.verify(&token, iss, T0).is_some());
}

#[tokio::test]
async fn changing_the_algorithm_signs_with_a_new_key_and_old_tokens_still_verify() {
    let h = Harness::jwt().await;
    let (_, old) = issue(&h).await;
    assert_eq!(part(&old, 0)["alg"], "EdDSA");
    // The same store, started again with `algorithm = "ES256"`.
    let keys = scopegate_service::credentials::keys::Keys::load_or_create(
        &h.store,
        T0 + 10,
        scopegate_core::SigningAlgorithm::ES256,
        None,
    )
    .await
    .unwrap();
    let jwks = keys.jwks()["keys"].as_array().unwrap().clone();
    let algs: Vec<&str> = jwks.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs.len(), 2, "{jwks:#?}");
    assert!(algs.contains(&"EdDSA") && algs.contains(&"ES256"));
    let iss = "http://127.0.0.1:8080";
    assert!(
        keys.verify(&old, iss, T0).is_some(),
        "the retired EdDSA key still verifies"
    );
    let claims = keys.verify(&old, iss, T0).unwrap();
    let new = keys.sign(&claims).unwrap();
    assert_eq!(part(&new, 0)["alg"], "ES256");
    assert!(keys.verify(&new, iss, T0).is_some());
    // Started again with the same algorithm: no new key.
    let again = scopegate_service::credentials::keys::Keys::load_or_create(
        &h.store,
        T0 + 20,
        scopegate_core::SigningAlgorithm::ES256,
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.jwks()["keys"].as_array().unwrap().len(), 2);
}

/// Signs any header and claims with the harness's own (EdDSA) signing key,
/// read from the store: forgeries that only a broken check would accept.
async fn sign(h: &Harness, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let keys = scopegate_store::Store::signing_keys(&h.store).await.unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&keys[0].private_der).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// RFC 7009 section 2.2.1: a revocation that could not be made is a 503 the
/// client retries, never a 200.
#[tokio::test]
async fn a_revocation_that_could_not_be_stored_is_503_not_200() {
    use sqlx::Connection;
    let h = Harness::jwt().await;
    let (c, token) = issue(&h).await;
    let url = format!("sqlite://{}/t.db", h.dir.0.display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE revocations").execute(&mut db).await.unwrap();
    let r = h.post("/oauth2/revoke", Some(&c), &[("token", &token)], &[]).await;
    assert_eq!(r.status, axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}", r.json);
    assert_eq!(r.json["error"], "temporarily_unavailable");
    assert_eq!(r.headers[axum::http::header::RETRY_AFTER], "1");
}

/// `tokens.scope_claim = "expanded"`: resource servers that compare scope
/// strings see implied scopes in the JWT claim and in introspection; the
/// default stays normalized.
#[tokio::test]
async fn an_expanded_scope_claim_lists_implied_scopes() {
    for (setting, expected) in [
        ("", "account:write"),
        ("scope_claim = \"expanded\"\n", "account:read account:write"),
    ] {
        let h = Harness::with_policy(&format!("{}\n[tokens]\nformat = \"jwt\"\n{setting}", crate::POLICY)).await;
        let c = h.client("production", "account:write", "account:write", false).await;
        let token = h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(part(&token, 1)["scope"], expected, "{setting}");
        let answer = h.post("/oauth2/introspect", Some(&c), &[("token", &token)], &[]).await;
        assert_eq!(answer.json["scope"], expected, "{setting}");
        // Either way the gateway decides on what the token holds.
        let held = h.keys.verify(&token, "http://127.0.0.1:8080", T0).unwrap().scope;
        assert_eq!(held, expected);
    }
}
