//! Keep-alive HTTP/1.1 connections to the upstream, one pool per worker
//! thread (or, with `gateway.upstream_http2`, one multiplexed HTTP/2
//! connection per worker). A connection is checked out for one request and goes back when its
//! response body has been read to the end; a body dropped half-read closes
//! it. A request that finds a pooled connection closed under it (the upstream
//! timed it out) is retried once on a new connection, but only if none of it
//! was sent.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Most idle connections kept per pool.
const MAX_IDLE: usize = 256;

/// Why a request did not get a response.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened.
    Connect(std::io::Error),
    /// The connection failed while sending or waiting.
    Request(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "cannot connect: {e}"),
            SendError::Request(e) => write!(f, "{e}"),
        }
    }
}

#[derive(Debug)]
pub struct Pool {
    /// `host:port` of the upstream.
    address: String,
    connect_timeout: Duration,
    idle: Mutex<Vec<SendRequest<Body>>>,
    /// With `gateway.upstream_http2`: the one multiplexed connection.
    http2: Option<Mutex<Option<http2::SendRequest<Body>>>>,
}

impl Pool {
    pub fn new(address: String, connect_timeout: Duration, http2: bool) -> Arc<Self> {
        Arc::new(Self {
            address,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            http2: http2.then(|| Mutex::new(None)),
        })
    }

    async fn tcp(&self) -> Result<TokioIo<tokio::net::TcpStream>, SendError> {
        let stream = tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(&self.address))
            .await
            .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        Ok(TokioIo::new(stream))
    }

    /// HTTP/2 with prior knowledge: every request of this worker shares one
    /// connection; a closed one is replaced on the next request.
    async fn send_http2(
        &self,
        shared: &Mutex<Option<http2::SendRequest<Body>>>,
        request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        let open = shared.lock().ok().and_then(|s| s.clone()).filter(|s| !s.is_closed());
        let mut sender = match open {
            Some(sender) => sender,
            None => {
                let (sender, connection) = http2::handshake(TokioExecutor::new(), self.tcp().await?)
                    .await
                    .map_err(SendError::Request)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                if let Ok(mut slot) = shared.lock() {
                    *slot = Some(sender.clone());
                }
                sender
            }
        };
        sender.ready().await.map_err(SendError::Request)?;
        let response = sender.send_request(request).await.map_err(SendError::Request)?;
        Ok(response.map(Body::new))
    }

    /// An idle connection that is still open, ready for a request.
    async fn checkout(&self) -> Option<SendRequest<Body>> {
        loop {
            let mut sender = self.idle.lock().ok()?.pop()?;
            // Given back as its response ended, it may still be finishing that
            // exchange: wait for it rather than drop a good connection.
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn give_back(&self, sender: SendRequest<Body>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let (sender, connection) = http1::handshake(self.tcp().await?).await.map_err(SendError::Request)?;
        // Driven on this worker's runtime, like everything else of the request.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends `request` (HTTP/1.1: origin-form URI and `Host`; HTTP/2: absolute
    /// URI) and returns the response,
    /// whose body returns the connection to the pool once read to the end.
    pub async fn send(self: &Arc<Self>, request: Request<Body>) -> Result<Response<Body>, SendError> {
        if let Some(shared) = &self.http2 {
            return self.send_http2(shared, request).await;
        }
        let (mut sender, reused) = match self.checkout().await {
            Some(sender) => (sender, true),
            None => (self.connect().await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut e) => match e.take_message() {
                // Nothing was sent on a reused connection: once more, on a new one.
                Some(request) if reused => {
                    sender = self.connect().await?;
                    sender.send_request(request).await.map_err(SendError::Request)?
                }
                _ => return Err(SendError::Request(e.into_error())),
            },
        };
        Ok(response.map(|body| {
            Body::new(PooledBody {
                inner: body,
                back: Some((sender, Arc::clone(self))),
            })
        }))
    }
}

/// A response body that hands its connection back when it has been read.
struct PooledBody {
    inner: Incoming,
    back: Option<(SendRequest<Body>, Arc<Pool>)>,
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            if self.inner.is_end_stream() && !sender.is_closed() {
                pool.give_back(sender);
            }
        }
    }
}
