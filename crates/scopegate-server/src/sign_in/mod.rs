//! Signing in users who live elsewhere (docs/users.md): an upstream OpenID
//! Connect provider (`[[identity_provider]]`, here) beside the password form.
//! Both sign-in pages (`/oauth2/authorize` and `/portal/`) offer every
//! provider; the flow ends where it started, signed in, or back on that
//! page with a message saying what failed.

pub(crate) mod delegation;
pub(crate) mod upstream;

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::http::pages::{ProviderButton, SignInOptions};

use crate::http::address::ClientAddress;
use crate::http::limits::address_key;
use crate::session::{CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL, own_cookie, set_cookie};
use crate::state::AppState;
use scopegate_service::credentials::secrets;
use scopegate_store::ChallengeRecord;
use scopegate_store::Store;

/// The cookie that carries a failed sign-in's message back to the page the
/// browser started from (a minute, then gone; read once).
pub(crate) const NOTICE_COOKIE: &str = "sg_sign_in_problem";

/// What a sign-in page offers: the password form (unless
/// `sign_in.passwords = false`), every provider with whether it can be
/// reached now, and the delegation.
pub(crate) fn options(state: &AppState, return_to: String) -> SignInOptions {
    let sign_in = &state.policy.settings.sign_in;
    let mut sources: Vec<String> = Vec::new();
    let providers = sign_in
        .providers
        .iter()
        .map(|p| {
            let runtime = state.providers.get(p, &state.policy.settings.issuer);
            sources.extend(runtime.form_action_sources());
            ProviderButton {
                name: p.name.clone(),
                label: p.label.clone(),
                unavailable: runtime
                    .problem()
                    .map(|_| "unavailable right now; try again in a minute".to_owned()),
            }
        })
        .collect();
    let delegation = sign_in.delegate_to.as_deref().and_then(|to| {
        sources.extend(crate::http::pages::form_action_source(to));
        url::Url::parse(to).ok().and_then(|u| u.host_str().map(str::to_owned))
    });
    sources.sort();
    sources.dedup();
    SignInOptions {
        passwords: sign_in.passwords,
        providers,
        delegation,
        return_to,
        form_actions: (!sources.is_empty()).then(|| sources.join(" ")),
    }
}

/// Starting a sign-in elsewhere writes a challenge, so it spends the
/// address's sign-in budget (`limits.sign_in_per_address`) as a password
/// attempt does; past it, the 429 page (with `Retry-After`) to answer.
pub(crate) fn over_budget(state: &AppState, address: ClientAddress) -> Option<Response> {
    match state.limits.sign_in_per_address.take(&address_key(address.0)) {
        Ok(()) => None,
        Err(retry) => {
            let mut response = crate::http::pages::error_page(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                &crate::session::limited_message(retry),
            );
            crate::http::limits::set_retry_after(&mut response, retry);
            Some(response)
        }
    }
}

/// How long a sign-in elsewhere may take, from our page back to us.
const CHALLENGE_TTL: i64 = 600;

/// What a sign-in page says when the store failed (logged, never shown).
pub(crate) const OUR_FAULT: &str = "Something went wrong on our side. Try again.";

/// The page for a failure of ours.
pub(crate) fn our_fault() -> Response {
    crate::http::pages::error_page(axum::http::StatusCode::INTERNAL_SERVER_ERROR, OUR_FAULT)
}

/// Stores the challenge of a sign-in elsewhere (by the SHA-256 of its
/// `handle`, of `kind`, bound to the browser whose CSRF cookie hashes to
/// `browser`, coming back to `return_to`, with `data` to finish it) and
/// sends the browser to `to`.
pub(crate) async fn send_away(
    state: &AppState,
    kind: &str,
    handle: &str,
    browser: Vec<u8>,
    return_to: String,
    data: &impl serde::Serialize,
    to: &str,
) -> Response {
    let now = state.now();
    let record = ChallengeRecord {
        hash: secrets::hash(handle),
        kind: kind.to_owned(),
        browser,
        return_to,
        data: serde_json::to_string(data).unwrap_or_default(),
        outcome: None,
        used: false,
        created_at: now,
        expires_at: now + CHALLENGE_TTL,
    };
    match state.store.create_challenge(&record).await {
        Ok(()) => crate::http::pages::see_other(to),
        Err(e) => {
            tracing::error!(error = %e, kind, "store failure starting a sign-in elsewhere");
            our_fault()
        }
    }
}

