//! `POST /admin/api/decide`: a dry run through the live policy, answering
//! the decision value `scopegate explain` prints. It changes nothing.

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_core::explain::{Credentials, ExplainInputError, Explanation, explain};
use scopegate_core::registration::FieldError;
use scopegate_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body;
use super::error::{ApiError, ErrorBody};
use crate::error::no_store;
use crate::state::Current;

/// A request to decide.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    #[schema(example = "GET")]
    pub method: String,
    /// The request target: path and optional query.
    #[schema(example = "/account/settings")]
    pub path: String,
    /// The caller's granted scopes; absent: a caller with no credentials.
    #[schema(example = json!(["account:write"]))]
    pub scopes: Option<Vec<String>>,
    /// An `X-OAuth-Scope` value narrowing the scopes for this request (ignored without `scopes`).
    pub narrow: Option<Vec<String>>,
}

/// The route a request matched.
#[derive(Serialize, ToSchema, Debug)]
pub struct MatchedRoute {
    /// `METHOD PATTERN` as the policy writes it.
    pub pattern: String,
    /// `FILE:LINE` in the policy.
    pub location: String,
    /// `none`, `client`, `any_of` or `all_of`.
    pub require: String,
    pub scopes: Vec<String>,
    pub describe: String,
}

/// The full decision value.
#[derive(Serialize, ToSchema, Debug)]
pub struct Decision {
    pub method: String,
    pub target: String,
    /// The canonical path decided on; absent when the target was refused.
    pub canonical_path: Option<String>,
    pub route: Option<MatchedRoute>,
    pub authenticated: bool,
    pub granted: Option<Vec<String>>,
    /// What the caller holds after implication and narrowing.
    pub holds: Option<Vec<String>>,
    /// `allow`, `bad_path`, `route_not_found`, `unauthenticated` or `insufficient_scope`.
    pub outcome: String,
    pub allowed: bool,
    /// The status the gateway would answer (200: passed upstream).
    pub status: u16,
    pub reason: String,
}

impl From<Explanation> for Decision {
    fn from(e: Explanation) -> Self {
        Self {
            method: e.method,
            target: e.target,
            canonical_path: e.canonical_path,
            route: e.route.map(|r| MatchedRoute {
                pattern: r.pattern,
                location: r.location,
                require: r.require.to_owned(),
                scopes: r.scopes,
                describe: r.describe,
            }),
            authenticated: e.authenticated,
            granted: e.granted,
            holds: e.holds,
            outcome: e.outcome.to_owned(),
            allowed: e.allowed,
            status: e.status,
            reason: e.reason,
        }
    }
}

#[utoipa::path(post, path = "/admin/api/decide", tag = "policy", request_body = DecideRequest,
    responses((status = 200, body = Decision), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn decide<S: Store>(
    Current(state): Current<S>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: DecideRequest = body::json(&headers, &bytes)?;
    let method_ok = !input.method.is_empty() && input.method.bytes().all(|b| b.is_ascii_alphabetic());
    if !method_ok {
        return Err(ApiError::field(FieldError::new("method", "an HTTP method such as GET")));
    }
    let granted = input.scopes.as_ref().map(|s| s.join(" "));
    let narrow = input.narrow.as_ref().map(|s| s.join(" "));
    let credentials = match &granted {
        None if narrow.is_some() => {
            return Err(ApiError::field(FieldError::new(
                "narrow",
                "narrowing needs scopes to narrow",
            )));
        }
        None => Credentials::Anonymous,
        Some(granted) => Credentials::Scopes {
            granted,
            narrow: narrow.as_deref(),
        },
    };
    let explanation = explain(
        &state.policy,
        &input.method.to_ascii_uppercase(),
        &input.path,
        credentials,
    )
    .map_err(|e| {
        let field = e.field();
        let message = match e {
            ExplainInputError::Scopes(m) | ExplainInputError::Narrow(m) => m,
        };
        ApiError::field(FieldError::new(field, message))
    })?;
    Ok(no_store(axum::Json(Decision::from(explanation)).into_response()))
}
