//! The developer portal, `/portal/`: server-rendered pages for the people who
//! build apps on the API (their apps, key sets, secrets, scopes, the
//! endpoint picker and a ready authorize URL) and for the people who granted
//! apps access (connected apps, revocable). Sign-in is the authorization
//! server's own (one session cookie for both); every form carries the CSRF
//! token; changes go through [`crate::manage`], as the admin API's do.
//!
//! A page never shows another user's app: an id that is not the signed-in
//! user's (or, for an administrator, that does not exist) is a 404 page.

// A handler's `Err` is the page to answer with, made once per request: its
// size costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

/// The value of a page step, or the answer to send instead.
macro_rules! page_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

mod account;
mod administration;
mod apps;
mod form;
mod owned;
mod shown;
mod try_it;
pub(crate) mod views;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scopegate_service::ServiceError;
use scopegate_service::operations::users;
use scopegate_store::{SessionRecord, UserRecord};

pub(crate) use crate::http::pages::see_other;
use crate::session::{self, CSRF_COOKIE, SESSION_TTL, set_cookie};
use crate::state::AppState;
use views::{Nav, NotFound};

const STYLESHEET: &str = include_str!("../../assets/scopegate.css");
const SCRIPT: &str = include_str!("../../assets/portal.js");

/// The permission that makes a user a portal administrator.
pub(crate) const ADMIN_PERMISSION: &str = "admin";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { see_other("/portal/") }))
        .route("/portal/", get(account::home))
        .route("/portal/sign-in", get(account::sign_in_page).post(account::sign_in))
        .route("/portal/sign-out", post(account::sign_out))
        .route("/portal/sign-out-everywhere", post(account::sign_out_everywhere))
        .route("/portal/connected", get(account::connected))
        .route(shown::PATH, get(shown::page))
        .route("/portal/connected/{client_id}/revoke", post(account::revoke_connected))
        .route("/portal/apps/new", get(apps::new_page).post(apps::create))
        .route("/portal/apps/{app_id}", get(apps::show))
        .route("/portal/apps/{app_id}/delete", post(apps::delete))
        .route("/portal/apps/{app_id}/key-sets", post(apps::add_key_set))
        .route("/portal/apps/{app_id}/keys/{client_id}", get(apps::key_set))
        .route("/portal/apps/{app_id}/keys/{client_id}/secrets", post(apps::add_secret))
        .route(
            "/portal/apps/{app_id}/keys/{client_id}/secrets/{secret_id}/revoke",
            post(apps::revoke_secret),
        )
        .route(
            "/portal/apps/{app_id}/keys/{client_id}/requests",
            post(apps::request_scopes),
        )
        .route("/portal/apps/{app_id}/keys/{client_id}/try", post(try_it::start))
        .route(
            "/portal/apps/{app_id}/keys/{client_id}/try-it-uri",
            post(try_it::register),
        )
        .route(try_it::CALLBACK_PATH, get(try_it::finish))
        .route("/portal/admin/", get(administration::overview))
        .route("/portal/admin", get(|| async { see_other("/portal/admin/") }))
        .route("/portal/admin/audit", get(administration::audit))
        .route("/portal/admin/requests/{id}/{decision}", post(administration::decide))
        .route(
            "/portal/admin/keys/{client_id}/revoke-tokens",
            post(administration::revoke_tokens),
        )
        .route("/portal/admin/users", post(administration::create_user))
        .route("/portal/admin/users/{login}/enabled", post(administration::set_enabled))
        .route("/portal/admin/users/{login}/sign-out", post(administration::sign_out))
        .route(
            "/portal/admin/users/{login}/revoke-tokens",
            post(administration::revoke_user_tokens),
        )
        .route(
            "/portal/admin/users/{login}/permissions",
            post(administration::set_permissions),
        )
        .route(
            "/portal/assets/scopegate.css",
            get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }),
        )
        .route(
            "/portal/assets/portal.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/portal/{*rest}", get(not_found_page).post(not_found_page))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

/// The request as the portal sees it: the signed-in user (if any) and the
/// CSRF token its forms carry.
pub(crate) struct Visit {
    pub state: AppState,
    pub user: Option<UserRecord>,
    /// The signed-in user's session, which forms are bound to.
    session: Option<SessionRecord>,
    csrf: String,
    fresh_csrf: bool,
}

impl std::fmt::Debug for Visit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit")
            .field("user", &self.user.as_ref().map(|u| &u.login))
            .finish_non_exhaustive()
    }
}

