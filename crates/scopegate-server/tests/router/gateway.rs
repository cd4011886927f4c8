//! The gateway and forward-auth rules of docs/gateway.md that need a clock the
//! test moves or a policy swapped in place: request-time checks of
//! permissions, assignment and `max_lifetime`, revocation, reload, metrics,
//! and the three forward-auth sources. The real binary covers the rest
//! (crates/scopegate/tests/e2e/gateway.rs).

use std::sync::Arc;

use axum::http::{StatusCode, header};
use base64::Engine;
use scopegate_core::Policy;
use scopegate_store::Store;

use super::{Client, Harness, POLICY, Seed, T0};

fn gateway_policy(extra: &str) -> String {
    format!(
        r#"{POLICY}
[gateway]
upstream    = "echo"
environment = "production"
basic_auth  = true

[[route]]
match   = "GET /open"
require = "none"

[[route]]
match   = "GET /"
require = "client"

[[route]]
match  = "GET /account/*"
any_of = ["account:read"]

[[route]]
match  = "PUT /account/*"
any_of = ["account:write"]

[[route]]
match  = "GET /orders"
any_of = ["read_orders"]

[[route]]
match  = "POST /orders"
all_of = ["orders"]

[[route]]
match  = "GET /secrets"
any_of = ["decrypt"]
{extra}"#
    )
}

async fn harness() -> Harness {
    Harness::with_policy(&gateway_policy("")).await
}

