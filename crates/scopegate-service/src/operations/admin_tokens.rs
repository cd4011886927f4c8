//! Admin API tokens: bearer tokens with `admin:read` and/or `admin:write`.

use scopegate_core::registration::FieldError;
use scopegate_store::{AdminTokenRecord, Store};

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::credentials::secrets::{self, SecretKind};

/// A new admin API token and its record; the token is shown once.
pub async fn create<S: Store>(cx: &Context<'_, S>, scopes: &[String]) -> Result<(String, AdminTokenRecord)> {
    let Ok(policy) = scopegate_core::admin::admin_policy() else {
        return Err(ServiceError::Internal);
    };
    let catalog = &policy.catalog;
    let set = catalog
        .parse_list(&scopes.join(" "))
        .map_err(|e| FieldError::new("scopes", format!("{e}; admin tokens take admin:read and admin:write")))?;
    if set.is_empty() {
        return Err(FieldError::new("scopes", "name at least one of admin:read, admin:write").into());
    }
    let normalized = catalog.normalize(catalog.close(&set).set());
    let token = secrets::generate(SecretKind::AdminToken);
    let record = AdminTokenRecord {
        id: secrets::generate(SecretKind::AdminTokenId),
        hash: secrets::hash(&token),
        scopes: catalog.names(&normalized).map(str::to_owned).collect(),
        created_at: cx.now,
        revoked_at: None,
    };
    if !cx.store.create_admin_token(&record).await? {
        return Err(ServiceError::Conflict(
            "an admin token with this id exists; try again".into(),
        ));
    }
    let detail = format!("id={} scopes=\"{}\"", record.id, record.scopes.join(" "));
    cx.audit(AuditKind::AdminTokenCreate, None, None, detail).await?;
    Ok((token, record))
}

/// Revokes an admin API token by its id.
pub async fn revoke<S: Store>(cx: &Context<'_, S>, id: &str) -> Result<()> {
    if !cx.store.revoke_admin_token(id, cx.now).await? {
        return Err(ServiceError::NotFound(format!("no active admin token {id:?}")));
    }
    cx.audit(AuditKind::AdminTokenRevoke, None, None, format!("id={id}"))
        .await
}
