//! Keep-alive HTTP/1.1 connections to the upstream, one pool per worker
//! thread (or, with `gateway.upstream_http2`, one multiplexed HTTP/2
//! connection per worker). A connection is checked out for one request and goes back when its
//! response body has been read to the end; a body dropped half-read closes
//! it. A request that finds a pooled connection closed under it (the upstream
//! timed it out) is retried once on a new connection, but only if none of it
//! was sent. An `https://` upstream is reached over TLS (rustls; the
//! system's roots or `SSL_CERT_FILE`), with ALPN `h2` or `http/1.1`.

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
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// Most idle connections kept per pool.
const MAX_IDLE: usize = 256;

/// Why a request did not get a response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened.
    Connect(std::io::Error),
    /// The TLS handshake failed (for example, an untrusted certificate).
    Tls(std::io::Error),
    /// The connection failed while sending or waiting.
    Request(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "cannot connect: {e}"),
            SendError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            SendError::Request(e) => write!(f, "{e}"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Pool {
    /// `host:port` of the upstream.
    address: String,
    connect_timeout: Duration,
    /// For an `https://` upstream: the connector and the name to verify.
    tls: Option<Tls>,
    idle: Mutex<Vec<SendRequest<Body>>>,
    /// Idle connections of the HTTP/1.1 fast path ([`crate::gateway::fast`]), which
    /// speaks to the socket itself.
    raw_idle: Mutex<Vec<TcpStream>>,
    /// With `gateway.upstream_http2`: the one multiplexed connection.
    http2: Option<Mutex<Option<http2::SendRequest<Body>>>>,
}

/// How to speak TLS to one upstream.
#[derive(Clone)]
pub(crate) struct Tls {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(address: String, connect_timeout: Duration, http2: bool, tls: Option<Tls>) -> Arc<Self> {
        Arc::new(Self {
            address,
            connect_timeout,
            tls,
            idle: Mutex::new(Vec::new()),
            raw_idle: Mutex::new(Vec::new()),
            http2: http2.then(|| Mutex::new(None)),
        })
    }

    /// A connected socket, within the connect timeout.
    async fn tcp(&self) -> Result<TcpStream, SendError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        Ok(stream)
    }

    /// The TLS handshake on `tcp`, also within the connect timeout.
    async fn tls(&self, tls: &Tls, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SendError> {
        tokio::time::timeout(self.connect_timeout, tls.connector.connect(tls.name.clone(), tcp))
            .await
            .map_err(|_| SendError::Tls(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::Tls)
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
                let tcp = self.tcp().await?;
                let sender = match &self.tls {
                    None => handshake2(TokioIo::new(tcp)).await?,
                    Some(tls) => handshake2(TokioIo::new(self.tls(tls, tcp).await?)).await?,
                };
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
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(sender);
        }
    }

    /// For the fast path: an idle connection that, as far as the kernel has
    /// told us, the upstream has not closed. Costs no system call when
    /// nothing arrived on it while idle.
    pub(crate) fn checkout_raw(&self) -> Option<TcpStream> {
        loop {
            let stream = self.raw_idle.lock().ok()?.pop()?;
            if still_open(&stream) {
                return Some(stream);
            }
        }
    }

    /// For the fast path: a new connection.
    pub(crate) async fn connect_raw(&self) -> Result<TcpStream, SendError> {
        self.tcp().await
    }

    /// For the fast path: a connection whose last response was read to its end.
    pub(crate) fn give_back_raw(&self, stream: TcpStream) {
        if let Ok(mut idle) = self.raw_idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(stream);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let tcp = self.tcp().await?;
        match &self.tls {
            None => handshake1(TokioIo::new(tcp)).await,
            Some(tls) => handshake1(TokioIo::new(self.tls(tls, tcp).await?)).await,
        }
    }

    /// Sends `request` (HTTP/1.1: origin-form URI and `Host`; HTTP/2: absolute
    /// URI) and returns the response,
    /// whose body returns the connection to the pool once read to the end.
    pub(crate) async fn send(self: &Arc<Self>, request: Request<Body>) -> Result<Response<Body>, SendError> {
        // Opening a connection (a TLS handshake especially) and HTTP/2 take
        // kilobytes of future state: boxed, so that the common case, a pooled
        // HTTP/1.1 connection, does not carry (and copy) them on every request.
        if let Some(shared) = &self.http2 {
            return Box::pin(self.send_http2(shared, request)).await;
        }
        let (mut sender, reused) = match self.checkout().await {
            Some(sender) => (sender, true),
            None => (Box::pin(self.connect()).await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut e) => match e.take_message() {
                // Nothing was sent on a reused connection: once more, on a new one.
                Some(request) if reused => {
                    sender = Box::pin(self.connect()).await?;
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

/// Whether an idle connection is still open: an idle connection has nothing
/// to read, so readable means the upstream closed it (or sent bytes no
/// request asked for, which makes it as useless).
fn still_open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        // Readiness may be left over from the last read: look.
        Poll::Ready(Ok(())) => {
            matches!(stream.try_read(&mut [0; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
        Poll::Ready(Err(_)) => false,
    }
}

/// An HTTP/1.1 connection on `io`, driven by a task of this worker's runtime,
/// like everything else of the request.
async fn handshake1<T>(io: T) -> Result<SendRequest<Body>, SendError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io).await.map_err(SendError::Request)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// An HTTP/2 connection on `io` (prior knowledge, or ALPN `h2` over TLS).
async fn handshake2<T>(io: T) -> Result<http2::SendRequest<Body>, SendError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(SendError::Request)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
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
        if let Some((sender, pool)) = self.back.take()
            && self.inner.is_end_stream()
            && !sender.is_closed()
        {
            pool.give_back(sender);
        }
    }
}
