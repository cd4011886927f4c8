//! A confidential key set's secrets: several may be active at once, so that
//! one can be rotated without downtime.

use scopegate_core::duration::parse_duration;
use scopegate_core::registration::FieldError;
use scopegate_store::{ClientSecret, Store};

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::credentials::secrets::{self, NewSecret};
use crate::operations::key_sets;

/// The most secrets a key set may have active at once: enough for an
/// overlap during rotation, few enough that a forgotten one is noticed.
pub const MAX_ACTIVE_SECRETS: usize = 5;

/// Parses an optional lifetime such as `90d` into an expiry time.
pub fn expiry(field: &'static str, expires_in: Option<&str>, now: i64) -> Result<Option<i64>> {
    let Some(text) = expires_in else { return Ok(None) };
    let Some(d) = parse_duration(text).filter(|d| !d.is_zero()) else {
        return Err(FieldError::new(field, format!("{text:?}: give a duration such as 90d, 12h or 30m")).into());
    };
    Ok(Some(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))))
}

/// Adds a secret to a confidential key set; with `replace`, every other
/// secret stops working at once. Without it, at most
/// [`MAX_ACTIVE_SECRETS`] may be active.
pub async fn add<S: Store>(
    cx: &Context<'_, S>,
    client_id: &str,
    expires_at: Option<i64>,
    replace: bool,
) -> Result<NewSecret> {
    let client = key_sets::get(cx.store, client_id).await?;
    let now = cx.now;
    if client.public {
        return Err(ServiceError::Conflict(format!(
            "{client_id} is a public client: it has no secrets"
        )));
    }
    if !replace && client.active_secrets(now).count() >= MAX_ACTIVE_SECRETS {
        return Err(ServiceError::Conflict(format!(
            "{client_id} already has {MAX_ACTIVE_SECRETS} active secrets: revoke one first"
        )));
    }
    if expires_at.is_some_and(|at| at <= now) {
        return Err(FieldError::new("expires_in", "the expiry must be in the future").into());
    }
    let (secret, record): (String, ClientSecret) = secrets::new_client_secret(now, expires_at);
    if !cx
        .store
        .add_client_secret(client_id, &record, replace.then_some(now))
        .await?
    {
        return Err(ServiceError::NotFound(format!("no key set {client_id:?}")));
    }
    cx.caches.forget_client(client_id);
    let detail = format!(
        "secret_id={}{}{}",
        record.id,
        expires_at.map_or_else(String::new, |at| format!(" expires_at={at}")),
        if replace { " (replaces every other secret)" } else { "" }
    );
    cx.audit(AuditKind::SecretCreate, Some(client_id), None, detail).await?;
    Ok(NewSecret {
        id: record.id,
        secret,
        expires_at,
    })
}

/// Revokes one secret of a key set by its id.
pub async fn revoke<S: Store>(cx: &Context<'_, S>, client_id: &str, secret_id: &str) -> Result<()> {
    if !cx.store.revoke_client_secret(client_id, secret_id, cx.now).await? {
        return Err(ServiceError::NotFound(format!(
            "{client_id:?} has no active secret {secret_id:?}"
        )));
    }
    cx.caches.forget_client(client_id);
    cx.audit(
        AuditKind::SecretRevoke,
        Some(client_id),
        None,
        format!("secret_id={secret_id}"),
    )
    .await
}