/// Why a challenge brought back by a browser cannot finish a sign-in: the
/// audit trail's reason and the page's message.
pub(crate) struct Unfit {
    pub reason: &'static str,
    pub message: &'static str,
}

/// The checks every challenge passes when a browser brings it back: of
/// `kind`, used for the first time now (`first`), not expired, and brought
/// by the browser that started it.
pub(crate) fn fit(
    state: &AppState,
    headers: &HeaderMap,
    challenge: &ChallengeRecord,
    first: bool,
    kind: &str,
) -> Result<(), Unfit> {
    let unfit = |reason, message| Err(Unfit { reason, message });
    if challenge.kind != kind {
        return unfit(
            "unknown challenge",
            "This sign-in is unknown or has expired. Start again.",
        );
    }
    if !first {
        return unfit("replayed challenge", "This sign-in was already used. Start again.");
    }
    if challenge.expires_at <= state.now() {
        return unfit("expired challenge", "This sign-in took too long. Start again.");
    }
    let same_browser = own_cookie(state, headers, CSRF_COOKIE)
        .is_some_and(|c| secrets::same_bytes(&secrets::hash(c), &challenge.browser));
    if !same_browser {
        return unfit(
            "challenge of another browser",
            "This sign-in was started in another browser. Start again here.",
        );
    }
    Ok(())
}

/// Starts `login`'s session in this browser (replacing any it had) and
/// sends the browser to `return_to`.
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    login: &str,
    return_to: &str,
) -> Result<Response, scopegate_store::StoreError> {
    let token = crate::session::start(state, headers, login).await?;
    let mut response = crate::http::pages::see_other(return_to);
    set_cookie(state, &mut response, SESSION_COOKIE, &token, SESSION_TTL);
    Ok(response)
}

/// Whether the delegation is the only way to sign in (no password form, no
/// provider): then a sign-in page sends the browser straight there.
pub(crate) fn only_delegation(state: &AppState) -> bool {
    let s = &state.policy.settings.sign_in;
    !s.passwords && s.providers.is_empty() && s.delegate_to.is_some()
}

/// Whether `path` is a place of ours a sign-in may come back to: the
/// authorize endpoint (its query is validated again there) or a portal page.
pub(crate) fn valid_return_to(path: &str) -> bool {
    let ours = path.starts_with("/oauth2/authorize?") || path == "/portal/" || path.starts_with("/portal/");
    ours && !path.contains("//") && !path.contains('\\') && path.bytes().all(|b| b.is_ascii_graphic())
}

/// Sends the browser back to the sign-in page it started from with
/// `message` to show there: the authorize request's (which shows it while
/// nobody is signed in) or the portal's.
pub(crate) fn back_with(state: &AppState, return_to: &str, message: &str) -> Response {
    let to = if valid_return_to(return_to) && return_to.starts_with("/oauth2/authorize?") {
        return_to
    } else {
        "/portal/sign-in"
    };
    let mut response = crate::http::pages::see_other(to);
    set_cookie(
        state,
        &mut response,
        NOTICE_COOKIE,
        &URL_SAFE_NO_PAD.encode(message),
        60,
    );
    response
}

/// The message a failed sign-in left for this page, if any; the caller
/// clears the cookie with [`clear_problem`].
pub(crate) fn problem(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let raw = own_cookie(state, headers, NOTICE_COOKIE)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    // At most a paragraph, printable: it is shown as text, escaped.
    Some(text.chars().filter(|c| !c.is_control()).take(400).collect())
}

/// Removes the message cookie once shown.
pub(crate) fn clear_problem(state: &AppState, response: &mut Response) {
    set_cookie(state, response, NOTICE_COOKIE, "", 0);
}

#[cfg(test)]
mod tests {
    use super::valid_return_to;

    #[test]
    fn a_sign_in_returns_only_to_the_authorize_endpoint_or_the_portal() {
        for ok in ["/portal/", "/portal/apps", "/oauth2/authorize?client_id=a&scope=b"] {
            assert!(valid_return_to(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/portal//evil.example",
            "/oauth2/authorize",
            "/admin/api/apps",
            "/portal/\\evil",
            "/portal/ x",
            "",
        ] {
            assert!(!valid_return_to(bad), "{bad}");
        }
    }
}
