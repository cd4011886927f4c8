//! Key sets: an app's client id, secrets, scopes and redirect URIs in one
//! environment.

use scopegate_core::Policy;
use scopegate_core::registration::{AppRequest, Registration, check_app, check_redirect_uri};
use scopegate_store::{KeySetRecord, Store};

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::credentials::secrets::{self, NewSecret, SecretKind};

/// The parts of a key set registration beyond its app's name.
#[derive(Clone, Debug, Default)]
pub struct KeySetSpec {
    pub environment: String,
    pub scopes: String,
    pub default_scopes: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub resource_server: bool,
}

/// A key set just registered, and its first secret (none for a public client).
#[derive(Clone, Debug)]
pub struct Registered {
    pub key_set: KeySetRecord,
    pub secret: Option<NewSecret>,
}

/// A key set checked against the policy, with a fresh client id and (for a
/// confidential client) its first secret.
pub(crate) fn new_key_set(
    policy: &Policy,
    app_id: &str,
    name: &str,
    owner: Option<&str>,
    spec: &KeySetSpec,
    now: i64,
) -> Result<(KeySetRecord, Option<NewSecret>)> {
    let Registration { scopes, default_scopes } = check_app(
        policy,
        &AppRequest {
            name,
            environment: &spec.environment,
            scopes: &spec.scopes,
            default_scopes: spec.default_scopes.as_deref(),
            redirect_uris: &spec.redirect_uris,
            public: spec.public,
            resource_server: spec.resource_server,
        },
    )?;
    let secret = (!spec.public).then(|| secrets::new_client_secret(now, None));
    let record = KeySetRecord {
        client_id: secrets::generate(SecretKind::ClientId),
        app_id: app_id.to_owned(),
        app_name: name.to_owned(),
        owner: owner.map(str::to_owned),
        environment: spec.environment.clone(),
        secrets: secret.iter().map(|(_, s)| s.clone()).collect(),
        public: spec.public,
        resource_server: spec.resource_server,
        scopes,
        default_scopes,
        redirect_uris: spec.redirect_uris.clone(),
        created_at: now,
        tokens_revoked_before: None,
        registration: Default::default(),
    };
    let shown = secret.map(|(secret, s)| NewSecret {
        id: s.id,
        secret,
        expires_at: None,
    });
    Ok((record, shown))
}

/// What the audit trail says of a key set just made.
pub(crate) fn created(record: &KeySetRecord) -> String {
    format!(
        "app_id={} environment={} scopes=\"{}\"",
        record.app_id,
        record.environment,
        record.scopes.join(" ")
    )
}

/// A key set by its client id.
pub async fn get<S: Store>(store: &S, client_id: &str) -> Result<KeySetRecord> {
    store
        .key_set(client_id)
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
    cx.audit(AuditKind::KeySetCreate, Some(&record.client_id), None, created(&record))
        .await?;
    Ok(Registered {
        key_set: record,
        secret,
    })
}

/// Adds a redirect URI to a key set (checked as at registration).
pub async fn add_redirect_uri<S: Store>(cx: &Context<'_, S>, client_id: &str, uri: &str) -> Result<KeySetRecord> {
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
    let Some(count) = cx.store.revoke_key_set_tokens(client_id, cx.now).await? else {
        return Err(ServiceError::NotFound(format!("no key set {client_id:?}")));
    };
    cx.caches.forget_client(client_id);
    cx.caches.forget_credentials();
    let detail = format!("every token of the key set ({count} live)");
    cx.audit(AuditKind::Revoke, Some(client_id), None, detail).await?;
    Ok(count)
}
