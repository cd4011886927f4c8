//! The gateway's HTTP/1.1 fast path: serves a caller's connection while
//! its requests are plain (see [`super::h1`] for which), on the same
//! decision path as every other front end ([`super::authorize`]), and talks
//! to a plain `http://` upstream over its own pooled sockets. `/authz`
//! requests are answered here too ([`super::forward_auth::answer`]). The first
//! request it does not take, with every byte read so far, goes to hyper,
//! which serves that connection from then on ([`HandOff`]).
//!
//! Why: hyper's generic server and client cost about ten times the
//! user-space instructions of the relay itself on a small proxied request,
//! and on a 2-CPU machine that is the difference to nginx's `proxy_pass`
//! (docs/performance.md). What the fast path writes is what the hyper path
//! writes: the same decision, identity headers, logs and metrics, the same
//! 502/504 answers.

use scopegate_core::Outcome;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::h1::{self, Framing};
use super::headers::{self, Forwarded};
use super::{authorize, forward_auth, record_pass, refuse};
use crate::AppState;
use crate::http::endpoints;
use crate::http::fields::{RawFields, Span};
use crate::state::Generation;
use crate::upstream::UpstreamFailure;
use crate::upstream::pool::Pool;
use scopegate_service::identification::ForwardedIdentity;

/// A connection the fast path gives to hyper: the socket, and what was read
/// from it and not yet served.
#[derive(Debug)]
pub(crate) struct HandOff {
    pub stream: TcpStream,
    pub buffered: Vec<u8>,
}

/// Buffers start this large; a head may grow them to [`h1::MAX_HEAD`].
const BUFFER: usize = 8 * 1024;

/// Serves `stream` until the caller closes it, a head does not arrive
/// within `idle_timeout`, `stopping` turns true between requests, or a
/// request is not for the fast path (then: `Some`, for hyper).
pub(crate) async fn serve(
    state: &AppState,
    mut stream: TcpStream,
    peer: SocketAddr,
    idle_timeout: Duration,
    stopping: &mut watch::Receiver<bool>,
) -> Option<HandOff> {
    let mut buf: Vec<u8> = Vec::with_capacity(BUFFER);
    // Where the current request's header fields are in `buf`.
    let mut fields: Vec<Span> = Vec::with_capacity(16);
    // How much of `buf` is known to hold no empty line, the end of a head.
    let mut searched: usize = 0;
    let deadline = tokio::time::sleep(idle_timeout);
    tokio::pin!(deadline);
    // The live policy generation, held by this connection and looked at again
    // (one atomic read) per request: taking a reference per request would
    // write the generation's count, a cache line every worker shares.
    let mut live = arc_swap::cache::Cache::new(&*state.live);
    loop {
        // Like hyper's header read timeout: from the end of the last
        // response until the whole next head.
        deadline.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
        let exchange = loop {
            // A head arriving a byte at a time is parsed once, when its end
            // is there, not once per byte.
            if ends_a_head(&buf[searched.saturating_sub(2)..]) || buf.len() >= h1::MAX_HEAD {
                match read_request(&buf, &mut fields, peer) {
                    Step::More => {}
                    Step::HandOff => return Some(HandOff { stream, buffered: buf }),
                    Step::Serve(exchange) => break exchange,
                }
            }
            searched = buf.len();
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(BUFFER);
            }
            tokio::select! {
                biased;
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                },
                () = &mut deadline => return None,
                _ = stopping.changed(), if buf.is_empty() => return None,
            }
        };
        let generation = live.load();
        if exchange.for_hyper(generation) {
            return Some(HandOff { stream, buffered: buf });
        }
        let head_len = exchange.head_len;
        // Two more buffers for the exchange, from the worker's spares: an
        // idle connection holds only its read buffer, as with hyper.
        let (mut upstream_buf, mut out) = (spare(), spare());
        let keep = exchange
            .run(
                state,
                generation,
                RawFields::new(&buf, &fields),
                &mut stream,
                &mut upstream_buf,
                &mut out,
            )
            .await;
        give_back(upstream_buf);
        give_back(out);
        if !keep {
            return None;
        }
        buf.drain(..head_len);
        searched = 0;
        if buf.is_empty() && buf.capacity() > 4 * BUFFER {
            // A large head once need not cost memory for the connection's life.
            buf = Vec::with_capacity(BUFFER);
        }
        if *stopping.borrow() && buf.is_empty() {
            return None;
        }
    }
}