impl Visit {
    pub(crate) async fn new(state: AppState, headers: &HeaderMap) -> Result<Self, Response> {
        let signed = session::current(&state, headers).await.map_err(|e| {
            tracing::error!(error = %e, "store failure");
            crate::http::pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The portal cannot reach its database; try again.",
            )
        })?;
        let (csrf, fresh_csrf) = session::csrf_token(&state, headers);
        let (session, user) = match signed {
            Some(session::Signed { session, user }) => (Some(session), Some(user)),
            None => (None, None),
        };
        Ok(Self {
            state,
            user,
            session,
            csrf,
            fresh_csrf,
        })
    }

    /// Whether a form of this visit may act ([`session::csrf_ok`]).
    pub(crate) fn csrf_ok(&self, headers: &HeaderMap, form: &form::PageForm) -> bool {
        session::csrf_ok(&self.state, headers, form.get("csrf"), self.session.as_ref())
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub(crate) fn user(&self) -> Result<&UserRecord, Response> {
        self.user.as_ref().ok_or_else(|| see_other("/portal/sign-in"))
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| {
            users::holds(
                u,
                &self.state.policy.settings.sign_in,
                self.state.now(),
                ADMIN_PERMISSION,
            )
        })
    }

    pub(crate) fn nav(&self) -> Nav {
        Nav {
            login: self.user.as_ref().map(|u| u.login.clone()),
            admin: self.is_admin(),
            csrf: self.csrf.clone(),
            notice: None,
            error: None,
        }
    }

    /// A page, setting the CSRF cookie if this visit made the token.
    pub(crate) fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        self.render_sending_forms_to(status, template, None)
    }

    /// [`Visit::render`] for a page whose forms may end elsewhere (a
    /// provider's sign-in, through our redirect).
    pub(crate) fn render_sending_forms_to(
        &self,
        status: StatusCode,
        template: &impl Template,
        also: Option<&str>,
    ) -> Response {
        let mut response = crate::http::pages::page_sending_forms_to(status, template, also);
        if self.fresh_csrf {
            set_cookie(&self.state, &mut response, CSRF_COOKIE, &self.csrf, SESSION_TTL);
        }
        response
    }

    pub(crate) fn not_found(&self, message: impl Into<String>) -> Response {
        self.render(
            StatusCode::NOT_FOUND,
            &NotFound {
                nav: self.nav(),
                message: message.into(),
            },
        )
    }

    /// A refused change: the error, and a link back.
    pub(crate) fn problem(&self, status: StatusCode, message: String, back: String) -> Response {
        let mut nav = self.nav();
        nav.error = Some(message);
        self.render(status, &views::Problem { nav, back })
    }

    /// A change the service layer refused, as a page: 404 for what is not
    /// there (or not this user's to see), 503 when the store failed, else
    /// 400 with what was wrong and a link `back` to the form.
    pub(crate) fn refused(&self, e: &ServiceError, back: String) -> Response {
        match e {
            ServiceError::NotFound(m) => self.not_found(m.clone()),
            ServiceError::Internal => unavailable("a change"),
            ServiceError::Invalid(_) | ServiceError::Conflict(_) => {
                self.problem(StatusCode::BAD_REQUEST, refusal_text(e), back)
            }
        }
    }

    /// A form that did not come from a portal page of this browser.
    pub(crate) fn forged(&self) -> Response {
        crate::http::pages::error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        )
    }
}

/// A signed-in user's form: the visit, the user and the form, once its CSRF
/// token matched its cookie.
pub(crate) async fn posted(
    state: AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Visit, UserRecord, form::PageForm), Response> {
    let visit = Visit::new(state, headers).await?;
    let user = visit.user()?.clone();
    let Some(form) = form::PageForm::parse(headers, body) else {
        return Err(visit.forged());
    };
    if !visit.csrf_ok(headers, &form) {
        return Err(visit.forged());
    }
    Ok((visit, user, form))
}

/// A signed-in user's page: the visit and the user, or the way to sign in.
pub(crate) async fn visited(state: AppState, headers: &HeaderMap) -> Result<(Visit, UserRecord), Response> {
    let visit = Visit::new(state, headers).await?;
    let user = visit.user()?.clone();
    Ok((visit, user))
}

/// Answers a store failure as a page, never as a blank 500.
/// What a refusal from the service layer says on a page: a field by the
/// label its form gives it.
pub(crate) fn refusal_text(e: &ServiceError) -> String {
    match e {
        ServiceError::NotFound(m) | ServiceError::Conflict(m) => m.clone(),
        ServiceError::Invalid(f) => format!("{}: {}", field_label(f.field), f.message),
        ServiceError::Internal => "The portal cannot reach its database; try again.".into(),
    }
}

/// A form field as the pages label it.
fn field_label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "environment" => "Environment",
        "scopes" => "Scopes",
        "default_scopes" => "Default scopes",
        "redirect_uris" => "Redirect URIs",
        "expires_in" => "Expiry",
        other => other,
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "portal: store failure");
    crate::http::pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The portal cannot reach its database; try again.",
    )
}

async fn not_found_page(crate::state::Current(state): crate::state::Current, headers: HeaderMap) -> Response {
    match Visit::new(state, &headers).await {
        Ok(visit) => visit.not_found("There is no such page."),
        Err(response) => response,
    }
}