/// A request carrying `auth` as its `Authorization` header.
async fn with_token(h: &Harness, method: &str, path: &str, auth: &str) -> super::Reply {
    h.api(method, path, &[("authorization", auth)]).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn app_token(h: &Harness, client: &Client, scope: &str) -> String {
    h.seed_access(Seed {
        client,
        subject: None,
        scope,
        environment: "production",
        granted_at: T0,
        expires_at: Some(T0 + 3600),
    })
    .await
}

async fn user_token(h: &Harness, client: &Client, login: &str, scope: &str) -> String {
    h.seed_access(Seed {
        client,
        subject: Some(login),
        scope,
        environment: "production",
        granted_at: T0,
        expires_at: Some(T0 + 3600),
    })
    .await
}

#[tokio::test]
async fn allowed_request_reaches_the_echo_upstream_with_identity_headers() {
    let h = harness().await;
    let c = h.client("production", "account:write", "account:write", false).await;
    let t = app_token(&h, &c, "account:write").await;
    let a = h
        .api("GET", "/account/settings?b=2&a=1", &[("authorization", &bearer(&t))])
        .await;
    let echo = a.ok();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/account/settings");
    assert_eq!(echo["query"], "b=2&a=1");
    let headers = &echo["headers"];
    assert_eq!(headers["x-scopegate-client-id"], c.id.as_str());
    assert_eq!(headers["x-scopegate-scopes"], "account:write");
    assert_eq!(headers["x-scopegate-environment"], "production");
    assert!(
        headers.get("x-scopegate-subject").is_none(),
        "an app token has no subject"
    );
    assert!(
        headers.get("authorization").is_none(),
        "credentials stay at the gateway"
    );
}

#[tokio::test]
async fn user_tokens_carry_the_subject() {
    let h = harness().await;
    h.user("alice", &["Orders"]).await;
    let c = h.client("production", "read_orders", "read_orders", false).await;
    let t = user_token(&h, &c, "alice", "read_orders").await;
    let a = h.api("GET", "/orders", &[("authorization", &bearer(&t))]).await;
    assert_eq!(a.ok()["headers"]["x-scopegate-subject"], "alice");
}

#[tokio::test]
async fn a_scope_whose_permission_the_user_lost_no_longer_counts() {
    let h = harness().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h.client("production", "orders", "orders", false).await;
    let t = user_token(&h, &c, "alice", "orders").await;
    let auth = bearer(&t);
    assert_eq!(with_token(&h, "POST", "/orders", &auth).await.status, StatusCode::OK);
    h.store.set_permissions("alice", &["Orders".into()]).await.unwrap();
    // Within the cache bound the old answer may stand; past it, it may not.
    h.advance(6);
    let a = with_token(&h, "POST", "/orders", &auth).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:#}", a.json);
    assert_eq!(a.json["granted"], serde_json::json!(["read_orders"]));
    // `read_orders` needs only `Orders`, which alice still holds.
    assert_eq!(with_token(&h, "GET", "/orders", &auth).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_user_s_tokens_are_invalid() {
    let h = harness().await;
    h.user("bob", &["Orders"]).await;
    let c = h.client("production", "read_orders", "read_orders", false).await;
    let t = user_token(&h, &c, "bob", "read_orders").await;
    h.store.set_user_enabled("bob", false).await.unwrap();
    let a = h.api("GET", "/orders", &[("authorization", &bearer(&t))]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json["error"], "invalid_token");
}

async fn introspected(h: &Harness, caller: &Client, token: &str) -> serde_json::Value {
    h.post("/oauth2/introspect", Some(caller), &[("token", token)], &[])
        .await
        .ok()
        .clone()
}

#[tokio::test]
async fn introspection_says_inactive_for_a_disabled_users_token_as_the_gateway_refuses_it() {
    let h = harness().await;
    h.user("bob", &["Orders"]).await;
    let c = h.client("production", "read_orders", "read_orders", false).await;
    let t = user_token(&h, &c, "bob", "read_orders").await;
    assert_eq!(introspected(&h, &c, &t).await["active"], true);
    h.store.set_user_enabled("bob", false).await.unwrap();
    h.advance(6);
    let a = with_token(&h, "GET", "/orders", &bearer(&t)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(introspected(&h, &c, &t).await, serde_json::json!({"active": false}));
    // Enabled again, the token answers again everywhere (it was not revoked).
    h.store.set_user_enabled("bob", true).await.unwrap();
    h.advance(6);
    assert_eq!(
        with_token(&h, "GET", "/orders", &bearer(&t)).await.status,
        StatusCode::OK
    );
    assert_eq!(introspected(&h, &c, &t).await["active"], true);
}

#[tokio::test]
async fn introspection_shows_only_the_scopes_the_gateway_still_honours_after_a_permission_is_lost() {
    let h = harness().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h.client("production", "orders", "orders", false).await;
    let t = user_token(&h, &c, "alice", "orders").await;
    assert_eq!(introspected(&h, &c, &t).await["scope"], "orders");
    h.store.set_permissions("alice", &["Orders".into()]).await.unwrap();
    h.advance(6);
    let a = with_token(&h, "POST", "/orders", &bearer(&t)).await;
    assert_eq!(a.json["granted"], serde_json::json!(["read_orders"]));
    let seen = introspected(&h, &c, &t).await;
    assert_eq!(
        (&seen["active"], &seen["scope"]),
        (&serde_json::json!(true), &serde_json::json!("read_orders"))
    );
    // Losing the last permission leaves an authenticated token holding nothing,
    // as the gateway's `require = "client"` routes still see it.
    h.store.set_permissions("alice", &[]).await.unwrap();
    h.advance(6);
    let seen = introspected(&h, &c, &t).await;
    assert_eq!(
        (&seen["active"], &seen["scope"]),
        (&serde_json::json!(true), &serde_json::json!(""))
    );
}

#[tokio::test]
async fn introspection_leaves_out_a_scope_unassigned_from_the_app_or_past_its_max_lifetime() {
    let h = harness().await;
    let c = h
        .client("production", "decrypt account:read", "decrypt account:read", false)
        .await;
    // Issued when the app had account:write; granted 10 s before decrypt's 90 days end.
    let t = h
        .seed_access(Seed {
            client: &c,
            subject: None,
            scope: "account:write decrypt",
            environment: "production",
            granted_at: T0 - 90 * 86_400 + 10,
            expires_at: None,
        })
        .await;
    assert_eq!(
        with_token(&h, "PUT", "/account/x", &bearer(&t)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(introspected(&h, &c, &t).await["scope"], "account:read decrypt");
    h.advance(10);
    let a = with_token(&h, "GET", "/secrets", &bearer(&t)).await;
    assert_eq!(a.json["granted"], serde_json::json!(["account:read"]));
    assert_eq!(introspected(&h, &c, &t).await["scope"], "account:read");
}

#[tokio::test]
async fn a_scope_past_its_max_lifetime_no_longer_counts() {
    let h = harness().await;
    let c = h
        .client("production", "decrypt account:read", "decrypt account:read", false)
        .await;
    let granted_at = T0 - 90 * 86_400 + 10;
    let t = h
        .seed_access(Seed {
            client: &c,
            subject: None,
            scope: "account:read decrypt",
            environment: "production",
            granted_at,
            expires_at: None,
        })
        .await;
    let auth = bearer(&t);
    assert_eq!(with_token(&h, "GET", "/secrets", &auth).await.status, StatusCode::OK);
    h.advance(10);
    let a = with_token(&h, "GET", "/secrets", &auth).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:#}", a.json);
    assert_eq!(a.json["granted"], serde_json::json!(["account:read"]));
    assert_eq!(with_token(&h, "GET", "/account/x", &auth).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_scope_no_longer_assigned_to_the_app_no_longer_counts() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    // Issued when the app still had account:write.
    let t = app_token(&h, &c, "account:write").await;
    let a = h.api("PUT", "/account/x", &[("authorization", &bearer(&t))]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json["granted"], serde_json::json!(["account:read"]));
}

#[tokio::test]
async fn expired_and_refresh_tokens_are_invalid_tokens() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let t = app_token(&h, &c, "account:read").await;
    h.advance(3600);
    let a = h.api("GET", "/account/x", &[("authorization", &bearer(&t))]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"scopegate\", error=\"invalid_token\""
    );
    let refresh = h.seed_refresh(&c, "alice", "account:read", T0).await;
    let a = h
        .api("GET", "/account/x", &[("authorization", &bearer(&refresh))])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.json["error_description"].as_str().unwrap().contains("refresh token"));
}

#[tokio::test]
async fn tokens_of_another_environment_are_invalid() {
    let h = harness().await;
    let c = h.client("sandbox", "account:read", "account:read", false).await;
    let t = h
        .seed_access(Seed {
            client: &c,
            subject: None,
            scope: "account:read",
            environment: "sandbox",
            granted_at: T0,
            expires_at: Some(T0 + 3600),
        })
        .await;
    let a = h.api("GET", "/account/x", &[("authorization", &bearer(&t))]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.json["error_description"].as_str().unwrap().contains("sandbox"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.id, c.secret));
    let a = h
        .api("GET", "/account/x", &[("authorization", &format!("Basic {basic}"))])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "a sandbox key set is refused too");
}

#[tokio::test]
async fn a_token_revoked_here_is_refused_at_once() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let t = app_token(&h, &c, "account:read").await;
    let auth = bearer(&t);
    assert_eq!(with_token(&h, "GET", "/account/x", &auth).await.status, StatusCode::OK);
    let r = h.post("/oauth2/revoke", Some(&c), &[("token", &t)], &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let a = with_token(&h, "GET", "/account/x", &auth).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "the cached identity was forgotten");
}

#[tokio::test]
async fn a_token_revoked_elsewhere_is_refused_within_the_cache_ttl() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let t = app_token(&h, &c, "account:read").await;
    let auth = bearer(&t);
    assert_eq!(with_token(&h, "GET", "/account/x", &auth).await.status, StatusCode::OK);
    // Another process revokes it in the shared store.
    h.store
        .revoke_token(&scopegate_service::credentials::secrets::hash(&t))
        .await
        .unwrap();
    h.advance(5);
    assert_eq!(
        with_token(&h, "GET", "/account/x", &auth).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn jwt_access_tokens_are_verified_and_their_revocation_is_seen() {
    let h = Harness::with_policy(&gateway_policy("[tokens]\nformat = \"jwt\"\n")).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let issued = h.token(&c, &[("grant_type", "client_credentials")]).await;
    let t = issued.ok()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.split('.').count(), 3);
    let auth = bearer(&t);
    let a = with_token(&h, "GET", "/account/x", &auth).await;
    assert_eq!(a.ok()["headers"]["x-scopegate-scopes"], "account:read");
    let flipped_at = |at: usize| {
        let flipped = if &t[at..=at] == "A" { "B" } else { "A" };
        bearer(&format!("{}{flipped}{}", &t[..at], &t[at + 1..]))
    };
    // One character in the middle of the signature; then, with the verified
    // token cached, one in its payload: its signature under another payload
    // is still a forgery. The case of the scheme changes nothing.
    for tampered in [flipped_at(t.len() - 20), flipped_at(t.find('.').unwrap() + 5)] {
        let a = h.api("GET", "/account/x", &[("authorization", &tampered)]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = h
        .api("GET", "/account/x", &[("authorization", &format!("bearer {t}"))])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    h.post("/oauth2/revoke", Some(&c), &[("token", &t)], &[]).await;
    assert_eq!(
        with_token(&h, "GET", "/account/x", &auth).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reloaded_policy_applies_to_the_next_request() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let auth = bearer(&app_token(&h, &c, "account:read").await);
    assert_eq!(
        with_token(&h, "GET", "/reports", &auth).await.status,
        StatusCode::NOT_FOUND
    );
    let next = gateway_policy("[[route]]\nmatch = \"GET /reports\"\nany_of = [\"account:read\"]\n");
    h.state.install(Arc::new(Policy::compile("next.toml", &next).unwrap()));
    assert_eq!(with_token(&h, "GET", "/reports", &auth).await.status, StatusCode::OK);
    let metrics = h.api("GET", "/metrics", &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_outcome() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let auth = bearer(&app_token(&h, &c, "account:read").await);
    with_token(&h, "GET", "/account/x", &auth).await;
    with_token(&h, "GET", "/account/y", &auth).await;
    with_token(&h, "PUT", "/account/x", &auth).await;
    h.api("GET", "/nowhere", &[]).await;
    h.state.reload_refused();
    let response = tower::ServiceExt::oneshot(
        h.app.clone(),
        axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "scopegate_requests_total{route=\"GET /account/*\",outcome=\"allow\"} 2",
        "scopegate_requests_total{route=\"PUT /account/*\",outcome=\"insufficient_scope\"} 1",
        "scopegate_requests_total{route=\"-\",outcome=\"route_not_found\"} 1",
        "scopegate_request_duration_seconds_count{route=\"GET /account/*\",outcome=\"allow\"} 2",
        "scopegate_policy_reloads_total{result=\"invalid\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[tokio::test]
async fn forward_auth_reads_nginx_traefik_and_envoy() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let auth = bearer(&app_token(&h, &c, "account:read").await);
    let nginx = h
        .api(
            "GET",
            "/authz",
            &[
                ("authorization", &auth),
                ("x-original-method", "GET"),
                ("x-original-uri", "/account/x?y=1"),
            ],
        )
        .await;
    assert_eq!(nginx.status, StatusCode::OK);
    assert_eq!(nginx.headers["x-scopegate-client-id"], c.id.as_str());
    assert_eq!(nginx.headers["x-scopegate-scopes"], "account:read");
    let traefik = h
        .api(
            "GET",
            "/authz",
            &[
                ("authorization", &auth),
                ("x-forwarded-method", "PUT"),
                ("x-forwarded-uri", "/account/x"),
            ],
        )
        .await;
    assert_eq!(traefik.status, StatusCode::FORBIDDEN);
    let envoy = with_token(&h, "GET", "/authz/account/x", &auth).await;
    assert_eq!(envoy.status, StatusCode::OK);
    assert_eq!(envoy.headers["x-scopegate-environment"], "production");
    let envoy = with_token(&h, "PUT", "/authz/account/x", &auth).await;
    assert_eq!(envoy.status, StatusCode::FORBIDDEN);
    assert_eq!(
        with_token(&h, "GET", "/authz/nowhere", &auth).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.api("GET", "/authz/account/x", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forward_auth_refuses_sources_that_disagree_or_are_missing() {
    let h = harness().await;
    let none = h.api("GET", "/authz", &[]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(none.json["error"], "invalid_request");
    let disagree = h
        .api(
            "GET",
            "/authz/account/x",
            &[("x-original-method", "GET"), ("x-original-uri", "/account/y")],
        )
        .await;
    assert_eq!(disagree.status, StatusCode::BAD_REQUEST);
    let half = h.api("GET", "/authz", &[("x-forwarded-uri", "/account/y")]).await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST);
    let agree = h
        .api(
            "GET",
            "/authz/open",
            &[("x-original-method", "GET"), ("x-original-uri", "/open")],
        )
        .await;
    assert_eq!(agree.status, StatusCode::OK);
    let bad_path = h
        .api(
            "GET",
            "/authz",
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/open/%2e%2e/account/x"),
            ],
        )
        .await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_jwt_revoked_elsewhere_is_refused_after_the_revocation_list_reloads() {
    let h = Harness::with_policy(&gateway_policy("[tokens]\nformat = \"jwt\"\n")).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let issued = h.token(&c, &[("grant_type", "client_credentials")]).await;
    let t = issued.ok()["access_token"].as_str().unwrap().to_owned();
    let claims = h.keys.verify(&t, "http://127.0.0.1:8080", T0).unwrap();
    let auth = bearer(&t);
    h.state.revocations.reload(&h.store, T0).await.unwrap();
    assert_eq!(with_token(&h, "GET", "/account/x", &auth).await.status, StatusCode::OK);
    // Another process revokes the JWT in the shared store...
    h.store.revoke_jti(&claims.jti, Some(claims.exp)).await.unwrap();
    // ...and this one sees it at its next reload, once the cached identity expires.
    h.state.revocations.reload(&h.store, T0).await.unwrap();
    h.advance(5);
    let a = with_token(&h, "GET", "/account/x", &auth).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.json["error_description"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn a_refused_basic_credential_is_challenged_for_basic_beside_bearer() {
    let h = harness().await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", c.id))
        )
    };
    for (why, authorization) in [
        ("wrong secret", basic("sgcs_wrong")),
        ("malformed", "Basic !!!".to_owned()),
    ] {
        let a = h.api("GET", "/account/x", &[("authorization", &authorization)]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            a.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"scopegate\", error=\"invalid_token\", Basic realm=\"scopegate\"",
            "{why}"
        );
        assert_eq!(a.json["error"], "invalid_token", "{why}");
    }
    // A bad bearer token is challenged for Bearer only.
    let a = h
        .api("GET", "/account/x", &[("authorization", "Bearer sgat_unknown")])
        .await;
    assert_eq!(
        a.headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"scopegate\", error=\"invalid_token\""
    );
    assert_eq!(
        h.api("GET", "/account/x", &[("authorization", &basic(&c.secret))])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forward_auth_refuses_a_repeated_or_non_ascii_method_or_uri_header() {
    let h = harness().await;
    let open = [("x-original-method", "GET"), ("x-original-uri", "/open")];
    assert_eq!(h.api("GET", "/authz", &open).await.status, StatusCode::OK);
    for (why, headers) in [
        (
            "repeated URI",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/open"),
                ("x-original-uri", "/account/x"),
            ],
        ),
        (
            "repeated method",
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "DELETE"),
                ("x-forwarded-uri", "/open"),
            ],
        ),
    ] {
        let a = h.api("GET", "/authz", &headers).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}");
        assert!(
            a.json["error_description"].as_str().unwrap().contains("repeated"),
            "{why}: {:#}",
            a.json
        );
    }
    // Not ASCII: never read as absent (which would fall back to another source).
    let mut req = axum::http::Request::builder()
        .method("GET")
        .uri("/authz/open")
        .header("host", "api.example")
        .header("x-original-method", "GET");
    req = req.header(
        "x-original-uri",
        axum::http::HeaderValue::from_bytes(b"/caf\xc3\xa9").unwrap(),
    );
    let response = tower::ServiceExt::oneshot(h.app.clone(), req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// RFC 6749 section 2.3.1: a client id and secret are form-encoded before
/// Base64, and the token endpoint and the gateway read them with one parser,
/// so an id or secret holding `%`, `+` or `:` works in both places.
#[tokio::test]
async fn basic_credentials_holding_percent_plus_or_colon_work_at_the_token_endpoint_and_the_gateway() {
    use base64::Engine;
    let h = harness().await;
    let (id, secret) = ("app:one+two", "s3cr:et%2B+100% sure");
    crate::key_set_with_id(&h, "app-odd", id, secret).await;
    let encode = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_owned();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    );
    let form = [("grant_type", "client_credentials")];
    let token = h.post("/oauth2/token", None, &form, &[("authorization", &basic)]).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.json);
    let api = h.api("GET", "/account/x", &[("authorization", &basic)]).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.json);
}
