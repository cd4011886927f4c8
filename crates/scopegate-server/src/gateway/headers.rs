//! Header hygiene between the caller and the upstream (RFC 9110 section 7.6.1).
//!
//! Order matters: hop-by-hop headers (and every header the caller's
//! `Connection` names) are removed first, then the caller's copies of
//! scopegate's own headers, and only then are ours added, so nothing the
//! caller sends can remove or forge an identity header.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use scopegate_core::enforce::{
    CLIENT_ID_HEADER, ENVIRONMENT_HEADER, SCOPES_HEADER, SUBJECT_HEADER, is_narrow_header, is_reserved_header,
};

use crate::http::fields::{Fields, visible_ascii};
use crate::http::hop_by_hop::{hop_by_hop_index, remove_hop_by_hop};
use scopegate_service::identification::ForwardedIdentity;

// Names built at compile time: `HeaderName::from_static` at run time, or a
// `&str` key, parses the name on every call.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const CLIENT_ID: HeaderName = HeaderName::from_static(CLIENT_ID_HEADER);
const SUBJECT: HeaderName = HeaderName::from_static(SUBJECT_HEADER);
const SCOPES: HeaderName = HeaderName::from_static(SCOPES_HEADER);
const ENVIRONMENT: HeaderName = HeaderName::from_static(ENVIRONMENT_HEADER);

/// What becomes of one of the caller's header fields on its way upstream:
/// the one rule both the hyper path ([`to_upstream`]) and the fast path
/// ([`write_upstream`]) follow. (Names a `Connection` field lists go too;
/// the fast path takes no request whose `Connection` lists any.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Sent on as it came.
    Pass,
    /// Never sent: hop-by-hop fields, the credentials (the upstream learns
    /// who called from our headers; a Basic secret or a bearer token stays
    /// here), `X-OAuth-Scope`, anything in scopegate's namespace, what the
    /// gateway says itself (`X-Forwarded-Host`, `X-Forwarded-Proto`,
    /// `Forwarded`), and any `_` spelling of a field the gateway sets or
    /// frames by: an upstream that reads `_` as `-` (CGI, WSGI, Rack, nginx
    /// with `underscores_in_headers`) would take it for ours.
    Drop,
    /// `Host`: the upstream gets its own; the caller's becomes `X-Forwarded-Host`.
    Host,
    /// `X-Forwarded-For`: its values, then the caller's address.
    ForwardedFor,
}

/// The [`Fate`] of a field named `name`, in any case.
pub(crate) fn fate(name: &[u8]) -> Fate {
    if hop_by_hop_index(name).is_some() {
        return Fate::Drop;
    }
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        4 if is(b"host") => Fate::Host,
        9 if is(b"forwarded") => Fate::Drop,
        13 if is(b"authorization") => Fate::Drop,
        15 if is(b"x-forwarded-for") => Fate::ForwardedFor,
        16 if is(b"x-forwarded-host") => Fate::Drop,
        17 if is(b"x-forwarded-proto") => Fate::Drop,
        _ if is_reserved_header(name) || is_narrow_header(name) || is_underscored_own_field(name) => Fate::Drop,
        _ => Fate::Pass,
    }
}

/// Whether `name` is, with `_` read as `-` and in any case, a field the
/// gateway sets or frames a request by, spelled with at least one `_`.
fn is_underscored_own_field(name: &[u8]) -> bool {
    const OWN: [&[u8]; 5] = [
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"content-length",
        b"transfer-encoding",
    ];
    // By length first: most names are none of these. The `-` spelling
    // itself is the caller's ordinary field and not dropped here.
    OWN.iter().any(|own| {
        own.len() == name.len()
            && name
                .iter()
                .zip(own.iter())
                .all(|(&b, &o)| b.to_ascii_lowercase() == o || (b == b'_' && o == b'-'))
    }) && name.contains(&b'_')
}

/// What the upstream learns about who called.
#[derive(Debug)]
pub(crate) struct Forwarded<'a> {
    pub identity: Option<&'a ForwardedIdentity>,
    /// The normalized scopes after `X-OAuth-Scope`, when it narrowed them.
    pub narrowed_scopes: Option<HeaderValue>,
    pub peer: Option<SocketAddr>,
    /// Whether `peer` is listed in `trusted_proxies`: then the scheme and
    /// host it says the caller used (`X-Forwarded-Proto`, `X-Forwarded-Host`)
    /// are passed on; from anyone else they are dropped, and the upstream
    /// hears `http` and the `Host` scopegate was sent.
    pub trusted: bool,
}

