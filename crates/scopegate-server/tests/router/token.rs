//! The token issuance rules of docs/oauth.md, for `client_credentials`, plus
//! introspection and revocation.

use axum::http::{StatusCode, header};

use crate::Harness;

#[tokio::test]
async fn no_scope_parameter_gives_the_default_scopes() {
    let h = Harness::new().await;
    let c = h
        .client("production", "account:read account:write orders", "account:read", false)
        .await;
    let a = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(a.ok()["scope"], "account:read");
    assert_eq!(a.json["token_type"], "Bearer");
    assert_eq!(a.json["expires_in"], 3600);
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn user_only_defaults_are_dropped_from_an_app_token() {
    let h = Harness::new().await;
    let c = h
        .client(
            "production",
            "account:read sell.inventory",
            "account:read sell.inventory",
            false,
        )
        .await;
    assert_eq!(
        h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["scope"],
        "account:read"
    );
    let only_user = h.client("production", "sell.inventory", "sell.inventory", false).await;
    h.token(&only_user, &[("grant_type", "client_credentials")])
        .await
        .error("invalid_scope", "none of this client's default scopes");
}

#[tokio::test]
async fn client_credentials_gives_no_refresh_token() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let a = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert!(a.ok().get("refresh_token").is_none(), "{:#}", a.json);
}

#[tokio::test]
async fn undeclared_scope_is_invalid_scope_naming_it() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await
        .error("invalid_scope", "scope \"admin\" is not declared");
}

#[tokio::test]
async fn unassigned_scope_is_invalid_scope_naming_it() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", "account:write")])
        .await
        .error(
            "invalid_scope",
            "scope \"account:write\" is not assigned to this client",
        );
}

#[tokio::test]
async fn scope_not_allowed_for_the_grant_is_invalid_scope_naming_it() {
    let h = Harness::new().await;
    let c = h
        .client("production", "sell.inventory account:read", "account:read", false)
        .await;
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", "sell.inventory")])
        .await
        .error(
            "invalid_scope",
            "scope \"sell.inventory\" is not allowed for client_credentials (app tokens)",
        );
}

#[tokio::test]
async fn scope_not_in_the_environment_is_invalid_scope_naming_it() {
    let h = Harness::new().await;
    // Assigned by a careless admin (the CLI refuses it), still refused at issuance.
    let c = h.client("sandbox", "feed account:read", "account:read", false).await;
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", "feed")])
        .await
        .error(
            "invalid_scope",
            "scope \"feed\" is not available in this client's environment",
        );
}

#[tokio::test]
async fn an_assigned_scope_allows_the_scopes_it_implies() {
    let h = Harness::new().await;
    let c = h.client("production", "orders account:write", "orders", false).await;
    let a = h
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read_orders account:read"),
            ],
        )
        .await;
    assert_eq!(a.ok()["scope"], "account:read read_orders");
}

#[tokio::test]
async fn shown_scope_is_normalized() {
    let h = Harness::new().await;
    let c = h
        .client(
            "production",
            "orders read_orders account:read account:write",
            "orders",
            false,
        )
        .await;
    let a = h
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "orders read_orders account:write account:read"),
            ],
        )
        .await;
    assert_eq!(a.ok()["scope"], "account:write orders");
}

#[tokio::test]
async fn x_oauth_scope_is_accepted_as_the_scope_list() {
    let h = Harness::new().await;
    let c = h
        .client("production", "account:read orders", "account:read", false)
        .await;
    let a = h
        .post(
            "/oauth2/token",
            Some(&c),
            &[("grant_type", "client_credentials")],
            &[("X-OAuth-Scope", "orders, account:read")],
        )
        .await;
    assert_eq!(a.ok()["scope"], "account:read orders");
}

#[tokio::test]
async fn x_oauth_scope_differing_from_scope_is_invalid_request() {
    let h = Harness::new().await;
    let c = h
        .client("production", "account:read orders", "account:read", false)
        .await;
    let same = h
        .post(
            "/oauth2/token",
            Some(&c),
            &[("grant_type", "client_credentials"), ("scope", "orders account:read")],
            &[("X-OAuth-Scope", "account:read,orders")],
        )
        .await;
    same.ok();
    let a = h
        .post(
            "/oauth2/token",
            Some(&c),
            &[("grant_type", "client_credentials"), ("scope", "orders")],
            &[("X-OAuth-Scope", "account:read")],
        )
        .await;
    a.error("invalid_request", "different scopes");
}

#[tokio::test]
async fn failed_basic_client_authentication_is_401_with_a_basic_challenge() {
    let h = Harness::new().await;
    let mut c = h.client("production", "account:read", "account:read", false).await;
    c.secret = "wrong".into();
    let a = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Basic realm=\"scopegate\"");
    a.error("invalid_client", "unknown client or wrong secret");
}

