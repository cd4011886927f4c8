//! `POST /oauth2/token` (RFC 6749 sections 4.4 and 6): `client_credentials`
//! and `refresh_token`. The handler loads, `scopegate_core::oauth` decides,
//! the handler persists.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_core::oauth::{
    self, ClientScopes, ErrorCode, OAuthError, decide_refresh_scope, decide_scope, lifetimes, requested_scope,
};
use scopegate_core::{GrantKind, ScopeSet, TokenFormat};
use scopegate_store::{ClientRecord, Store, TokenKind, TokenRecord};
use serde::Serialize;

use crate::client_auth::authenticate;
use crate::error::{EndpointError, no_store};
use crate::form::Form;
use crate::keys::AccessClaims;
use crate::secrets::{self, SecretKind};
use crate::state::{AppState, Current};

/// The header our users send to narrow scope (seeds 000/001), also accepted here.
pub const X_OAUTH_SCOPE: &str = "x-oauth-scope";

/// RFC 6749 section 5.1.
#[derive(Serialize, Debug)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

pub async fn token<S: Store>(Current(state): Current<S>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(response) => no_store(Json(response).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, EndpointError> {
    let form = Form::parse(headers, body)?;
    match form.require("grant_type")? {
        "client_credentials" => client_credentials(state, headers, &form).await,
        "refresh_token" => refresh(state, headers, &form).await,
        "authorization_code" => authorization_code(state, headers, &form).await,
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type \"{other}\" is not supported; use authorization_code, client_credentials or refresh_token"
            ),
        )
        .into()),
    }
}

fn client_scopes(client: &ClientRecord) -> ClientScopes<'_> {
    ClientScopes {
        assigned: &client.scopes,
        default: &client.default_scopes,
        environment: &client.environment,
    }
}

fn header_scope(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    headers
        .get(X_OAUTH_SCOPE)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::new(ErrorCode::InvalidRequest, "X-OAuth-Scope is not valid text"))
        })
        .transpose()
}

/// Audits a refusal and passes it on.
fn refused<S: Store>(
    state: &AppState<S>,
    client: &ClientRecord,
    subject: Option<&str>,
    e: OAuthError,
) -> EndpointError {
    state.audit("refuse", Some(&client.client_id), subject, e.to_string());
    e.into()
}

