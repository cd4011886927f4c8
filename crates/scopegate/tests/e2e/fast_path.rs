//! The gateway's HTTP/1.1 fast path (a plain `http://` upstream, requests
//! without a body) through the real binary, against an upstream that
//! answers with exactly the bytes each test needs, and with raw connections
//! on the caller's side so that keep-alive and pipelining are visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::app_and_token;
use crate::server::{Server, http};

/// What the scripted upstream answers on each path; anything else gets its
/// own request (head and body) back as a `text/plain` body.
fn scripted(path: &str) -> Option<Vec<u8>> {
    let answer: &[u8] = match path {
        "/account/chunked" => {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        }
        "/account/close" => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
        "/account/http10" => b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "/account/ambiguous" => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "/account/chunk-smuggle" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        "/account/early" => b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "/account/hop" => {
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nX-Private: s\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok"
        }
        "/account/no-content" | "/events/no-content" => {
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Up: 1\r\n\r\n"
        }
        "/account/not-modified" | "/events/not-modified" => {
            b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-Up: 1\r\n\r\n"
        }
        "/account/big" => {
            let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
            answer.extend((0..BIG).map(|i| b'a' + (i % 26) as u8));
            return Some(answer);
        }
        _ => return None,
    };
    Some(answer.to_vec())
}

const BIG: usize = 300_000;

/// The scripted upstream: its base URL and how many connections it took.
async fn scripted_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(request) = next_request(&mut stream, &mut buf).await {
                    let head = String::from_utf8_lossy(&request).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    let (answer, close) = match scripted(&path) {
                        Some(answer) => (answer, path == "/account/close"),
                        None => {
                            let mut answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                                request.len()
                            )
                            .into_bytes();
                            answer.extend_from_slice(&request);
                            (answer, false)
                        }
                    };
                    // In pieces, as a real upstream's writes arrive.
                    for piece in answer.chunks(7000) {
                        if stream.write_all(piece).await.is_err() {
                            return;
                        }
                    }
                    if close {
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (base, accepted)
}

/// One request (head, and a body by `Content-Length`) from `stream`.
async fn next_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            let total = end + 4 + length;
            if buf.len() >= total {
                return Some(buf.drain(..total).collect());
            }
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A response read from a raw connection: status, lowercased head, body
/// (decoded when chunked).
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> RawResponse {
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        fill(stream, buf).await;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    buf.drain(..head_end);
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(stream, buf).await;
            };
            let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).split(';').next().unwrap(), 16)
                .unwrap();
            buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    while !buf.windows(2).any(|w| w == b"\r\n") {
                        fill(stream, buf).await;
                    }
                    let i = buf.windows(2).position(|w| w == b"\r\n").unwrap();
                    buf.drain(..i + 2);
                    if i == 0 {
                        break;
                    }
                }
                break;
            }
            while buf.len() < size + 2 {
                fill(stream, buf).await;
            }
            body.extend(buf.drain(..size));
            assert_eq!(buf.drain(..2).collect::<Vec<u8>>(), b"\r\n");
        }
    } else {
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < length {
            fill(stream, buf).await;
        }
        body.extend(buf.drain(..length));
    }
    RawResponse { status, head, body }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 16384];
    let n = stream.read(&mut chunk).await.unwrap();
    assert!(
        n > 0,
        "the connection closed; read so far: {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

async fn setup(scopes: &str) -> (Server, String, Arc<AtomicUsize>) {
    let (base, accepted) = scripted_upstream().await;
    let s = Server::start_edited("app-analytics", move |p| {
        p.replacen("upstream   = \"echo\"", &format!("upstream   = \"{base}\""), 1)
    });
    let (_, _, token) = app_and_token(&s, scopes).await;
    (s, token, accepted)
}

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.url("").trim_start_matches("http://").trim_end_matches('/'))
        .await
        .unwrap()
}

fn get(path: &str, token: &str) -> String {
    request("GET", path, token)
}

