//! Scope requests: a developer asks for more scopes on a key set; scopes
//! anyone may take are assigned at once, the others wait for an
//! administrator to approve or refuse them.

use scopegate_core::registration::{FieldError, scope_list};
use scopegate_store::{ScopeRequestRecord, Store};

use crate::audit::AuditKind;
use crate::context::{Actor, Context, Result, ServiceError};
use crate::credentials::secrets::{self, SecretKind};
use crate::operations::key_sets;

/// Most scope requests of one developer that wait for a decision at once.
pub const MAX_PENDING_REQUESTS_PER_USER: i64 = 20;

/// The longest reason a request may give.
pub const MAX_REASON: usize = 1000;

/// What a scope request became.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Requested {
    /// Every scope was one a developer may take: assigned at once.
    Assigned(ScopeRequestRecord),
    /// Waiting for an administrator.
    Pending(ScopeRequestRecord),
}

/// Files a request for `scopes` (space- or comma-separated) on a key set.
/// Scopes a developer may take without an administrator (no
/// `requires_approval`, not even through what they imply) are assigned at
/// once, as a request approved by its requester.
pub async fn file<S: Store>(
    cx: &Context<'_, S>,
    requested_by: &str,
    client_id: &str,
    scopes: &str,
    reason: &str,
) -> Result<Requested> {
    let key_set = key_sets::get(cx.store, client_id).await?;
    if matches!(cx.actor, Actor::User(_))
        && cx.store.count_pending_requests_by(requested_by).await? >= MAX_PENDING_REQUESTS_PER_USER
    {
        return Err(FieldError::new(
            "scopes",
            format!(
                "{requested_by} already has {MAX_PENDING_REQUESTS_PER_USER} requests waiting for an administrator; wait for a decision first"
            ),
        )
        .into());
    }
    let policy = cx.policy;
    let names = scope_list(policy, "scopes", scopes, &key_set.environment)?;
    if names.is_empty() {
        return Err(FieldError::new("scopes", "name at least one scope").into());
    }
    let catalog = &policy.catalog;
    let held = catalog.close(&catalog.known(&key_set.scopes.join(" ")));
    if let Some(already) = names
        .iter()
        .find(|n| catalog.lookup(n).is_some_and(|id| held.contains(id)))
    {
        return Err(FieldError::new(
            "scopes",
            format!("{already} is already assigned to {client_id} (or implied)"),
        )
        .into());
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new("reason", format!("at most {MAX_REASON} characters of text")).into());
    }
    let request = ScopeRequestRecord {
        id: secrets::generate(SecretKind::ScopeRequestId),
        client_id: client_id.to_owned(),
        scopes: names,
        requested_by: requested_by.to_owned(),
        reason: reason.to_owned(),
        created_at: cx.now,
        decided_at: None,
        decided_by: None,
        outcome: None,
    };
    if !cx.store.create_scope_request(&request).await? {
        return Err(ServiceError::NotFound(format!("no key set {client_id:?}")));
    }
    let detail = format!("id={} scopes=\"{}\"", request.id, request.scopes.join(" "));
    cx.audit(AuditKind::ScopeRequest, Some(client_id), None, detail).await?;
    let self_service = request
        .scopes
        .iter()
        .all(|n| catalog.lookup(n).is_some_and(|id| !catalog.info(id).requires_approval));
    if self_service {
        let approved = decide(cx, &request.id, true).await?;
        return Ok(Requested::Assigned(approved));
    }
    Ok(Requested::Pending(request))
}

/// Approves (adding the scopes to the key set) or refuses a pending request.
pub async fn decide<S: Store>(cx: &Context<'_, S>, id: &str, approve: bool) -> Result<ScopeRequestRecord> {
    let by = cx.actor.to_string();
    let Some(decided) = cx.store.decide_scope_request(id, approve, &by, cx.now).await? else {
        return Err(ServiceError::NotFound(format!("no pending scope request {id:?}")));
    };
    cx.caches.forget_client(&decided.client_id);
    cx.caches.forget_credentials();
    let kind = if approve {
        AuditKind::ScopeRequestGrant
    } else {
        AuditKind::ScopeRequestRefuse
    };
    let detail = format!("id={id} scopes=\"{}\"", decided.scopes.join(" "));
    cx.audit(kind, Some(&decided.client_id), None, detail).await?;
    Ok(decided)
}
