//! Signed-in users, for the authorize pages and the portal alike: the session
//! cookie (its SHA-256 stored in the database, so any node serves it), the
//! CSRF cookie every form carries (bound to the session once signed in), and
//! password checks.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use scopegate_core::limits::RetryAfter;
use scopegate_store::{SessionRecord, Store, StoreError, UserRecord};

use crate::http::address::ClientAddress;
use crate::http::limits::address_key;
use crate::state::AppState;
use scopegate_service::credentials::passwords::{hash_password, verify_password};
use scopegate_service::credentials::secrets::{self, SecretKind};

pub(crate) const CSRF_COOKIE: &str = "sg_csrf";
pub(crate) const SESSION_COOKIE: &str = "sg_session";
pub(crate) const SESSION_TTL: i64 = 12 * 3600;

/// A cookie's value, if the request carries it (non-empty).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The name a cookie is sent under: with the `__Host-` prefix when the
/// issuer is https, so that no sibling subdomain can set or shadow it
/// (browsers take such a cookie only `Secure`, for `/`, from this host).
fn cookie_name(state: &AppState, name: &str) -> String {
    if secure(state) {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

fn secure(state: &AppState) -> bool {
    state.policy.settings.issuer.starts_with("https://")
}

/// One of scopegate's own cookies ([`SESSION_COOKIE`], [`CSRF_COOKIE`]), under its sent name.
pub(crate) fn own_cookie<'a>(state: &AppState, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookie(headers, &cookie_name(state, name))
}

/// Sets an `HttpOnly`, `SameSite=Lax` cookie for the whole site, `Secure`
/// (and `__Host-` prefixed) when the issuer is https. `max_age` 0 deletes it.
pub(crate) fn set_cookie(state: &AppState, response: &mut Response, name: &str, value: &str, max_age: i64) {
    let secure = if secure(state) { "; Secure" } else { "" };
    let name = cookie_name(state, name);
    let line = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&line) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A signed-in user and the session that says so.
#[derive(Debug)]
pub(crate) struct Signed {
    pub session: SessionRecord,
    pub user: UserRecord,
}

/// The request's live session and its enabled user, if any. A session not
/// bound to a CSRF cookie (made before sessions were) counts as none.
pub(crate) async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, StoreError> {
    let Some(token) = own_cookie(state, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.store.session(&secrets::hash(token)).await? else {
        return Ok(None);
    };
    if session.expires_at <= state.now() || session.csrf_hash.is_none() {
        return Ok(None);
    }
    let user = state.store.user(&session.login).await?.filter(|u| u.enabled);
    Ok(user.map(|user| Signed { session, user }))
}

/// The signed-in, enabled user of this request, if any.
pub(crate) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<UserRecord>, StoreError> {
    Ok(current(state, headers).await?.map(|s| s.user))
}

/// Starts a session for `login`, bound to the request's CSRF cookie, and
/// ends the session the request came with (signing in again replaces the
/// session: a new id, the old one gone). The caller sets the returned token
/// as [`SESSION_COOKIE`].
pub(crate) async fn start(state: &AppState, headers: &HeaderMap, login: &str) -> Result<String, StoreError> {
    end(state, headers).await?;
    let token = secrets::generate(SecretKind::Session);
    let now = state.now();
    state
        .store
        .create_session(&SessionRecord {
            hash: secrets::hash(&token),
            login: login.to_owned(),
            created_at: now,
            expires_at: now + SESSION_TTL,
            csrf_hash: Some(secrets::hash(
                own_cookie(state, headers, CSRF_COOKIE).unwrap_or_default(),
            )),
        })
        .await?;
    Ok(token)
}

/// Ends the request's session, if it has one.
pub(crate) async fn end(state: &AppState, headers: &HeaderMap) -> Result<(), StoreError> {
    if let Some(token) = own_cookie(state, headers, SESSION_COOKIE) {
        state.store.delete_session(&secrets::hash(token)).await?;
    }
    Ok(())
}

/// The request's CSRF token, or a fresh one (then `true`: set the cookie).
pub(crate) fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match own_cookie(state, headers, CSRF_COOKIE) {
        Some(c) => (c.to_owned(), false),
        None => (secrets::generate(SecretKind::Csrf), true),
    }
}

/// Whether a form may act: sent by a page of this site (`Sec-Fetch-Site`
/// and `Origin`, where the browser sends them), with a `csrf` field equal to
/// the CSRF cookie (constant time), and, for a signed-in user, that cookie
/// the one the session was started with. A cookie planted by a sibling
/// subdomain matches no session, and its form is refused.
pub(crate) fn csrf_ok(
    state: &AppState,
    headers: &HeaderMap,
    field: Option<&str>,
    session: Option<&SessionRecord>,
) -> bool {
    if !same_origin(state, headers) {
        return false;
    }
    let Some((cookie, field)) = own_cookie(state, headers, CSRF_COOKIE).zip(field) else {
        return false;
    };
    if !secrets::same(cookie, field) {
        return false;
    }
    session.is_none_or(|s| {
        s.csrf_hash
            .as_deref()
            .is_some_and(|bound| secrets::same_bytes(bound, &secrets::hash(cookie)))
    })
}

/// What the browser says of where a form came from, when it says it: a
/// cross-site or same-site (another subdomain) request is refused, and an
/// `Origin` other than `null` must name this host (the request's `Host`) or
/// the issuer.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    // Our pages send `Referrer-Policy: no-referrer`, under which browsers send
    // their own forms' `Origin` as `null`: it says nothing either way, and
    // `Sec-Fetch-Site` (above) is the browser's word.
    if origin == "null" {
        return true;
    }
    let issuer = &state.policy.settings.issuer;
    let issuer_origin = issuer
        .find("://")
        .and_then(|i| issuer[i + 3..].find('/').map(|j| &issuer[..i + 3 + j]))
        .unwrap_or(issuer);
    let authority = origin.split_once("://").map(|(_, a)| a);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin == issuer_origin || (authority.is_some() && authority == host)
}

