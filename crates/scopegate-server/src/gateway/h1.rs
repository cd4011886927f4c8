//! The HTTP/1.1 fast path's codec: which requests it takes, how an
//! upstream's response is framed, and a strict scanner for chunked bodies.
//! Pure functions on bytes; the I/O is in [`super::fast`].
//!
//! The fast path exists for speed (hyper's generic client and server cost
//! about ten times the instructions of the relay itself), so it takes only
//! what it can take without any framing question: an HTTP/1.1 request with
//! no body. Anything else, and anything unusual, goes to hyper for the rest
//! of the connection. Request smuggling lives in disagreements about where a
//! message ends; a request with no `Content-Length` and no
//! `Transfer-Encoding` has a body of length zero (RFC 9112 section 6.3), so
//! the fast path never has to decide one.

use httparse::{Header, Status};

/// Most header fields the fast path reads in one head; more goes to hyper.
pub(super) const MAX_HEADERS: usize = 64;

/// Longest head (request or response) the fast path reads.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// Bytes of an origin-form request target (RFC 3986 `pchar`, `/`, `?`).
static TARGET_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let allowed = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%";
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = true;
        i += 1;
    }
    table
};

/// A request the fast path takes.
#[derive(Debug)]
pub(super) struct FastRequest<'b> {
    pub method: &'b str,
    /// The request target as sent: origin form, starting with `/`.
    pub target: &'b str,
    /// Bytes of the head, through its empty line.
    pub head_len: usize,
    /// The caller asked to close the connection after this exchange.
    pub close: bool,
}

/// What to do with the bytes at the start of a connection's buffer.
#[derive(Debug)]
pub(super) enum Request<'b> {
    /// The head is not complete yet.
    Partial,
    /// Not for the fast path: hyper serves the connection from here on
    /// (and answers malformed input the way it always has).
    HandOff,
    Fast(FastRequest<'b>),
}

/// Reads a request head from `buf` into `headers`, and decides whether the
/// fast path takes it. `own` tells scopegate's own paths, which the router
/// serves.
pub(super) fn request<'b>(buf: &'b [u8], headers: &mut [Header<'b>], own: impl Fn(&str) -> bool) -> Request<'b> {
    let mut parsed = httparse::Request::new(headers);
    let head_len = match parsed.parse(buf) {
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) if buf.len() < MAX_HEAD => return Request::Partial,
        _ => return Request::HandOff,
    };
    let (Some(method), Some(target), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Request::HandOff;
    };
    // httparse takes a bare LF as a line end, as RFC 9112 lets a recipient;
    // the fast path takes only CRLF.
    if has_bare_lf(&buf[..head_len]) {
        return Request::HandOff;
    }
    // HEAD answers have framing without a body; CONNECT tunnels. A target
    // with anything RFC 3986 does not allow in a path or query (a fragment,
    // a space's cousins, quotes, braces) is hyper's to judge, as before.
    if method == "HEAD"
        || method == "CONNECT"
        || !target.starts_with('/')
        || !target.bytes().all(|b| TARGET_BYTE[usize::from(b)])
    {
        return Request::HandOff;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if own(path) {
        return Request::HandOff;
    }
    let mut hosts = 0;
    let mut close = false;
    for h in parsed.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            // Only the two plain options; a header named here as hop-by-hop
            // is rare enough to leave to hyper.
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    return Request::HandOff;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
        {
            return Request::HandOff;
        }
    }
    if hosts != 1 {
        return Request::HandOff;
    }
    Request::Fast(FastRequest {
        method,
        target,
        head_len,
        close,
    })
}

/// Whether `head` has an LF not right after a CR. Counted rather than
/// searched, which the compiler turns into vector code: a head with a JWT in
/// it is several hundred bytes.
fn has_bare_lf(head: &[u8]) -> bool {
    let Some((&first, rest)) = head.split_first() else {
        return false;
    };
    let bare = rest.iter().zip(head).fold(0u8, |bare, (&b, &before)| {
        bare | u8::from(b == b'\n' && before != b'\r')
    });
    first == b'\n' || bare != 0
}

/// How an upstream's response body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body: 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// A final response head from the upstream.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ResponseHead {
    pub status: u16,
    pub head_len: usize,
    pub framing: Framing,
    /// The upstream will close the connection after this response.
    pub close: bool,
    pub has_date: bool,
    /// Where the reason phrase is in the buffer.
    reason: (usize, usize),
}

