//! Apps: registered with their first key set, deleted with all of them.

use scopegate_core::client_metadata::ClientMetadata;
use scopegate_core::registration::{FieldError, check_login};
use scopegate_store::{KeySetRecord, Registration, Store};

use crate::audit::AuditKind;
use crate::context::{Actor, Context, Result, ServiceError};
use crate::credentials::secrets::{self, SecretKind};
use crate::operations::key_sets::{self, KeySetSpec, Registered, new_key_set};

/// Most apps one developer registers in the portal (administrators, the admin
/// API and the command line are not held to it).
pub const MAX_APPS_PER_OWNER: i64 = 50;

/// Registers an app with its first key set. A portal user may own at most
/// [`MAX_APPS_PER_OWNER`].
pub async fn create<S: Store>(
    cx: &Context<'_, S>,
    name: &str,
    owner: Option<&str>,
    spec: &KeySetSpec,
) -> Result<Registered> {
    if let (Actor::User(login), Some(owner)) = (cx.actor, owner)
        && cx.store.count_owned_apps(owner).await? >= MAX_APPS_PER_OWNER
    {
        return Err(ServiceError::Invalid(FieldError::new(
            "name",
            format!(
                "{login} already has {MAX_APPS_PER_OWNER} apps, the most a developer may register; delete one, or ask an administrator"
            ),
        )));
    }
    let app_id = secrets::generate(SecretKind::AppId);
    let (record, secret) = new_key_set(cx.policy, &app_id, name, owner, spec, cx.now)?;
    if let Some(owner) = owner {
        check_login("owner", owner)?;
        if cx.store.user(owner).await?.is_none() {
            return Err(FieldError::new("owner", format!("no user {owner:?}")).into());
        }
    }
    cx.store.create_app(&app_id, name, owner, &record).await?;
    cx.audit(
        AuditKind::AppCreate,
        Some(&record.client_id),
        None,
        key_sets::created(&record),
    )
    .await?;
    Ok(Registered {
        key_set: record,
        secret,
    })
}

/// Deletes an app, its key sets and every token issued to them.
pub async fn delete<S: Store>(cx: &Context<'_, S>, app_id: &str) -> Result<()> {
    let key_sets = cx.store.app(app_id).await?;
    if key_sets.is_empty() || !cx.store.delete_app(app_id).await? {
        return Err(ServiceError::NotFound(format!("no app {app_id:?}")));
    }
    for k in &key_sets {
        cx.caches.forget_client(&k.client_id);
    }
    cx.caches.forget_credentials();
    cx.audit(AuditKind::AppDelete, None, None, format!("app_id={app_id}"))
        .await
}

/// Registers a client the provider did not (docs/mcp.md): by RFC 7591
/// registration (a fresh client id), or as its Client ID Metadata Document
/// at `document_url` says (the URL is its client id; a document read again
/// updates its name and redirect URIs). Such a client is public, lives in
/// the gateway's environment, and is assigned `[clients] scopes` only; its
/// default scopes are those it says it will ask for, among them.
pub async fn register_client<S: Store>(
    cx: &Context<'_, S>,
    metadata: &ClientMetadata,
    document_url: Option<&str>,
) -> Result<KeySetRecord> {
    let allowed = &cx.policy.settings.clients.scopes;
    if allowed.is_empty() {
        return Err(FieldError::new("scope", "[clients] scopes lists no scope such clients may ask for").into());
    }
    let wanted: Vec<&str> = metadata
        .scope
        .as_deref()
        .map(|s| {
            scopegate_core::scope::split_scope_list(s)
                .filter(|w| allowed.iter().any(|a| a == w))
                .collect()
        })
        .unwrap_or_default();
    let spec = KeySetSpec {
        environment: cx.policy.settings.gateway.environment.clone(),
        scopes: allowed.join(" "),
        default_scopes: (!wanted.is_empty()).then(|| wanted.join(" ")),
        redirect_uris: metadata.redirect_uris.clone(),
        public: true,
        resource_server: false,
    };
    if let Some(url) = document_url
        && let Some(existing) = cx.store.key_set(url).await?
    {
        if existing.redirect_uris != metadata.redirect_uris {
            cx.store.set_redirect_uris(url, &metadata.redirect_uris).await?;
            cx.caches.forget_client(url);
            cx.audit(
                AuditKind::RedirectUriAdd,
                Some(url),
                None,
                format!("metadata document redirect_uris={}", metadata.redirect_uris.join(" ")),
            )
            .await?;
            return Ok(KeySetRecord {
                redirect_uris: metadata.redirect_uris.clone(),
                ..existing
            });
        }
        return Ok(existing);
    }
    let app_id = secrets::generate(SecretKind::AppId);
    let (mut record, _) = new_key_set(cx.policy, &app_id, &metadata.client_name, None, &spec, cx.now)?;
    record.registration = match document_url {
        Some(url) => {
            record.client_id = url.to_owned();
            Registration::MetadataDocument
        }
        None => Registration::Dynamic,
    };
    if let Err(e) = cx.store.create_app(&app_id, &metadata.client_name, None, &record).await {
        // Two first uses of one document at once: the other one made it.
        if let Some(url) = document_url
            && let Some(made) = cx.store.key_set(url).await?
        {
            return Ok(made);
        }
        return Err(e.into());
    }
    cx.audit(
        AuditKind::AppCreate,
        Some(&record.client_id),
        None,
        format!(
            "{} registration={}",
            key_sets::created(&record),
            record.registration.as_str()
        ),
    )
    .await?;
    Ok(record)
}
