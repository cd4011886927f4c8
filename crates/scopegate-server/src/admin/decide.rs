//! `POST /admin/api/decide`: a dry run through the live policy, answering
//! the decision value `scopegate explain` prints. It changes nothing.

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scopegate_core::explain::{Credentials, ExplainInputError, Explanation, explain};
use scopegate_core::registration::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body;
use super::error::{ApiError, ErrorBody};
use crate::http::error::no_store;
use crate::state::Current;

/// A request to decide.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct DecideRequest {
    #[schema(example = "GET")]
    pub method: String,
    /// The request target: path and optional query.
    #[schema(example = "/account/settings")]
    pub path: String,
    /// The caller's granted scopes; absent (and no `token`): a caller with no credentials.
    #[schema(example = json!(["account:write"]))]
    pub scopes: Option<Vec<String>>,
    /// Instead of `scopes`: an access token of this server, verified as the
    /// gateway verifies it; what it holds now is decided with.
    pub token: Option<String>,
    /// An `X-OAuth-Scope` value narrowing the scopes for this request (ignored without `scopes`).
    pub narrow: Option<Vec<String>>,
}

/// The route a request matched.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct MatchedRoute {
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
pub(super) struct Decision {
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

/// What a token holds now, as the gateway would verify it, or the decision
/// that it gives no credentials (401 `invalid_token`).
async fn token_scopes(state: &crate::state::AppState, token: &str) -> Result<String, Box<Decision>> {
    let live = state.live.load();
    let authorization = format!("Bearer {token}");
    let verifier = state.verifier();
    match scopegate_service::identification::identify(
        &verifier,
        &state.policy,
        &live.identities,
        authorization.as_bytes(),
        state.now(),
    )
    .await
    {
        Ok(identity) => {
            let catalog = &state.policy.catalog;
            Ok(catalog
                .names(&catalog.normalize(identity.held.set()))
                .collect::<Vec<_>>()
                .join(" "))
        }
        Err(refusal) => Err(Box::new(Decision {
            method: String::new(),
            target: String::new(),
            canonical_path: None,
            route: None,
            authenticated: true,
            granted: None,
            holds: None,
            outcome: refusal.outcome().as_str().to_owned(),
            allowed: false,
            status: refusal.answer(&state.policy).status,
            reason: refusal.reason(&state.policy),
        })),
    }
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
pub(super) async fn decide(Current(state): Current, headers: HeaderMap, bytes: Bytes) -> Result<Response, ApiError> {
    let input: DecideRequest = body::json(&headers, &bytes)?;
    let method_ok = !input.method.is_empty() && input.method.bytes().all(|b| b.is_ascii_alphabetic());
    if !method_ok {
        return Err(ApiError::field(FieldError::new("method", "an HTTP method such as GET")));
    }
    let granted = match (&input.scopes, &input.token) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(FieldError::new(
                "token",
                "give scopes or a token, not both",
            )));
        }
        (Some(scopes), None) => Some(scopes.join(" ")),
        (None, Some(token)) => match token_scopes(&state, token).await {
            Ok(scopes) => Some(scopes),
            Err(mut decision) => {
                decision.method = input.method.to_ascii_uppercase();
                decision.target = input.path.clone();
                return Ok(no_store(axum::Json(*decision).into_response()));
            }
        },
        (None, None) => None,
    };
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
            ExplainInputError::Scopes(m) | ExplainInputError::Narrow(m) | ExplainInputError::Operation(m) => m,
        };
        ApiError::field(FieldError::new(field, message))
    })?;
    Ok(no_store(axum::Json(Decision::from(explanation)).into_response()))
}

/// Endpoints an app will call.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopesForRequest {
    /// Each `METHOD PATH`.
    #[schema(example = json!(["GET /account/settings", "PUT /products/42"]))]
    pub endpoints: Vec<String>,
    /// Only scopes this grant may carry: `client_credentials` or `authorization_code`.
    pub grant: Option<String>,
    /// Only scopes available in this environment.
    pub environment: Option<String>,
}

/// The smallest scope set, as `scopegate scopes-for` prints it.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct ScopesFor {
    pub scopes: Vec<String>,
    /// For an authorize URL: `scope=` and this.
    pub scope_param: String,
    /// The route each endpoint matched, in order.
    pub routes: Vec<String>,
}

#[utoipa::path(post, path = "/admin/api/scopes-for", tag = "policy", request_body = ScopesForRequest,
    responses((status = 200, body = ScopesFor), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn scopes_for(
    Current(state): Current,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    use scopegate_core::{CoverFor, GrantKind};
    let input: ScopesForRequest = body::json(&headers, &bytes)?;
    let policy = &state.policy;
    let grant = match input.grant.as_deref() {
        None => None,
        Some(g) => Some(GrantKind::parse(g).ok_or_else(|| {
            ApiError::field(FieldError::new(
                "grant",
                format!("{g:?}: use client_credentials or authorization_code"),
            ))
        })?),
    };
    if let Some(env) = input
        .environment
        .as_deref()
        .filter(|e| !policy.environments.iter().any(|d| d == e))
    {
        return Err(ApiError::field(FieldError::new(
            "environment",
            format!("{env:?} is not declared ({})", policy.environments.join(", ")),
        )));
    }
    if input.endpoints.is_empty() {
        return Err(ApiError::field(FieldError::new(
            "endpoints",
            "name at least one \"METHOD PATH\"",
        )));
    }
    let cover = policy
        .scopes_for(
            &input.endpoints,
            CoverFor {
                grant,
                environment: input.environment.as_deref(),
            },
        )
        .map_err(|e| ApiError::field(FieldError::new("endpoints", e.to_string())))?;
    let scopes: Vec<String> = policy.catalog.names(&cover.scopes).map(str::to_owned).collect();
    Ok(no_store(
        axum::Json(ScopesFor {
            scope_param: scopegate_core::scope::encode_scope_param(scopes.iter().map(String::as_str)),
            routes: cover
                .routes
                .iter()
                .map(|r| policy.route(*r).pattern.to_string())
                .collect(),
            scopes,
        })
        .into_response(),
    ))
}
