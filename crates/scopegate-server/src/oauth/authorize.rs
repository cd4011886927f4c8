//! `/oauth2/authorize` (RFC 6749 section 4.1, RFC 7636, RFC 9207, RFC 9700):
//! sign-in, consent, and a redirect with `code`, `state` and `iss`.
//!
//! The request is validated in full on every step (GET and each POST), so the
//! parameters carried through the pages in hidden fields can be tampered with
//! no more than a fresh request could. Errors before the client and its
//! redirect URI are known show a page; only [`match_redirect`] yields a URI to
//! redirect to. Forms carry a CSRF token checked against a cookie.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use scopegate_core::RoutePattern;
use scopegate_core::clients::is_document_url;
use scopegate_core::mcp::Text;
use scopegate_core::oauth::{
    ErrorCode, OAuthError, RegisteredRedirectUri, decide_scope, match_redirect, requested_scope,
};
use scopegate_core::{GrantKind, ScopeSet};
use scopegate_service::AuditKind;
use scopegate_service::operations::apps;
use scopegate_service::operations::users;
use scopegate_service::{Actor, ServiceError};
use scopegate_store::{CodeRecord, ConsentRecord, KeySetRecord, Registration, Store, UserRecord};

use crate::http::address::ClientAddress;
use crate::http::endpoints;
use crate::http::form::Form;
use crate::http::pages::{Consent, Login, ScopeView, error_page, form_action_source, page_sending_forms_to, see_other};
use crate::session::{self, SESSION_TTL, SignIn, set_cookie, signed_in};
use crate::sign_in::{
    clear_problem, delegation, only_delegation, options as sign_in_options, problem as sign_in_problem,
};
use crate::state::{AppState, Current};
use scopegate_service::credentials::secrets::{self, SecretKind};

pub(crate) use crate::session::{CSRF_COOKIE, SESSION_COOKIE};
/// Codes are exchanged at once by real clients; a minute is plenty (RFC 6749 section 4.1.2).
const CODE_TTL: i64 = 60;
/// The authorization request parameters carried through the pages.
const CARRIED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
];

/// A validated authorization request.
struct AuthzRequest {
    client: KeySetRecord,
    redirect: RegisteredRedirectUri,
    redirect_sent: bool,
    scope: ScopeSet,
    state: Option<String>,
    challenge: Option<String>,
    /// The resource (RFC 8707) the grant is for.
    resource: Option<String>,
    carried: Vec<(String, String)>,
}

enum AuthorizeError {
    /// Shown as a page: there is no safe place to redirect to.
    Page(String),
    /// Sent back to the client's registered redirect URI.
    Redirect {
        to: RegisteredRedirectUri,
        error: OAuthError,
        state: Option<String>,
    },
    Internal,
}

impl From<scopegate_store::StoreError> for AuthorizeError {
    fn from(e: scopegate_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure at authorize");
        AuthorizeError::Internal
    }
}

fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The key set a `client_id` names: registered, or (`[clients]
/// metadata_documents`) described by the metadata document at that URL,
/// read now or lately and kept as an app.
async fn client_named(state: &AppState, client_id: &str) -> Result<KeySetRecord, AuthorizeError> {
    let known = state.store.key_set(client_id).await?;
    let clients = &state.policy.settings.clients;
    let document = clients.metadata_documents
        && is_document_url(client_id, clients.loopback_metadata_documents)
        && known
            .as_ref()
            .is_none_or(|k| k.registration == Registration::MetadataDocument);
    match known {
        Some(k) if k.registration == Registration::MetadataDocument && !document => Err(AuthorizeError::Page(
            "Apps that describe themselves in a metadata document are not accepted here.".into(),
        )),
        Some(k) if !document => Ok(k),
        None if !document => Err(AuthorizeError::Page(format!("No app has the client_id {client_id:?}."))),
        _ => {
            let loopback = clients.loopback_metadata_documents;
            let metadata = state
                .documents
                .get(client_id, loopback)
                .await
                .map_err(|why| AuthorizeError::Page(format!("The app {client_id} cannot sign in here: {why}.")))?;
            let actor = Actor::UnregisteredClient(format!("metadata document {client_id}"));
            apps::register_client(&state.service(&actor), &metadata, Some(client_id))
                .await
                .map_err(|e| match e {
                    ServiceError::Internal => AuthorizeError::Internal,
                    other => AuthorizeError::Page(format!("The app {client_id} cannot sign in here: {other}.")),
                })
        }
    }
}