async fn client_credentials<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticate(state, headers, form, false).await?;
    let requested = requested_scope(form.get("scope"), header_scope(headers)?)?;
    let scope = decide_scope(
        &state.policy,
        client_scopes(&client),
        GrantKind::ClientCredentials,
        requested,
    )
    .map_err(|e| refused(state, &client, None, e))?;
    let now = state.now();
    let life = lifetimes(&state.policy, &scope, GrantKind::ClientCredentials, now, now);
    let family = secrets::generate(SecretKind::Family);
    let grant = TokenGrant {
        client: &client,
        subject: None,
        kind: GrantKind::ClientCredentials,
        granted_at: now,
        now,
        family: &family,
    };
    let (access, record) = new_token(state, &grant, TokenKind::Access, &scope, &scope, life.access_expires_at)?;
    let shown = state.policy.catalog.display(&scope);
    let event = state.audit_event(
        "issue",
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

fn new_token<S: Store>(
    state: &AppState<S>,
    g: &TokenGrant<'_>,
    kind: TokenKind,
    scope: &ScopeSet,
    grant_scope: &ScopeSet,
    expires_at: Option<i64>,
) -> Result<(String, Option<TokenRecord>), EndpointError> {
    let TokenGrant {
        client,
        subject,
        kind: grant,
        granted_at,
        now,
        family,
    } = *g;
    let jwt_expiry =
        expires_at.filter(|_| kind == TokenKind::Access && state.policy.settings.tokens.format == TokenFormat::Jwt);
    let secret = match jwt_expiry {
        // RFC 9068 requires `exp`: a never-expiring token stays opaque, so it
        // can always be revoked at the store.
        Some(exp) => {
            let claims = AccessClaims {
                iss: state.policy.settings.issuer.clone(),
                aud: state.policy.settings.issuer.clone(),
                sub: subject.unwrap_or(&client.client_id).to_owned(),
                client_id: client.client_id.clone(),
                iat: now,
                nbf: now,
                exp,
                jti: secrets::generate(SecretKind::Family),
                scope: state.policy.catalog.display(scope),
                env: client.environment.clone(),
                gid: family.to_owned(),
                granted_at: Some(granted_at),
            };
            state.keys.sign(&claims).map_err(|e| {
                tracing::error!(error = %e, "signing an access token failed");
                EndpointError::Internal
            })?
        }
        None => secrets::generate(match kind {
            TokenKind::Access => SecretKind::AccessToken,
            TokenKind::Refresh => SecretKind::RefreshToken,
        }),
    };
    let record = TokenRecord {
        hash: secrets::hash(&secret),
        kind,
        family: family.to_owned(),
        client_id: client.client_id.clone(),
        subject: subject.map(str::to_owned),
        grant_kind: grant.as_str().to_owned(),
        scope: state.policy.catalog.display(scope),
        grant_scope: state.policy.catalog.display(grant_scope),
        environment: client.environment.clone(),
        granted_at,
        issued_at: now,
        expires_at,
        used: false,
        revoked: false,
    };
    // A JWT access token is stateless: it verifies by its signature, and only
    // its revocation is ever stored.
    Ok((secret, jwt_expiry.is_none().then_some(record)))
}

/// Whose tokens these are and which grant they belong to: what every token
/// of one issuance shares.
#[derive(Clone, Copy)]
struct TokenGrant<'a> {
    client: &'a ClientRecord,
    /// The user's login, for user tokens.
    subject: Option<&'a str>,
    kind: GrantKind,
    /// When the original grant was made (for `max_lifetime`).
    granted_at: i64,
    now: i64,
    family: &'a str,
}

/// The tokens a user grant step hands out.
struct Issued {
    access: String,
    refresh: Option<String>,
    records: Vec<TokenRecord>,
}

