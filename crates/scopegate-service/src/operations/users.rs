//! Users: who signs in to consent and to use the portal, and the permissions
//! that gate the scopes they may grant.

use scopegate_core::registration::{FieldError, check_login};
use scopegate_core::sign_in::SignInSettings;
use scopegate_store::{Store, UserRecord};

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};
use crate::credentials::passwords::hash_password;
use crate::operations::dedup;

/// Creates a user who can sign in and consent.
pub async fn create<S: Store>(
    cx: &Context<'_, S>,
    login: &str,
    password: &str,
    permissions: &[String],
) -> Result<UserRecord> {
    check_login("login", login)?;
    for p in permissions {
        check_login("permissions", p)?;
    }
    let password_hash = hash_password(password).map_err(|e| FieldError::new("password", e))?;
    let user = UserRecord::local(login, password_hash, dedup(permissions), cx.now);
    if !cx.store.create_user(&user).await? {
        return Err(ServiceError::Conflict(format!("user {login:?} already exists")));
    }
    let detail = format!("permissions=\"{}\"", user.permissions.join(" "));
    cx.audit(AuditKind::UserCreate, None, Some(login), detail).await?;
    Ok(user)
}

/// Admits a user of provider `provider` before their first sign-in (for
/// `users = "existing"`): no password; the first sign-in whose login claim
/// is `login` binds the provider's subject to it.
pub async fn admit<S: Store>(
    cx: &Context<'_, S>,
    provider: &str,
    login: &str,
    permissions: &[String],
) -> Result<UserRecord> {
    check_login("login", login)?;
    for p in permissions {
        check_login("permissions", p)?;
    }
    if cx.policy.settings.sign_in.provider(provider).is_none() {
        let known: Vec<&str> = cx
            .policy
            .settings
            .sign_in
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        return Err(ServiceError::Invalid(FieldError::new(
            "idp",
            format!(
                "the policy has no [[identity_provider]] named {provider:?} (it has: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )));
    }
    let mut user = UserRecord::local(login, String::new(), dedup(permissions), cx.now);
    user.source = scopegate_core::sign_in::provider_source(provider);
    if !cx.store.create_user(&user).await? {
        return Err(ServiceError::Conflict(format!("user {login:?} already exists")));
    }
    let detail = format!("source={} permissions=\"{}\"", user.source, user.permissions.join(" "));
    cx.audit(AuditKind::UserCreate, None, Some(login), detail).await?;
    Ok(user)
}

/// Whether `user` holds `permission` at `now`: set locally, or given by
/// the user's source at a sign-in that has not lapsed
/// (`permissions_max_age`). Allocation-free: the gateway asks it.
pub fn holds(user: &UserRecord, sign_in: &SignInSettings, now: i64, permission: &str) -> bool {
    user.permissions.iter().any(|p| p == permission)
        || (user.source_permissions.iter().any(|p| p == permission) && source_counts(user, sign_in, now))
}

/// Whether the permissions `user`'s source gave still count at `now`.
pub fn source_counts(user: &UserRecord, sign_in: &SignInSettings, now: i64) -> bool {
    user.signed_in_at
        .is_some_and(|at| sign_in.counts(&user.source, at, now))
}

/// When the permissions `user`'s source gave stop counting (`None`: never,
/// or no sign-in through it yet).
pub fn source_lapses_at(user: &UserRecord, sign_in: &SignInSettings) -> Option<i64> {
    user.signed_in_at.and_then(|at| sign_in.lapses_at(&user.source, at))
}

/// Every permission `user` holds at `now`, sorted, each once.
pub fn permissions_at(user: &UserRecord, sign_in: &SignInSettings, now: i64) -> Vec<String> {
    let mut all: std::collections::BTreeSet<&str> = user.permissions.iter().map(String::as_str).collect();
    if source_counts(user, sign_in, now) {
        all.extend(user.source_permissions.iter().map(String::as_str));
    }
    all.into_iter().map(str::to_owned).collect()
}

/// A user by login.
pub async fn get<S: Store>(store: &S, login: &str) -> Result<UserRecord> {
    store
        .user(login)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no user {login:?}")))
}

/// Replaces a user's permissions. Grants whose scopes need a permission the
/// user lost stop carrying it at the next check (the gateway re-checks).
pub async fn set_permissions<S: Store>(cx: &Context<'_, S>, login: &str, permissions: &[String]) -> Result<UserRecord> {
    for p in permissions {
        check_login("permissions", p)?;
    }
    let permissions = dedup(permissions);
    if !cx.store.set_permissions(login, &permissions).await? {
        return Err(ServiceError::NotFound(format!("no user {login:?}")));
    }
    cx.caches.forget_user(login);
    cx.caches.forget_credentials();
    let detail = format!("permissions=\"{}\"", permissions.join(" "));
    cx.audit(AuditKind::UserPermissions, None, Some(login), detail).await?;
    get(cx.store, login).await
}

/// Enables or disables a user; disabling ends their sessions for good.
pub async fn set_enabled<S: Store>(cx: &Context<'_, S>, login: &str, enabled: bool) -> Result<UserRecord> {
    if !cx.store.set_user_enabled(login, enabled).await? {
        return Err(ServiceError::NotFound(format!("no user {login:?}")));
    }
    cx.caches.forget_user(login);
    cx.caches.forget_credentials();
    let kind = if enabled {
        AuditKind::UserEnable
    } else {
        AuditKind::UserDisable
    };
    cx.audit(kind, None, Some(login), String::new()).await?;
    get(cx.store, login).await
}

/// Revokes every token of a user issued so far, in every app.
pub async fn revoke_tokens<S: Store>(cx: &Context<'_, S>, login: &str) -> Result<u64> {
    let Some(count) = cx.store.revoke_user_tokens(login, cx.now).await? else {
        return Err(ServiceError::NotFound(format!("no user {login:?}")));
    };
    cx.caches.forget_user(login);
    cx.caches.forget_credentials();
    let detail = format!("every token of the user ({count} live)");
    cx.audit(AuditKind::Revoke, None, Some(login), detail).await?;
    Ok(count)
}
