//! Signed-in users, for the authorize pages and the portal alike: the session
//! cookie (its SHA-256 stored in the database, so any node serves it), the
//! double-submit CSRF cookie every form carries, and password checks.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use scopegate_core::limits::RetryAfter;
use scopegate_store::{SessionRecord, Store, StoreError, UserRecord};

use crate::address::ClientAddress;
use crate::limits::address_key;
use crate::passwords::{hash_password, verify_password};
use crate::secrets::{self, SecretKind};
use crate::state::AppState;

pub const CSRF_COOKIE: &str = "sg_csrf";
pub const SESSION_COOKIE: &str = "sg_session";
pub const SESSION_TTL: i64 = 12 * 3600;

/// A cookie's value, if the request carries it (non-empty).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// Sets an `HttpOnly`, `SameSite=Lax` cookie for the whole site, `Secure`
/// when the issuer is https. `max_age` 0 deletes it.
pub fn set_cookie<S: Store>(state: &AppState<S>, response: &mut Response, name: &str, value: &str, max_age: i64) {
    let secure = if state.policy.settings.issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let line = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&line) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The signed-in, enabled user of this request, if any.
pub async fn signed_in<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<Option<UserRecord>, StoreError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.store.session(&secrets::hash(token)).await? else {
        return Ok(None);
    };
    if session.expires_at <= state.now() {
        return Ok(None);
    }
    Ok(state.store.user(&session.login).await?.filter(|u| u.enabled))
}

/// Starts a session for `login`; the caller sets the returned token as [`SESSION_COOKIE`].
pub async fn start<S: Store>(state: &AppState<S>, login: &str) -> Result<String, StoreError> {
    let token = secrets::generate(SecretKind::Session);
    let now = state.now();
    state
        .store
        .create_session(&SessionRecord {
            hash: secrets::hash(&token),
            login: login.to_owned(),
            created_at: now,
            expires_at: now + SESSION_TTL,
        })
        .await?;
    Ok(token)
}

/// Ends the request's session, if it has one.
pub async fn end<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<(), StoreError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        state.store.delete_session(&secrets::hash(token)).await?;
    }
    Ok(())
}

/// The request's CSRF token, or a fresh one (then `true`: set the cookie).
pub fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE) {
        Some(c) => (c.to_owned(), false),
        None => (secrets::generate(SecretKind::Csrf), true),
    }
}

/// Whether a form's `csrf` field matches the cookie (constant time).
pub fn csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    matches!((cookie(headers, CSRF_COOKIE), field), (Some(c), Some(f)) if secrets::same(c, f))
}

/// A valid Argon2id hash to verify against when the login is unknown, so that
/// unknown and known logins take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("scopegate-timing-equalizer").unwrap_or_default())
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
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
pub const BUSY_MESSAGE: &str = "Too many people are signing in at this moment. Try again in a few seconds.";

/// A sign-in page's answer when it was [`SignIn::Busy`]: 503, `Retry-After: 1`.
pub fn busy(response: &mut Response) {
    *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    crate::limits::set_retry_after(response, RetryAfter(std::time::Duration::from_secs(1)));
}

/// What a sign-in page says when a limit refused the attempt.
pub fn limited_message(retry: RetryAfter) -> String {
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
pub async fn check_password<S: Store>(
    state: &AppState<S>,
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
    let user = state.store.user(login).await?;
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
