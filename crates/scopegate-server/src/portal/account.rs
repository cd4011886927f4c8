//! Signing in and out, the list of one's apps, and connected apps.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scopegate_service::AuditKind;
use scopegate_store::Store;

use super::form::PageForm;
use super::views::{AppRow, Connected, GrantRow, Home, KeySetRow, SignIn, time};
use super::{Visit, posted, see_other, unavailable};
use crate::http::address::ClientAddress;
use crate::session::{self, CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL, set_cookie};
use crate::sign_in::options as sign_in_options;
use crate::state::Current;
use scopegate_service::Actor;
use scopegate_service::ServiceError;
use scopegate_service::operations::{grants, sessions};

pub(super) async fn sign_in_page(Current(state): Current, address: ClientAddress, headers: HeaderMap) -> Response {
    let visit = match Visit::new(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if visit.user.is_some() {
        return see_other("/portal/");
    }
    let mut nav = visit.nav();
    nav.error = crate::sign_in::problem(&visit.state, &headers);
    if nav.error.is_none() && crate::sign_in::only_delegation(&visit.state) {
        let mut response =
            crate::sign_in::delegation::begin(&visit.state, address, &visit.csrf, "/portal/".to_owned()).await;
        if visit.fresh_csrf {
            set_cookie(&visit.state, &mut response, CSRF_COOKIE, &visit.csrf, SESSION_TTL);
        }
        return response;
    }
    let shown = nav.error.is_some();
    let options = sign_in_options(&visit.state, "/portal/".to_owned());
    let also = options.form_actions.clone();
    let mut response = visit.render_sending_forms_to(StatusCode::OK, &SignIn { nav, options }, also.as_deref());
    if shown {
        crate::sign_in::clear_problem(&visit.state, &mut response);
    }
    response
}

pub(super) async fn sign_in(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visit = match Visit::new(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(form) = PageForm::parse(&headers, &body) else {
        return visit.forged();
    };
    if !visit.csrf_ok(&headers, &form) {
        return visit.forged();
    }
    let login = form.get("login").unwrap_or_default();
    let state = &visit.state;
    let refused = |status: StatusCode, message: String| {
        let mut nav = visit.nav();
        nav.error = Some(message);
        let options = sign_in_options(&visit.state, "/portal/".to_owned());
        let also = options.form_actions.clone();
        visit.render_sending_forms_to(status, &SignIn { nav, options }, also.as_deref())
    };
    let user = match session::check_password(state, address, login, form.get("password").unwrap_or_default()).await {
        Ok(session::SignIn::User(user)) => user,
        Ok(session::SignIn::Refused) => {
            state.audit(
                AuditKind::SignInFailed,
                None,
                Some(login),
                format!("portal address={address}"),
            );
            return refused(StatusCode::UNAUTHORIZED, "Wrong login or password.".into());
        }
        Ok(session::SignIn::Limited(retry)) => {
            state.audit_repeated(
                AuditKind::SignInLimited,
                None,
                Some(login),
                &address.to_string(),
                format!("portal address={address}"),
            );
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, session::limited_message(retry));
            crate::http::limits::set_retry_after(&mut response, retry);
            return response;
        }
        Ok(session::SignIn::Busy) => {
            let mut response = refused(StatusCode::SERVICE_UNAVAILABLE, session::BUSY_MESSAGE.into());
            session::busy(&mut response);
            return response;
        }
        Err(e) => return unavailable(e),
    };
    let token = match session::start(state, &headers, &user.login).await {
        Ok(t) => t,
        Err(e) => return unavailable(e),
    };
    state.audit(AuditKind::SignIn, None, Some(&user.login), "portal".into());
    let mut response = see_other("/portal/");
    set_cookie(state, &mut response, SESSION_COOKIE, &token, SESSION_TTL);
    response
}

pub(super) async fn sign_out(Current(state): Current, headers: HeaderMap, body: Bytes) -> Response {
    let visit = match Visit::new(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = PageForm::parse(&headers, &body).unwrap_or_default();
    if !visit.csrf_ok(&headers, &form) {
        return crate::http::pages::error_page(StatusCode::FORBIDDEN, "This form was not sent from this site.");
    }
    if let Err(e) = session::end(&visit.state, &headers).await {
        return unavailable(e);
    }
    let mut response = see_other("/portal/sign-in");
    set_cookie(&visit.state, &mut response, SESSION_COOKIE, "", 0);
    response
}

/// Ends every session of the signed-in user, on every device, this one included.
pub(super) async fn sign_out_everywhere(Current(state): Current, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, user, _) = page_try!(posted(state, &headers, &body).await);
    let actor = Actor::User(user.login.clone());
    if let Err(e) = sessions::end_all(&visit.state.service(&actor), &user.login).await {
        return unavailable(format!("{e:?}"));
    }
    let mut response = see_other("/portal/sign-in");
    set_cookie(&visit.state, &mut response, SESSION_COOKIE, "", 0);
    response
}

/// A user's apps as rows (an administrator sees their own here too).
pub(super) fn app_rows(key_sets: Vec<scopegate_store::KeySetRecord>, now: i64) -> Vec<AppRow> {
    let mut apps: Vec<AppRow> = Vec::new();
    for k in key_sets {
        let registered_by = match k.registration {
            scopegate_store::Registration::Provider => None,
            scopegate_store::Registration::Dynamic => Some("registered itself (RFC 7591)"),
            scopegate_store::Registration::MetadataDocument => {
                Some("unregistered: its client id is its metadata document")
            }
        };
        let row = KeySetRow {
            kind: kind(&k),
            active_secrets: k.active_secrets(now).count(),
            client_id: k.client_id,
            environment: k.environment,
            scopes: k.scopes,
        };
        match apps.last_mut() {
            Some(app) if app.app_id == k.app_id => app.key_sets.push(row),
            _ => apps.push(AppRow {
                app_id: k.app_id,
                name: k.app_name,
                owner: k.owner,
                registered_by,
                created: time(k.created_at),
                key_sets: vec![row],
            }),
        }
    }
    apps
}

pub(super) fn kind(k: &scopegate_store::KeySetRecord) -> &'static str {
    match (k.public, k.resource_server) {
        (true, _) => "public client (PKCE, no secret)",
        (false, true) => "confidential client, resource server",
        (false, false) => "confidential client",
    }
}