/// Whether `bytes` hold an empty line (CRLF CRLF, or a bare LF's variants,
/// which the parser then judges).
fn ends_a_head(bytes: &[u8]) -> bool {
    // Usually the head is all that arrived.
    if bytes.ends_with(b"\r\n\r\n") {
        return true;
    }
    let mut lines = bytes.split(|b| *b == b'\n');
    lines.next();
    // Between two LFs, nothing or a lone CR: an empty line, but not after the
    // last LF (that line is not over yet).
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        if lines.peek().is_some() && (line.is_empty() || line == b"\r") {
            return true;
        }
    }
    false
}

#[cfg(test)]
#[test]
fn a_head_ends_at_its_first_empty_line() {
    for (bytes, ends) in [
        (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], true),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT", true),
        (b"GET / HTTP/1.1\nHost: a\n\n", true),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", true),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", false),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", false),
        (b"\r\n\r", false),
        (b"", false),
    ] {
        assert_eq!(ends_a_head(bytes), ends, "{:?}", String::from_utf8_lossy(bytes));
    }
}

thread_local! {
    /// This worker's spare exchange buffers.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most spare buffers a worker keeps.
const MAX_SPARE: usize = 512;

fn spare() -> Vec<u8> {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUFFER))
}

fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() > 4 * BUFFER {
        return;
    }
    buf.clear();
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < MAX_SPARE {
            spare.push(buf);
        }
    });
}

enum Step {
    More,
    HandOff,
    Serve(Exchange),
}

/// A request the fast path serves, read out of the connection's buffer.
struct Exchange {
    /// `/authz`, answered here, rather than a request to proxy.
    forward_auth: bool,
    started: Instant,
    /// Where the method and target are in the buffer.
    method: (usize, usize),
    target: (usize, usize),
    head_len: usize,
    close: bool,
    peer: SocketAddr,
}

fn read_request(buf: &[u8], fields: &mut Vec<Span>, peer: SocketAddr) -> Step {
    let mut parsed = [httparse::EMPTY_HEADER; h1::MAX_HEADERS];
    // `/authz` answers here too: it has no body and proxies nothing.
    let own = |path: &str| endpoints::is_own(path) && !endpoints::is_authz(path);
    let request = match h1::request(buf, &mut parsed, own) {
        h1::Request::Partial => return Step::More,
        h1::Request::HandOff => return Step::HandOff,
        h1::Request::Fast(request) => request,
    };
    let path = request.target.split_once('?').map_or(request.target, |(p, _)| p);
    let forward_auth = endpoints::is_authz(path);
    fields.clear();
    for h in parsed.iter().take_while(|h| !h.name.is_empty()) {
        let Some(span) = Span::of(buf, h.name.as_bytes(), h.value) else {
            return Step::HandOff;
        };
        fields.push(span);
    }
    Step::Serve(Exchange {
        forward_auth,
        started: Instant::now(),
        method: span(buf, request.method.as_bytes()),
        target: span(buf, request.target.as_bytes()),
        head_len: request.head_len,
        close: request.close,
        peer,
    })
}

/// Where `part`, a slice of `buf`, is in it.
fn span(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    (start, start + part.len())
}

fn text(buf: &[u8], (start, end): (usize, usize)) -> &str {
    // httparse gave these out as `&str`: always UTF-8.
    std::str::from_utf8(&buf[start..end]).unwrap_or_default()
}

impl Exchange {
    /// Whether hyper answers this one under `generation`: the echo upstream,
    /// TLS and HTTP/2 upstreams, and the 431 answer are hyper's.
    fn for_hyper(&self, generation: &Generation) -> bool {
        (!self.forward_auth && generation.upstream.fast().is_none())
            || self.head_len > generation.policy.settings.gateway.max_header_bytes
    }