/// The scheme a trusted proxy says the caller used: its one
/// `X-Forwarded-Proto` value, when that is `http` or `https`.
/// From anyone else the fields are not even looked for: every request pays
/// one branch.
fn trusted_proto<'v>(trusted: bool, mut values: impl Iterator<Item = &'v [u8]>) -> &'static [u8] {
    if !trusted {
        return b"http";
    }
    match (values.next(), values.next()) {
        (Some(v), None) if v.eq_ignore_ascii_case(b"https") => b"https",
        _ => b"http",
    }
}

/// The host a trusted proxy says the caller asked for: its one
/// `X-Forwarded-Host` value, when that is one visible-ASCII token.
fn trusted_host<'v>(trusted: bool, mut values: impl Iterator<Item = &'v [u8]>) -> Option<&'v [u8]> {
    if !trusted {
        return None;
    }
    match (values.next(), values.next()) {
        (Some(v), None) if !v.is_empty() && visible_ascii(v).is_some() && !v.contains(&b',') => Some(v),
        _ => None,
    }
}

/// Turns the caller's headers into the upstream's, by [`fate`].
pub(crate) fn to_upstream(headers: &mut HeaderMap, forwarded: &Forwarded<'_>) {
    let proto = trusted_proto(forwarded.trusted, Fields::values(headers, &X_FORWARDED_PROTO));
    let told_host = trusted_host(forwarded.trusted, Fields::values(headers, &X_FORWARDED_HOST))
        .and_then(|v| HeaderValue::from_bytes(v).ok());
    remove_hop_by_hop(headers);
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| fate(name.as_str().as_bytes()) == Fate::Drop)
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
    if let Some(host) = told_host.or_else(|| headers.remove(header::HOST)) {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.remove(header::HOST);
    if let Some(peer) = forwarded.peer {
        let value = forwarded_for(Fields::values(headers, &X_FORWARDED_FOR), peer.ip());
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if proto == b"https" { "https" } else { "http" }),
    );
    for (name, value) in identity_fields(forwarded) {
        headers.insert(name, value.clone());
    }
}

/// Writes the header fields of a request the fast path forwards, as
/// [`to_upstream`] would leave them, and the upstream's `host`.
pub(super) fn write_upstream<'b>(
    out: &mut Vec<u8>,
    fields: impl Iterator<Item = (&'b [u8], &'b [u8])> + Clone,
    forwarded: &Forwarded<'_>,
    host: &HeaderValue,
) {
    let mut caller_host = None;
    let mut others = false;
    for (name, value) in fields.clone() {
        match fate(name) {
            Fate::Pass => write_field(out, name, value),
            Fate::Drop => {}
            Fate::Host => caller_host = caller_host.or(Some(value)),
            Fate::ForwardedFor => others = true,
        }
    }
    let all = fields.clone();
    let named = move |wanted: &'static [u8]| {
        all.clone()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value)
    };
    let of = move |wanted: Fate| {
        fields
            .clone()
            .filter(move |(name, _)| others && fate(name) == wanted)
            .map(|(_, value)| value)
    };
    write_field(out, b"host", host.as_bytes());
    if let Some(value) = trusted_host(forwarded.trusted, named(b"x-forwarded-host")).or(caller_host) {
        write_field(out, b"x-forwarded-host", value);
    }
    match forwarded.peer {
        Some(peer) => write_field(
            out,
            b"x-forwarded-for",
            forwarded_for(of(Fate::ForwardedFor), peer.ip()).as_bytes(),
        ),
        None => of(Fate::ForwardedFor).for_each(|value| write_field(out, b"x-forwarded-for", value)),
    }
    write_field(
        out,
        b"x-forwarded-proto",
        trusted_proto(forwarded.trusted, named(b"x-forwarded-proto")),
    );
    for (name, value) in identity_fields(forwarded) {
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// One `name: value` line of an HTTP/1.1 head.
pub(super) fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The identity fields the upstream receives, after every caller copy was dropped.
fn identity_fields<'a>(forwarded: &'a Forwarded<'_>) -> impl Iterator<Item = (HeaderName, &'a HeaderValue)> {
    forwarded.identity.into_iter().flat_map(|identity| {
        let scopes = forwarded.narrowed_scopes.as_ref().unwrap_or(&identity.scopes_value);
        [
            Some((CLIENT_ID, &identity.client_id_value)),
            identity.subject_value.as_ref().map(|subject| (SUBJECT, subject)),
            Some((SCOPES, scopes)),
            Some((ENVIRONMENT, &identity.environment_value)),
        ]
        .into_iter()
        .flatten()
    })
}