async fn validate(state: &AppState, params: &Form) -> Result<AuthzRequest, AuthorizeError> {
    let Some(client_id) = params.get("client_id") else {
        return Err(AuthorizeError::Page("The request names no client_id.".into()));
    };
    let client = client_named(state, client_id).await?;
    let redirect = match_redirect(&client.redirect_uris, params.get("redirect_uri"), client.public)
        .map_err(|e| AuthorizeError::Page(format!("The app's request is not valid: {e}.")))?;
    let st = params.get("state").map(str::to_owned);
    let fail = |code: ErrorCode, description: &str| AuthorizeError::Redirect {
        to: redirect.clone(),
        error: OAuthError::new(code, description),
        state: st.clone(),
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        None => return Err(fail(ErrorCode::InvalidRequest, "missing parameter \"response_type\"")),
    }
    let challenge = params.get("code_challenge");
    match (params.get("code_challenge_method"), challenge) {
        (Some("S256"), Some(c)) if valid_challenge(c) => {}
        (Some("S256"), Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
            ));
        }
        (Some("S256"), None) => return Err(fail(ErrorCode::InvalidRequest, "missing parameter \"code_challenge\"")),
        (Some("plain"), _) | (None, Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE method plain is refused; use code_challenge_method=S256",
            ));
        }
        (Some(other), _) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                &format!("unknown code_challenge_method {other:?}; use S256"),
            ));
        }
        (None, None) if client.public => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE with S256 is required for public clients",
            ));
        }
        (None, None) => {}
    }
    let requested = requested_scope(params.get("scope"), None).map_err(|e| fail(e.code, &e.description))?;
    let resource = scopegate_core::oauth::requested_resource(&state.policy, params.get("resource"))
        .map_err(|e| fail(e.code, &e.description))?;
    // A client the provider did not register gets `[clients] scopes` at
    // most, as the policy says now.
    let unregistered: Vec<String>;
    let assigned = match client.registration {
        Registration::Provider => &client.scopes,
        _ => {
            let allowed = &state.policy.settings.clients.scopes;
            unregistered = client.scopes.iter().filter(|s| allowed.contains(s)).cloned().collect();
            &unregistered
        }
    };
    let scopes = scopegate_core::oauth::ClientScopes {
        assigned,
        default: &client.default_scopes,
        environment: &client.environment,
    };
    let scope = decide_scope(&state.policy, scopes, GrantKind::AuthorizationCode, requested)
        .map_err(|e| fail(e.code, &e.description))?;
    let carried = params
        .pairs()
        .iter()
        .filter(|(n, _)| CARRIED.contains(&n.as_str()))
        .cloned()
        .collect();
    Ok(AuthzRequest {
        redirect_sent: params.get("redirect_uri").is_some(),
        client,
        redirect,
        scope,
        state: st,
        challenge: challenge.map(str::to_owned),
        resource,
        carried,
    })
}

/// Redirects to the client with `params`, `state` and `iss` (RFC 9207).
fn redirect_to(
    state: &AppState,
    to: &RegisteredRedirectUri,
    mut params: Vec<(&str, String)>,
    st: Option<&str>,
) -> Response {
    if let Some(s) = st {
        params.push(("state", s.to_owned()));
    }
    params.push(("iss", state.policy.settings.issuer.clone()));
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    see_other(&to.with_params(&query))
}

fn refusal_response(state: &AppState, refusal: AuthorizeError) -> Response {
    match refusal {
        AuthorizeError::Page(message) => error_page(StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect { to, error, state: st } => {
            let params = vec![
                ("error", error.code.as_str().to_owned()),
                ("error_description", error.description),
            ];
            redirect_to(state, &to, params, st.as_deref())
        }
        AuthorizeError::Internal => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-in service cannot reach its database just now. Please try again.",
        ),
    }
}

/// (scope, permission) pairs: every scope the token would hold, implied ones
/// included, needs its `requires_permissions`.
fn missing_permissions(state: &AppState, scope: &ScopeSet, user: &UserRecord) -> Vec<(String, String)> {
    let catalog = &state.policy.catalog;
    let now = state.now();
    let mut missing = Vec::new();
    for id in catalog.close(scope).set().iter() {
        for p in &catalog.info(id).requires_permissions {
            if !users::holds(user, &state.policy.settings.sign_in, now, p) {
                missing.push((catalog.name(id).to_owned(), p.clone()));
            }
        }
    }
    missing
}

