//! The gateway's part of MCP (docs/mcp.md): an MCP request's body is read
//! whole, within `gateway.max_body_bytes` and the body deadline, so that the
//! operation it names can be checked against its `Mcp-Method` and `Mcp-Name`
//! headers before anything reaches the upstream; and the answers to list
//! methods are filtered to what the caller may call.

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use scopegate_core::enforce::Refusal;
use scopegate_core::{Caller, Policy};

use crate::upstream::UpstreamFailure;

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

/// An MCP server's answer to a list method, rewritten to the entries
/// `caller` may call (docs/mcp.md). A success that cannot be read as a
/// JSON-RPC answer, or that is larger than `limit`, never reaches the
/// caller: it could list what the caller may not see.
pub(crate) async fn filter_list(
    response: Response<Body>,
    policy: &Policy,
    list: &str,
    caller: Caller<'_>,
    limit: u64,
) -> Result<Response<Body>, UpstreamFailure> {
    if !response.status().is_success() {
        return Ok(response);
    }
    let event_stream = match response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(t) if media_type(t) == "application/json" => false,
        Some(t) if media_type(t) == "text/event-stream" => true,
        _ => return Err(UpstreamFailure::bad_gateway(NOT_A_LIST)),
    };
    let (mut parts, body) = response.into_parts();
    let bytes = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
        .map_err(|_| UpstreamFailure::bad_gateway(NOT_A_LIST))?
        .to_bytes();
    let filtered = policy
        .filter_list_answer(list, &bytes, event_stream, caller)
        .map_err(|_| UpstreamFailure::bad_gateway(NOT_A_LIST))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(Response::from_parts(parts, Body::from(filtered)))
}

const NOT_A_LIST: &str =
    "the MCP server's answer to a list method could not be read as JSON-RPC, so it was not passed on";

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
