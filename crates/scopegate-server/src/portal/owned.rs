//! What a signed-in developer may see of the apps: their own, or every one
//! for an administrator. Anything else is "not found", never "forbidden",
//! so that ids of others' apps cannot be probed.

use axum::response::Response;
use scopegate_store::{KeySetRecord, Store, UserRecord};

use super::{Visit, unavailable};

/// The app's key sets, if the user may see it (its owner or an administrator).
pub(super) async fn visible_app(visit: &Visit, user: &UserRecord, app_id: &str) -> Result<Vec<KeySetRecord>, Response> {
    let key_sets = visit.state.store.app(app_id).await.map_err(unavailable)?;
    let mine = key_sets
        .first()
        .is_some_and(|k| k.owner.as_deref() == Some(user.login.as_str()));
    if key_sets.is_empty() || !(mine || visit.is_admin()) {
        return Err(visit.not_found("You have no app with that id."));
    }
    Ok(key_sets)
}

/// One key set of a visible app.
pub(super) async fn visible_key_set(
    visit: &Visit,
    user: &UserRecord,
    app_id: &str,
    client_id: &str,
) -> Result<KeySetRecord, Response> {
    visible_app(visit, user, app_id)
        .await?
        .into_iter()
        .find(|k| k.client_id == client_id)
        .ok_or_else(|| visit.not_found("This app has no key set with that client_id."))
}
