//! `POST /oauth2/token` (RFC 6749 sections 4.4 and 6): `client_credentials`
//! and `refresh_token`. The handler loads, `scopegate_core::oauth` decides,
//! the handler persists.

use scopegate_service::operations::grants;
use scopegate_service::operations::users;
use scopegate_service::{Actor, AuditKind};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_core::enforce::NARROW_HEADER;
use scopegate_core::oauth::{
    ClientScopes, ErrorCode, OAuthError, decide_refresh_scope, decide_scope, lifetimes, requested_resource,
    requested_scope, resource_from_grant,
};
use scopegate_core::redeem::{
    PresentedCode, RedeemRefusal, StoredCode, StoredRefresh, decide_code, decide_refresh, decide_refresh_lifetime,
};
use scopegate_core::{GrantKind, ScopeSet};
use scopegate_store::{KeySetRecord, Store, TokenKind};
use serde::Serialize;

use super::mint::{Issued, TokenGrant, issue_user_tokens, new_token};
use crate::http::address::ClientAddress;
use crate::http::error::{EndpointError, no_store};
use crate::http::form::Form;
use crate::http::limits::address_key;
use crate::oauth::client_auth::authenticate;
use crate::state::{AppState, Current};
use scopegate_service::credentials::secrets::{self, SecretKind};

/// RFC 6749 section 5.1.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Never the tokens.
impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn token(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, address, &headers, &body).await {
        Ok(response) => no_store(Json(response).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, EndpointError> {
    state
        .limits
        .token_per_address
        .take(&address_key(address.0))
        .map_err(|retry| EndpointError::Limited(retry, "too many token requests from this address"))?;
    let form = Form::parse(headers, body)?;
    match form.require("grant_type")? {
        "client_credentials" => client_credentials(state, address, headers, &form).await,
        "refresh_token" => refresh(state, address, headers, &form).await,
        "authorization_code" => authorization_code(state, address, headers, &form).await,
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type \"{other}\" is not supported; use authorization_code, client_credentials or refresh_token"
            ),
        )
        .into()),
    }
}

/// The authenticated client, within its `limits.token_per_client`. Counted
/// after authentication, so that nobody can spend another app's budget.
async fn authenticated(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    form: &Form,
    allow_public: bool,
) -> Result<Arc<KeySetRecord>, EndpointError> {
    let client = authenticate(state, address, headers, form, allow_public).await?;
    state
        .limits
        .token_per_client
        .take(&client.client_id)
        .map_err(|retry| EndpointError::Limited(retry, "too many token requests for this client"))?;
    Ok(client)
}

fn client_scopes(client: &KeySetRecord) -> ClientScopes<'_> {
    ClientScopes {
        assigned: &client.scopes,
        default: &client.default_scopes,
        environment: &client.environment,
    }
}

fn header_scope(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    headers
        // The narrowing header (seeds 000/001), also accepted as the scope list here.
        .get(NARROW_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::new(ErrorCode::InvalidRequest, "X-OAuth-Scope is not valid text"))
        })
        .transpose()
}

/// Audits a refusal and passes it on.
fn refused(state: &AppState, client: &KeySetRecord, subject: Option<&str>, e: OAuthError) -> EndpointError {
    state.audit(AuditKind::Refuse, Some(&client.client_id), subject, e.to_string());
    e.into()
}

