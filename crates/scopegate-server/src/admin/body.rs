//! Reading requests: JSON bodies and query strings into typed inputs, with
//! unknown fields refused, and every failure an [`ApiError`] naming what was
//! wrong (axum's own rejections answer in plain text).

use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest request body the admin API reads.
pub(super) const MAX_BODY: usize = 64 * 1024;

/// The answer to a body over [`MAX_BODY`].
pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {MAX_BODY} bytes"),
    )
}

/// A JSON body of type `T`.
pub(super) fn json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    if !crate::http::form::has_content_type(headers, "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_request(format!("the JSON body: {e}")))
}

/// The query string as `T` (absent: every field at its default).
pub(super) fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::invalid_request(format!("the query string: {e}")))
}
