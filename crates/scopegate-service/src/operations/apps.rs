//! Apps: registered with their first key set, deleted with all of them.

use scopegate_core::registration::{FieldError, check_login};
use scopegate_store::Store;

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
