//! The refresh rules of docs/oauth.md: rotation, reuse, narrowing, re-checks.

use scopegate_store::Store;

use crate::{Harness, T0};

#[tokio::test]
async fn refresh_rotates_and_keeps_the_grant_scope() {
    let h = Harness::new().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h.client("production", "orders account:read", "orders", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read orders", T0).await;
    let a = h
        .token(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "account:read"),
            ],
        )
        .await;
    assert_eq!(a.ok()["scope"], "account:read", "a refresh may narrow");
    let rt2 = a.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt);
    // The new refresh token still carries the grant's scope.
    let b = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await;
    assert_eq!(b.ok()["scope"], "account:read orders");
}

#[tokio::test]
async fn refresh_cannot_widen_scope() {
    let h = Harness::new().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h
        .client("production", "orders account:read account:write", "orders", false)
        .await;
    let rt = h.seed_refresh(&c, "alice", "account:read", T0).await;
    h.token(
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "account:write"),
        ],
    )
    .await
    .error("invalid_scope", "never widen");
    // An implied scope is a narrowing, not a widening.
    let rt = h.seed_refresh(&c, "alice", "orders", T0).await;
    assert_eq!(
        h.token(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "read_orders")
            ]
        )
        .await
        .ok()["scope"],
        "read_orders"
    );
}

#[tokio::test]
async fn reused_refresh_token_revokes_the_whole_grant() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read", T0).await;
    let first = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    let access = first.ok()["access_token"].as_str().unwrap().to_owned();
    let rt2 = first.json["refresh_token"].as_str().unwrap().to_owned();
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error("invalid_grant", "already used");
    // Every token of the grant is now dead: the access token and the rotated refresh token.
    let seen = h.post("/oauth2/introspect", Some(&c), &[("token", &access)], &[]).await;
    assert_eq!(seen.ok()["active"], false);
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await
        .error("invalid_grant", "");
}

#[tokio::test]
async fn concurrent_refreshes_at_most_one_succeeds() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read", T0).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let (a, b) = tokio::join!(h.token(&c, &form), h.token(&c, &form));
    let wins = [&a, &b]
        .iter()
        .filter(|x| x.status == axum::http::StatusCode::OK)
        .count();
    assert!(wins <= 1, "{a:?} {b:?}");
}

#[tokio::test]
async fn refresh_token_of_another_client_is_invalid_grant() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let a = h.client("production", "account:read", "account:read", false).await;
    let b = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&a, "alice", "account:read", T0).await;
    h.token(&b, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error("invalid_grant", "another client");
}

#[tokio::test]
async fn refresh_rechecks_the_users_current_permissions() {
    let h = Harness::new().await;
    h.user("alice", &["Orders", "OrderStatuses"]).await;
    let c = h.client("production", "orders", "orders", false).await;
    let rt = h.seed_refresh(&c, "alice", "orders", T0).await;
    h.store.set_permissions("alice", &["Orders".to_owned()]).await.unwrap();
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error(
            "invalid_scope",
            "requires permission \"OrderStatuses\", which user \"alice\" no longer holds",
        );
}

#[tokio::test]
async fn refresh_of_a_disabled_user_is_invalid_grant() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read", T0).await;
    h.store.set_user_enabled("alice", false).await.unwrap();
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error("invalid_grant", "disabled");
}

#[tokio::test]
async fn refresh_rechecks_the_apps_current_assignment() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "account:read", "account:read", false).await;
    let rt = h.seed_refresh(&c, "alice", "account:read account:write", T0).await;
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await
        .error("invalid_scope", "\"account:write\" is not assigned");
}

#[tokio::test]
async fn max_lifetime_counts_from_the_original_grant_across_refreshes() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h.client("production", "decrypt account:read", "decrypt", false).await;
    let granted = T0 - 89 * 86_400;
    let rt = h.seed_refresh(&c, "alice", "decrypt", granted).await;
    let a = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    assert_eq!(a.ok()["expires_in"], 3600, "one hour is still inside the 90 days");
    let rt2 = a.json["refresh_token"].as_str().unwrap().to_owned();
    h.advance(86_400 - 60);
    let b = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await;
    assert_eq!(b.ok()["expires_in"], 60, "capped at 90 days after the original grant");
    let rt3 = b.json["refresh_token"].as_str().unwrap().to_owned();
    h.advance(60);
    h.token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt3)])
        .await
        .error("invalid_grant", "");
}

#[tokio::test]
async fn no_expiry_user_tokens_get_no_refresh_token() {
    let h = Harness::new().await;
    h.user("alice", &[]).await;
    let c = h
        .client("production", "no_expiry account:read", "account:read", false)
        .await;
    let rt = h.seed_refresh(&c, "alice", "account:read no_expiry", T0).await;
    let a = h
        .token(&c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    assert!(
        a.ok().get("refresh_token").is_none() && a.json.get("expires_in").is_none(),
        "{:#}",
        a.json
    );
}