async fn client_credentials(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticated(state, address, headers, form, false).await?;
    let requested = requested_scope(form.get("scope"), header_scope(headers)?)?;
    let resource =
        requested_resource(&state.policy, form.get("resource")).map_err(|e| refused(state, &client, None, e))?;
    let scope = decide_scope(
        &state.policy,
        client_scopes(&client),
        GrantKind::ClientCredentials,
        requested,
    )
    .map_err(|e| refused(state, &client, None, e))?;
    let now = state.now();
    let life = lifetimes(&state.policy, &scope, GrantKind::ClientCredentials, now, now);
    let grant_id = secrets::generate(SecretKind::GrantId);
    let grant = TokenGrant {
        client: &client,
        subject: None,
        kind: GrantKind::ClientCredentials,
        granted_at: now,
        now,
        grant_id: &grant_id,
        resource: resource.as_deref(),
    };
    let (access, record) = new_token(state, &grant, TokenKind::Access, &scope, &scope, life.access_expires_at)?;
    let shown = state.policy.catalog.display(&scope);
    let event = state.audit_event(
        AuditKind::Issue,
        Some(&client.client_id),
        None,
        format!("client_credentials scope=\"{shown}\""),
    );
    match record {
        // Stored before it is handed out, with its audit event.
        Some(record) => {
            if !state.writer.store_tokens(vec![record], event).await {
                return Err(EndpointError::Internal);
            }
        }
        // A stateless JWT: nothing to store but the audit event.
        None => state.writer.audit(event),
    }
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: life.expires_in(now),
        refresh_token: None,
        scope: shown,
    })
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// A code or refresh token not redeemed: audited, and when it was a replay,
/// every token of its grant revoked first.
async fn not_redeemed(
    state: &AppState,
    client: &KeySetRecord,
    subject: Option<&str>,
    refusal: RedeemRefusal,
    code: bool,
    grant_id: &str,
) -> EndpointError {
    if refusal.revokes_grant() {
        let kind = if code {
            AuditKind::CodeReplay
        } else {
            AuditKind::RefreshReuse
        };
        let actor = Actor::Client(client.client_id.clone());
        let detail = format!("grant={grant_id}");
        let revoked = grants::revoke_replayed(
            &state.service(&actor),
            kind,
            grant_id,
            &client.client_id,
            subject,
            detail,
        )
        .await;
        if revoked.is_err() {
            return EndpointError::Internal;
        }
    }
    refused(state, client, subject, refusal.error(code))
}

async fn refresh(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticated(state, address, headers, form, true).await?;
    let presented = form.require("refresh_token")?;
    let now = state.now();
    let old = state.store.token(&secrets::hash(presented)).await?;
    let stored = old.as_ref().map(|t| StoredRefresh {
        is_refresh: t.kind == TokenKind::Refresh,
        client_id: &t.client_id,
        used: t.used,
        live: t.is_live(now),
    });
    let decided = decide_refresh(stored.as_ref(), &client.client_id);
    let old = match (decided, old) {
        (Ok(()), Some(old)) => old,
        (Err(refusal), Some(old)) if refusal != RedeemRefusal::Unknown && refusal != RedeemRefusal::OtherClient => {
            return Err(not_redeemed(state, &client, old.subject.as_deref(), refusal, false, &old.grant_id).await);
        }
        (Err(refusal), _) => return Err(refused(state, &client, None, refusal.error(false))),
        (Ok(()), None) => return Err(refused(state, &client, None, RedeemRefusal::Unknown.error(false))),
    };
    let subject = old.subject.as_deref();
    let grant = GrantKind::parse(&old.grant_kind).unwrap_or(GrantKind::AuthorizationCode);
    let requested = requested_scope(form.get("scope"), header_scope(headers)?)?;
    let resource = resource_from_grant(&state.policy, old.resource.as_deref(), form.get("resource"))
        .map_err(|e| refused(state, &client, subject, e))?;
    let scope = decide_refresh_scope(
        &state.policy,
        client_scopes(&client),
        grant,
        &old.grant_scope,
        requested,
    )
    .map_err(|e| refused(state, &client, subject, e))?;
    if let Some(login) = subject {
        check_user_still_allowed(state, &client, login, &scope).await?;
    }
    let grant_scope = state.policy.catalog.parse_list(&old.grant_scope).unwrap_or_default();
    let life = lifetimes(&state.policy, &scope, grant, old.granted_at, now);
    decide_refresh_lifetime(life.access_expires_at, now)
        .map_err(|r| refused(state, &client, subject, r.error(false)))?;
    let Issued {
        access,
        refresh: refresh_token,
        records,
    } = issue_user_tokens(
        state,
        &TokenGrant {
            client: &client,
            subject,
            kind: grant,
            granted_at: old.granted_at,
            now,
            grant_id: &old.grant_id,
            resource: resource.as_deref(),
        },
        &scope,
        &grant_scope,
        &life,
    )?;
    let rotated = state.store.rotate_refresh(&old.hash, &records).await?;
    state.tokens.forget_hash(&old.hash);
    if !rotated {
        let actor = Actor::Client(client.client_id.clone());
        let detail = format!("grant={} (concurrent)", old.grant_id);
        let kind = AuditKind::RefreshReuse;
        grants::revoke_replayed(
            &state.service(&actor),
            kind,
            &old.grant_id,
            &client.client_id,
            subject,
            detail,
        )
        .await
        .map_err(|_| EndpointError::Internal)?;
        return Err(RedeemRefusal::Replayed.error(false).into());
    }
    let shown = state.policy.catalog.display(&scope);
    state.audit(
        AuditKind::Refresh,
        Some(&client.client_id),
        subject,
        format!("scope=\"{shown}\""),
    );
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: life.expires_in(now),
        refresh_token,
        scope: shown,
    })
}