/// What a scope opens: its HTTP routes (every one: the consent page shows
/// them only on request), and the MCP tools,
/// prompts and resources it lets an agent use (by their `description`, so
/// that a user reads "create orders" rather than a scope name).
fn allows(state: &AppState, id: scopegate_core::ScopeId) -> (String, String) {
    let closure = state.policy.catalog.closure_of(id);
    let opened = state
        .policy
        .routes()
        .iter()
        .filter(|r| r.requirement.scopes().is_some_and(|s| s.intersects(closure)));
    let (mut routes, mut tools) = (Vec::new(), Vec::new());
    for route in opened {
        match &route.pattern {
            RoutePattern::Http(p) => routes.push(p.to_string()),
            RoutePattern::Mcp(p) => {
                if let Some(name) = &p.name {
                    tools.push(route.description.clone().unwrap_or_else(|| match &p.method {
                        Text::Exact(m) if m.as_ref() == "tools/call" => format!("the tool {name}"),
                        Text::Exact(m) if m.as_ref() == "prompts/get" => format!("the prompt {name}"),
                        _ => format!("read {name}"),
                    }));
                }
            }
        }
    }
    let shown = |items: Vec<String>| match items.len() {
        0 => String::new(),
        n if n <= 6 => items.join(", "),
        n => format!("{} and {} more", items[..6].join(", "), n - 6),
    };
    (routes.join(", "), shown(tools))
}

/// What the consent page says of an app the provider did not register.
fn registration_notice(client: &KeySetRecord, redirect: &str) -> Option<String> {
    let host = |url: &str| url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned));
    match client.registration {
        Registration::Provider => None,
        Registration::MetadataDocument => Some(format!(
            "{} is not registered with this service: it describes itself in a document at {}. Allow it only if you trust {0}'s makers at that address.",
            client.app_name,
            host(&client.client_id).unwrap_or_else(|| client.client_id.clone()),
        )),
        Registration::Dynamic => Some(format!(
            "{} registered itself with this service; nobody here has reviewed it. It will send you back to {}.",
            client.app_name,
            host(redirect).unwrap_or_else(|| redirect.to_owned()),
        )),
    }
}

fn consent_page(
    state: &AppState,
    req: &AuthzRequest,
    user: &UserRecord,
    csrf: &str,
    missing: Vec<(String, String)>,
) -> Response {
    let catalog = &state.policy.catalog;
    let scopes = req
        .scope
        .iter()
        .map(|id| {
            let (allows, tools) = allows(state, id);
            ScopeView {
                name: catalog.name(id).to_owned(),
                description: catalog.info(id).description.clone(),
                allows,
                tools,
            }
        })
        .collect();
    let status = if missing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let answer_to = form_action_source(req.redirect.as_str());
    page_sending_forms_to(
        status,
        &Consent {
            action: endpoints::AUTHORIZE,
            app_name: &req.client.app_name,
            environment: &req.client.environment,
            notice: registration_notice(&req.client, req.redirect.as_str()),
            login: &user.login,
            scopes,
            missing,
            hidden: &req.carried,
            csrf,
        },
        answer_to.as_deref(),
    )
}

fn login_page(state: &AppState, req: &AuthzRequest, csrf: &str, error: Option<&str>) -> Response {
    let query = serde_urlencoded::to_string(&req.carried).unwrap_or_default();
    let options = sign_in_options(state, format!("{}?{query}", endpoints::AUTHORIZE));
    page_sending_forms_to(
        StatusCode::OK,
        &Login {
            action: endpoints::AUTHORIZE,
            app_name: &req.client.app_name,
            error,
            hidden: &req.carried,
            csrf,
            options: &options,
        },
        options.form_actions.as_deref(),
    )
}

pub(crate) async fn authorize_get(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let params = match Form::query(uri.query()) {
        Ok(p) => p,
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("The app's request is not valid: {}.", e.description),
            );
        }
    };
    let req = match validate(&state, &params).await {
        Ok(r) => r,
        Err(refusal) => return refusal_response(&state, refusal),
    };
    let (csrf, fresh) = session::csrf_token(&state, &headers);
    let mut response = match signed_in(&state, &headers).await {
        Ok(Some(user)) => {
            let missing = missing_permissions(&state, &req.scope, &user);
            consent_page(&state, &req, &user, &csrf, missing)
        }
        Ok(None) if only_delegation(&state) && sign_in_problem(&state, &headers).is_none() => {
            let query = serde_urlencoded::to_string(&req.carried).unwrap_or_default();
            delegation::begin(&state, address, &csrf, format!("{}?{query}", endpoints::AUTHORIZE)).await
        }
        Ok(None) => {
            let problem = sign_in_problem(&state, &headers);
            let mut response = login_page(&state, &req, &csrf, problem.as_deref());
            if problem.is_some() {
                clear_problem(&state, &mut response);
            }
            response
        }
        Err(e) => return refusal_response(&state, e.into()),
    };
    if fresh {
        set_cookie(&state, &mut response, CSRF_COOKIE, &csrf, SESSION_TTL);
    }
    response
}

