//! Grants: a user's consent to a key set, and the family of tokens issued
//! under it.

use scopegate_store::Store;

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};

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
