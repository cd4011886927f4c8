//! Pages a form leads to that show something once (a new client secret):
//! the form answers with a redirect to `/portal/shown`, so that reloading
//! that page never sends the form again (a second app, two more secrets).
//! What the page shows is kept in the database until its one view, sealed
//! under a random key that only the browser's cookie holds: the database
//! never holds a secret it could show, and any node serves the view.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scopegate_store::Store;
use serde::{Deserialize, Serialize};

use super::views::SecretShown;
use super::{Visit, see_other, unavailable, visited};
use crate::session::{own_cookie, set_cookie};
use crate::state::Current;
use scopegate_service::credentials::sealing::KeyEncryptionKey;
use scopegate_service::credentials::secrets;

pub(super) const PATH: &str = "/portal/shown";
const COOKIE: &str = "sg_shown";
/// How long a view waits to be looked at.
const TTL: i64 = 600;
/// What the sealed payload is bound to.
const BOUND_TO: &str = "scopegate shown once";

/// What a [`SecretShown`] page shows, less the navigation.
#[derive(Serialize, Deserialize)]
pub(super) struct Shown {
    pub heading: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub secret_id: String,
    pub expires: Option<String>,
    pub next: String,
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shown")
            .field("client_id", &self.client_id)
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// Keeps `shown` for one view by the signed-in user, and answers with the
/// redirect to it.
pub(super) async fn redirect_to(visit: &Visit, login: &str, shown: &Shown) -> Response {
    let sealed = KeyEncryptionKey::generate().and_then(|key| {
        let kek = KeyEncryptionKey::parse(&key, COOKIE)?;
        let payload = serde_json::to_vec(shown).unwrap_or_default();
        Ok((key, kek.seal(&payload, BOUND_TO)?))
    });
    let (key, sealed) = match sealed {
        Ok(k) => k,
        Err(e) => return unavailable(e),
    };
    let state = &visit.state;
    let hash = secrets::hash(&key);
    if let Err(e) = state
        .store
        .put_shown_once(&hash, login, &sealed, state.now() + TTL)
        .await
    {
        return unavailable(e);
    }
    let mut response = see_other(PATH);
    set_cookie(state, &mut response, COOKIE, &key, TTL);
    response
}

/// `GET /portal/shown`: what the form made, this once.
pub(super) async fn page(Current(state): Current, headers: HeaderMap) -> Response {
    let (visit, user) = match visited(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let state = &visit.state;
    let Some(key) = own_cookie(state, &headers, COOKIE).map(str::to_owned) else {
        return gone(&visit);
    };
    let taken = match state
        .store
        .take_shown_once(&secrets::hash(&key), &user.login, state.now())
        .await
    {
        Ok(taken) => taken,
        Err(e) => return unavailable(e),
    };
    let shown = taken.and_then(|sealed| {
        let kek = KeyEncryptionKey::parse(&key, COOKIE).ok()?;
        let plain = kek.open(&sealed, BOUND_TO).ok()?;
        serde_json::from_slice::<Shown>(&plain).ok()
    });
    let Some(shown) = shown else {
        return gone(&visit);
    };
    let mut response = visit.render(
        StatusCode::OK,
        &SecretShown {
            nav: visit.nav(),
            heading: shown.heading,
            client_id: shown.client_id,
            secret: shown.secret,
            secret_id: shown.secret_id,
            expires: shown.expires,
            next: shown.next,
        },
    );
    set_cookie(state, &mut response, COOKIE, "", 0);
    response
}

/// The page after its one view: what was shown is gone for good.
fn gone(visit: &Visit) -> Response {
    visit.problem(
        StatusCode::GONE,
        "This page showed a secret once, and it is gone: scopegate keeps only its hash. If you did not copy it, add another secret on the key set's page and revoke this one.".into(),
        "/portal/".into(),
    )
}