/// A user token's scopes need the user enabled and holding every scope's
/// `requires_permissions`, now, not only when the grant was made.
async fn check_user_still_allowed(
    state: &AppState,
    client: &KeySetRecord,
    login: &str,
    scope: &ScopeSet,
) -> Result<(), EndpointError> {
    let user = state.store.user(login).await?;
    let Some(user) = user.filter(|u| u.enabled) else {
        let e = invalid_grant("the user who made this grant no longer exists or is disabled");
        return Err(refused(state, client, Some(login), e));
    };
    let catalog = &state.policy.catalog;
    for id in scope.iter() {
        if let Some(missing) = catalog
            .info(id)
            .requires_permissions
            .iter()
            .find(|p| !users::holds(&user, &state.policy.settings.sign_in, state.now(), p))
        {
            let e = OAuthError::new(
                ErrorCode::InvalidScope,
                format!(
                    "scope \"{}\" requires permission \"{missing}\", which user \"{login}\" no longer holds",
                    catalog.name(id)
                ),
            );
            return Err(refused(state, client, Some(login), e));
        }
    }
    Ok(())
}

/// RFC 6749 section 4.1.3 with RFC 7636: a code is single-use, bound to its
/// client and redirect URI, and to the PKCE verifier when a challenge was sent.
/// A replayed code revokes every token it issued.
async fn authorization_code(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticated(state, address, headers, form, true).await?;
    redeem_code(state, client, form).await
}

/// A code redeemed by `client`, already authenticated: by the token endpoint,
/// or by the portal's "try it" for the key set whose owner is signed in.
pub(crate) async fn redeem_code(
    state: &AppState,
    client: Arc<KeySetRecord>,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let presented = form.require("code")?;
    let now = state.now();
    let Some((code, first_use)) = state.store.take_code(&secrets::hash(presented)).await? else {
        return Err(refused(state, &client, None, RedeemRefusal::Unknown.error(true)));
    };
    let subject = Some(code.subject.as_str());
    let stored = StoredCode {
        client_id: &code.client_id,
        expires_at: code.expires_at,
        redirect_uri: &code.redirect_uri,
        redirect_sent: code.redirect_sent,
        code_challenge: code.code_challenge.as_deref(),
        first_use,
    };
    let presented = PresentedCode {
        client_id: &client.client_id,
        redirect_uri: form.get("redirect_uri"),
        code_verifier: form.get("code_verifier"),
    };
    let s256_matches = |verifier: &str, challenge: &str| secrets::same(&secrets::pkce_s256(verifier), challenge);
    if let Err(refusal) = decide_code(&stored, &presented, now, s256_matches) {
        if refusal == RedeemRefusal::VerifierMissing {
            // The request's fault, not the grant's: not audited as a refusal.
            return Err(refusal.error(true).into());
        }
        return Err(not_redeemed(state, &client, subject, refusal, true, &code.grant_id).await);
    }
    let scope = state
        .policy
        .catalog
        .parse_list(&code.scope)
        .map_err(|e| refused(state, &client, subject, invalid_grant(&format!("{e}; start again"))))?;
    let resource = resource_from_grant(&state.policy, code.resource.as_deref(), form.get("resource"))
        .map_err(|e| refused(state, &client, subject, e))?;
    check_user_still_allowed(state, &client, &code.subject, &scope).await?;
    let grant = GrantKind::AuthorizationCode;
    let life = lifetimes(&state.policy, &scope, grant, now, now);
    let Issued {
        access,
        refresh: refresh_token,
        records,
    } = issue_user_tokens(
        state,
        &TokenGrant {
            client: &client,
            subject,
            kind: grant,
            granted_at: now,
            now,
            grant_id: &code.grant_id,
            resource: resource.as_deref(),
        },
        &scope,
        &scope,
        &life,
    )?;
    let shown = state.policy.catalog.display(&scope);
    let event = state.audit_event(
        AuditKind::Issue,
        Some(&client.client_id),
        subject,
        format!("authorization_code scope=\"{shown}\""),
    );
    if !state.writer.store_tokens(records, event).await {
        return Err(EndpointError::Internal);
    }
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: life.expires_in(now),
        refresh_token,
        scope: shown,
    })
}