pub(super) async fn home(Current(state): Current, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let visit = match Visit::new(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = match visit.user() {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mine = match visit.state.store.owned_key_sets(&user.login).await {
        Ok(mine) => mine,
        Err(e) => return unavailable(e),
    };
    let mut sorted = mine;
    sorted.sort_by(|a, b| (a.app_id.as_str(), a.created_at).cmp(&(b.app_id.as_str(), b.created_at)));
    let mut nav = visit.nav();
    if uri.query() == Some("done=deleted") {
        nav.notice = Some("App deleted, with its keys and every token issued to it.");
    }
    visit.render(
        StatusCode::OK,
        &Home {
            nav,
            apps: app_rows(sorted, visit.state.now()),
        },
    )
}

pub(super) async fn connected(Current(state): Current, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let visit = match Visit::new(state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = match visit.user() {
        Ok(u) => u,
        Err(r) => return r,
    };
    let consents = match visit.state.store.consents(&user.login).await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let catalog = &visit.state.policy.catalog;
    let mut grants = Vec::new();
    for c in consents {
        let client = match visit.state.store.key_set(&c.client_id).await {
            Ok(k) => k,
            Err(e) => return unavailable(e),
        };
        let Some(client) = client else { continue };
        let scopes = c
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let description = catalog.lookup(s).and_then(|id| catalog.info(id).description.clone());
                (s.to_owned(), description)
            })
            .collect();
        grants.push(GrantRow {
            client_id: c.client_id,
            app_name: client.app_name,
            environment: client.environment,
            scopes,
            granted: time(c.granted_at),
        });
    }
    let mut nav = visit.nav();
    if uri.query() == Some("done=revoked") {
        nav.notice = Some("Access revoked: the app's tokens for you no longer work.");
    }
    visit.render(StatusCode::OK, &Connected { nav, grants })
}

pub(super) async fn revoke_connected(
    Current(state): Current,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, user, _) = page_try!(posted(state, &headers, &body).await);
    let actor = Actor::User(user.login.clone());
    match grants::revoke(&visit.state.service(&actor), &user.login, &client_id).await {
        Ok(_) => see_other("/portal/connected?done=revoked"),
        Err(ServiceError::NotFound(_)) => visit.not_found("You have not given that app access."),
        Err(e) => unavailable(format!("{e:?}")),
    }
}
