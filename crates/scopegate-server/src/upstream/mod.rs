//! Forwarding an allowed request: to `gateway.upstream` through per-worker
//! pools of keep-alive HTTP/1.1 connections with streaming bodies both ways, or to the built-in `echo`
//! upstream. Failures answer 502 (cannot connect), 504 (no response in time)
//! or 413 (body over the limit), each with a JSON body ([`UpstreamFailure`],
//! the same on the gateway's fast path).

pub(crate) mod pool;

use scopegate_core::Outcome;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Limited};
use scopegate_core::{GatewaySettings, Upstream as Target};

use crate::http::hop_by_hop::remove_hop_by_hop;
use pool::{Pool, SendError, Tls};

/// Why an allowed request got no answer from the upstream, as both of the
/// gateway's transports answer it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct UpstreamFailure {
    pub status: StatusCode,
    /// The JSON body's `error`.
    pub code: &'static str,
    /// The JSON body's `error_description`: says what failed, never how
    /// the upstream is reached.
    pub description: Cow<'static, str>,
    /// For logs and metrics.
    pub outcome: Outcome,
}

impl UpstreamFailure {
    /// 502: no usable response.
    pub(crate) fn bad_gateway(description: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            code: "bad_gateway",
            description: Cow::Borrowed(description),
            outcome: Outcome::UpstreamError,
        }
    }

    /// 504: no response within `timeout`.
    pub(crate) fn timeout(timeout: Duration) -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "gateway_timeout",
            description: Cow::Owned(format!(
                "the upstream did not answer within {}",
                scopegate_core::duration::format_duration(timeout)
            )),
            outcome: Outcome::UpstreamError,
        }
    }

    /// 413: the request body is over `gateway.max_body_bytes`.
    pub(crate) fn too_large(limit: u64) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "request_too_large",
            description: Cow::Owned(format!(
                "the request body is larger than gateway.max_body_bytes ({limit} bytes)"
            )),
            outcome: Outcome::TooLarge,
        }
    }

    pub(crate) fn response(&self) -> Response<Body> {
        error(self.status, self.code, &self.description)
    }
}

/// Where allowed requests go, with the connection pools that take them there.
#[derive(Debug)]
pub struct UpstreamClient {
    target: Target,
    /// `host:port` and the `Host` header value of a URL upstream.
    address: String,
    host: Option<HeaderValue>,
    pools: Box<[OnceLock<Arc<Pool>>]>,
    /// For an `https://` upstream, how to speak TLS to it, or why we cannot.
    tls: Result<Option<Tls>, String>,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_body_bytes: u64,
    http2: bool,
    /// A plain `http://` HTTP/1.1 upstream, which the fast path can speak to.
    fast: bool,
}

impl UpstreamClient {
    pub fn new(settings: &GatewaySettings) -> Self {
        let uri = match &settings.upstream {
            Target::Echo => None,
            Target::Url(url) => url.parse::<Uri>().ok(),
        };
        let https = uri.as_ref().is_some_and(|u| u.scheme_str() == Some("https"));
        let authority = uri.as_ref().and_then(|u| u.authority().cloned());
        let tls = match &authority {
            Some(a) if https => upstream_tls(a.host(), settings.upstream_http2).map(Some),
            _ => Ok(None),
        };
        if let Err(e) = &tls {
            tracing::error!(error = %e, "cannot speak TLS to the upstream; every allowed request will answer 502");
        }
        let fast = matches!(&tls, Ok(None))
            && !settings.upstream_http2
            && uri.as_ref().is_some_and(|u| u.scheme_str() == Some("http"))
            && authority.is_some();
        Self {
            fast,
            target: settings.upstream.clone(),
            address: authority
                .as_ref()
                .map(|a| format!("{}:{}", a.host(), a.port_u16().unwrap_or(if https { 443 } else { 80 })))
                .unwrap_or_default(),
            host: authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
            pools: (0..scopegate_service::worker::SLOTS).map(|_| OnceLock::new()).collect(),
            tls,
            connect_timeout: settings.connect_timeout,
            response_timeout: settings.response_timeout,
            max_body_bytes: settings.max_body_bytes,
            http2: settings.upstream_http2,
        }
    }

    /// This thread's pool.
    fn pool(&self) -> &Arc<Pool> {
        // A pooled connection is driven by a task of the runtime that opened
        // it: a pool shared between worker runtimes would hand every request
        // to another thread and back.
        self.pools[scopegate_service::worker::slot()].get_or_init(|| {
            let tls = self.tls.as_ref().ok().cloned().flatten();
            Pool::new(self.address.clone(), self.connect_timeout, self.http2, tls)
        })
    }