impl ResponseHead {
    /// The reason phrase, from the buffer the head was read from.
    pub(super) fn reason<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.reason.0..self.reason.1).unwrap_or_default()
    }
}

/// Why an upstream's response cannot be relayed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadResponse {
    /// Not HTTP/1.x, or a head over [`MAX_HEAD`] or [`MAX_HEADERS`].
    Malformed,
    /// `Content-Length` with `Transfer-Encoding`, several lengths, or a
    /// transfer coding other than `chunked`.
    Framing,
    /// 101, which we never asked for.
    Switching,
}

impl BadResponse {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            BadResponse::Malformed => "the upstream's response is not valid HTTP/1.1",
            BadResponse::Framing => "the upstream's response has an ambiguous or unsupported length",
            BadResponse::Switching => "the upstream switched protocols without being asked",
        }
    }
}

/// What the start of the upstream's answer is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Response {
    Partial,
    /// An informational (1xx) response of this many bytes, to skip.
    Interim(usize),
    Final(ResponseHead),
}

/// Reads a response head from `buf` into `headers`.
pub(super) fn response<'b>(buf: &'b [u8], headers: &mut [Header<'b>]) -> Result<Response, BadResponse> {
    let mut parsed = httparse::Response::new(headers);
    let head_len = match parsed.parse(buf) {
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) if buf.len() < MAX_HEAD => return Ok(Response::Partial),
        _ => return Err(BadResponse::Malformed),
    };
    let (Some(version), Some(status)) = (parsed.version, parsed.code) else {
        return Err(BadResponse::Malformed);
    };
    match status {
        101 => return Err(BadResponse::Switching),
        100..=199 => return Ok(Response::Interim(head_len)),
        _ => {}
    }
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = version == 0;
    let mut has_date = false;
    for h in parsed.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = decimal(h.value).ok_or(BadResponse::Framing)?;
            if length.is_some_and(|m| m != n) {
                return Err(BadResponse::Framing);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked.is_some() || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(BadResponse::Framing);
            }
            chunked = Some(());
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        } else if name.eq_ignore_ascii_case(b"date") {
            has_date = true;
        }
    }
    let framing = match (status, length, chunked) {
        (204 | 304, _, _) => Framing::Empty,
        (_, Some(_), Some(())) => return Err(BadResponse::Framing),
        (_, Some(n), None) => Framing::Length(n),
        (_, None, Some(())) => Framing::Chunked,
        (_, None, None) => Framing::UntilClose,
    };
    let reason = parsed.reason.unwrap_or_default().as_bytes();
    let reason_at = if reason.is_empty() {
        (0, 0)
    } else {
        let start = reason.as_ptr() as usize - buf.as_ptr() as usize;
        (start, start + reason.len())
    };
    Ok(Response::Final(ResponseHead {
        reason: reason_at,
        status,
        head_len,
        framing,
        close: close || framing == Framing::UntilClose,
        has_date,
    }))
}

/// `1*DIGIT`, at most 18 of them (so it fits a `u64`).
fn decimal(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Hop-by-hop response headers, which are not relayed (RFC 9110 section
/// 7.6.1; the list the hyper path uses). `Transfer-Encoding` is one: the
/// fast path writes its own.
pub(super) fn is_hop_by_hop(name: &str) -> bool {
    crate::http::hop_by_hop::is_hop_by_hop(name.as_bytes())
}

/// The names a `Connection` header lists, which are hop-by-hop too.
pub(super) fn listed_by_connection<'b>(headers: &[Header<'b>]) -> impl Iterator<Item = &'b [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Longest chunk-size line (size and extensions) and trailer section.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

