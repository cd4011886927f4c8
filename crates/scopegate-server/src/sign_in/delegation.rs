//! Login delegation (`[sign_in] delegate_to`, docs/users.md): scopegate
//! sends the browser to the provider's own login page with a
//! `login_challenge`; the provider's login app answers it through the admin
//! API and sends the browser back to `GET /oauth2/delegate/continue`, where
//! (only in the browser that started it) the person is signed in and goes
//! on to scopegate's own consent page.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use scopegate_core::sign_in::{Admission, DELEGATED};
use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_service::operations::sign_ins::{self, Answer, DELEGATION, Vouched};
use scopegate_service::{Actor, AuditKind};
use scopegate_store::Store;

use super::{back_with, valid_return_to};
use crate::http::address::ClientAddress;
use crate::http::form::Form;
use crate::http::pages::error_page;
use crate::session::{self, CSRF_COOKIE, own_cookie};
use crate::state::{AppState, Current};

pub(crate) const START: &str = "/oauth2/delegate/start";
pub(crate) const CONTINUE: &str = "/oauth2/delegate/continue";

/// What the login app is told of a challenge.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
pub(crate) struct Delegated {
    pub client_id: Option<String>,
    pub app_name: String,
    pub scopes: Vec<String>,
}

/// Where the login app sends the browser once it has answered.
pub(crate) fn continue_url(state: &AppState, challenge: &str) -> String {
    format!(
        "{}{CONTINUE}?login_challenge={challenge}",
        state.policy.settings.issuer.trim_end_matches('/')
    )
}

/// `POST /oauth2/delegate/start`: the sign-in page's button.
pub(crate) async fn start(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = Form::parse(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "This form could not be read.");
    };
    let return_to = form.get("return_to").unwrap_or("/portal/").to_owned();
    if !valid_return_to(&return_to) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in form is not valid. Go back and start again.",
        );
    }
    match own_cookie(&state, &headers, CSRF_COOKIE) {
        Some(cookie) if session::csrf_ok(&state, &headers, form.get("csrf"), None) => {
            let cookie = cookie.to_owned();
            begin(&state, address, &cookie, return_to).await
        }
        _ => back_with(
            &state,
            &return_to,
            "This form has expired or was not sent from this site. Try again.",
        ),
    }
}

/// Makes a login challenge bound to the browser whose CSRF cookie is
/// `browser_cookie`, and sends the browser to `delegate_to`.
pub(crate) async fn begin(
    state: &AppState,
    address: ClientAddress,
    browser_cookie: &str,
    return_to: String,
) -> Response {
    if let Some(limited) = super::over_budget(state, address) {
        return limited;
    }
    let Some(delegate_to) = state.policy.settings.sign_in.delegate_to.clone() else {
        return back_with(state, &return_to, "There is no such way to sign in here.");
    };
    let about = describe(state, &return_to).await;
    let challenge = secrets::generate(SecretKind::LoginChallenge);
    let to = format!("{delegate_to}?login_challenge={challenge}");
    super::send_away(
        state,
        DELEGATION,
        &challenge,
        secrets::hash(browser_cookie),
        return_to,
        &about,
        &to,
    )
    .await
}

/// The app and scopes of the authorization request the sign-in is for.
async fn describe(state: &AppState, return_to: &str) -> Delegated {
    let Some(query) = return_to.strip_prefix(concat!("/oauth2/authorize", "?")) else {
        return Delegated {
            client_id: None,
            app_name: "developer portal".to_owned(),
            scopes: Vec::new(),
        };
    };
    let params = Form::query(Some(query)).unwrap_or_default();
    let client_id = params.get("client_id").map(str::to_owned);
    let app_name = match &client_id {
        Some(id) => state
            .store
            .key_set(id)
            .await
            .ok()
            .flatten()
            .map(|k| k.app_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let scopes = params
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Delegated {
        client_id,
        app_name,
        scopes,
    }
}

/// `GET /oauth2/delegate/continue?login_challenge=…`: back from the login app.
pub(crate) async fn resume(Current(state): Current, headers: HeaderMap, uri: Uri) -> Response {
    let params = Form::query(uri.query()).unwrap_or_default();
    let refused = |reason: &str, message: &str, return_to: &str| {
        state.audit(
            AuditKind::SignInFailed,
            None,
            None,
            format!("source={DELEGATED} refused: {reason}"),
        );
        back_with(&state, return_to, message)
    };
    let Some(challenge) = params.get("login_challenge") else {
        return refused(
            "no challenge",
            "This sign-in is not valid. Start again.",
            "/portal/sign-in",
        );
    };
    let (found, first) = match state.store.take_challenge(&secrets::hash(challenge)).await {
        Ok(Some(found)) if found.0.kind == DELEGATION => found,
        Ok(_) => {
            return refused(
                "unknown challenge",
                "This sign-in is unknown or has expired. Start again.",
                "/portal/sign-in",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "store failure finishing a delegated sign-in");
            return super::our_fault();
        }
    };
    let back = found.return_to.as_str();
    if let Err(unfit) = super::fit(&state, &headers, &found, first, DELEGATION) {
        return refused(unfit.reason, unfit.message, back);
    }
    let answer = found
        .outcome
        .as_deref()
        .and_then(|o| serde_json::from_str::<Answer>(o).ok());
    let (subject, permissions, name, by) = match answer {
        None => {
            return refused(
                "no answer from the login app",
                "The sign-in was not finished. Start again.",
                back,
            );
        }
        Some(Answer::Reject { error, description, .. }) => {
            let description = description.map(|d| format!(": {d}")).unwrap_or_default();
            return refused(
                &format!("rejected by the login app: {error}"),
                &format!("The sign-in was refused ({error}{description})."),
                back,
            );
        }
        Some(Answer::Accept {
            subject,
            permissions,
            name,
            by,
        }) => (subject, permissions, name, by),
    };
    let vouched = Vouched {
        source: DELEGATED,
        subject: &subject,
        login: &subject,
        display_name: name.as_deref(),
        permissions,
    };
    let actor = Actor::AdminToken(by);
    let user = match sign_ins::sign_in_from_source(&state.service(&actor), &vouched, Admission::Create, None).await {
        Ok(Ok(user)) => user,
        Ok(Err(refusal)) => return back_with(&state, back, &refusal.message(&subject)),
        Err(_) => {
            return super::our_fault();
        }
    };
    match super::signed_in(&state, &headers, &user.login, back).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "store failure starting a session");
            super::our_fault()
        }
    }
}