pub(crate) async fn authorize_post(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::parse(&headers, &body) {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let signed = match session::current(&state, &headers).await {
        Ok(signed) => signed,
        Err(e) => return refusal_response(&state, e.into()),
    };
    let bound = signed.as_ref().map(|s| &s.session);
    let csrf = match session::own_cookie(&state, &headers, CSRF_COOKIE) {
        Some(c) if session::csrf_ok(&state, &headers, form.get("csrf"), bound) => c.to_owned(),
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This form has expired or was not sent from this site. Go back to the app and start again.",
            );
        }
    };
    let req = match validate(&state, &form).await {
        Ok(r) => r,
        Err(refusal) => return refusal_response(&state, refusal),
    };
    let result = match form.get("action") {
        Some("login") => sign_in(&state, address, &req, &form, &headers, &csrf).await,
        Some("approve") => approve(&state, &req, &headers, &csrf).await,
        Some("deny") => {
            state.audit(
                AuditKind::Deny,
                Some(&req.client.client_id),
                None,
                "the user denied access".into(),
            );
            let params = vec![
                ("error", "access_denied".to_owned()),
                ("error_description", "the user denied access".to_owned()),
            ];
            Ok(redirect_to(&state, &req.redirect, params, req.state.as_deref()))
        }
        _ => Ok(error_page(StatusCode::BAD_REQUEST, "Unknown action.")),
    };
    result.unwrap_or_else(|refusal| refusal_response(&state, refusal))
}

async fn sign_in(
    state: &AppState,
    address: ClientAddress,
    req: &AuthzRequest,
    form: &Form,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Response, AuthorizeError> {
    let login = form.get("login").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default();
    let user = match session::check_password(state, address, &login, password).await? {
        SignIn::User(user) => user,
        SignIn::Refused => {
            state.audit(
                AuditKind::SignInFailed,
                Some(&req.client.client_id),
                Some(&login),
                format!("address={address}"),
            );
            return Ok(login_page(state, req, csrf, Some("Wrong login or password.")));
        }
        SignIn::Limited(retry) => {
            state.audit_repeated(
                AuditKind::SignInLimited,
                Some(&req.client.client_id),
                Some(&login),
                &address.to_string(),
                format!("address={address}"),
            );
            let mut response = login_page(state, req, csrf, Some(&session::limited_message(retry)));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            crate::http::limits::set_retry_after(&mut response, retry);
            return Ok(response);
        }
        SignIn::Busy => {
            let mut response = login_page(state, req, csrf, Some(session::BUSY_MESSAGE));
            session::busy(&mut response);
            return Ok(response);
        }
    };
    let token = session::start(state, headers, &user.login).await?;
    state.audit(
        AuditKind::SignIn,
        Some(&req.client.client_id),
        Some(&user.login),
        String::new(),
    );
    let query = serde_urlencoded::to_string(&req.carried).unwrap_or_default();
    let mut response = see_other(&format!("{}?{query}", endpoints::AUTHORIZE));
    set_cookie(state, &mut response, SESSION_COOKIE, &token, SESSION_TTL);
    Ok(response)
}

async fn approve(
    state: &AppState,
    req: &AuthzRequest,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Response, AuthorizeError> {
    let Some(user) = signed_in(state, headers).await? else {
        return Ok(login_page(
            state,
            req,
            csrf,
            Some("Your session has ended; sign in again."),
        ));
    };
    let missing = missing_permissions(state, &req.scope, &user);
    if !missing.is_empty() {
        let detail = missing
            .iter()
            .map(|(s, p)| format!("{s} needs {p}"))
            .collect::<Vec<_>>()
            .join(", ");
        state.audit(
            AuditKind::Refuse,
            Some(&req.client.client_id),
            Some(&user.login),
            format!("missing permissions: {detail}"),
        );
        return Ok(consent_page(state, req, &user, csrf, missing));
    }
    let code = secrets::generate(SecretKind::Code);
    let now = state.now();
    let scope = state.policy.catalog.display(&req.scope);
    state
        .store
        .insert_code(&CodeRecord {
            hash: secrets::hash(&code),
            client_id: req.client.client_id.clone(),
            subject: user.login.clone(),
            redirect_uri: req.redirect.as_str().to_owned(),
            redirect_sent: req.redirect_sent,
            scope: scope.clone(),
            code_challenge: req.challenge.clone(),
            grant_id: secrets::generate(SecretKind::GrantId),
            granted_at: now,
            expires_at: now + CODE_TTL,
            used: false,
            resource: req.resource.clone(),
        })
        .await?;
    state
        .store
        .record_consent(&ConsentRecord {
            client_id: req.client.client_id.clone(),
            login: user.login.clone(),
            scope: scope.clone(),
            granted_at: now,
        })
        .await?;
    state.audit(
        AuditKind::Consent,
        Some(&req.client.client_id),
        Some(&user.login),
        format!("scope=\"{scope}\""),
    );
    Ok(redirect_to(
        state,
        &req.redirect,
        vec![("code", code)],
        req.state.as_deref(),
    ))
}
