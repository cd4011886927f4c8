//! Client ID Metadata Documents (docs/mcp.md): a `client_id` that is an
//! https URL names the document its client describes itself in. Fetched
//! within [`MAX_DOCUMENT_BYTES`] and [`TIMEOUT`], never through a redirect,
//! and never from a private, loopback or link-local address (unless
//! `[clients] loopback_metadata_documents` lets in 127.0.0.1 for
//! development); the addresses are checked once and connected to as
//! checked, so a second DNS answer cannot point elsewhere. Documents read
//! are kept for [`KEEP`], at most [`MAX_CACHED`] of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{self, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use scopegate_core::client_metadata::{ClientMetadata, read_metadata};
use scopegate_core::clients::MAX_DOCUMENT_BYTES;

/// Time allowed for resolving, connecting and reading a document.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a document read is used before it is fetched again.
pub(crate) const KEEP: Duration = Duration::from_secs(300);
/// The most documents kept.
pub(crate) const MAX_CACHED: usize = 1000;

/// Documents read, by URL.
#[derive(Debug, Default)]
pub(crate) struct Documents {
    cache: Mutex<HashMap<String, (Instant, ClientMetadata)>>,
}

impl Documents {
    /// The metadata the document at `url` gives, from the cache or fetched
    /// now; why not, in words for the error page.
    pub(crate) async fn get(&self, url: &str, loopback: bool) -> Result<ClientMetadata, String> {
        if let Some((at, metadata)) = self.cache.lock().ok().and_then(|c| c.get(url).cloned())
            && at.elapsed() < KEEP
        {
            return Ok(metadata);
        }
        let body = tokio::time::timeout(TIMEOUT, fetch(url, loopback))
            .await
            .map_err(|_| format!("its metadata document did not arrive within {} s", TIMEOUT.as_secs()))??;
        let metadata = read_metadata(&body, Some(url))
            .map_err(|e| format!("its metadata document is refused: {}", e.description))?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(url.to_owned(), (Instant::now(), metadata.clone()));
        }
        Ok(metadata)
    }
}

/// Whether an address is one a metadata document may be fetched from.
fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

async fn fetch(url: &str, loopback: bool) -> Result<Bytes, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("its client_id is not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("its client_id names no host")?.to_owned();
    let port = parsed.port_or_known_default().ok_or("its client_id names no port")?;
    let https = parsed.scheme() == "https";
    let name = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addresses: Vec<SocketAddr> = match name.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| format!("the host of its metadata document does not resolve: {e}"))?
            .collect(),
    };
    let allowed = |a: &SocketAddr| public(a.ip()) || (loopback && a.ip().is_loopback());
    if addresses.is_empty() || !addresses.iter().all(allowed) {
        return Err(format!(
            "its metadata document is at a private or local address ({host}); it must be on the public internet"
        ));
    }
    let stream = tokio::net::TcpStream::connect(&addresses[..])
        .await
        .map_err(|e| format!("its metadata document could not be reached: {e}"))?;
    let request = http::Request::get(parsed.as_str())
        .header(
            header::HOST,
            parsed
                .host_str()
                .map(|h| match parsed.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
                .unwrap_or_default(),
        )
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "scopegate")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("its client_id is not a usable URL: {e}"))?;
    let response = if https {
        let config = scopegate_layer::tls::client_config(None, &[]).map_err(|e| format!("no TLS roots: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let server = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("its host is not a TLS server name: {e}"))?;
        let tls = connector
            .connect(server, stream)
            .await
            .map_err(|e| format!("TLS to its metadata document failed: {e}"))?;
        send(hyper_util::rt::TokioIo::new(tls), request).await?
    } else {
        send(hyper_util::rt::TokioIo::new(stream), request).await?
    };
    let status = response.status();
    if status.is_redirection() {
        return Err("its metadata document redirects elsewhere; redirects are not followed".into());
    }
    if status != http::StatusCode::OK {
        return Err(format!("its metadata document answered {status}"));
    }
    let too_large = || format!("its metadata document is larger than {MAX_DOCUMENT_BYTES} bytes");
    if response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES)
    {
        return Err(too_large());
    }
    Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| too_large())
}

async fn send<IO>(io: IO, request: http::Request<Empty<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("its metadata document could not be fetched: {e}"))?;
    tokio::spawn(connection);
    let mut request = request;
    // HTTP/1.1 origin-form: the path and query only.
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    *request.uri_mut() = target
        .parse()
        .map_err(|_| "its client_id has no usable path".to_owned())?;
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("its metadata document could not be fetched: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_fetched_only_from_public_addresses() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                !public(private.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                "{private}"
            );
        }
        for open in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(public(open.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))), "{open}");
        }
    }
}
