//! Key sets: an app's client id, secrets, scopes and redirect URIs in one
//! environment.

use scopegate_core::registration::check_redirect_uri;
use scopegate_store::{ClientRecord, Store};

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::operations::apps::{KeySetSpec, Registered, new_key_set};

/// A key set by its client id.
pub async fn get<S: Store>(store: &S, client_id: &str) -> Result<ClientRecord> {
    store
        .client(client_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no key set {client_id:?}")))
}

/// Adds a key set in another environment to an app.
pub async fn add<S: Store>(cx: &Context<'_, S>, app_id: &str, spec: &KeySetSpec) -> Result<Registered> {
    let existing = cx.store.app(app_id).await?;
    let Some(first) = existing.first() else {
        return Err(ServiceError::NotFound(format!("no app {app_id:?}")));
    };
    let taken = || {
        ServiceError::Conflict(format!(
            "app {app_id} already has keys in environment {:?}",
            spec.environment
        ))
    };
    if existing.iter().any(|k| k.environment == spec.environment) {
        return Err(taken());
    }
    let (record, secret) = new_key_set(cx.policy, app_id, &first.app_name, first.owner.as_deref(), spec, cx.now)?;
    if !cx.store.add_key_set(&record).await? {
        return Err(taken());
    }
    let detail = format!(
        "app_id={app_id} environment={} scopes=\"{}\"",
        record.environment,
        record.scopes.join(" ")
    );
    cx.audit(AuditKind::KeySetCreate, Some(&record.client_id), None, detail)
        .await?;
    Ok(Registered {
        key_set: record,
        secret,
    })
}

/// Adds a redirect URI to a key set (checked as at registration).
pub async fn add_redirect_uri<S: Store>(cx: &Context<'_, S>, client_id: &str, uri: &str) -> Result<ClientRecord> {
    let mut key_set = get(cx.store, client_id).await?;
    check_redirect_uri(uri, key_set.public)?;
    if key_set.redirect_uris.iter().any(|u| u == uri) {
        return Ok(key_set);
    }
    key_set.redirect_uris.push(uri.to_owned());
    if !cx.store.set_redirect_uris(client_id, &key_set.redirect_uris).await? {
        return Err(ServiceError::NotFound(format!("no key set {client_id:?}")));
    }
    cx.caches.forget_client(client_id);
    cx.audit(AuditKind::RedirectUriAdd, Some(client_id), None, format!("uri={uri}"))
        .await?;
    Ok(key_set)
}

/// Revokes every token of a key set issued so far; how many stored ones were live.
pub async fn revoke_tokens<S: Store>(cx: &Context<'_, S>, client_id: &str) -> Result<u64> {
    let Some(count) = cx.store.revoke_client_tokens(client_id, cx.now).await? else {
        return Err(ServiceError::NotFound(format!("no key set {client_id:?}")));
    };
    cx.caches.forget_client(client_id);
    cx.caches.forget_credentials();
    let detail = format!("every token of the key set ({count} live)");
    cx.audit(AuditKind::Revoke, Some(client_id), None, detail).await?;
    Ok(count)
}
