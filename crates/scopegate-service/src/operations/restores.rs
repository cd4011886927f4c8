//! A restored database, made safe to serve.
//!
//! A backup knows nothing of what was revoked after it was made: restored,
//! it would let revoked tokens, replaced secrets and withdrawn consents work
//! again. This refuses everything issued before the restore instead, at the
//! cost of every user and app getting new credentials.

use scopegate_store::{Distrusted, Store};

use crate::audit::AuditKind;
use crate::context::{Context, Result};
use crate::credentials::sealing::KeyEncryptionKey;

/// What [`distrust`] did.
#[derive(Debug)]
pub struct MadeSafe {
    pub distrusted: Distrusted,
    /// When the secrets still usable stop authenticating.
    pub secrets_expire_at: i64,
    /// The signing key every JWT is signed with from now on.
    pub kid: String,
}

/// Refuses every token and grant issued until now, ends sessions, revokes
/// admin tokens, lets every client secret work `secrets_grace` seconds more
/// (so that apps can move to a new one), and rotates the signing key. One
/// transaction for the records, one `database_restored` event, and the
/// rotation's own `signing_key_rotate`.
pub async fn distrust<S: Store>(
    cx: &Context<'_, S>,
    secrets_grace: i64,
    kek: Option<&KeyEncryptionKey>,
) -> Result<MadeSafe> {
    let secrets_expire_at = cx.now.saturating_add(secrets_grace.max(0));
    let d = cx.store.distrust_before(cx.now, secrets_expire_at).await?;
    cx.caches.forget_credentials();
    let kid = super::signing_keys::rotate(cx, kek).await?;
    let detail = format!(
        "tokens={} codes={} sessions={} grants={} secrets_expire_at={} secrets={} admin_tokens={} kid={kid}",
        d.tokens, d.codes, d.sessions, d.grants, secrets_expire_at, d.secrets, d.admin_tokens
    );
    cx.audit(AuditKind::DatabaseRestored, None, None, detail).await?;
    Ok(MadeSafe {
        distrusted: d,
        secrets_expire_at,
        kid,
    })
}
