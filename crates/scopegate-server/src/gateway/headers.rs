//! Header hygiene between the caller and the upstream (RFC 9110 section 7.6.1).
//!
//! Order matters: hop-by-hop headers (and every header the caller's
//! `Connection` names) are removed first, then the caller's copies of
//! scopegate's own headers, and only then are ours added, so nothing the
//! caller sends can remove or forge an identity header.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use scopegate_core::enforce::{CLIENT_ID_HEADER, ENVIRONMENT_HEADER, SCOPES_HEADER, SUBJECT_HEADER};

use super::identity::Identity;

/// Hop-by-hop headers: meaningful for one connection only.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers and those the `Connection` header lists.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// What the upstream learns about who called.
#[derive(Debug)]
pub struct Forwarded<'a> {
    pub identity: Option<&'a Identity>,
    /// The normalized scopes after `X-OAuth-Scope`, when it narrowed them.
    pub narrowed_scopes: Option<HeaderValue>,
    pub peer: Option<SocketAddr>,
}

/// Turns the caller's headers into the upstream's.
pub fn to_upstream(headers: &mut HeaderMap, forwarded: &Forwarded<'_>) {
    remove_hop_by_hop(headers);
    scopegate_layer::remove_caller_scopegate_headers(headers);
    // The upstream learns who called from our headers, never from the
    // credentials themselves: a Basic secret or a bearer token stays here.
    headers.remove(header::AUTHORIZATION);
    if let Some(host) = headers.remove(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(peer) = forwarded.peer {
        let ip = peer.ip().to_string();
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    if let Some(identity) = forwarded.identity {
        insert_identity(headers, identity, forwarded.narrowed_scopes.clone());
    }
}

/// Adds the identity headers (after any caller copies were removed).
pub fn insert_identity(headers: &mut HeaderMap, identity: &Identity, narrowed_scopes: Option<HeaderValue>) {
    headers.insert(
        HeaderName::from_static(CLIENT_ID_HEADER),
        identity.client_id_value.clone(),
    );
    if let Some(subject) = &identity.subject_value {
        headers.insert(HeaderName::from_static(SUBJECT_HEADER), subject.clone());
    }
    headers.insert(
        HeaderName::from_static(SCOPES_HEADER),
        narrowed_scopes.unwrap_or_else(|| identity.scopes_value.clone()),
    );
    headers.insert(
        HeaderName::from_static(ENVIRONMENT_HEADER),
        identity.environment_value.clone(),
    );
}
