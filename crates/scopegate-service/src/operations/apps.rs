//! Apps: registered with their first key set, deleted with all of them.

use scopegate_core::Policy;
use scopegate_core::registration::{AppRequest, FieldError, Registration, check_app, check_login};
use scopegate_store::{ClientRecord, Store};

use crate::audit::AuditKind;
use crate::context::{Actor, Context, Result, ServiceError};
use crate::credentials::secrets::{self, SecretKind};
use crate::operations::client_secrets::NewSecret;

/// Most apps one developer registers in the portal (administrators, the admin
/// API and the command line are not held to it).
pub const MAX_APPS_PER_OWNER: i64 = 50;

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
    pub key_set: ClientRecord,
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
) -> Result<(ClientRecord, Option<NewSecret>)> {
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
    let record = ClientRecord {
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
    };
    let shown = secret.map(|(secret, s)| NewSecret {
        id: s.id,
        secret,
        expires_at: None,
    });
    Ok((record, shown))
}

/// Registers an app with its first key set. A portal user may own at most
/// [`MAX_APPS_PER_OWNER`].
pub async fn create<S: Store>(
    cx: &Context<'_, S>,
    name: &str,
    owner: Option<&str>,
    spec: &KeySetSpec,
) -> Result<Registered> {
    if let (Actor::User(login), Some(owner)) = (cx.actor, owner) {
        if cx.store.count_owned_apps(owner).await? >= MAX_APPS_PER_OWNER {
            return Err(ServiceError::Invalid(FieldError::new(
                "name",
                format!(
                    "{login} already has {MAX_APPS_PER_OWNER} apps, the most a developer may register; delete one, or ask an administrator"
                ),
            )));
        }
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
    let detail = format!(
        "app_id={app_id} environment={} scopes=\"{}\"",
        record.environment,
        record.scopes.join(" ")
    );
    cx.audit(AuditKind::AppCreate, Some(&record.client_id), None, detail)
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