    /// Decides, forwards and relays the answer. `false`: close the connection.
    async fn run(
        self,
        state: &AppState,
        generation: &Generation,
        fields: RawFields<'_>,
        client: &mut TcpStream,
        upstream_buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        let method = text(fields.buf(), self.method);
        let target = text(fields.buf(), self.target);
        if self.forward_auth {
            return match forward_auth::answer(
                state,
                generation,
                self.started,
                method,
                target,
                &fields,
                Some(self.peer.ip()),
            )
            .await
            {
                forward_auth::Verdict::Allow {
                    identity,
                    narrowed_scopes,
                } => allow(client, out, identity.as_deref(), narrowed_scopes, self.close).await,
                forward_auth::Verdict::Refuse(response) => answer_with(client, out, response, self.close).await,
            };
        }
        let pass = match authorize(state, generation, method, target, &fields, None, Some(self.peer.ip())).await {
            Ok(pass) => pass,
            Err(denial) => {
                let refusal = refuse(generation, method, target, &denial, self.started);
                return answer_with(client, out, refusal, self.close).await;
            }
        };
        let Some((pool, host)) = generation.upstream.fast() else {
            return false;
        };
        out.clear();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(pass.allowed.target.path.as_bytes());
        if let Some(query) = pass.allowed.target.query {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        // Canonical paths are printable ASCII by construction (docs/paths.md),
        // and the query is the caller's, already checked; a request line is
        // never written with anything else in it.
        let line = &out[method.len() + 1..];
        if !line.iter().all(u8::is_ascii_graphic) {
            let failure = UpstreamFailure::bad_gateway("the upstream URL is not valid");
            record_pass(generation, method, &pass, failure.outcome, self.started);
            return answer_with(client, out, failure.response(), self.close).await;
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        headers::write_upstream(
            out,
            fields.iter(),
            &Forwarded {
                identity: pass.identity.as_deref(),
                narrowed_scopes: pass.narrowed_scopes.clone(),
                peer: Some(self.peer),
                trusted: scopegate_core::limits::is_trusted_proxy(
                    self.peer.ip(),
                    &generation.policy.settings.trusted_proxies,
                ),
            },
            host,
        );
        out.extend_from_slice(b"\r\n");

        let timeout = generation.upstream.response_timeout();
        let idempotent = matches!(method, "GET" | "OPTIONS" | "DELETE" | "TRACE" | "PUT");
        let exchanged = tokio::time::timeout(timeout, send(pool, out, upstream_buf, idempotent, self.close)).await;
        let failed = match exchanged {
            Ok(Ok((upstream, response))) => Ok((upstream, response)),
            Err(_) => Err(UpstreamFailure::timeout(timeout)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e.detail, "upstream request failed");
                Err(UpstreamFailure::bad_gateway(e.description))
            }
        };
        let (mut upstream, response) = match failed {
            Ok(exchanged) => exchanged,
            Err(failure) => {
                record_pass(generation, method, &pass, failure.outcome, self.started);
                return answer_with(client, out, failure.response(), self.close).await;
            }
        };
        record_pass(generation, method, &pass, Outcome::Allow, self.started);
        let relayed = relay(client, &mut upstream, &response, upstream_buf, out).await;
        if relayed.upstream_reusable {
            pool.give_back_raw(upstream);
        }
        relayed.client_open && !self.close
    }
}

/// The response head, read from the upstream, already written out for the
/// caller, with where its body starts in the upstream buffer.
struct UpstreamHead {
    framing: Framing,
    /// The upstream will close the connection after this response.
    upstream_close: bool,
    body_start: usize,
}

/// Why the upstream gave no usable response.
#[derive(Debug)]
struct Failed {
    /// For the caller, in the 502's JSON body.
    description: &'static str,
    /// For the log.
    detail: String,
}

impl Failed {
    fn new(description: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            description,
            detail: detail.to_string(),
        }
    }
}