/// An access token for `scope` and, where the lifetimes allow one, a refresh
/// token. The refresh token carries the grant's whole scope, so a later refresh
/// may still ask for anything the grant allowed.
fn issue_user_tokens<S: Store>(
    state: &AppState<S>,
    g: &TokenGrant<'_>,
    scope: &ScopeSet,
    grant_scope: &ScopeSet,
    life: &oauth::Lifetimes,
) -> Result<Issued, EndpointError> {
    let (access, access_record) = new_token(state, g, TokenKind::Access, scope, grant_scope, life.access_expires_at)?;
    let mut records: Vec<TokenRecord> = access_record.into_iter().collect();
    let mut refresh = None;
    if let Some(refresh_expires) = life.refresh {
        let (secret, record) = new_token(state, g, TokenKind::Refresh, grant_scope, grant_scope, refresh_expires)?;
        records.extend(record);
        refresh = Some(secret);
    }
    Ok(Issued {
        access,
        refresh,
        records,
    })
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

async fn refresh<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticate(state, headers, form, true).await?;
    let presented = form.require("refresh_token")?;
    let now = state.now();
    let old = match state.store.token(&secrets::hash(presented)).await? {
        Some(t) if t.kind == TokenKind::Refresh && t.client_id == client.client_id => t,
        _ => {
            return Err(refused(
                state,
                &client,
                None,
                invalid_grant("unknown refresh token, or one issued to another client"),
            ));
        }
    };
    let subject = old.subject.as_deref();
    if old.used {
        state.store.revoke_family(&old.family).await?;
        state.revoked_grant(&old.family);
        let e = invalid_grant("this refresh token was already used; every token of its grant is now revoked");
        state.audit(
            "refresh_reuse",
            Some(&client.client_id),
            subject,
            format!("family={}", old.family),
        );
        return Err(refused(state, &client, subject, e));
    }
    if !old.is_live(now) {
        return Err(refused(
            state,
            &client,
            subject,
            invalid_grant("the refresh token is expired or revoked"),
        ));
    }
    let grant = GrantKind::parse(&old.grant_kind).unwrap_or(GrantKind::AuthorizationCode);
    let requested = requested_scope(form.get("scope"), header_scope(headers)?)?;
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
    if life.access_expires_at.is_some_and(|at| at <= now) {
        return Err(refused(
            state,
            &client,
            subject,
            invalid_grant("the grant has outlived a scope's max_lifetime; obtain a new grant"),
        ));
    }
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
            family: &old.family,
        },
        &scope,
        &grant_scope,
        &life,
    )?;
    let rotated = state.store.rotate_refresh(&old.hash, &records).await?;
    state.tokens.forget_hash(&old.hash);
    if !rotated {
        state.store.revoke_family(&old.family).await?;
        state.revoked_grant(&old.family);
        state.audit(
            "refresh_reuse",
            Some(&client.client_id),
            subject,
            format!("family={} (concurrent)", old.family),
        );
        return Err(
            invalid_grant("this refresh token was already used; every token of its grant is now revoked").into(),
        );
    }
    let shown = state.policy.catalog.display(&scope);
    state.audit(
        "refresh",
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
async fn check_user_still_allowed<S: Store>(
    state: &AppState<S>,
    client: &ClientRecord,
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
            .find(|p| !user.permissions.contains(p))
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
async fn authorization_code<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TokenResponse, EndpointError> {
    let client = authenticate(state, headers, form, true).await?;
    let presented = form.require("code")?;
    let now = state.now();
    let Some((code, first_use)) = state.store.take_code(&secrets::hash(presented)).await? else {
        return Err(refused(
            state,
            &client,
            None,
            invalid_grant("unknown authorization code"),
        ));
    };
    let subject = Some(code.subject.as_str());
    if code.client_id != client.client_id {
        return Err(refused(
            state,
            &client,
            subject,
            invalid_grant("the code was issued to another client"),
        ));
    }
    if !first_use {
        state.store.revoke_family(&code.family).await?;
        state.revoked_grant(&code.family);
        state.audit(
            "code_replay",
            Some(&client.client_id),
            subject,
            format!("family={}", code.family),
        );
        return Err(refused(
            state,
            &client,
            subject,
            invalid_grant("the code was already used; every token it issued is now revoked"),
        ));
    }
    if code.expires_at <= now {
        return Err(refused(state, &client, subject, invalid_grant("the code has expired")));
    }
    let redirect_ok = match form.get("redirect_uri") {
        Some(uri) => uri == code.redirect_uri,
        None => !code.redirect_sent,
    };
    if !redirect_ok {
        return Err(refused(
            state,
            &client,
            subject,
            invalid_grant("redirect_uri does not match the authorization request"),
        ));
    }
    match (&code.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if secrets::same(&secrets::pkce_s256(verifier), challenge) => {}
        (Some(_), Some(_)) => {
            return Err(refused(
                state,
                &client,
                subject,
                invalid_grant("code_verifier does not match the code_challenge"),
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "missing parameter \"code_verifier\"").into());
        }
        (None, Some(_)) => {
            return Err(refused(
                state,
                &client,
                subject,
                invalid_grant("code_verifier sent, but the authorization request had no code_challenge"),
            ));
        }
        (None, None) => {}
    }
    let scope = state
        .policy
        .catalog
        .parse_list(&code.scope)
        .map_err(|e| refused(state, &client, subject, invalid_grant(&format!("{e}; start again"))))?;
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
            family: &code.family,
        },
        &scope,
        &scope,
        &life,
    )?;
    let shown = state.policy.catalog.display(&scope);
    let event = state.audit_event(
        "issue",
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
