//! `POST /oauth2/introspect` (RFC 7662). Callers authenticate as confidential
//! clients; a client sees its own tokens, a resource server every token of its
//! environment; anything else is `{"active": false}` and nothing more.
//! Token records are read through a 5 s cache that this process empties
//! whenever it revokes or rotates a token, and JWT revocations from the
//! in-memory list: a change made here is seen at once, one made by another
//! node within 5 s (tokens) or 2 s (JWT revocations).

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_store::{ClientRecord, Store, TokenKind, revoked_by};
use serde_json::json;

use crate::address::ClientAddress;
use crate::client_auth::authenticate;
use crate::error::{EndpointError, no_store};
use crate::form::Form;
use crate::keys::looks_like_jwt;
use crate::secrets;
use crate::state::{AppState, Current};

pub async fn introspect<S: Store>(
    Current(state): Current<S>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, address, &headers, &body).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle<S: Store>(
    state: &AppState<S>,
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
pub(crate) async fn describe<S: Store>(
    state: &AppState<S>,
    caller: &ClientRecord,
    token: &str,
) -> Result<serde_json::Value, EndpointError> {
    let now = state.now();
    if looks_like_jwt(token) {
        return jwt(state, caller, token, now).await;
    }
    let Some(t) = state.tokens.get(&state.store, &secrets::hash(token), now).await? else {
        return Ok(json!({"active": false}));
    };
    let visible = t.client_id == caller.client_id || (caller.resource_server && t.environment == caller.environment);
    if !visible || !t.is_live(now) {
        return Ok(json!({"active": false}));
    }
    let mut answer = json!({
        "active": true,
        "scope": shown(state, &t.scope),
        "client_id": t.client_id,
        "token_type": match t.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
        "iat": t.issued_at,
        "iss": state.policy.settings.issuer,
        "sub": t.subject.as_deref().unwrap_or(&t.client_id),
        "environment": t.environment,
        "grant_type": t.grant_kind,
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
async fn jwt<S: Store>(
    state: &AppState<S>,
    caller: &ClientRecord,
    token: &str,
    now: i64,
) -> Result<serde_json::Value, EndpointError> {
    let Some(c) = state
        .verified
        .verify(&state.keys, token, &state.policy.settings.issuer, now)
    else {
        return Ok(json!({"active": false}));
    };
    let visible = c.client_id == caller.client_id || (caller.resource_server && c.env == caller.environment);
    if !visible || state.revocations.is_revoked(&state.store, &c.jti, &c.grant_id).await? {
        return Ok(json!({"active": false}));
    }
    let subject = (c.sub != c.client_id).then_some(c.sub.as_str());
    if cut_off(state, &c.client_id, subject, c.granted_at.unwrap_or(c.iat), now).await? {
        return Ok(json!({"active": false}));
    }
    let mut answer = json!({
        "active": true,
        "scope": shown(state, &c.scope),
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

/// Whether every token of the key set or of the user was revoked after this
/// token's grant was made (`scopegate token revoke` by app or by user, the
/// admin API), or the key set is gone.
async fn cut_off<S: Store>(
    state: &AppState<S>,
    client_id: &str,
    subject: Option<&str>,
    granted_at: i64,
    now: i64,
) -> Result<bool, EndpointError> {
    let Some(client) = state.clients.get(&state.store, client_id, now).await? else {
        return Ok(true);
    };
    if revoked_by(client.tokens_revoked_before, granted_at) {
        return Ok(true);
    }
    Ok(match subject {
        None => false,
        Some(login) => state
            .users
            .get(&state.store, login, now)
            .await?
            .is_none_or(|u| revoked_by(u.tokens_revoked_before, granted_at)),
    })
}

/// The scope as the policy shows it to resource servers (`tokens.scope_claim`).
fn shown<S: Store>(state: &AppState<S>, scope: &str) -> String {
    state
        .policy
        .catalog
        .shown(scope, state.policy.settings.tokens.expand_implied)
}