/// Sends the request in `out` on a pooled connection, or a new one, and
/// reads the response head into `upstream_buf`, writing the caller's head
/// into `out` in place of the request.
async fn send(
    pool: &Pool,
    out: &mut Vec<u8>,
    upstream_buf: &mut Vec<u8>,
    idempotent: bool,
    close: bool,
) -> Result<(TcpStream, UpstreamHead), Failed> {
    let mut pooled = pool.checkout_raw();
    loop {
        let reused = pooled.is_some();
        let mut upstream = match pooled.take() {
            Some(stream) => stream,
            None => pool
                .connect_raw()
                .await
                .map_err(|e| Failed::new("cannot connect to the upstream", e))?,
        };
        upstream_buf.clear();
        match exchange(&mut upstream, out, upstream_buf, close).await {
            Ok(answer) => return Ok((upstream, answer)),
            // A kept-alive connection the upstream closed as we sent: it
            // never saw the request, or it is safe to send again.
            Err(Exchanged::NothingBack(_)) if reused && idempotent => continue,
            Err(Exchanged::NothingBack(e)) => {
                return Err(Failed::new("the upstream closed the connection without a response", e));
            }
            Err(Exchanged::Bad(why)) => return Err(Failed::new(why.describe(), why.describe())),
        }
    }
}

enum Exchanged {
    /// Not one byte of a response came back.
    NothingBack(io::Error),
    Bad(h1::BadResponse),
}

async fn exchange(
    upstream: &mut TcpStream,
    out: &mut Vec<u8>,
    upstream_buf: &mut Vec<u8>,
    close: bool,
) -> Result<UpstreamHead, Exchanged> {
    upstream.write_all(out).await.map_err(Exchanged::NothingBack)?;
    // Bytes after an interim response are parsed before reading more.
    let mut read = true;
    loop {
        if read {
            if upstream_buf.capacity() - upstream_buf.len() < 1024 {
                upstream_buf.reserve(BUFFER);
            }
            match upstream.read_buf(upstream_buf).await {
                Ok(0) if upstream_buf.is_empty() => {
                    return Err(Exchanged::NothingBack(io::ErrorKind::UnexpectedEof.into()));
                }
                Err(e) if upstream_buf.is_empty() => return Err(Exchanged::NothingBack(e)),
                Ok(0) | Err(_) => return Err(Exchanged::Bad(h1::BadResponse::Malformed)),
                Ok(_) => {}
            }
        }
        read = true;
        let mut parsed = [httparse::EMPTY_HEADER; h1::MAX_HEADERS];
        match h1::response(upstream_buf, &mut parsed).map_err(Exchanged::Bad)? {
            h1::Response::Partial => {}
            h1::Response::Interim(n) => {
                // 1xx before the answer: not relayed, as hyper does not.
                upstream_buf.drain(..n);
                read = upstream_buf.is_empty();
            }
            h1::Response::Final(head) => {
                out.clear();
                write_client_head(out, upstream_buf, &parsed, &head, close);
                return Ok(UpstreamHead {
                    framing: head.framing,
                    upstream_close: head.close,
                    body_start: head.head_len,
                });
            }
        }
    }
}

/// The caller's response head: the upstream's status and headers, less the
/// hop-by-hop ones, with the framing we send.
fn write_client_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    parsed: &[httparse::Header<'_>],
    head: &h1::ResponseHead,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(head.status).as_slice());
    out.push(b' ');
    out.extend_from_slice(head.reason(buf));
    out.extend_from_slice(b"\r\n");
    let fields = parsed.iter().take_while(|h| !h.name.is_empty());
    // Names the `Connection` header lists besides its own options: looked
    // up once, not once per field (most responses list none).
    let mut listed: [&[u8]; 8] = [b""; 8];
    let mut count = 0;
    let mut many = false;
    for token in h1::listed_by_connection(parsed) {
        if token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close") {
            continue;
        }
        match listed.get_mut(count) {
            Some(slot) => *slot = token,
            None => many = true,
        }
        count += 1;
    }
    let is_listed = |name: &[u8]| {
        if many {
            h1::listed_by_connection(parsed).any(|t| t.eq_ignore_ascii_case(name))
        } else {
            listed[..count].iter().any(|t| t.eq_ignore_ascii_case(name))
        }
    };
    // RFC 9110 section 8.6: a 204 has no content, so no Content-Length
    // (hyper's server drops it too).
    let no_length = head.status == 204;
    for h in fields {
        if h1::is_hop_by_hop(h.name)
            || is_listed(h.name.as_bytes())
            || (no_length && h.name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        headers::write_field(out, h.name.as_bytes(), h.value);
    }
    if !head.has_date {
        headers::write_field(out, b"date", http_date().as_bytes());
    }
    if matches!(head.framing, Framing::Chunked | Framing::UntilClose) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        // The caller asked; RFC 9112 section 9.6.
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn itoa3(status: u16) -> [u8; 3] {
    // httparse reads exactly three digits.
    [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

/// `Date` for a response without one, as hyper adds it; formatted once a second.
fn http_date() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != second || last.1.is_empty() {
            *last = (second, httpdate::fmt_http_date(now));
        }
        last.1.clone()
    })
}

