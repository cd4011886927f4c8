//! "Try it": the authorization code flow with PKCE, run from the portal
//! against scopegate itself, for a key set of the signed-in developer. The
//! portal is the client here: it starts the flow with its own redirect URI
//! (`/portal/try-it`, which the key set must have registered: one click adds
//! it), keeps the PKCE verifier and `state` in a short-lived cookie, and on
//! the way back redeems the code as the key set (its owner is signed in, so
//! no client secret is needed) and shows the token's introspection.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use scopegate_core::scope::encode_scope_param;

use super::form::PageForm;
use super::{Visit, posted, see_other, unavailable, visited};
use crate::http::form::Form;
use crate::session::{cookie, set_cookie};
use crate::state::Current;
use scopegate_service::Actor;
use scopegate_service::ServiceError;
use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_service::operations::key_sets;

const TRY_COOKIE: &str = "sg_try";
/// Long enough to sign in and consent.
const TRY_TTL: i64 = 600;

/// The redirect URI the portal's own client flow comes back to.
pub(super) fn callback(issuer: &str) -> String {
    format!("{}{}", issuer.trim_end_matches('/'), CALLBACK_PATH)
}

pub(super) const CALLBACK_PATH: &str = "/portal/try-it";

#[derive(askama::Template, Debug)]
#[template(path = "portal/try_it.html")]
struct TryIt {
    nav: super::views::Nav,
    back: String,
    app_name: String,
    environment: String,
    /// The environment this server's gateway serves: the token works there
    /// only if it is `environment`.
    gateway_environment: String,
    access_token: Option<String>,
    scope: String,
    expires_in: Option<i64>,
    has_refresh: bool,
    introspection: String,
}

/// Adds the portal's redirect URI to the key set (POST .../try-it-uri).
pub(super) async fn register(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    page_try!(super::owned::visible_key_set(&visit, &user, &app_id, &client_id).await);
    let uri = callback(&visit.state.policy.settings.issuer);
    match key_sets::add_redirect_uri(&visit.state.service(&Actor::User(user.login.clone())), &client_id, &uri).await {
        // Back to the authorize URL, built for the portal's redirect URI and
        // the scopes chosen before, so that Try it is one click away.
        Ok(_) => {
            let mut pairs = vec![("redirect_uri", uri.as_str())];
            pairs.extend(form.all("ask").into_iter().map(|s| ("ask", s)));
            pairs.push(("done", "try-it-uri"));
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            see_other(&format!("/portal/apps/{app_id}/keys/{client_id}?{query}#authorize"))
        }
        Err(ServiceError::NotFound(_)) => visit.not_found("This app has no key set with that client_id."),
        Err(ServiceError::Internal) => unavailable("add_redirect_uri"),
        Err(e) => visit.refused(&e, format!("/portal/apps/{app_id}/keys/{client_id}")),
    }
}

/// Starts the flow (POST .../try): to the authorize endpoint with PKCE.
pub(super) async fn start(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    let key_set = page_try!(super::owned::visible_key_set(&visit, &user, &app_id, &client_id).await);
    let redirect_uri = callback(&visit.state.policy.settings.issuer);
    if !key_set.redirect_uris.contains(&redirect_uri) {
        return see_other(&format!("/portal/apps/{app_id}/keys/{client_id}#authorize"));
    }
    // Both random and URL-safe: 43+ characters of base64url (RFC 7636 section 4.1).
    let verifier = secrets::generate(SecretKind::Csrf);
    let state_value = secrets::generate(SecretKind::Csrf);
    let asked = form.all("ask");
    let mut params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client_id.clone()),
        ("redirect_uri", redirect_uri),
        ("state", state_value.clone()),
        ("code_challenge", secrets::pkce_s256(&verifier)),
        ("code_challenge_method", "S256".to_owned()),
    ];
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    params.clear();
    let scope = if asked.is_empty() {
        String::new()
    } else {
        format!("&scope={}", encode_scope_param(asked.iter().copied()))
    };
    let mut response = see_other(&format!("{}?{query}{scope}", crate::http::endpoints::AUTHORIZE));
    let value = format!("{state_value}.{verifier}.{client_id}.{app_id}");
    set_cookie(&visit.state, &mut response, TRY_COOKIE, &value, TRY_TTL);
    response
}

/// The way back from the authorize endpoint (GET /portal/try-it).
pub(super) async fn finish(Current(state): Current, headers: HeaderMap, uri: Uri) -> Response {
    let (visit, user) = page_try!(visited(state, &headers).await);
    let query = PageForm::query(uri.query());
    let stored = cookie(&headers, TRY_COOKIE).unwrap_or_default().to_owned();
    let mut parts = stored.splitn(4, '.');
    let (Some(expected), Some(verifier), Some(client_id), Some(app_id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return visit.not_found("No “try it” flow is under way in this browser; start one from your app's key set.");
    };
    if !query.get("state").is_some_and(|s| secrets::same(s, expected)) {
        return visit.forged();
    }
    let key_set = page_try!(super::owned::visible_key_set(&visit, &user, app_id, client_id).await);
    let back = format!("/portal/apps/{app_id}/keys/{client_id}");
    let mut page = TryIt {
        nav: visit.nav(),
        back: back.clone(),
        app_name: key_set.app_name.clone(),
        environment: key_set.environment.clone(),
        gateway_environment: visit.state.policy.settings.gateway.environment.clone(),
        access_token: None,
        scope: String::new(),
        expires_in: None,
        has_refresh: false,
        introspection: String::new(),
    };
    let finished = |visit: &Visit, status, page: &TryIt| {
        let mut response = visit.render(status, page);
        set_cookie(&visit.state, &mut response, TRY_COOKIE, "", 0);
        response
    };
    let Some(code) = query.get("code") else {
        let why = query
            .get("error_description")
            .or(query.get("error"))
            .unwrap_or("no code came back");
        page.nav.error = Some(format!("The authorization did not complete: {why}"));
        return finished(&visit, StatusCode::BAD_REQUEST, &page);
    };
    let form = Form::from_pairs(vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.to_owned()),
        ("redirect_uri".into(), callback(&visit.state.policy.settings.issuer)),
        ("code_verifier".into(), verifier.to_owned()),
    ]);
    let client = std::sync::Arc::new(key_set);
    let issued = match crate::oauth::token::redeem_code(&visit.state, std::sync::Arc::clone(&client), &form).await {
        Ok(t) => t,
        Err(e) => {
            let why = match e {
                crate::http::error::EndpointError::OAuth(r) => r.error.description,
                crate::http::error::EndpointError::Limited(retry, what) => {
                    format!("{what}; try again in {} s", retry.seconds())
                }
                crate::http::error::EndpointError::Internal => "the server failed; try again".into(),
            };
            page.nav.error = Some(format!("The code was not redeemed: {why}"));
            return finished(&visit, StatusCode::BAD_REQUEST, &page);
        }
    };
    let introspection = match crate::oauth::introspect::describe(&visit.state, &client, &issued.access_token).await {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => "(the introspection failed; try again)".into(),
    };
    page.scope = issued.scope.clone();
    page.expires_in = issued.expires_in;
    page.has_refresh = issued.refresh_token.is_some();
    page.access_token = Some(issued.access_token);
    page.introspection = introspection;
    finished(&visit, StatusCode::OK, &page)
}
