//! RFC 6749 section 5.2 error responses, for the token, introspection and
//! revocation endpoints: JSON, `Cache-Control: no-store`, and a `Basic`
//! challenge when Basic client authentication failed.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scopegate_core::oauth::{ErrorCode, OAuthError};

/// An OAuth error as the endpoints answer it: `invalid_client` is a 401 with a
/// `Basic` challenge, everything else a 400.
#[derive(Debug)]
pub(crate) struct OAuthResponse {
    pub error: OAuthError,
}

impl From<OAuthError> for OAuthResponse {
    fn from(error: OAuthError) -> Self {
        Self { error }
    }
}

/// A store failure: logged, answered 503 with `Retry-After`: the database
/// is out of reach (or failed) just now, and the caller should try again.
#[derive(Debug)]
pub(crate) struct Internal;

impl From<scopegate_store::StoreError> for Internal {
    fn from(e: scopegate_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Internal
    }
}

impl IntoResponse for Internal {
    fn into_response(self) -> Response {
        no_store(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the server cannot reach its database just now; try again",
                })),
            )
                .into_response(),
        )
    }
}

/// Either an OAuth error or an internal failure.
#[derive(Debug)]
pub(crate) enum EndpointError {
    OAuth(OAuthResponse),
    /// A `[limits]` rate was exceeded: 429, with what was limited.
    Limited(scopegate_core::limits::RetryAfter, &'static str),
    Internal,
}

impl From<OAuthError> for EndpointError {
    fn from(e: OAuthError) -> Self {
        EndpointError::OAuth(e.into())
    }
}

impl From<OAuthResponse> for EndpointError {
    fn from(e: OAuthResponse) -> Self {
        EndpointError::OAuth(e)
    }
}

impl From<scopegate_store::StoreError> for EndpointError {
    fn from(e: scopegate_store::StoreError) -> Self {
        let Internal = Internal::from(e);
        EndpointError::Internal
    }
}

impl IntoResponse for EndpointError {
    fn into_response(self) -> Response {
        match self {
            EndpointError::OAuth(e) => e.into_response(),
            EndpointError::Limited(retry, what) => crate::http::limits::too_many(retry, "error_description", what),
            EndpointError::Internal => Internal.into_response(),
        }
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let status = match self.error.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        });
        let mut response = no_store((status, Json(body)).into_response());
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"scopegate\""),
            );
        }
        response
    }
}

/// Marks a response as never to be cached (RFC 6749 section 5.1).
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
