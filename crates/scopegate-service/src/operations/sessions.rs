//! Portal sessions, ended all at once ("sign out everywhere").

use scopegate_store::Store;

use crate::audit::AuditKind;
use crate::context::{Context, Result, ServiceError};

/// Ends every session of a user: the portal for oneself, the admin API and
/// the portal's administration for anyone.
pub async fn end_all<S: Store>(cx: &Context<'_, S>, login: &str) -> Result<u64> {
    if cx.store.user(login).await?.is_none() {
        return Err(ServiceError::NotFound(format!("no user {login:?}")));
    }
    let ended = cx.store.delete_sessions(login).await?;
    cx.audit(AuditKind::SessionsEnded, None, Some(login), format!("sessions={ended}"))
        .await?;
    Ok(ended)
}