/// A valid Argon2id hash to verify against when the login is unknown, so that
/// unknown and known logins take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("scopegate-timing-equalizer").unwrap_or_default())
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub(crate) enum SignIn {
    User(UserRecord),
    /// Unknown login, wrong password or a disabled user: the same answer.
    Refused,
    /// `limits.sign_in_per_address` or `limits.sign_in_failures` said no
    /// before the password was looked at.
    Limited(RetryAfter),
    /// Every password verification place stayed taken (many attempts at
    /// once): come back in a second.
    Busy,
}

/// What a sign-in page says when the server is verifying too many passwords.
pub(crate) const BUSY_MESSAGE: &str = "Too many people are signing in at this moment. Try again in a few seconds.";

/// A sign-in page's answer when it was [`SignIn::Busy`]: 503, `Retry-After: 1`.
pub(crate) fn busy(response: &mut Response) {
    *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    crate::http::limits::set_retry_after(response, RetryAfter(std::time::Duration::from_secs(1)));
}

/// What a sign-in page says when a limit refused the attempt.
pub(crate) fn limited_message(retry: RetryAfter) -> String {
    let minutes = retry.seconds().div_ceil(60);
    format!(
        "Too many sign-in attempts from your network. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// The longest login a lockout key holds (logins are short; the attempt's
/// text is the caller's).
const LOCKOUT_LOGIN_LEN: usize = 128;

/// Checks a sign-in: within the address's budget and the lockout of this
/// login at this address, the enabled user with this login and password;
/// the same time for unknown and known logins. A failure spends one of the
/// login's failures at this address only, so that nobody elsewhere can
/// lock its user out.
pub(crate) async fn check_password(
    state: &AppState,
    address: ClientAddress,
    login: &str,
    password: &str,
) -> Result<SignIn, StoreError> {
    let at = address_key(address.0);
    let lockout = (login.chars().take(LOCKOUT_LOGIN_LEN).collect::<String>(), at);
    if let Err(retry) = state
        .limits
        .sign_in_per_address
        .take(&at)
        .and_then(|()| state.limits.sign_in_failures.peek(&lockout))
    {
        return Ok(SignIn::Limited(retry));
    }
    let Some(permit) = state.limits.password_checks.enter().await else {
        return Ok(SignIn::Busy);
    };
    // A user of a provider or a delegation has no password (an empty hash):
    // checked against the dummy, in the same time, and refused. With
    // `sign_in.passwords = false` nobody signs in with a password.
    let passwords = state.policy.settings.sign_in.passwords;
    let user = state
        .store
        .user(login)
        .await?
        .filter(|u| passwords && !u.password_hash.is_empty());
    let phc = user
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let password = password.to_owned();
    // Argon2 is deliberately slow: keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || {
        let verified = verify_password(&password, &phc);
        drop(permit);
        verified
    })
    .await
    .unwrap_or(false);
    match user.filter(|u| verified && u.enabled) {
        Some(user) => Ok(SignIn::User(user)),
        None => {
            // Spent whether or not it refuses: the next attempt is the one
            // the peek above stops.
            let _ = state.limits.sign_in_failures.take(&lockout);
            Ok(SignIn::Refused)
        }
    }
}