/// Writes the identity fields, as [`insert_identity`] adds them.
pub(super) fn write_identity(out: &mut Vec<u8>, identity: &ForwardedIdentity, narrowed_scopes: Option<HeaderValue>) {
    let forwarded = Forwarded {
        identity: Some(identity),
        narrowed_scopes,
        peer: None,
        trusted: false,
    };
    for (name, value) in identity_fields(&forwarded) {
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// Adds the identity headers (after any caller copies were removed).
pub(crate) fn insert_identity(
    headers: &mut HeaderMap,
    identity: &ForwardedIdentity,
    narrowed_scopes: Option<HeaderValue>,
) {
    let forwarded = Forwarded {
        identity: Some(identity),
        narrowed_scopes,
        peer: None,
        trusted: false,
    };
    for (name, value) in identity_fields(&forwarded) {
        headers.insert(name, value.clone());
    }
}

/// `X-Forwarded-For` for the upstream: the caller's values as one list (RFC
/// 9110 section 5.3), then the caller's address; only the address when
/// there were none, or one was not plain text.
fn forwarded_for<'a>(before: impl Iterator<Item = &'a [u8]>, ip: IpAddr) -> HeaderValue {
    let mut joined: Vec<u8> = Vec::new();
    for value in before {
        if visible_ascii(value).is_none() {
            return ip_value(ip);
        }
        joined.extend_from_slice(value);
        joined.extend_from_slice(b", ");
    }
    if joined.is_empty() {
        return ip_value(ip);
    }
    joined.extend_from_slice(ip_value(ip).as_bytes());
    HeaderValue::from_bytes(&joined).unwrap_or_else(|_| ip_value(ip))
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

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
    use proptest::prelude::*;

    use super::{Fate, Forwarded, fate, ip_value, to_upstream, write_upstream};
    use crate::http::fields::{RawFields, Span};
    use crate::http::hop_by_hop::remove_hop_by_hop;
    use scopegate_service::identification::ForwardedIdentity;

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
        for (i, name) in crate::http::hop_by_hop::HOP_BY_HOP.iter().enumerate() {
            assert_eq!(
                crate::http::hop_by_hop::hop_by_hop_index(name.as_str().as_bytes()),
                Some(i),
                "{name}"
            );
            let upper = name.as_str().to_ascii_uppercase();
            assert_eq!(
                crate::http::hop_by_hop::hop_by_hop_index(upper.as_bytes()),
                Some(i),
                "{upper}"
            );
        }
        assert_eq!(crate::http::hop_by_hop::hop_by_hop_index(b"x-connection"), None);
        assert_eq!(crate::http::hop_by_hop::hop_by_hop_index(b"tf"), None);
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

    #[test]
    fn each_field_has_its_fate_in_any_case() {
        for (name, expected) in [
            ("Host", Fate::Host),
            ("X-Forwarded-For", Fate::ForwardedFor),
            ("x-forwarded-HOST", Fate::Drop),
            ("X_Forwarded_For", Fate::Drop),
            ("x-forwarded_host", Fate::Drop),
            ("X_FORWARDED_PROTO", Fate::Drop),
            ("Forwarded", Fate::Drop),
            ("Content_Length", Fate::Drop),
            ("transfer_encoding", Fate::Drop),
            ("x_forwarded_other", Fate::Pass),
            ("content_type", Fate::Pass),
            ("X-Forwarded-Proto", Fate::Drop),
            ("Authorization", Fate::Drop),
            ("Proxy-Authorization", Fate::Drop),
            ("X-OAuth-Scope", Fate::Drop),
            ("x_oauth_scope", Fate::Drop),
            ("X-Scopegate-Scopes", Fate::Drop),
            ("x_scopegate_client_id", Fate::Drop),
            ("TE", Fate::Drop),
            ("Connection", Fate::Drop),
            ("Accept", Fate::Pass),
            ("x-forwarded-hosts", Fate::Pass),
            ("Cookie", Fate::Pass),
        ] {
            assert_eq!(fate(name.as_bytes()), expected, "{name}");
        }
    }

    /// Names with a rule, and some without, in the spelling a test picks.
    const NAMES: [&str; 21] = [
        "host",
        "x_forwarded_for",
        "forwarded",
        "transfer_encoding",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "authorization",
        "proxy-authorization",
        "x-scopegate-scopes",
        "x_scopegate_client_id",
        "x-oauth-scope",
        "x_oauth_scope",
        "te",
        "trailer",
        "keep-alive",
        "connection",
        "accept",
        "x-custom",
        "cookie",
        "x-forwarded-hostx",
    ];

    fn field() -> impl Strategy<Value = (String, Vec<u8>)> {
        let name = (0..NAMES.len(), any::<u32>()).prop_map(|(i, case)| {
            NAMES[i]
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if case >> (j % 32) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect::<String>()
        });
        let value = prop_oneof![
            Just(b"a".to_vec()),
            Just(b"https".to_vec()),
            Just(b"HTTPS".to_vec()),
            Just(b"api.example:8443".to_vec()),
            Just(b"10.1.2.3".to_vec()),
            Just(b"x, y".to_vec()),
            Just(b"".to_vec()),
            Just(b"caf\xc3\xa9".to_vec()),
            proptest::collection::vec(prop_oneof![b' '..=b'~', Just(b'\t'), 0x80u8..=0xff], 0..6),
        ];
        (name, value).prop_map(|(name, value)| {
            // The fast path takes a `Connection` with only its own two options.
            let value = if name.eq_ignore_ascii_case("connection") {
                b"keep-alive".to_vec()
            } else {
                value
            };
            (name, value)
        })
    }

    fn sorted(mut fields: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
        // Stable: values of one name stay in their order.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields
    }

    proptest! {
        /// The fast path writes the upstream exactly the fields the hyper
        /// path's `to_upstream` leaves (order aside, except among one name's
        /// values), whatever the caller sent.
        #[test]
        fn the_fast_path_sends_the_fields_to_upstream_leaves(
            fields in proptest::collection::vec(field(), 0..10),
            identity in any::<bool>(),
            subject in any::<bool>(),
            narrowed in any::<bool>(),
            peer in any::<bool>(),
            trusted in any::<bool>(),
        ) {
            let mut head = b"GET / HTTP/1.1\r\n".to_vec();
            for (name, value) in &fields {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value);
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            let mut parsed = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut parsed);
            prop_assert!(request.parse(&head).unwrap().is_complete());
            let spans: Vec<Span> = request.headers.iter().map(|h| Span::of(&head, h.name.as_bytes(), h.value).unwrap()).collect();
            let mut map = HeaderMap::new();
            for h in request.headers.iter() {
                map.append(HeaderName::from_bytes(h.name.as_bytes()).unwrap(), HeaderValue::from_bytes(h.value).unwrap());
            }

            let who = ForwardedIdentity::for_tests("app-1", subject.then_some("ann"), "a b", "production");
            let forwarded = Forwarded {
                identity: identity.then_some(&who),
                narrowed_scopes: narrowed.then(|| HeaderValue::from_static("a")),
                peer: peer.then(|| SocketAddr::from(([192, 0, 2, 7], 4000))),
                trusted,
            };
            let upstream_host = HeaderValue::from_static("upstream:8080");

            let mut out = b"GET / HTTP/1.1\r\n".to_vec();
            write_upstream(&mut out, RawFields::new(&head, &spans).iter(), &forwarded, &upstream_host);
            out.extend_from_slice(b"\r\n");
            let mut written = [httparse::EMPTY_HEADER; 32];
            let mut fast = httparse::Request::new(&mut written);
            prop_assert!(fast.parse(&out).unwrap().is_complete(), "{}", String::from_utf8_lossy(&out));
            let fast: Vec<(String, Vec<u8>)> =
                fast.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();

            to_upstream(&mut map, &forwarded);
            map.insert(header::HOST, upstream_host);
            let hyper: Vec<(String, Vec<u8>)> =
                map.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();

            prop_assert_eq!(sorted(fast), sorted(hyper));
        }
    }
}
