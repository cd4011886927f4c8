//! Grants: a user's consent to a key set, and the family of tokens issued
//! under it.

use scopegate_store::Store;

use crate::audit::AuditKind;
use crate::context::{Context, Result, Revoked, ServiceError};

/// Withdraws a user's consent to a key set: every token of every grant the
/// user made to it stops working at once.
pub async fn revoke<S: Store>(cx: &Context<'_, S>, login: &str, client_id: &str) -> Result<u64> {
    let Some(count) = cx.store.revoke_consent(login, client_id, cx.now).await? else {
        return Err(ServiceError::NotFound(format!(
            "{login:?} has not granted {client_id:?} access"
        )));
    };
    // Stateless tokens: the grants' revocations are in the store; take them now.
    cx.caches.reload_revocations().await;
    cx.caches.forget_credentials();
    let detail = format!("the user's grant ({count} live tokens)");
    cx.audit(AuditKind::GrantRevoke, Some(client_id), Some(login), detail)
        .await?;
    Ok(count)
}

/// Revokes every token of a grant because one of them was used twice (a
/// replayed code, a reused or concurrently rotated refresh token, RFC 9700
/// section 4.14): the grant may be in a thief's hands. `kind` says which.
pub async fn revoke_replayed<S: Store>(
    cx: &Context<'_, S>,
    kind: AuditKind,
    grant_id: &str,
    client_id: &str,
    subject: Option<&str>,
    detail: String,
) -> Result<u64> {
    let count = cx.store.revoke_grant(grant_id).await?;
    cx.caches.revoked(Revoked::Grant(grant_id));
    cx.caches.forget_credentials();
    cx.audit(kind, Some(client_id), subject, detail).await?;
    Ok(count)
}
