//! The admin API's error answer: `{"error": "<stable code>", "message": "…"}`,
//! plus `field` when one input field is at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scopegate_core::registration::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

use scopegate_service::ServiceError;

/// An error of the admin API.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    /// `WWW-Authenticate`, for 401 and 403.
    pub challenge: Option<String>,
}

/// The body of every error answer.
#[derive(Serialize, ToSchema, Debug)]
pub(crate) struct ErrorBody {
    /// A stable code: `invalid_request`, `invalid_field`, `unauthenticated`,
    /// `invalid_token`, `insufficient_scope`, `not_found`, `conflict`,
    /// `method_not_allowed`, `unsupported_media_type`, `gone`, `temporarily_unavailable`, `server_error`.
    #[schema(example = "invalid_field")]
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            challenge: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn field(e: FieldError) -> Self {
        Self {
            field: Some(e.field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string())
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store failed; nothing was changed; try again (see the server log)",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(m) => ApiError::not_found(m),
            ServiceError::Invalid(f) => ApiError::field(f),
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ServiceError::Internal => ApiError::internal(),
        }
    }
}

impl From<scopegate_store::StoreError> for ApiError {
    fn from(e: scopegate_store::StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            field: self.field.map(str::to_owned),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
