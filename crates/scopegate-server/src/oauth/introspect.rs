//! `POST /oauth2/introspect` (RFC 7662). Callers authenticate as confidential
//! clients; a client sees its own tokens, a resource server every token of its
//! environment; anything else is `{"active": false}` and nothing more.
//! Token records are read through a 5 s cache that this process empties
//! whenever it revokes or rotates a token, and JWT revocations from the
//! in-memory list: a change made here is seen at once, one made by another
//! node within 5 s (tokens) or 2 s (JWT revocations). What an active token
//! holds is the gateway's verdict, from the gateway's own check
//! ([`scopegate_service::identification::standing`]), so the two never disagree.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_store::{KeySetRecord, TokenKind};
use serde_json::json;

use crate::http::address::ClientAddress;
use crate::http::error::{EndpointError, no_store};
use crate::http::form::Form;
use crate::oauth::client_auth::authenticate;
use crate::state::{AppState, Current};
use scopegate_service::credentials::keys::looks_like_jwt;
use scopegate_service::credentials::secrets;
use scopegate_service::identification::{Claimed, Standing, standing};

pub(crate) async fn introspect(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, address, &headers, &body).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, EndpointError> {
    let form = Form::parse(headers, body)?;
    let caller = authenticate(state, address, headers, &form, false).await?;
    let token = form.require("token")?;
    describe(state, &caller, token).await
}

/// The introspection answer for `token` as `caller` sees it (RFC 7662): the
/// endpoint's, after client authentication, and the portal's "try it", for
/// the key set whose owner is signed in.
pub(crate) async fn describe(
    state: &AppState,
    caller: &KeySetRecord,
    token: &str,
) -> Result<serde_json::Value, EndpointError> {
    let now = state.now();
    if looks_like_jwt(token) {
        return jwt(state, caller, token, now).await;
    }
    if !secrets::could_be_stored_token(token) {
        return Ok(json!({"active": false}));
    }
    let Some(t) = state.tokens.get(&state.store, &secrets::hash(token), now).await? else {
        return Ok(json!({"active": false}));
    };
    let visible = t.client_id == caller.client_id || (caller.resource_server && t.environment == caller.environment);
    if !visible || !t.is_live(now) {
        return Ok(json!({"active": false}));
    }
    let claimed = Claimed {
        client_id: t.client_id.clone(),
        subject: t.subject.clone(),
        environment: t.environment.clone(),
        scope: t.scope.clone(),
        granted_at: t.granted_at,
        expires_at: t.expires_at,
        resource: t.resource.clone(),
    };
    let Some(scope) = held_now(state, &claimed, now).await? else {
        return Ok(json!({"active": false}));
    };
    let mut answer = json!({
        "active": true,
        "scope": scope,
        "client_id": t.client_id,
        "token_type": match t.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
        "iat": t.issued_at,
        "iss": state.policy.settings.issuer,
        "sub": t.subject.as_deref().unwrap_or(&t.client_id),
        "environment": t.environment,
        "grant_type": t.grant_kind,
        // The audience: the resource the token was issued for (RFC 8707), or the issuer.
        "aud": t.resource.as_deref().unwrap_or(&state.policy.settings.issuer),
    });
    if let Some(exp) = t.expires_at {
        answer["exp"] = json!(exp);
    }
    if let Some(login) = &t.subject {
        answer["username"] = json!(login);
    }
    Ok(answer)
}

/// A stateless JWT access token: its signature and claims answer, plus the
/// revocation table (by `jti` or by grant).
async fn jwt(
    state: &AppState,
    caller: &KeySetRecord,
    token: &str,
    now: i64,
) -> Result<serde_json::Value, EndpointError> {
    let Some(c) = state.verified.verify(
        &state.keys,
        token,
        &state.policy.settings.issuer,
        &state.policy.audiences(),
        now,
    ) else {
        return Ok(json!({"active": false}));
    };
    let visible = c.client_id == caller.client_id || (caller.resource_server && c.env == caller.environment);
    if !visible || state.revocations.is_revoked(&state.store, &c.jti, &c.grant_id).await? {
        return Ok(json!({"active": false}));
    }
    let claimed = Claimed {
        client_id: c.client_id.clone(),
        subject: (c.sub != c.client_id).then(|| c.sub.clone()),
        environment: c.env.clone(),
        scope: c.scope.clone(),
        granted_at: c.granted_at.unwrap_or(c.iat),
        expires_at: Some(c.exp),
        resource: c.resource().map(str::to_owned),
    };
    let Some(scope) = held_now(state, &claimed, now).await? else {
        return Ok(json!({"active": false}));
    };
    let mut answer = json!({
        "active": true,
        "scope": scope,
        "client_id": c.client_id,
        "token_type": "Bearer",
        "iat": c.iat,
        "nbf": c.nbf,
        "exp": c.exp,
        "iss": c.iss,
        "aud": c.aud,
        "sub": c.sub,
        "jti": c.jti,
        "environment": c.env,
    });
    if c.sub != c.client_id {
        answer["username"] = json!(c.sub);
    }
    Ok(answer)
}

/// The scope a token holds now, as the policy shows it to resource servers
/// (`tokens.scope_claim`), or `None` when it holds nothing any more: the
/// verdict of the gateway's request-time check, so that a disabled user's
/// token is inactive here exactly when the gateway refuses it, and a scope
/// whose permission the user lost is left out here as it is there.
async fn held_now(state: &AppState, claimed: &Claimed, now: i64) -> Result<Option<String>, EndpointError> {
    let held = match standing(&state.verifier(), &state.policy, claimed, now).await? {
        Standing::Holds(now) => now.held,
        Standing::Refused(_) => return Ok(None),
    };
    let catalog = &state.policy.catalog;
    Ok(Some(if state.policy.settings.tokens.expand_implied {
        catalog.display(held.set())
    } else {
        catalog.display(&catalog.normalize(held.set()))
    }))
}
