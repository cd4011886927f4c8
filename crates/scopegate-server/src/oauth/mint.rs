//! Minting tokens: an access token (opaque, or an RFC 9068 JWT) and, for
//! user grants, a refresh token, with the records the store keeps. Every
//! grant type of the token endpoint issues through here.

use scopegate_core::oauth::Lifetimes;
use scopegate_core::{GrantKind, ScopeSet, TokenFormat};
use scopegate_store::{KeySetRecord, TokenKind, TokenRecord};

use crate::http::error::EndpointError;
use crate::state::AppState;
use scopegate_service::credentials::keys::AccessClaims;
use scopegate_service::credentials::secrets::{self, SecretKind};

pub(super) fn new_token(
    state: &AppState,
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
        grant_id,
        resource,
    } = *g;
    let jwt_expiry =
        expires_at.filter(|_| kind == TokenKind::Access && state.policy.settings.tokens.format == TokenFormat::Jwt);
    let secret = match jwt_expiry {
        // RFC 9068 requires `exp`: a never-expiring token stays opaque, so it
        // can always be revoked at the store.
        Some(exp) => {
            let claims = AccessClaims {
                iss: state.policy.settings.issuer.clone(),
                aud: resource.unwrap_or(&state.policy.settings.issuer).to_owned(),
                sub: subject.unwrap_or(&client.client_id).to_owned(),
                client_id: client.client_id.clone(),
                iat: now,
                nbf: now,
                exp,
                jti: secrets::generate(SecretKind::TokenId),
                scope: state.policy.catalog.shown(
                    &state.policy.catalog.display(scope),
                    state.policy.settings.tokens.expand_implied,
                ),
                env: client.environment.clone(),
                grant_id: grant_id.to_owned(),
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
        grant_id: grant_id.to_owned(),
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
        resource: resource.map(str::to_owned),
    };
    // A JWT access token is stateless: it verifies by its signature, and only
    // its revocation is ever stored.
    Ok((secret, jwt_expiry.is_none().then_some(record)))
}

/// Whose tokens these are and which grant they belong to: what every token
/// of one issuance shares.
#[derive(Clone, Copy)]
pub(super) struct TokenGrant<'a> {
    pub(super) client: &'a KeySetRecord,
    /// The user's login, for user tokens.
    pub(super) subject: Option<&'a str>,
    pub(super) kind: GrantKind,
    /// When the original grant was made (for `max_lifetime`).
    pub(super) granted_at: i64,
    pub(super) now: i64,
    pub(super) grant_id: &'a str,
    /// The resource (RFC 8707) the grant is for: the tokens' audience.
    pub(super) resource: Option<&'a str>,
}

/// The tokens a user grant step hands out.
pub(super) struct Issued {
    pub(super) access: String,
    pub(super) refresh: Option<String>,
    pub(super) records: Vec<TokenRecord>,
}

/// An access token for `scope` and, where the lifetimes allow one, a refresh
/// token. The refresh token carries the grant's whole scope, so a later refresh
/// may still ask for anything the grant allowed.
pub(super) fn issue_user_tokens(
    state: &AppState,
    g: &TokenGrant<'_>,
    scope: &ScopeSet,
    grant_scope: &ScopeSet,
    life: &Lifetimes,
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
