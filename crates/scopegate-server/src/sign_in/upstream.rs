//! The authorization code flow with an upstream OpenID Connect provider:
//! `POST /oauth2/idp/<name>/start` sends the browser there with PKCE S256,
//! `state` and `nonce`; `GET /oauth2/idp/<name>/callback` takes the answer,
//! verifies the ID token (the provider's keys, `iss`, `aud`, `azp`, `exp`,
//! `nonce`, an asymmetric algorithm), reads the claims the mapping needs,
//! and signs the user in through the service layer.
//!
//! The flow's state is a sign-in challenge in the store (any node finishes
//! what another started), bound to the browser that started it, single use,
//! ten minutes at most.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, Scope, TokenResponse,
};
use scopegate_core::sign_in::claim_text;
use scopegate_service::operations::sign_ins::{self, Vouched};
use scopegate_service::{Actor, AuditKind};
use scopegate_store::{ChallengeRecord, Store};
use serde_json::{Map, Value};

use super::{back_with, valid_return_to};
use crate::http::address::ClientAddress;
use crate::http::form::Form;
use crate::http::pages::error_page;
use crate::idp::Provider;
use crate::session::{self, CSRF_COOKIE, own_cookie};
use crate::state::{AppState, Current};
use scopegate_service::credentials::secrets;

/// Clock skew allowed between us and the provider when checking an ID
/// token's `exp`.
const EXP_LEEWAY: i64 = 60;
const KIND: &str = "idp";

/// Asymmetric signatures only: never `none`, never HS (whose key would be
/// the client secret, or worse, a public key).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What the callback needs, kept with the challenge.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    provider: String,
    nonce: String,
    verifier: String,
}

/// `POST /oauth2/idp/<name>/start`: from a sign-in page's button.
pub(crate) async fn start(
    Current(state): Current,
    Path(name): Path<String>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(limited) = super::over_budget(&state, address) {
        return limited;
    }
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
    let browser = match own_cookie(&state, &headers, CSRF_COOKIE) {
        Some(c) if session::csrf_ok(&state, &headers, form.get("csrf"), None) => secrets::hash(c),
        _ => {
            return back_with(
                &state,
                &return_to,
                "This form has expired or was not sent from this site. Try again.",
            );
        }
    };
    let Some(config) = state.policy.settings.sign_in.provider(&name) else {
        return back_with(&state, &return_to, "There is no such way to sign in here.");
    };
    let provider = state.providers.get(config, &state.policy.settings.issuer);
    // Not reached yet (or not lately): one more try now, rather than a
    // refusal until the next retry.
    if provider.problem().is_some() && provider.retry_now() {
        let _ = provider.discover().await;
    }
    let client = match provider.relying_party() {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(provider = %name, "sign-in through an unavailable provider: {why}");
            return back_with(
                &state,
                &return_to,
                &format!("{} is unavailable right now. Try again in a minute.", config.label),
            );
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in config.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf_state, nonce) = request.url();
    let pending = Pending {
        provider: name.clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
    };
    super::send_away(
        &state,
        KIND,
        csrf_state.secret(),
        browser,
        return_to,
        &pending,
        url.as_str(),
    )
    .await
}

/// Why a callback did not sign anyone in: the page's message, and the
/// audit trail's reason (never a secret).
struct Failed {
    message: String,
    reason: String,
}

fn failed(message: impl Into<String>, reason: impl Into<String>) -> Failed {
    Failed {
        message: message.into(),
        reason: reason.into(),
    }
}

/// `GET /oauth2/idp/<name>/callback`: the provider's answer.
pub(crate) async fn callback(
    Current(state): Current,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let params = Form::query(uri.query()).unwrap_or_default();
    let Some(handle) = params.get("state") else {
        return refused_without_return(&state, &name, "The provider's answer carries no state.", "no state");
    };
    let (challenge, first) = match state.store.take_challenge(&secrets::hash(handle)).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return refused_without_return(
                &state,
                &name,
                "This sign-in is unknown or has expired. Start again.",
                "unknown state",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "store failure finishing a sign-in");
            return super::our_fault();
        }
    };
    let outcome = finish(&state, &name, &params, &headers, &challenge, first).await;
    match outcome {
        Ok(response) => response,
        Err(f) => {
            state.audit(
                AuditKind::SignInFailed,
                None,
                None,
                format!("source=idp:{name} refused: {}", f.reason),
            );
            back_with(&state, &challenge.return_to, &f.message)
        }
    }
}

fn refused_without_return(state: &AppState, name: &str, message: &str, reason: &str) -> Response {
    state.audit(
        AuditKind::SignInFailed,
        None,
        None,
        format!("source=idp:{name} refused: {reason}"),
    );
    back_with(state, "/portal/sign-in", message)
}

