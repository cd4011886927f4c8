//! The keys that sign JWT access tokens.

use scopegate_store::Store;

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::credentials::keys::{generate_key, sealed};
use crate::credentials::sealing::KeyEncryptionKey;

/// Starts a new signing key (sealed under `kek`, if given) and retires the others
/// (they stay published until their tokens expire). Every node on the
/// database loads it through the change feed.
pub async fn rotate<S: Store>(cx: &Context<'_, S>, kek: Option<&KeyEncryptionKey>) -> Result<String> {
    let key = generate_key(cx.now, cx.policy.settings.tokens.algorithm)
        .and_then(|key| sealed(key, kek))
        .map_err(|e| {
            tracing::error!(error = %e, "cannot make a signing key");
            ServiceError::Internal
        })?;
    cx.store.rotate_signing_key(&key).await?;
    cx.audit(AuditKind::SigningKeyRotate, None, None, format!("kid={}", key.kid))
        .await?;
    Ok(key.kid)
}
