//! Hop-by-hop header fields (RFC 9110 section 7.6.1): meaningful for one
//! connection only, so never passed from the caller to the upstream or back.

use axum::http::{HeaderMap, HeaderName, header};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers: meaningful for one connection only.
pub(crate) const HOPS: usize = 9;
pub(crate) static HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Where `name`, in any case, is in [`HOP_BY_HOP`] (by length first: most
/// names are none of these, and comparing `HeaderName`s one by one was
/// several times slower).
pub(crate) fn hop_by_hop_index(name: &[u8]) -> Option<usize> {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 if is(b"te") => Some(5),
        7 if is(b"trailer") => Some(6),
        7 if is(b"upgrade") => Some(8),
        10 if is(b"connection") => Some(0),
        10 if is(b"keep-alive") => Some(1),
        16 if is(b"proxy-connection") => Some(2),
        17 if is(b"transfer-encoding") => Some(7),
        18 if is(b"proxy-authenticate") => Some(3),
        19 if is(b"proxy-authorization") => Some(4),
        _ => None,
    }
}

/// Whether `name`, in any case, is one of [`HOP_BY_HOP`].
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    hop_by_hop_index(name).is_some()
}

/// Removes hop-by-hop headers and those the `Connection` header lists.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One look at each name; most requests carry none of these, and most
    // responses only `Connection: keep-alive`.
    let mut present = [false; HOPS];
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name.as_str().as_bytes()) {
            present[i] = true;
        }
    }
    if present == [false; HOPS] {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| !HOP_BY_HOP.iter().any(|h| token.eq_ignore_ascii_case(h.as_str())))
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}
