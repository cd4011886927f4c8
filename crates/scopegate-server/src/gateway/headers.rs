//! Header hygiene between the caller and the upstream (RFC 9110 section 7.6.1).
//!
//! Order matters: hop-by-hop headers (and every header the caller's
//! `Connection` names) are removed first, then the caller's copies of
//! scopegate's own headers, and only then are ours added, so nothing the
//! caller sends can remove or forge an identity header.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use scopegate_core::enforce::{CLIENT_ID_HEADER, ENVIRONMENT_HEADER, SCOPES_HEADER, SUBJECT_HEADER};

use super::identity::Identity;

// Names built at compile time: `HeaderName::from_static` at run time, or a
// `&str` key, parses the name on every call.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const CLIENT_ID: HeaderName = HeaderName::from_static(CLIENT_ID_HEADER);
const SUBJECT: HeaderName = HeaderName::from_static(SUBJECT_HEADER);
const SCOPES: HeaderName = HeaderName::from_static(SCOPES_HEADER);
const ENVIRONMENT: HeaderName = HeaderName::from_static(ENVIRONMENT_HEADER);

/// Hop-by-hop headers: meaningful for one connection only.
const HOPS: usize = 9;
pub(super) static HOP_BY_HOP: [HeaderName; HOPS] = [
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

/// Where `name` is in [`HOP_BY_HOP`] (a `match` on the text is several
/// times faster than comparing `HeaderName`s one by one).
fn hop_by_hop_index(name: &str) -> Option<usize> {
    match name {
        "connection" => Some(0),
        "keep-alive" => Some(1),
        "proxy-connection" => Some(2),
        "proxy-authenticate" => Some(3),
        "proxy-authorization" => Some(4),
        "te" => Some(5),
        "trailer" => Some(6),
        "transfer-encoding" => Some(7),
        "upgrade" => Some(8),
        _ => None,
    }
}

/// Removes hop-by-hop headers and those the `Connection` header lists.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One look at each name; most requests carry none of these, and most
    // responses only `Connection: keep-alive`.
    let mut present = [false; HOPS];
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name.as_str()) {
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
        headers.insert(X_FORWARDED_HOST, host);
    }
    if let Some(peer) = forwarded.peer {
        let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(before) => HeaderValue::from_str(&format!("{before}, {}", peer.ip())).ok(),
            None => Some(ip_value(peer.ip())),
        };
        if let Some(value) = value {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Some(identity) = forwarded.identity {
        insert_identity(headers, identity, forwarded.narrowed_scopes.clone());
    }
}

/// Adds the identity headers (after any caller copies were removed).
pub fn insert_identity(headers: &mut HeaderMap, identity: &Identity, narrowed_scopes: Option<HeaderValue>) {
    headers.insert(CLIENT_ID, identity.client_id_value.clone());
    if let Some(subject) = &identity.subject_value {
        headers.insert(SUBJECT, subject.clone());
    }
    headers.insert(SCOPES, narrowed_scopes.unwrap_or_else(|| identity.scopes_value.clone()));
    headers.insert(ENVIRONMENT, identity.environment_value.clone());
}

/// The `X-Forwarded-For` value for `ip`. A worker sees the same few
/// addresses (a load balancer's, a client's many requests) over and over, so
/// the last one is kept rather than formatted again.
fn ip_value(ip: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((seen, value)) if *seen == ip => value.clone(),
            _ => {
                // An address prints as ASCII digits, dots, colons and hex.
                let value = HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static("unknown"));
                *last = Some((ip, value.clone()));
                value
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use axum::http::{HeaderMap, HeaderValue};

    use super::{ip_value, remove_hop_by_hop};

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive, X-Custom"),
            ("connection", " Upgrade ,x-other"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authenticate", "Basic"),
            ("proxy-authorization", "Basic eA=="),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-custom", "1"),
            ("x-other", "2"),
            ("x-kept", "3"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["accept", "x-kept"]);
    }

    #[test]
    fn the_index_of_each_hop_by_hop_name_is_its_place_in_the_list() {
        for (i, name) in super::HOP_BY_HOP.iter().enumerate() {
            assert_eq!(super::hop_by_hop_index(name.as_str()), Some(i), "{name}");
        }
        assert_eq!(super::hop_by_hop_index("x-connection"), None);
    }

    #[test]
    fn headers_without_hop_by_hop_ones_are_left_as_they_are() {
        let mut headers = map(&[("host", "x"), ("authorization", "Bearer t"), ("x-a", "1"), ("x-a", "2")]);
        let before = headers.clone();
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn forwarded_for_values_follow_the_address() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        let b = IpAddr::V6(Ipv6Addr::LOCALHOST);
        for _ in 0..2 {
            assert_eq!(ip_value(a), "10.0.0.9");
            assert_eq!(ip_value(a), "10.0.0.9");
            assert_eq!(ip_value(b), "::1");
        }
    }
}
