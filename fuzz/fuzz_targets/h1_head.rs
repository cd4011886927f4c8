//! The gateway's HTTP/1.1 fast path (`gateway/h1.rs`), differentially
//! against hyper, which serves every request the fast path does not: for
//! every input the fast path takes, hyper must read the same method, the
//! same target, every header field with the same value, and no body. A head
//! the fast path takes that hyper would refuse or read otherwise is a
//! request the two paths would forward differently.
#![no_main]

// The fast path's own source, not a copy (with `crate::http::hop_by_hop`,
// which it names).
#[allow(dead_code, clippy::all)]
#[path = "../../crates/scopegate-server/src/gateway/h1.rs"]
mod h1;
#[allow(dead_code, clippy::all)]
#[path = "../../crates/scopegate-server/src/http/hop_by_hop.rs"]
mod hop_by_hop;
mod http {
    pub(crate) use super::hop_by_hop;
}

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body::Body as _;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What hyper read of the first request on a connection.
#[derive(Debug, Default)]
struct Seen {
    method: String,
    target: String,
    fields: Vec<(String, Vec<u8>)>,
    body_empty: bool,
}

fn hyper_reads(bytes: &[u8]) -> Option<Seen> {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().unwrap();
    }
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 17);
            let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
            let record = Arc::clone(&seen);
            let service = hyper::service::service_fn(move |request: ::http::Request<hyper::body::Incoming>| {
                let record = Arc::clone(&record);
                async move {
                    let fields = request
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                        .collect();
                    *record.lock().unwrap() = Some(Seen {
                        method: request.method().as_str().to_owned(),
                        target: request.uri().to_string(),
                        fields,
                        body_empty: request.body().is_end_stream(),
                    });
                    Ok::<_, Infallible>(::http::Response::new(String::new()))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(hyper_util::rt::TokioIo::new(server), service);
            client.write_all(bytes).await.ok()?;
            client.shutdown().await.ok()?;
            let serving = tokio::spawn(connection);
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            let _ = serving.await;
            seen.lock().unwrap().take()
        })
    })
}

fuzz_target!(|bytes: &[u8]| {
    let mut headers = [httparse::EMPTY_HEADER; h1::MAX_HEADERS];
    let h1::Request::Fast(fast) = h1::request(bytes, &mut headers, |_| false) else {
        return;
    };
    let head = &bytes[..fast.head_len];
    let ours: Vec<(String, Vec<u8>)> = headers
        .iter()
        .take_while(|h| !h.name.is_empty())
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let Some(seen) = hyper_reads(head) else {
        panic!(
            "the fast path took a head hyper refuses: {:?}",
            String::from_utf8_lossy(head)
        );
    };
    assert_eq!(seen.method, fast.method);
    assert_eq!(seen.target, fast.target);
    assert!(
        seen.body_empty,
        "hyper expects a body: {:?}",
        String::from_utf8_lossy(head)
    );
    // HeaderMap groups values by name; within a name the order is kept.
    let mut theirs = seen.fields;
    let mut ours_sorted = ours;
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    ours_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(theirs, ours_sorted, "{:?}", String::from_utf8_lossy(head));
});
