//! One worker's HTTP/1.1 server: accept, serve each connection (the
//! gateway's fast path first, then hyper with the router, see
//! [`crate::gateway::fast`]), and on shutdown stop accepting and let
//! requests in flight finish. `scopegate serve` runs one per worker thread.
//!
//! hyper directly rather than `axum::serve`, for one thing `axum::serve`
//! lacks: a deadline for the request head (`gateway.idle_timeout`). Without
//! it a client could hold a connection open forever by sending nothing, or a
//! header a byte at a time (slowloris), until the file descriptors run out.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::AppState;
use crate::gateway::fast::{self, Rewind};
use crate::http::slow_body::{BodyDeadline, SlowBody};

/// Serves `app` on `listener` until `stop` completes, then waits for the
/// connections' requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    app: Router,
    idle_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let (max_header_bytes, body_deadline) = {
        let gateway = &state.live.load().policy.settings.gateway;
        (
            gateway.max_header_bytes,
            BodyDeadline {
                timeout: gateway.body_timeout,
                min_rate: gateway.body_min_rate,
            },
        )
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Bounds every head, scopegate's own endpoints' too (hyper answers
        // 431 past it); the slack lets the gateway's own, clearer 431 come
        // first for its requests.
        .max_buf_size(max_header_bytes.saturating_add(8 * 1024).max(8 * 1024))
        // From connect, and from the end of each response on a kept-alive
        // connection, until the whole head of the next request has arrived.
        .header_read_timeout(idle_timeout);
    let graceful = GracefulShutdown::new();
    // Tells fast-path connections to close once their request is answered
    // (hyper's connections learn it from `graceful`).
    let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = app.clone().map_request(move |request: axum::http::Request<Incoming>| {
            let mut request = request.map(|body| SlowBody::new(body, body_deadline));
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let builder = builder.clone();
        // Taken now, so that shutdown waits for this connection however it
        // is served.
        let watcher = graceful.watcher();
        let mut stopping = stopping_rx.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Some(hand_off) = fast::serve(&state, stream, peer, idle_timeout, &mut stopping).await else {
                return;
            };
            let io = TokioIo::new(Rewind::from(hand_off));
            let connection = builder.serve_connection(io, TowerToHyperService::new(service));
            // A client that goes away or times out is not an error of ours.
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
}
