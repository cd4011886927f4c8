//! Who may call the admin API: a bearer admin token (`scopegate admin-token
//! create`), looked up by its SHA-256 on every request (so a revocation takes
//! effect at once, on every node), then decided by the admin policy
//! (`scopegate_core::admin`) through the same admission path as the gateway.
//! An OAuth access token is not an admin token, whatever its scopes.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scopegate_core::Policy;
use scopegate_core::admin::admin_policy;
use scopegate_core::admission::{Admission, Denial, admit};
use scopegate_core::enforce::{Credentials, Refusal, parse_authorization};
use scopegate_store::Store;

use super::error::ApiError;
use crate::state::AppState;
use scopegate_service::Actor;
use scopegate_service::credentials::secrets;

static ADMIN_POLICY: LazyLock<Option<Policy>> = LazyLock::new(|| admin_policy().ok());

/// The admin token a request was allowed with; handlers name it in the audit trail.
#[derive(Clone, Debug)]
pub(crate) struct AdminCaller {
    pub token_id: String,
}

impl AdminCaller {
    pub(crate) fn actor(&self) -> Actor {
        Actor::AdminToken(self.token_id.clone())
    }
}

/// Middleware in front of every admin route.
pub(crate) async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(policy) = ADMIN_POLICY.as_ref() else {
        return ApiError::internal().into_response();
    };
    let (mut parts, body) = request.into_parts();
    match caller(&state, policy, &parts).await {
        Ok(caller) => {
            if let Err(retry) = state.limits.admin_api_per_token.take(&caller.token_id) {
                return crate::http::limits::too_many(retry, "message", "too many admin API requests with this token");
            }
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

async fn caller(state: &AppState, policy: &Policy, request: &Parts) -> Result<AdminCaller, ApiError> {
    let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
    let authorization = request
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let unverified = match admit(policy, request.method.as_str(), target, None, authorization) {
        Err(denial) => return Err(refused(policy, &denial)),
        // The admin policy has no open route; should one appear, it still needs a token.
        Ok(Admission::Open(_)) => return Err(refused(policy, &Denial::unrouted(Refusal::Unauthenticated))),
        Ok(Admission::Verify(unverified)) => unverified,
    };
    let token = match parse_authorization(unverified.authorization, false) {
        Ok(Credentials::Bearer(token)) => token,
        Ok(_) | Err(_) => {
            let why = "the admin API takes Authorization: Bearer <admin token>".to_owned();
            return Err(refused(policy, &unverified.deny(Refusal::InvalidToken(why))));
        }
    };
    let record = state.store.admin_token(&secrets::hash(token)).await?;
    let Some(record) = record.filter(|r| r.revoked_at.is_none()) else {
        let why = "not an admin token, or a revoked one (OAuth access tokens are not admin tokens)".to_owned();
        return Err(refused(policy, &unverified.deny(Refusal::InvalidToken(why))));
    };
    let catalog = &policy.catalog;
    let held = catalog.close(&catalog.known(&record.scopes.join(" ")));
    let narrow = request
        .headers
        .get_all(scopegate_core::enforce::NARROW_HEADER)
        .iter()
        .map(|v| v.as_bytes());
    match unverified.conclude(policy, &held, None, narrow) {
        Ok(_) => Ok(AdminCaller { token_id: record.id }),
        Err(denial) => Err(refused(policy, &denial)),
    }
}

/// A denial in the admin API's error shape, with the gateway's status and challenge.
fn refused(policy: &Policy, denial: &Denial) -> ApiError {
    let answer = denial.refusal.answer(policy);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FORBIDDEN);
    let described = serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error_description"].as_str().map(str::to_owned));
    let (code, message) = match &denial.refusal {
        Refusal::Unauthenticated => (
            "unauthenticated",
            "the admin API needs Authorization: Bearer <token from `scopegate admin-token create`>".to_owned(),
        ),
        Refusal::InsufficientScope { held, .. } => {
            let normalized = policy.catalog.normalize(held.set());
            let holds: Vec<&str> = policy.catalog.names(&normalized).collect();
            (
                "insufficient_scope",
                format!(
                    "this admin token holds {}; changes need admin:write",
                    if holds.is_empty() {
                        "no scope".to_owned()
                    } else {
                        holds.join(" ")
                    }
                ),
            )
        }
        Refusal::RouteNotFound => ("not_found", "no such admin API endpoint".to_owned()),
        Refusal::BadPath(_) | Refusal::InvalidRequest(_) => (
            "invalid_request",
            described.unwrap_or_else(|| "a bad request".to_owned()),
        ),
        Refusal::Unavailable { .. } => (
            "temporarily_unavailable",
            "the admin token could not be checked just now; try again".to_owned(),
        ),
        refusal => (refusal.outcome().as_str(), described.unwrap_or_default()),
    };
    ApiError {
        challenge: answer.www_authenticate,
        ..ApiError::new(status, code, message)
    }
}