fn request(method: &str, path: &str, token: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_on_one_upstream_connection() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let three = format!(
        "{}{}{}",
        get("/account/a", &token),
        get("/account/b?x=1", &token),
        get("/account/c", &token)
    );
    c.write_all(three.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    for path in ["/account/a", "/account/b?x=1", "/account/c"] {
        let a = read_answer(&mut c, &mut buf).await;
        assert_eq!(a.status, 200);
        let seen = String::from_utf8_lossy(&a.body).into_owned();
        assert!(seen.starts_with(&format!("GET {path} HTTP/1.1\r\n")), "{seen}");
        // What reached the upstream: our identity, not the credentials.
        assert!(seen.contains("x-scopegate-scopes: account:read\r\n"), "{seen}");
        assert!(seen.contains("x-forwarded-host: api.example\r\n"), "{seen}");
        assert!(!seen.to_ascii_lowercase().contains("authorization"), "{seen}");
        assert!(a.head.contains("date: "), "{}", a.head);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_after_plain_ones_is_served_on_the_same_connection() {
    let (s, token, _) = setup("account:write").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    c.write_all(get("/events/1", &token).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut c, &mut buf).await.status, 200);
    // The fast path hands this one, and the connection, to hyper.
    let post = format!(
        "POST /events HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\nContent-Length: 5\r\n\r\nhello{}",
        get("/events/2", &token)
    );
    c.write_all(post.as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 200);
    let seen = String::from_utf8_lossy(&a.body).into_owned();
    assert!(
        seen.starts_with("POST /events HTTP/1.1\r\n") && seen.ends_with("\r\n\r\nhello"),
        "{seen}"
    );
    let a = read_answer(&mut c, &mut buf).await;
    assert!(String::from_utf8_lossy(&a.body).starts_with("GET /events/2 HTTP/1.1\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_answers_pass_through_and_keep_both_connections() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    for _ in 0..2 {
        c.write_all(get("/account/chunked", &token).as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut buf).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hello world"[..]));
        assert!(a.head.contains("x-up: 1\r\n"), "{}", a.head);
    }
    c.write_all(get("/account/after", &token).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut c, &mut buf).await.status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "the upstream connection was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_ends_when_the_upstream_closes_reaches_the_caller_chunked() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    c.write_all(get("/account/close", &token).as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"until close"[..]));
    // The caller's connection goes on; the upstream's could not.
    c.write_all(get("/account/next", &token).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut c, &mut buf).await.status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_or_malformed_upstream_framing_is_502() {
    let (s, token, _) = setup("account:read").await;
    let r = http()
        .get(s.url("/account/ambiguous"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
    // A chunk-size line ending in a bare LF, which some readers take as a
    // line end and others not: never relayed.
    let r = http()
        .get(s.url("/account/chunk-smuggle"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(!r.text().await.unwrap().contains("hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_are_skipped_and_hop_by_hop_headers_dropped() {
    let (s, token, _) = setup("account:read").await;
    // Asked to close: the answer says so, and the connection ends.
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    let close = get("/account/early", &token).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
    c.write_all(close.as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert!(a.head.contains("connection: close\r\n"), "{}", a.head);
    assert_eq!(c.read(&mut [0u8; 1]).await.unwrap(), 0, "closed as asked");
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    c.write_all(get("/account/early", &token).as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]));
    c.write_all(get("/account/hop", &token).as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 200);
    assert!(a.head.contains("x-public: yes\r\n"), "{}", a.head);
    for gone in ["x-private", "keep-alive", "connection"] {
        assert!(!a.head.contains(&format!("{gone}:")), "{gone} was relayed: {}", a.head);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_with_a_length_arrives_whole() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    for _ in 0..2 {
        c.write_all(get("/account/big", &token).as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut buf).await;
        assert_eq!(a.body.len(), BIG);
        assert!(a.body.iter().enumerate().all(|(i, b)| *b == b'a' + (i % 26) as u8));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_on_the_fast_path_keep_the_connection() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    // Not `get(…).replace(…)`: a random token may hold the letters `GET`.
    c.write_all(request("DELETE", "/events/1", &token).as_bytes())
        .await
        .unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 403, "{} {}", a.head, String::from_utf8_lossy(&a.body));
    assert!(a.head.contains("www-authenticate: bearer"), "{}", a.head);
    c.write_all(b"GET /account/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut c, &mut buf).await.status, 401);
    c.write_all(b"GET /account/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert!(a.head.contains("connection: close"), "{}", a.head);
    assert_eq!(c.read(&mut [0u8; 1]).await.unwrap(), 0, "closed as asked");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "denials never reach the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_arrives_a_byte_at_a_time_is_served() {
    let (s, token, _) = setup("account:read").await;
    let mut c = connect(&s).await;
    c.set_nodelay(true).unwrap();
    for byte in get("/account/slow-head", &token).as_bytes() {
        c.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
    let a = read_answer(&mut c, &mut Vec::new()).await;
    assert_eq!(a.status, 200);
    assert!(String::from_utf8_lossy(&a.body).starts_with("GET /account/slow-head HTTP/1.1\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_answers_one_kept_alive_connection_request_after_request() {
    let (s, token, accepted) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    let nginx = format!(
        "GET /authz HTTP/1.1\r\nHost: sg\r\nX-Original-Method: GET\r\nX-Original-URI: /account/x?y=1\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let envoy = format!("GET /authz/account/x HTTP/1.1\r\nHost: sg\r\nAuthorization: Bearer {token}\r\n\r\n");
    let refused = "GET /authz HTTP/1.1\r\nHost: sg\r\nX-Original-Method: DELETE\r\nX-Original-URI: /events/1\r\n\r\n";
    c.write_all(format!("{nginx}{refused}{envoy}").as_bytes())
        .await
        .unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!((a.status, a.body.len()), (200, 0));
    assert!(a.head.contains("x-scopegate-scopes: account:read\r\n"), "{}", a.head);
    assert!(a.head.contains("content-length: 0\r\n"), "{}", a.head);
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 401);
    assert!(a.head.contains("www-authenticate: bearer realm="), "{}", a.head);
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "forward-auth never proxies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sees_our_identity_and_forwarding_fields_never_the_callers_copies() {
    let (s, token, _) = setup("account:read").await;
    let mut c = connect(&s).await;
    let request = format!(
        "GET /account/who HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n\
         X-Scopegate-Client-Id: forged\r\nx_scopegate_scopes: admin\r\nX-OAuth-Scope: account:read\r\n\
         X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-For: 10.0.0.10\r\nX-Forwarded-Host: evil.example\r\n\
         X-Forwarded-Proto: https\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\nX-Kept: Yes\r\n\r\n"
    );
    c.write_all(request.as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut Vec::new()).await;
    assert_eq!(a.status, 200);
    let seen = String::from_utf8_lossy(&a.body).to_ascii_lowercase();
    let lines: Vec<&str> = seen.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
    let values = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
            .collect()
    };
    assert_eq!(values("x-scopegate-client-id").len(), 1, "{seen}");
    assert_ne!(values("x-scopegate-client-id"), ["forged"], "{seen}");
    assert_eq!(values("x-scopegate-scopes"), ["account:read"], "{seen}");
    assert!(!seen.contains("x_scopegate"), "{seen}");
    assert!(values("x-oauth-scope").is_empty(), "{seen}");
    // Both caller lines, as one list, then the caller's own address.
    assert_eq!(values("x-forwarded-for"), ["10.0.0.9, 10.0.0.10, 127.0.0.1"], "{seen}");
    assert_eq!(values("x-forwarded-host"), ["api.example"], "{seen}");
    assert_eq!(values("x-forwarded-proto"), ["http"], "{seen}");
    assert_eq!(values("host").len(), 1, "{seen}");
    assert_ne!(values("host"), ["api.example"], "{seen}");
    for gone in ["authorization", "proxy-authorization", "te"] {
        assert!(values(gone).is_empty(), "{gone}: {seen}");
    }
    assert_eq!(values("x-kept"), ["yes"], "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_policy_applies_to_the_next_request_on_a_kept_alive_connection() {
    let (s, token, _) = setup("account:read").await;
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    c.write_all(get("/reports/custom", &token).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut c, &mut buf).await.status, 404);
    let original = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("{original}\n[[route]]\nmatch = \"GET /reports/custom\"\nany_of = [\"account:read\"]\n"),
    )
    .unwrap();
    // The same connection, request after request, until the file watcher's
    // reload lands: each request looks at the live policy again.
    let mut status = 404;
    for _ in 0..50 {
        c.write_all(get("/reports/custom", &token).as_bytes()).await.unwrap();
        status = read_answer(&mut c, &mut buf).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the new route never took effect on this connection");
}

/// What the upstream saw of a request: each field name (lower case) with its values.
fn seen_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .collect()
}

/// The same request on the fast path, and on the hyper path (an empty
/// body's `Content-Length: 0` hands a request to hyper).
fn both_paths(head: &str) -> [(&'static str, String); 2] {
    let hyper = head.replacen("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n", 1);
    [("fast path", head.to_owned()), ("hyper path", hyper)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscore_spellings_of_forwarding_and_framing_fields_never_reach_the_upstream() {
    let (s, token, _) = setup("account:read").await;
    let head = format!(
        "GET /account/who HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n\
         X_Forwarded_For: 6.6.6.6\r\nx_forwarded_host: evil.example\r\nX-Forwarded_Proto: https\r\n\
         Forwarded: for=6.6.6.6;host=evil.example\r\nContent_Length: 5\r\nTransfer_Encoding: chunked\r\n\
         X-Forwarded-Host: evil.example\r\nX_Kept: yes\r\n\r\n"
    );
    for (path, request) in both_paths(&head) {
        let mut c = connect(&s).await;
        c.write_all(request.as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut Vec::new()).await;
        assert_eq!(a.status, 200, "{path}");
        let fields = seen_fields(&a.body);
        let seen = format!("{path}: {fields:?}");
        assert!(!seen.contains("6.6.6.6") && !seen.contains("evil.example"), "{seen}");
        for gone in [
            "x_forwarded_for",
            "x_forwarded_host",
            "x-forwarded_proto",
            "forwarded",
            "content_length",
            "transfer_encoding",
        ] {
            assert!(fields.iter().all(|(n, _)| n != gone), "{gone}: {seen}");
        }
        let values = |name: &str| {
            fields
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(values("x-forwarded-host"), ["api.example"], "{seen}");
        assert_eq!(values("x-forwarded-for"), ["127.0.0.1"], "{seen}");
        assert_eq!(values("x_kept"), ["yes"], "an unrelated `_` field passes: {seen}");
    }
}

/// The gateway speaks its own HTTP version to the caller, whatever the
/// upstream's: an HTTP/1.0 upstream's answer reaches an HTTP/1.1 caller as
/// HTTP/1.1 on both paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_upstream_is_answered_in_http_1_1_on_both_paths() {
    let (s, token, _) = setup("account:read").await;
    for (path, request) in both_paths(&get("/account/http10", &token)) {
        let mut c = connect(&s).await;
        c.write_all(request.as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut Vec::new()).await;
        assert!(a.head.starts_with("http/1.1 200 "), "{path}: {}", a.head);
        assert_eq!(a.body, b"ok", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_204_carries_no_content_length_on_either_path_and_a_304_is_relayed_alike() {
    let (s, token, _) = setup("account:read").await;
    let mut heads = Vec::new();
    for resource in ["/account/no-content", "/account/not-modified"] {
        for (path, request) in both_paths(&get(resource, &token)) {
            let mut c = connect(&s).await;
            c.write_all(request.as_bytes()).await.unwrap();
            let a = read_answer(&mut c, &mut Vec::new()).await;
            assert!(a.head.contains("x-up: 1\r\n"), "{path}: {}", a.head);
            assert!(a.body.is_empty(), "{path}");
            heads.push((resource, path, a.status, a.head.contains("content-length")));
        }
    }
    assert_eq!(
        heads,
        [
            ("/account/no-content", "fast path", 204, false),
            ("/account/no-content", "hyper path", 204, false),
            ("/account/not-modified", "fast path", 304, false),
            ("/account/not-modified", "hyper path", 304, false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_1_request_without_exactly_one_host_is_a_400() {
    let (s, token, _) = setup("account:read").await;
    let auth = format!("Authorization: Bearer {token}\r\n");
    for (request, status) in [
        (format!("GET /account/a HTTP/1.1\r\n{auth}\r\n"), 400),
        (
            format!("GET /account/a HTTP/1.1\r\nHost: api.example\r\nHost: evil.example\r\n{auth}\r\n"),
            400,
        ),
        (format!("GET /account/a HTTP/1.0\r\n{auth}\r\n"), 200),
        (
            format!("GET /account/a HTTP/1.1\r\nHost: api.example\r\n{auth}\r\n"),
            200,
        ),
    ] {
        let mut c = connect(&s).await;
        c.write_all(request.as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut Vec::new()).await;
        assert_eq!(a.status, status, "{request}");
        if status == 400 {
            let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(body["error"], "invalid_request", "{body}");
            assert!(body["error_description"].as_str().unwrap().contains("Host"), "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_authority_form_targets_are_refused_before_matching() {
    let (s, token, accepted) = setup("account:read").await;
    for request in [
        format!("CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\nAuthorization: Bearer {token}\r\n\r\n"),
        format!("CONNECT /account/a HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n\r\n"),
    ] {
        let mut c = connect(&s).await;
        c.write_all(request.as_bytes()).await.unwrap();
        let a = read_answer(&mut c, &mut Vec::new()).await;
        assert_eq!(a.status, 400, "{request}");
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing reached the upstream");
}

/// `/portal/` and `/admin/api/` are scopegate's own, whatever the policy
/// routes: the fast path hands them to the router, never to the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_and_the_admin_api_are_never_proxied() {
    let (s, token, accepted) = setup("account:read").await;
    let before = accepted.load(Ordering::SeqCst);
    let mut c = connect(&s).await;
    let mut buf = Vec::new();
    c.write_all(get("/portal/sign-in", &token).as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 200);
    assert!(String::from_utf8_lossy(&a.body).contains("Sign in to the developer portal"));
    c.write_all(get("/admin/api/apps", &token).as_bytes()).await.unwrap();
    let a = read_answer(&mut c, &mut buf).await;
    assert_eq!(a.status, 401, "an access token is not an admin token");
    assert!(String::from_utf8_lossy(&a.body).contains("invalid_token"));
    assert_eq!(accepted.load(Ordering::SeqCst), before, "nothing reached the upstream");
}

/// Behind a TLS-terminating proxy listed in `trusted_proxies`, the upstream
/// hears the scheme and host the caller used; from anyone else those
/// fields are dropped, and the upstream hears `http` and the `Host` sent.
/// The same on the fast path (no body) and on hyper's (a body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheme_and_host_a_trusted_proxy_names_reach_the_upstream_and_no_one_elses() {
    for trusted in [true, false] {
        let (base, _) = scripted_upstream().await;
        let s = Server::start_edited("app-analytics", move |p| {
            let p = p.replacen("upstream   = \"echo\"", &format!("upstream   = \"{base}\""), 1);
            if trusted {
                p.replacen("[tokens]", "trusted_proxies = [\"127.0.0.1/32\"]\n\n[tokens]", 1)
            } else {
                p
            }
        });
        let (_, _, token) = app_and_token(&s, "account:write").await;
        let told = "X-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example.com\r\n";
        let head = format!("Host: internal:8080\r\nAuthorization: Bearer {token}\r\n{told}");
        let requests = [
            format!("GET /account/x HTTP/1.1\r\n{head}\r\n"),
            format!("POST /events HTTP/1.1\r\n{head}Content-Length: 2\r\n\r\nhi"),
        ];
        let (proto, host) = if trusted {
            ("https", "api.example.com")
        } else {
            ("http", "internal:8080")
        };
        let mut c = connect(&s).await;
        let mut buf = Vec::new();
        for request in requests {
            c.write_all(request.as_bytes()).await.unwrap();
            let a = read_answer(&mut c, &mut buf).await;
            assert_eq!(a.status, 200, "{}", a.head);
            let seen = String::from_utf8_lossy(&a.body).to_ascii_lowercase();
            assert!(seen.contains(&format!("x-forwarded-proto: {proto}\r\n")), "{seen}");
            assert!(seen.contains(&format!("x-forwarded-host: {host}\r\n")), "{seen}");
            assert_eq!(seen.matches("x-forwarded-proto").count(), 1, "{seen}");
            assert_eq!(seen.matches("x-forwarded-host").count(), 1, "{seen}");
        }
    }
}