#[tokio::test]
async fn client_secret_post_is_accepted_and_two_methods_at_once_are_not() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let a = h
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", &c.secret),
            ],
            &[],
        )
        .await;
    a.ok();
    let both = h
        .post(
            "/oauth2/token",
            Some(&c),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", &c.secret),
            ],
            &[],
        )
        .await;
    both.error("invalid_request", "one client authentication method");
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    h.token(&c, &[])
        .await
        .error("invalid_request", "missing parameter \"grant_type\"");
    h.token(&c, &[("grant_type", "password")])
        .await
        .error("unsupported_grant_type", "\"password\"");
    h.token(
        &c,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await
    .error("invalid_request", "more than once");
}

async fn introspect(h: &Harness, caller: &crate::Client, token: &str) -> serde_json::Value {
    h.post("/oauth2/introspect", Some(caller), &[("token", token)], &[])
        .await
        .ok()
        .clone()
}

#[tokio::test]
async fn a_client_introspects_its_own_tokens_only() {
    let h = Harness::new().await;
    let a = h.client("production", "account:read", "account:read", false).await;
    let b = h.client("production", "account:read", "account:read", false).await;
    let token = h.token(&a, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = introspect(&h, &a, &token).await;
    assert_eq!(mine["active"], true);
    assert_eq!(mine["scope"], "account:read");
    assert_eq!(mine["client_id"], a.id);
    assert_eq!(mine["exp"], crate::T0 + 3600);
    assert_eq!(introspect(&h, &b, &token).await, serde_json::json!({"active": false}));
    assert_eq!(
        introspect(&h, &a, "sgat_nope").await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn a_resource_server_introspects_every_token_of_its_environment() {
    let h = Harness::new().await;
    let app = h.client("production", "account:read", "account:read", false).await;
    let rs = h.client("production", "account:read", "account:read", true).await;
    let other_env = h.client("sandbox", "account:read", "account:read", true).await;
    let token = h.token(&app, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspect(&h, &rs, &token).await["active"], true);
    assert_eq!(
        introspect(&h, &other_env, &token).await,
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let h = Harness::new().await;
    let a = h.client("production", "account:read", "account:read", false).await;
    let token = h.token(&a, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance(3600);
    assert_eq!(introspect(&h, &a, &token).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn revoked_tokens_are_inactive_and_revocation_of_foreign_tokens_is_silent() {
    let h = Harness::new().await;
    let a = h.client("production", "account:read", "account:read", false).await;
    let b = h.client("production", "account:read", "account:read", false).await;
    let token = h.token(&a, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = h.post("/oauth2/revoke", Some(&b), &[("token", &token)], &[]).await;
    assert_eq!(foreign.status, StatusCode::OK);
    assert_eq!(
        introspect(&h, &a, &token).await["active"],
        true,
        "another client cannot revoke it"
    );
    assert_eq!(
        h.post("/oauth2/revoke", Some(&a), &[("token", &token)], &[])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(introspect(&h, &a, &token).await, serde_json::json!({"active": false}));
    assert_eq!(
        h.post("/oauth2/revoke", Some(&a), &[("token", "unknown")], &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_expiry_tokens_have_no_expires_in() {
    let h = Harness::new().await;
    let c = h
        .client("production", "account:read no_expiry", "account:read", false)
        .await;
    let a = h
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "account:read no_expiry"),
            ],
        )
        .await;
    assert!(a.ok().get("expires_in").is_none(), "{:#}", a.json);
    assert!(a.json.get("refresh_token").is_none());
}

#[tokio::test]
async fn max_lifetime_caps_a_no_expiry_token() {
    let h = Harness::new().await;
    let c = h
        .client("production", "no_expiry decrypt", "no_expiry decrypt", false)
        .await;
    let a = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(a.ok()["expires_in"], 90 * 86_400);
}

#[tokio::test]
async fn introspection_sees_a_revocation_here_at_once_and_elsewhere_within_five_seconds() {
    use scopegate_store::Store;
    let h = Harness::new().await;
    let a = h.client("production", "account:read", "account:read", false).await;
    let first = h.token(&a, &[("grant_type", "client_credentials")]).await;
    let first = first.ok()["access_token"].as_str().unwrap().to_owned();
    let second = h.token(&a, &[("grant_type", "client_credentials")]).await;
    let second = second.ok()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&h, &a, &first).await["active"], true);
    assert_eq!(introspect(&h, &a, &second).await["active"], true);
    // Here: the revocation endpoint empties the cache.
    h.post("/oauth2/revoke", Some(&a), &[("token", &first)], &[]).await;
    assert_eq!(introspect(&h, &a, &first).await["active"], false);
    // Elsewhere (another node, `scopegate token revoke`): within the cache's 5 s.
    h.store
        .revoke_token(&scopegate_service::credentials::secrets::hash(&second))
        .await
        .unwrap();
    h.advance(5);
    assert_eq!(introspect(&h, &a, &second).await["active"], false);
}

/// The store's audit trail, newest first, once it holds at least `n` events
/// (audit events alone are committed in batches, a few milliseconds late).
async fn audit_trail(h: &Harness, n: usize) -> Vec<scopegate_store::AuditEvent> {
    for _ in 0..200 {
        let log = scopegate_store::Store::audit_log(&h.store, 100).await.unwrap();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the audit trail never reached {n} events");
}

#[tokio::test]
async fn the_audit_trail_records_issuance_refusal_and_revocation() {
    let h = Harness::jwt().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let token = h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await
        .error("invalid_scope", "\"admin\"");
    h.post("/oauth2/revoke", Some(&c), &[("token", &token)], &[]).await;
    let log = audit_trail(&h, 3).await;
    let events: Vec<&str> = log.iter().rev().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["issue", "refuse", "revoke"], "{log:#?}");
    assert!(log.iter().all(|e| e.client_id.as_deref() == Some(c.id.as_str())));
    assert!(
        log[1].detail.contains("admin"),
        "the refusal says why: {:?}",
        log[1].detail
    );
    assert!(
        log.iter()
            .all(|e| !e.detail.contains(&token) && !e.detail.contains(&c.secret)),
        "no secret in the trail"
    );
}

/// RFC 6749 section 2.3.1: with `client_secret_basic` the client id and the
/// secret are each form-encoded before Base64, so `:`, `%` and `+` in them
/// arrive intact; sent raw, `+` means a space and the secret does not match.
#[tokio::test]
async fn basic_client_credentials_are_form_decoded() {
    use base64::Engine;
    let h = Harness::new().await;
    let (id, secret) = ("app:one", "s3cr:et%2B+100% sure");
    crate::key_set_with_id(&h, "app-colon", id, secret).await;
    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    let encode = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_owned();
    let form = [("grant_type", "client_credentials")];
    let encoded = basic(&encode(id), &encode(secret));
    let r = h
        .post("/oauth2/token", None, &form, &[("authorization", &encoded)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // Unencoded, the id's `:` splits in the wrong place and `+` is a space.
    let raw = basic(id, secret);
    let r = h.post("/oauth2/token", None, &form, &[("authorization", &raw)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// RFC 6749 section 6 and RFC 6750: an access token is not a refresh token,
/// and a refresh token is not an access token (the gateway's side is
/// `expired_and_refresh_tokens_are_invalid_tokens`).
#[tokio::test]
async fn an_access_token_is_never_accepted_as_a_refresh_token() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let access = h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &access)])
        .await
        .error("invalid_grant", "");
}

/// RFC 7662 section 2.1: introspection requires client authentication, and
/// refuses rather than answers `active: false` to an unauthenticated caller.
#[tokio::test]
async fn introspection_requires_client_authentication() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let access = h.token(&c, &[("grant_type", "client_credentials")]).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h.post("/oauth2/introspect", None, &[("token", &access)], &[]).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{}",
        r.json
    );
    assert!(r.json.get("active").is_none(), "nothing about the token: {}", r.json);
    let wrong = crate::Client {
        id: c.id.clone(),
        secret: "sgcs_wrong".into(),
    };
    let r = h
        .post("/oauth2/introspect", Some(&wrong), &[("token", &access)], &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// A failed client authentication is in the audit trail with the presented
/// client id and the source address, never the presented secret.
#[tokio::test]
async fn a_failed_client_authentication_is_audited_with_its_address_never_its_secret() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::Request;
    use base64::Engine;
    use tower::ServiceExt;
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    for (id, secret) in [
        (c.id.as_str(), "sgcs_wrong_secret"),
        ("sgci_nobody\nforged", "sgcs_other_secret"),
    ] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let mut req = Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 7], 40000))));
        let response = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The writer batches audit events: give it a moment.
    let mut failed = Vec::new();
    for _ in 0..50 {
        failed = scopegate_store::Store::audit_log(&h.store, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == "client_auth_failed")
            .collect();
        if failed.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failed.len(), 2, "{failed:?}");
    let wrong = failed
        .iter()
        .find(|e| e.client_id.as_deref() == Some(c.id.as_str()))
        .unwrap();
    assert_eq!(wrong.detail, "address=203.0.113.7 reason=\"wrong secret\"");
    let unknown = failed
        .iter()
        .find(|e| e.client_id.as_deref() != Some(c.id.as_str()))
        .unwrap();
    assert_eq!(unknown.client_id.as_deref(), Some("sgci_nobody?forged"), "printable");
    assert!(unknown.detail.contains("unknown client"));
    for e in &failed {
        assert!(
            !format!("{e:?}").contains("secret_"),
            "never the presented secret: {e:?}"
        );
    }
}

/// Bounds on what one request may ask the token server to read and parse:
/// each a 4xx that says which, never a 5xx.
#[tokio::test]
async fn oversized_requests_are_refused_with_a_4xx() {
    let h = Harness::new().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let huge = "x".repeat(scopegate_server::MAX_OWN_BODY + 1);
    let r = h
        .post(
            "/oauth2/token",
            Some(&c),
            &[("grant_type", "client_credentials"), ("pad", &huge)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let names: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let mut form: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    form.push(("grant_type", "client_credentials"));
    h.token(&c, &form)
        .await
        .error("invalid_request", "more than 50 parameters");
    let long = "account:read ".repeat(400);
    h.token(&c, &[("grant_type", "client_credentials"), ("scope", &long)])
        .await
        .error("invalid_scope", "longer than 4096 bytes");
    let r = h.post("/portal/sign-in", None, &[("login", &huge)], &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "the portal's forms too");
}
