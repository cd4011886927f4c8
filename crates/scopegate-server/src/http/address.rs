//! Who is calling: the client's address, the peer's own or, behind a
//! `trusted_proxies` proxy, the one its `X-Forwarded-For` names
//! ([`scopegate_core::limits::client_address`]). The limits count it and
//! the audit trail records it.

use std::net::IpAddr;

use axum::http::HeaderName;
use scopegate_core::limits::client_address;

use crate::http::fields::{Fields, visible_ascii};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address; `None` only where no socket recorded a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// From the socket's peer and the request's header fields.
    pub(crate) fn of<H: Fields + ?Sized>(peer: Option<IpAddr>, headers: &H, trusted: &[ipnet::IpNet]) -> Self {
        let Some(peer) = peer else { return Self(None) };
        if trusted.is_empty() {
            return Self(Some(peer));
        }
        // A value that is not text is not an address list: it ends the walk
        // like any other value that names no address.
        let name = X_FORWARDED_FOR;
        let forwarded = headers.values(&name).map(|v| visible_ascii(v).unwrap_or("?"));
        Self(Some(client_address(peer, forwarded, trusted)))
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}