async fn finish(
    state: &AppState,
    name: &str,
    params: &Form,
    headers: &HeaderMap,
    challenge: &ChallengeRecord,
    first: bool,
) -> Result<Response, Failed> {
    super::fit(state, headers, challenge, first, KIND).map_err(|u| failed(u.message, u.reason))?;
    let pending: Pending = serde_json::from_str(&challenge.data)
        .map_err(|_| failed("This sign-in is not valid. Start again.", "bad state"))?;
    if pending.provider != name {
        return Err(failed(
            "This sign-in came back from another provider. Start again.",
            "state of another provider",
        ));
    }
    let Some(config) = state.policy.settings.sign_in.provider(name) else {
        return Err(failed(
            "There is no such way to sign in here.",
            "provider not in the policy",
        ));
    };
    let label = &config.label;
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(failed(
            format!("{label} did not sign you in ({error}{description})."),
            format!("upstream error={}", error.chars().take(64).collect::<String>()),
        ));
    }
    let provider = state.providers.get(config, &state.policy.settings.issuer);
    // RFC 9207: a provider that names itself must name the one we sent the browser to.
    if let Some(iss) = params.get("iss")
        && iss != config.issuer
    {
        return Err(failed(format!("The answer did not come from {label}."), "iss mismatch"));
    }
    let Some(code) = params.get("code") else {
        return Err(failed(format!("{label} sent no authorization code."), "no code"));
    };
    let claims = verified_claims(&provider, code, &pending, state.now()).await?;
    let Some(subject) = claims.get("sub").and_then(Value::as_str).map(str::to_owned) else {
        return Err(failed(format!("{label}'s ID token names nobody."), "no sub"));
    };
    let Some(login) = claim_text(&claims, &config.login_claim) else {
        return Err(failed(
            format!(
                "{label} did not say who you are here (its answer has no \"{}\" claim).",
                config.login_claim
            ),
            format!("no {} claim", config.login_claim),
        ));
    };
    let display_name = claim_text(&claims, "name");
    let vouched = Vouched {
        source: &config.source(),
        subject: &subject,
        login: &login,
        display_name: display_name.as_deref(),
        permissions: config.permissions_for(&claims),
    };
    let actor = Actor::IdentityProvider(name.to_owned());
    let signed = sign_ins::sign_in_from_source(&state.service(&actor), &vouched, config.users, None).await;
    let user = match signed {
        Ok(Ok(user)) => user,
        Ok(Err(refusal)) => {
            // The service layer has audited it.
            return Ok(back_with(state, &challenge.return_to, &refusal.message(&login)));
        }
        Err(_) => return Err(failed(super::OUR_FAULT, "internal error")),
    };
    super::signed_in(state, headers, &user.login, &challenge.return_to)
        .await
        .map_err(|_| failed(super::OUR_FAULT, "internal error"))
}

/// Exchanges the code (with the PKCE verifier), verifies the ID token, and
/// returns its claims, completed from userinfo when the mapping reads a
/// claim the ID token lacks.
async fn verified_claims(
    provider: &Provider,
    code: &str,
    pending: &Pending,
    now: i64,
) -> Result<Map<String, Value>, Failed> {
    let label = &provider.config.label;
    let unavailable = |why: String| {
        tracing::warn!(provider = %provider.config.name, "sign-in failed: {why}");
        failed(
            format!("{label} could not be reached to finish signing you in. Try again."),
            why,
        )
    };
    let client = provider.relying_party().map_err(unavailable)?;
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| unavailable(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    let tokens = request.request_async(&provider.http).await.map_err(|e| {
        let why = match &e {
            openidconnect::RequestTokenError::ServerResponse(r) => {
                format!("the token endpoint refused the code: {}", r.error())
            }
            other => format!("token endpoint: {other}"),
        };
        tracing::warn!(provider = %provider.config.name, "sign-in failed: {why}");
        failed(format!("{label} did not confirm the sign-in. Start again."), why)
    })?;
    let Some(id_token) = tokens.id_token() else {
        return Err(failed(format!("{label} sent no ID token."), "no id_token"));
    };
    let nonce = Nonce::new(pending.nonce.clone());
    let check = |client: &crate::idp::RelyingParty| {
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALGORITHMS)
            .set_time_fn(move || chrono::DateTime::from_timestamp(now - EXP_LEEWAY, 0).unwrap_or_default());
        id_token.claims(&verifier, &nonce).map(|_| ())
    };
    if let Err(first) = check(&client) {
        // A key we do not know may be a rotation: fetch the keys once more.
        let rotated = matches!(first, ClaimsVerificationError::SignatureVerification(_));
        let retried = if rotated && provider.refetch_keys() {
            let _ = provider.discover().await;
            check(&provider.relying_party().map_err(unavailable)?)
        } else {
            Err(first)
        };
        if let Err(why) = retried {
            return Err(failed(
                format!("{label}'s ID token is not valid ({why})."),
                format!("bad id_token: {why}"),
            ));
        }
    }
    // The signature is verified over exactly this text; its claims are read as JSON.
    let text = id_token.to_string();
    let mut claims = text
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
        .ok_or_else(|| failed(format!("{label}'s ID token could not be read."), "unreadable id_token"))?;
    let lacking = provider
        .config
        .claims_read()
        .any(|c| scopegate_core::sign_in::claim(&claims, c).is_none());
    if lacking && let Some(url) = client.user_info_url() {
        let extra = user_info(provider, url.as_str(), tokens.access_token().secret())
            .await
            .map_err(unavailable)?;
        if extra.get("sub") != claims.get("sub") {
            return Err(failed(
                format!("{label}'s userinfo is about someone else."),
                "userinfo sub mismatch",
            ));
        }
        for (k, v) in extra {
            claims.entry(k).or_insert(v);
        }
    }
    Ok(claims)
}

/// The userinfo endpoint's claims (JSON answers only).
async fn user_info(provider: &Provider, url: &str, access_token: &str) -> Result<Map<String, Value>, String> {
    use openidconnect::AsyncHttpClient;
    let request = axum::http::Request::get(url)
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {access_token}"))
        .header(axum::http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| format!("userinfo request: {e}"))?;
    let response = provider
        .http
        .call(request)
        .await
        .map_err(|e| format!("userinfo: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("userinfo answered {}", response.status()));
    }
    serde_json::from_slice(response.body()).map_err(|e| format!("userinfo is not a JSON object: {e}"))
}
