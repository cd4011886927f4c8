//! Server-rendered pages (askama templates, checked at compile time) and the
//! headers every page carries: no framing, no referrer, no caching, no script.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct Login<'a> {
    pub action: &'a str,
    pub app_name: &'a str,
    pub error: Option<&'a str>,
    pub hidden: &'a [(String, String)],
    pub csrf: &'a str,
    pub options: &'a SignInOptions,
}

/// One "Sign in with <label>" button.
#[derive(Debug)]
pub(crate) struct ProviderButton {
    pub name: String,
    pub label: String,
    /// Why it cannot be used now (shown beside a disabled button).
    pub unavailable: Option<String>,
}

/// What a sign-in page offers besides its own fields.
#[derive(Debug)]
pub(crate) struct SignInOptions {
    pub passwords: bool,
    pub providers: Vec<ProviderButton>,
    /// Login delegation, by the host of `delegate_to` (the button's label).
    pub delegation: Option<String>,
    /// Where the browser comes back to once signed in.
    pub return_to: String,
    /// The CSP sources the page's forms may end at besides this site.
    pub form_actions: Option<String>,
}

pub(crate) struct ScopeView {
    pub name: String,
    pub description: Option<String>,
    /// The routes the scope opens, for "what it allows".
    pub allows: String,
    /// The MCP tools, prompts and resources it lets an agent use, in words.
    pub tools: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct Consent<'a> {
    pub action: &'a str,
    pub app_name: &'a str,
    pub environment: &'a str,
    /// Said of an app the provider did not register.
    pub notice: Option<String>,
    pub login: &'a str,
    pub scopes: Vec<ScopeView>,
    /// (scope, permission) pairs the user lacks.
    pub missing: Vec<(String, String)>,
    pub hidden: &'a [(String, String)],
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub message: &'a str,
}

/// The pages' Content Security Policy: nothing inline, nothing framed, and
/// forms sent only to this site.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Renders a template as a page with scopegate's security headers.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Response {
    page_sending_forms_to(status, template, None)
}

/// A page whose forms may also end at `also` (a CSP source such as
/// `https://app.example` or `com.example.app:`): the consent page, whose
/// answer redirects to the app, which browsers check against `form-action`.
pub(crate) fn page_sending_forms_to(status: StatusCode, template: &impl Template, also: Option<&str>) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let csp = match also.and_then(|source| HeaderValue::from_str(&format!("{CSP} {source}")).ok()) {
        Some(csp) => csp,
        None => HeaderValue::from_static(CSP),
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The CSP source that lets a form's answer redirect to `uri`: its origin,
/// or its scheme for a private-scheme (native app) URI.
pub(crate) fn form_action_source(uri: &str) -> Option<String> {
    let parsed = url::Url::parse(uri).ok()?;
    let source = match parsed.scheme() {
        "http" | "https" => parsed.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    // A source is one token: nothing the header or the policy would split on.
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:/-[]+".contains(&b))
        .then_some(source)
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, &ErrorPage { message })
}

/// 303 to `location` (after a form, or to sign in), never cached.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The redirect address is not valid."),
    }
}
