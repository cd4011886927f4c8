//! The gateway's part of MCP (docs/mcp.md): an MCP request's body is read
//! whole, within `gateway.max_body_bytes` and the body deadline, so that the
//! operation it names can be checked against its `Mcp-Method` and `Mcp-Name`
//! headers before anything reaches the upstream.

use axum::body::Body;
use axum::http::Request;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use scopegate_core::enforce::Refusal;

/// The request with its body read, and the body.
pub(crate) async fn read(request: Request<Body>, limit: u64) -> Result<(Request<Body>, Bytes), Refusal> {
    let (parts, body) = request.into_parts();
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(Refusal::TooLarge(limit));
        }
        Err(e) if crate::http::slow_body::is_body_timeout(&*e) => {
            return Err(Refusal::InvalidRequest(crate::http::slow_body::BodyTimeout.to_string()));
        }
        Err(_) => return Err(Refusal::InvalidRequest("the request body ended early".into())),
    };
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}