struct Relayed {
    client_open: bool,
    upstream_reusable: bool,
}

const BROKEN: Relayed = Relayed {
    client_open: false,
    upstream_reusable: false,
};

/// Writes the head in `out`, then the body, to the caller. The body's first
/// bytes are in `upstream_buf`, after the head.
fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        headers::write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

async fn relay(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    answer: &UpstreamHead,
    upstream_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Relayed {
    let length = match answer.framing {
        Framing::Empty => 0,
        Framing::Length(n) => n,
        Framing::Chunked | Framing::UntilClose => {
            return relay_chunks(client, upstream, answer, upstream_buf, out).await;
        }
    };
    // The head and the first bytes of the body in one write.
    let have = &upstream_buf[answer.body_start..];
    let first = usize::try_from(length).map_or(have.len(), |n| n.min(have.len()));
    out.extend_from_slice(&have[..first]);
    let mut extra = have.len() > first;
    if client.write_all(out).await.is_err() {
        return BROKEN;
    }
    let left = length - first as u64;
    if left > 0 {
        match copy_length(client, upstream, left, upstream_buf).await {
            Ok(more) => extra = more,
            Err(()) => return BROKEN,
        }
    }
    Relayed {
        client_open: true,
        upstream_reusable: !extra && !answer.upstream_close,
    }
}

/// Chunked: passed on as it is, checked as it passes. Until close: sent on
/// in chunks, so that the caller's connection can stay open.
async fn relay_chunks(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    answer: &UpstreamHead,
    upstream_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Relayed {
    let until_close = answer.framing == Framing::UntilClose;
    let mut scanner = h1::Chunked::new();
    upstream_buf.drain(..answer.body_start);
    let mut head_sent = false;
    loop {
        let mut end = None;
        if until_close {
            if !upstream_buf.is_empty() {
                out.extend_from_slice(format!("{:X}\r\n", upstream_buf.len()).as_bytes());
                out.extend_from_slice(upstream_buf);
                out.extend_from_slice(b"\r\n");
            }
        } else {
            match scanner.scan(upstream_buf) {
                Ok(Some(n)) => {
                    out.extend_from_slice(&upstream_buf[..n]);
                    end = Some(n);
                }
                Ok(None) => out.extend_from_slice(upstream_buf),
                Err(h1::BadChunk) if !head_sent => {
                    tracing::warn!("the upstream's chunked body broke the grammar");
                    let error = UpstreamFailure::bad_gateway("the upstream's chunked body is malformed").response();
                    return Relayed {
                        client_open: answer_with(client, out, error, false).await,
                        upstream_reusable: false,
                    };
                }
                Err(h1::BadChunk) => {
                    // Part of it went out: cut the caller off rather than
                    // let it find an end of its own.
                    tracing::warn!("the upstream's chunked body broke the grammar; both connections closed");
                    return BROKEN;
                }
            }
        }
        if !out.is_empty() && client.write_all(out).await.is_err() {
            return BROKEN;
        }
        head_sent = true;
        out.clear();
        if let Some(n) = end {
            return Relayed {
                client_open: true,
                upstream_reusable: upstream_buf.len() == n && !answer.upstream_close,
            };
        }
        upstream_buf.clear();
        if upstream_buf.capacity() < BUFFER {
            upstream_buf.reserve(BUFFER);
        }
        match upstream.read_buf(upstream_buf).await {
            Ok(0) if until_close => {
                return Relayed {
                    client_open: client.write_all(b"0\r\n\r\n").await.is_ok(),
                    upstream_reusable: false,
                };
            }
            Ok(0) | Err(_) => {
                tracing::warn!("the upstream closed the connection inside a response body");
                return BROKEN;
            }
            Ok(_) => {}
        }
    }
}

/// Copies the `left` bytes still to come of a body with a length from the
/// upstream to the caller. `Ok(true)`: the upstream sent more than that.
async fn copy_length(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    mut left: u64,
    buf: &mut Vec<u8>,
) -> Result<bool, ()> {
    while left > 0 {
        buf.clear();
        if buf.capacity() < BUFFER {
            buf.reserve(BUFFER);
        }
        let n = match upstream.read_buf(buf).await {
            Ok(0) | Err(_) => {
                tracing::warn!("the upstream closed the connection inside a response body");
                return Err(());
            }
            Ok(n) => n,
        };
        let take = usize::try_from(left).map_or(n, |left| left.min(n));
        if client.write_all(&buf[..take]).await.is_err() {
            return Err(());
        }
        left -= take as u64;
        if take < n {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes a response scopegate made (a refusal, a 502 or 504) to the caller.
/// `/authz`'s 200, written as [`answer_with`] would write
/// [`forward_auth::Verdict::into_response`], without building it first.
async fn allow(
    client: &mut TcpStream,
    out: &mut Vec<u8>,
    identity: Option<&ForwardedIdentity>,
    narrowed_scopes: Option<axum::http::HeaderValue>,
    close: bool,
) -> bool {
    write_allow(out, identity, narrowed_scopes, close);
    client.write_all(out).await.is_ok() && !close
}

fn write_allow(
    out: &mut Vec<u8>,
    identity: Option<&ForwardedIdentity>,
    narrowed_scopes: Option<axum::http::HeaderValue>,
    close: bool,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    if let Some(identity) = identity {
        headers::write_identity(out, identity, narrowed_scopes);
    }
    write_tail(out, 0, close);
}

/// `Content-Length`, `Date`, `Connection: close` when asked, and the end of the head.
fn write_tail(out: &mut Vec<u8>, length: usize, close: bool) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(length.to_string().as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(http_date().as_bytes());
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

async fn answer_with(client: &mut TcpStream, out: &mut Vec<u8>, response: Response<Body>, close: bool) -> bool {
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return false;
    };
    write_response(out, &parts, &body, close);
    client.write_all(out).await.is_ok() && !close
}

fn write_response(out: &mut Vec<u8>, parts: &axum::http::response::Parts, body: &[u8], close: bool) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(out, &parts.headers);
    write_tail(out, body.len(), close);
    out.extend_from_slice(body);
}

/// The handed-off connection as hyper reads it: first the bytes the fast
/// path read, then the socket.
#[derive(Debug)]
pub(crate) struct Rewind {
    buffered: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

impl From<HandOff> for Rewind {
    fn from(hand_off: HandOff) -> Self {
        Self {
            buffered: hand_off.buffered,
            at: 0,
            stream: hand_off.stream,
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.buffered.len() {
            let n = (this.buffered.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.buffered[this.at..this.at + n]);
            this.at += n;
            if this.at == this.buffered.len() {
                this.buffered = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;

    use super::forward_auth::Verdict;
    use super::{write_allow, write_response};
    use scopegate_service::identification::ForwardedIdentity;

    /// The head without its `Date` line, which may differ by a second.
    fn undated(head: &[u8]) -> String {
        String::from_utf8(head.to_vec())
            .unwrap()
            .split("\r\n")
            .filter(|line| !line.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn forward_auth_allows_with_the_head_the_hyper_path_would_send() {
        let who = std::sync::Arc::new(ForwardedIdentity::for_tests("app-1", Some("ann"), "a b", "production"));
        for identity in [None, Some(who)] {
            for narrowed in [None, Some(HeaderValue::from_static("a"))] {
                for close in [false, true] {
                    let mut direct = Vec::new();
                    write_allow(&mut direct, identity.as_deref(), narrowed.clone(), close);
                    let response = Verdict::Allow {
                        identity: identity.clone(),
                        narrowed_scopes: narrowed.clone(),
                    }
                    .into_response();
                    let (parts, _) = response.into_parts();
                    let mut built = Vec::new();
                    write_response(&mut built, &parts, b"", close);
                    assert_eq!(undated(&direct), undated(&built));
                }
            }
        }
    }
}
