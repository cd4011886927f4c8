//! Tokens, revoked one by one by their value.

use scopegate_store::{Store, TokenKind};

use crate::audit::AuditKind;
use crate::context::{Context, Result, Revoked, ServiceError};
use crate::credentials::keys::{Keys, looks_like_jwt};
use crate::credentials::secrets;

/// What one token's revocation took with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RevokedToken {
    pub client_id: String,
    /// `access` or `refresh` (a refresh token takes its whole grant).
    pub kind: &'static str,
    /// Stored tokens that were live (a JWT counts as one).
    pub revoked: u64,
}

/// Revokes one token by its value: an access token alone, a refresh token
/// with every token of its grant, a JWT (verified with `keys`, which a
/// caller that has none to give cannot revoke) by its `jti` until it expires.
/// With `of_client`, only that key set's tokens (RFC 7009: a client revokes
/// its own); another's is "not found", as is an unknown one.
pub async fn revoke<S: Store>(
    cx: &Context<'_, S>,
    keys: Option<&Keys>,
    token: &str,
    of_client: Option<&str>,
) -> Result<RevokedToken> {
    let foreign = |client_id: &str| of_client.is_some_and(|only| only != client_id);
    if looks_like_jwt(token) {
        let verified = keys
            .and_then(|keys| keys.verify_for(token, &cx.policy.settings.issuer, &cx.policy.audiences(), cx.now))
            .filter(|c| !foreign(&c.client_id));
        let Some(c) = verified else {
            return Err(ServiceError::NotFound(
                "the JWT is not one of ours, or has already expired".into(),
            ));
        };
        cx.store.revoke_jti(&c.jti, Some(c.exp)).await?;
        cx.caches.revoked(Revoked::Jwt(&c.jti));
        cx.caches.forget_credentials();
        let subject = (c.sub != c.client_id).then_some(c.sub.as_str());
        cx.audit(
            AuditKind::Revoke,
            Some(&c.client_id),
            subject,
            "access token (jwt)".into(),
        )
        .await?;
        return Ok(RevokedToken {
            client_id: c.client_id,
            kind: "access",
            revoked: 1,
        });
    }
    let hash = secrets::hash(token);
    let Some(t) = cx.store.token(&hash).await?.filter(|t| !foreign(&t.client_id)) else {
        return Err(ServiceError::NotFound(
            "no such token (scopegate keeps only hashes, so check the value)".into(),
        ));
    };
    let revoked = match t.kind {
        TokenKind::Refresh => {
            let n = cx.store.revoke_grant(&t.grant_id).await?;
            cx.caches.revoked(Revoked::Grant(&t.grant_id));
            n
        }
        TokenKind::Access => u64::from(cx.store.revoke_token(&hash).await?),
    };
    cx.caches.forget_token(&hash);
    cx.caches.forget_credentials();
    let what = format!("{} token", t.kind.as_str());
    cx.audit(AuditKind::Revoke, Some(&t.client_id), t.subject.as_deref(), what)
        .await?;
    Ok(RevokedToken {
        client_id: t.client_id,
        kind: t.kind.as_str(),
        revoked,
    })
}