/// A chunked body (RFC 9112 section 7.1), checked as it passes through on
/// its way to the caller unchanged. Stricter than the grammar's readers
/// usually are: a bare CR or LF anywhere, a control character in an
/// extension or trailer, or a size over 16 hex digits ends the relay, so the
/// caller can never read a different message boundary than we did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chunked {
    state: ChunkState,
    /// Bytes of the current size line, or of the trailer section.
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// In the hex digits of a size (`digits` read so far).
    Size {
        digits: u8,
        size: u64,
    },
    /// Whitespace after the size, before `;` or CR.
    SizeSpace {
        size: u64,
    },
    Extension {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// The chunked body does not follow the grammar.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadChunk;

impl Default for Chunked {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunked {
    pub(super) fn new() -> Self {
        Self {
            state: ChunkState::Size { digits: 0, size: 0 },
            line: 0,
        }
    }

    /// Scans the next bytes of the body: `Ok(Some(n))` when the body ends
    /// after the first `n` of them, `Ok(None)` when it goes on past them.
    pub(super) fn scan(&mut self, bytes: &[u8]) -> Result<Option<usize>, BadChunk> {
        use ChunkState::*;
        let mut i = 0;
        while i < bytes.len() {
            if let Data { left } = self.state {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len() - i);
                i += take;
                let left = left - take as u64;
                self.state = if left == 0 { DataCr } else { Data { left } };
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.line += 1;
            let line_limit = if matches!(self.state, TrailerStart | Trailer | TrailerLf) {
                MAX_TRAILERS
            } else {
                MAX_CHUNK_LINE
            };
            if self.line > line_limit {
                return Err(BadChunk);
            }
            self.state = match (self.state, b) {
                (Size { digits, size }, _) if b.is_ascii_hexdigit() && digits < 16 => Size {
                    digits: digits + 1,
                    size: (size << 4) | u64::from(hex(b)),
                },
                (Size { digits, size }, b' ' | b'\t') if digits > 0 => SizeSpace { size },
                (Size { digits, size }, b';') if digits > 0 => Extension { size },
                (Size { digits, size }, b'\r') if digits > 0 => SizeLf { size },
                (SizeSpace { size }, b' ' | b'\t') => SizeSpace { size },
                (SizeSpace { size }, b';') => Extension { size },
                (SizeSpace { size }, b'\r') => SizeLf { size },
                (Extension { size }, b'\r') => SizeLf { size },
                (Extension { size }, _) if field_byte(b) => Extension { size },
                (SizeLf { size: 0 }, b'\n') => {
                    self.line = 0;
                    TrailerStart
                }
                (SizeLf { size }, b'\n') => Data { left: size },
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => {
                    self.line = 0;
                    Size { digits: 0, size: 0 }
                }
                (TrailerStart, b'\r') => EndLf,
                (TrailerStart | Trailer, _) if field_byte(b) => Trailer,
                (Trailer, b'\r') => TrailerLf,
                (TrailerLf, b'\n') => TrailerStart,
                (EndLf, b'\n') => {
                    self.state = Done;
                    return Ok(Some(i));
                }
                _ => return Err(BadChunk),
            };
        }
        Ok(None)
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// A byte allowed inside a field line or an extension: visible characters,
/// space, tab and obs-text; never CR, LF or another control character.
fn field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    fn own(path: &str) -> bool {
        path == "/healthz"
    }

    fn req(raw: &str) -> Request<'_> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        request(raw.as_bytes(), &mut headers, own)
    }

    #[test]
    fn a_plain_get_takes_the_fast_path() {
        let Request::Fast(r) = req("GET /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\nGET") else {
            panic!()
        };
        assert_eq!((r.method, r.target, r.close), ("GET", "/v1/x?y=1", false));
        assert_eq!(
            r.head_len,
            "GET /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\n".len()
        );
        let Request::Fast(r) = req("GET /a-b_c.~d/%2F!$&'()*+,;=:@?q=1/? HTTP/1.1\r\nHost: a\r\n\r\n") else {
            panic!()
        };
        assert_eq!(r.target, "/a-b_c.~d/%2F!$&'()*+,;=:@?q=1/?");
        let Request::Fast(r) = req("DELETE /x HTTP/1.1\r\nhost: a\r\nConnection: Keep-Alive, close\r\n\r\n") else {
            panic!()
        };
        assert!(r.close);
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert!(matches!(req("GET /x HTTP/1.1\r\nHost: a\r\n"), Request::Partial));
        assert!(matches!(req(""), Request::Partial));
    }

    #[test]
    fn requests_with_a_body_or_anything_unusual_go_to_hyper() {
        for raw in [
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            "GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\nConnection: x-private\r\n\r\n",
            "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /x?a={b} HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /\"x\" HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /x HTTP/1.0\r\nHost: a\r\n\r\n",
            "GET /x HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /healthz?x HTTP/1.1\r\nHost: a\r\n\r\n",
            // Malformed: hyper answers these as it always has.
            "GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET /x HTTP/1.1\nHost: a\n\n",
            "GET /x HTTP/1.1\r\nHost: a\n\r\n",
            "GET  /x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: a\0b\r\n\r\n",
            "G\x01T /x HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert!(matches!(req(raw), Request::HandOff), "{raw:?}");
        }
    }

    #[test]
    fn a_head_past_the_limits_goes_to_hyper() {
        let long = format!("GET /x HTTP/1.1\r\nHost: a\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(matches!(req(&long), Request::HandOff));
        let many = format!("GET /x HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: 1\r\n".repeat(MAX_HEADERS));
        assert!(matches!(req(&many), Request::HandOff));
    }

    fn resp(raw: &str) -> Result<Response, BadResponse> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        response(raw.as_bytes(), &mut headers)
    }

    fn head(raw: &str) -> ResponseHead {
        match resp(raw) {
            Ok(Response::Final(h)) => h,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDate: x\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.close, h.has_date),
            (200, Framing::Length(12), false, true)
        );
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n");
        assert_eq!((h.framing, h.close, h.has_date), (Framing::Chunked, false, false));
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let h = head("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::Empty, false));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\nConnection: close\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::Length(1), true));
        assert!(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").close);
    }

    #[test]
    fn ambiguous_response_framing_is_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(resp(raw), Err(BadResponse::Framing), "{raw:?}");
        }
        assert_eq!(resp("HTTP/1.1 101 Switching\r\n\r\n"), Err(BadResponse::Switching));
        assert_eq!(
            resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
            Err(BadResponse::Malformed)
        );
        assert_eq!(resp("HTTP/2 200\r\n\r\n"), Err(BadResponse::Malformed));
        assert_eq!(resp("HTTP/1.1 200 OK\r\n"), Ok(Response::Partial));
        let early = "HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n";
        assert_eq!(
            resp(&format!("{early}HTTP/1.1 200")),
            Ok(Response::Interim(early.len()))
        );
    }

    #[test]
    fn hop_by_hop_names_and_those_connection_lists() {
        assert!(is_hop_by_hop("Transfer-Encoding") && is_hop_by_hop("keep-alive"));
        assert!(!is_hop_by_hop("content-length"));
        let headers = [
            Header {
                name: "Connection",
                value: b"keep-alive, X-A",
            },
            Header {
                name: "connection",
                value: b" x-b ,,",
            },
        ];
        let listed: Vec<&[u8]> = listed_by_connection(&headers).collect();
        assert_eq!(listed, [&b"keep-alive"[..], b"X-A", b"x-b"]);
    }

    fn scan_all(body: &[u8]) -> Result<Option<usize>, BadChunk> {
        Chunked::new().scan(body)
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
        let body = b"4\r\nWiki\r\n5;name=\"v\"\r\npedia\r\n0\r\n\r\nNEXT";
        assert_eq!(scan_all(body), Ok(Some(body.len() - 4)));
        let body = b"A \t;x\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
        assert_eq!(scan_all(body), Ok(Some(body.len())));
        assert_eq!(scan_all(b"4\r\nWi"), Ok(None));
    }

    #[test]
    fn a_chunked_body_off_the_grammar_is_refused() {
        for body in [
            &b"4\nWiki\r\n0\r\n\r\n"[..],
            b"4\r\nWiki\n0\r\n\r\n",
            b"4\r\nWikiX\r\n0\r\n\r\n",
            b"\r\n",
            b"g\r\n",
            b"4;a\nb\r\nWiki\r\n0\r\n\r\n",
            b"4;a\rb\r\nWiki\r\n0\r\n\r\n",
            b"4;a\x01\r\nWiki\r\n0\r\n\r\n",
            b"0\r\nX: a\nb\r\n\r\n",
            b"0\r\n\n",
            b"0\r\n\r\r",
            b" 4\r\nWiki\r\n0\r\n\r\n",
            b"4 4\r\nWiki\r\n0\r\n\r\n",
            b"00000000000000001\r\nx\r\n0\r\n\r\n",
        ] {
            assert_eq!(scan_all(body), Err(BadChunk), "{:?}", String::from_utf8_lossy(body));
        }
        let long = format!("1;{}\r\n", "x".repeat(MAX_CHUNK_LINE));
        assert_eq!(scan_all(long.as_bytes()), Err(BadChunk));
        assert_eq!(scan_all(b"ffffffffffffffff\r\n"), Ok(None));
    }

    /// A chunked encoding of `parts`, with an optional extension per chunk
    /// and trailers.
    fn encode(parts: &[Vec<u8>], ext: bool, trailers: &[(String, String)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in parts.iter().filter(|p| !p.is_empty()).enumerate() {
            out.extend_from_slice(format!("{:X}", p.len()).as_bytes());
            if ext {
                out.extend_from_slice(format!(" ;i={i}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        /// Counting finds a bare LF exactly when looking at each LF would.
        #[test]
        fn a_bare_lf_is_found_wherever_it_is(head in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a')], 0..40)) {
            let bare = head.iter().enumerate().any(|(i, b)| *b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
            prop_assert_eq!(super::has_bare_lf(&head), bare);
        }

        /// Wherever the reads split the body, the scanner finds the same end.
        #[test]
        fn the_end_of_a_chunked_body_does_not_depend_on_how_it_arrives(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
            ext in any::<bool>(),
            trailers in prop::collection::vec(("[A-Za-z-]{1,8}", "[ -~]{0,12}"), 0..3),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            after in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let body = encode(&parts, ext, &trailers);
            let mut wire = body.clone();
            wire.extend_from_slice(&after);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut scanner = Chunked::new();
            let (mut from, mut end) = (0, None);
            for cut in cuts {
                if let Some(n) = scanner.scan(&wire[from..cut]).unwrap() {
                    end = Some(from + n);
                    break;
                }
                from = cut;
            }
            prop_assert_eq!(end, Some(body.len()));
        }

        /// A body cut short is never taken as ended.
        #[test]
        fn a_truncated_chunked_body_never_ends(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let body = encode(&parts, false, &[]);
            let cut = cut.index(body.len());
            prop_assert_eq!(Chunked::new().scan(&body[..cut]), Ok(None));
        }

        /// Whatever the head, the fast path never takes one that frames a
        /// body or asks for more than a plain exchange, and never panics.
        /// What it leaves (CONNECT, a target that is not a path, no `Host`
        /// or two) hyper's path refuses with the same `admit` and
        /// `one_host` the fast path would have used: both decide alike.
        #[test]
        fn the_fast_path_never_takes_a_request_that_frames_a_body(
            method in prop::sample::select(vec!["GET", "POST", "DELETE", "HEAD", "get", "CONNECT"]),
            target in prop_oneof!["/[a-z%#{}?/ ]{0,12}", Just("api.example:443".to_owned()), Just("*".to_owned())],
            fields in prop::collection::vec((
                prop::sample::select(vec![
                    "Host", "host", "Content-Length", "content-length", "Transfer-Encoding",
                    "transfer-encoding", "Expect", "Upgrade", "Connection", "Accept", "X-A",
                ]),
                prop::sample::select(vec!["0", "5", "chunked", "close", "keep-alive", "x", " chunked ", ""]),
            ), 0..6),
            line_end in prop::sample::select(vec!["\r\n", "\n"]),
            rest in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut raw = format!("{method} {target} HTTP/1.1{line_end}").into_bytes();
            for (name, value) in &fields {
                raw.extend_from_slice(format!("{name}: {value}{line_end}").as_bytes());
            }
            raw.extend_from_slice(line_end.as_bytes());
            raw.extend_from_slice(&rest);
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            if let Request::Fast(r) = request(&raw, &mut headers, |_| false) {
                let framing = ["content-length", "transfer-encoding", "expect", "upgrade"];
                prop_assert!(!fields.iter().any(|(n, _)| framing.contains(&n.to_ascii_lowercase().as_str())));
                prop_assert_eq!(fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case("host")).count(), 1);
                let plain_target = !r.target.contains(['#', ' ', '{']) && r.target.starts_with('/');
                prop_assert!(line_end == "\r\n" && method != "HEAD" && method != "CONNECT" && plain_target);
                prop_assert_eq!(&raw[r.head_len - 4..r.head_len], b"\r\n\r\n");
            }
        }

        /// Arbitrary bytes never panic, and an end is never past the input.
        #[test]
        fn the_chunked_scanner_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some(n)) = Chunked::new().scan(&bytes) {
                prop_assert!(n <= bytes.len());
            }
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let _ = request(&bytes, &mut headers, |_| false);
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let _ = response(&bytes, &mut headers);
        }
    }
}
