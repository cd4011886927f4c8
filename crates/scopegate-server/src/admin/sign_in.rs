//! Login delegation (docs/users.md): the provider's login app reads a
//! login challenge, then accepts it (naming the subject and what they may
//! do) or rejects it, and sends the browser to the `redirect_to` it gets.
//! An `admin:sign-in` token may do this and nothing else.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_service::credentials::secrets;
use scopegate_service::operations::sign_ins::{self, Answer, ChallengeState, DELEGATION};
use scopegate_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::body;
use super::error::{ApiError, ErrorBody};
use crate::http::error::no_store;
use crate::sign_in::delegation::{Delegated, continue_url};
use crate::state::Current;

/// A login challenge, for the login app to show and decide.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Challenge {
    pub challenge: String,
    /// The app the user is signing in for (none: the developer portal).
    pub client_id: Option<String>,
    pub app_name: String,
    /// The scopes the app asks for.
    pub scopes: Vec<String>,
    /// Unix seconds; the challenge is gone after it.
    pub expires_at: i64,
}

/// The person the login app signed in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Accept {
    /// Their identifier in the provider's database; their login here.
    #[schema(example = "u-123", pattern = r"^[A-Za-z0-9_.@-]{1,128}$")]
    pub subject: String,
    /// Replaces what earlier delegations said they may do.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Why the login app did not sign anyone in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Reject {
    #[schema(example = "access_denied")]
    pub error: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Where the login app sends the browser next.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct RedirectTo {
    pub redirect_to: String,
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "gone",
        "this login challenge was already answered or used, or has expired; the user starts again",
    )
}

fn unknown() -> ApiError {
    ApiError::not_found("no such login challenge")
}

#[utoipa::path(get, path = "/admin/api/sign-in/{challenge}", tag = "sign-in", params(("challenge" = String, Path)),
    responses((status = 200, body = Challenge), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(super) async fn show(Current(state): Current, Path(challenge): Path<String>) -> Result<Response, ApiError> {
    let Some(found) = state.store.challenge(&secrets::hash(&challenge)).await? else {
        return Err(unknown());
    };
    if found.kind != DELEGATION {
        return Err(unknown());
    }
    if found.used || found.outcome.is_some() || found.expires_at <= state.now() {
        return Err(gone());
    }
    let about: Delegated = serde_json::from_str(&found.data).unwrap_or_default();
    Ok(no_store(
        axum::Json(Challenge {
            challenge,
            client_id: about.client_id,
            app_name: about.app_name,
            scopes: about.scopes,
            expires_at: found.expires_at,
        })
        .into_response(),
    ))
}

#[utoipa::path(put, path = "/admin/api/sign-in/{challenge}/accept", tag = "sign-in", params(("challenge" = String, Path)),
    request_body = Accept,
    responses((status = 200, body = RedirectTo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn accept(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(challenge): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: Accept = body::json(&headers, &bytes)?;
    let answer = Answer::Accept {
        subject: input.subject,
        permissions: input.permissions,
        name: input.name,
        by: caller.token_id.clone(),
    };
    settle(&state, &caller, &challenge, &answer).await
}

#[utoipa::path(put, path = "/admin/api/sign-in/{challenge}/reject", tag = "sign-in", params(("challenge" = String, Path)),
    request_body = Reject,
    responses((status = 200, body = RedirectTo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn reject(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(challenge): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: Reject = body::json(&headers, &bytes)?;
    let answer = Answer::Reject {
        error: input.error,
        description: input.description,
        by: caller.token_id.clone(),
    };
    settle(&state, &caller, &challenge, &answer).await
}

async fn settle(
    state: &crate::state::AppState,
    caller: &AdminCaller,
    challenge: &str,
    answer: &Answer,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let cx = state.service(&actor);
    match sign_ins::answer_challenge(&cx, &secrets::hash(challenge), answer).await? {
        Ok(()) => Ok(no_store(
            axum::Json(RedirectTo {
                redirect_to: continue_url(state, challenge),
            })
            .into_response(),
        )),
        Err(ChallengeState::Unknown) => Err(unknown()),
        Err(ChallengeState::Gone) => Err(gone()),
    }
}