    /// For the fast path: this worker's pool and the `Host` header to send,
    /// when the upstream is one it can speak to.
    pub(crate) fn fast(&self) -> Option<(&Arc<Pool>, &HeaderValue)> {
        if !self.fast {
            return None;
        }
        Some((self.pool(), self.host.as_ref()?))
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// Sends `request` (headers already prepared) to the upstream with
    /// `path_and_query` as its target, and streams the answer back, with the
    /// outcome for metrics (`allow`, `too_large` or `upstream_error`).
    pub async fn forward(&self, request: Request<Body>, path_and_query: &str) -> (Response<Body>, Outcome) {
        let response = self.send(request, path_and_query).await;
        match response {
            Ok(response) => (response, Outcome::Allow),
            Err(Failure::TooLarge) => {
                let failure = UpstreamFailure::too_large(self.max_body_bytes);
                (failure.response(), failure.outcome)
            }
            Err(Failure::Upstream(failure)) => (failure.response(), failure.outcome),
            Err(Failure::Caller(response)) => (response, Outcome::UpstreamError),
        }
    }

    async fn send(&self, mut request: Request<Body>, path_and_query: &str) -> Result<Response<Body>, Failure> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return Err(Failure::TooLarge);
        }
        let base = match &self.target {
            Target::Echo => return echo(request, path_and_query, self.max_body_bytes).await,
            Target::Url(base) => base,
        };
        let target = if self.http2 {
            format!("{base}{path_and_query}")
        } else {
            path_and_query.to_owned()
        };
        if let Err(e) = &self.tls {
            tracing::warn!(error = %e, upstream = %base, "no TLS to the upstream");
            return Err(Failure::Upstream(UpstreamFailure::bad_gateway(
                "scopegate cannot verify the upstream's TLS certificate (no trusted roots)",
            )));
        }
        let (Ok(uri), Some(host)) = (target.parse::<Uri>(), &self.host) else {
            return Err(Failure::Upstream(UpstreamFailure::bad_gateway(
                "the upstream URL is not valid",
            )));
        };
        *request.uri_mut() = uri;
        if self.http2 {
            // HTTP/2 names the host in `:authority`, from the URI.
            *request.version_mut() = axum::http::Version::HTTP_2;
            request.headers_mut().remove(header::HOST);
        } else {
            *request.version_mut() = axum::http::Version::HTTP_11;
            request.headers_mut().insert(header::HOST, host.clone());
        }
        let max = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let request = request.map(|body| Body::new(Limited::new(body, max)));
        match tokio::time::timeout(self.response_timeout, self.pool().send(request)).await {
            Err(_) => Err(Failure::Upstream(UpstreamFailure::timeout(self.response_timeout))),
            Ok(Err(SendError::Request(e))) if is_length_limit(&e) => Err(Failure::TooLarge),
            Ok(Err(SendError::Request(e))) if crate::http::slow_body::is_body_timeout(&e) => {
                Err(Failure::Caller(body_timeout()))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, upstream = %base, "upstream request failed");
                let what = match e {
                    SendError::Connect(_) => "cannot connect to the upstream",
                    SendError::Tls(_) => "the TLS handshake with the upstream failed",
                    SendError::Request(_) => "the upstream closed the connection without a response",
                };
                Err(Failure::Upstream(UpstreamFailure::bad_gateway(what)))
            }
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                // The gateway speaks its own version to the caller, as the
                // fast path does: hyper would answer an HTTP/1.0 upstream's
                // response to an HTTP/1.1 caller in HTTP/1.0.
                parts.version = axum::http::Version::HTTP_11;
                Ok(Response::from_parts(parts, body))
            }
        }
    }
}

/// TLS to `host` (a DNS name or an IP address), offering `h2` or `http/1.1`.
fn upstream_tls(host: &str, http2: bool) -> Result<Tls, String> {
    let alpn: &[&[u8]] = if http2 { &[b"h2"] } else { &[b"http/1.1"] };
    let config = scopegate_layer::tls::client_config(None, alpn).map_err(|e| e.to_string())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} is not a name TLS can verify: {e}"))?;
    Ok(Tls {
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        name,
    })
}

enum Failure {
    TooLarge,
    /// The upstream could not be reached or did not answer.
    Upstream(UpstreamFailure),
    /// The caller's request could not be read (the echo upstream).
    Caller(Response<Body>),
}

fn is_length_limit(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// 408: the caller's body fell behind `gateway.body_timeout`; the
/// connection closes after it.
fn body_timeout() -> Response<Body> {
    let mut response = error(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        &crate::http::slow_body::BodyTimeout.to_string(),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) fn error(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({"error": code, "error_description": description}).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The built-in upstream (docs/gateway.md): answers with what it received,
/// exactly as a real upstream would have received it.
async fn echo(request: Request<Body>, path_and_query: &str, max_body_bytes: u64) -> Result<Response<Body>, Failure> {
    let (parts, body) = request.into_parts();
    let max = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    let body_bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Failure::TooLarge),
        Err(e) if crate::http::slow_body::is_body_timeout(&*e) => return Err(Failure::Caller(body_timeout())),
        Err(_) => {
            return Err(Failure::Caller(error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body could not be read",
            )));
        }
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let answer = serde_json::json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": query,
        "headers": header_object(&parts.headers),
        "body_bytes": body_bytes,
    });
    let mut response = Response::new(Body::from(answer.to_string()));
    if parts.method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Headers as a JSON object; repeated headers joined with ", ".
fn header_object(headers: &HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    out
}
