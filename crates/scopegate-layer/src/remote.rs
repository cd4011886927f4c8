//! What the layer asks the authorization server: its JWK Set (rarely) and,
//! for opaque tokens, RFC 7662 introspection (once per token per cache TTL).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use scopegate_core::jwt::{AccessClaims, PublicKeys};

/// Longest answer read from the authorization server.
const MAX_ANSWER: usize = 1 << 20;
/// Time allowed for one call to the authorization server.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A token naming an unknown key refetches the JWKS at most this often.
const REFETCH_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) enum RemoteError {
    /// The token is not valid: 401 `invalid_token`.
    Refused(String),
    /// The authorization server could not be asked: also refused (fail closed).
    Unavailable(String),
}

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client for the JWKS and introspection calls: `http://` as is,
/// `https://` over TLS trusting the given roots (default: the system's).
/// Without any trusted root, `https://` calls fail, and so do the checks that
/// need them (fail closed).
#[derive(Clone, Debug)]
pub(crate) struct HttpClient(Option<Inner>);

pub(crate) fn client(roots: Option<Arc<rustls::RootCertStore>>) -> HttpClient {
    // hyper-rustls sets ALPN itself (and refuses a config that has it).
    let alpn: &[&[u8]] = &[];
    let config = crate::tls::client_config(roots, alpn).or_else(|e| {
        tracing::error!(error = %e, "https:// calls to the authorization server will fail");
        crate::tls::client_config(Some(Arc::new(rustls::RootCertStore::empty())), alpn)
    });
    HttpClient(config.ok().map(|config| {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new()).build(connector)
    }))
}

async fn call(client: &HttpClient, request: Request<Full<Bytes>>) -> Result<serde_json::Value, RemoteError> {
    let unavailable = |e: &dyn std::fmt::Display| RemoteError::Unavailable(e.to_string());
    let client = client
        .0
        .as_ref()
        .ok_or_else(|| RemoteError::Unavailable("no HTTP client: TLS could not be set up".into()))?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| RemoteError::Unavailable("the authorization server did not answer in time".into()))?
        .map_err(|e| unavailable(&e))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| unavailable(&e))?
        .to_bytes();
    if !status.is_success() {
        return Err(RemoteError::Unavailable(format!(
            "the authorization server answered {status}"
        )));
    }
    serde_json::from_slice(&body).map_err(|e| unavailable(&e))
}

/// The issuer's JWK Set, fetched on first use and when a token names a key
/// that is not in it (a rotation), at most every [`REFETCH_EVERY`].
#[derive(Debug)]
pub(crate) struct Jwks {
    url: http::Uri,
    client: HttpClient,
    keys: RwLock<Arc<PublicKeys>>,
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub(crate) fn new(url: http::Uri, client: HttpClient) -> Self {
        Self {
            url,
            client,
            keys: RwLock::default(),
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    fn current(&self) -> Arc<PublicKeys> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    pub(crate) async fn verify(
        &self,
        token: &str,
        issuer: &str,
        audiences: &[&str],
        now: i64,
    ) -> Result<AccessClaims, RemoteError> {
        let invalid =
            || RemoteError::Refused("the token is not valid: bad signature, issuer or type, or expired".into());
        let kid = PublicKeys::kid_of(token).ok_or_else(invalid)?;
        if !self.current().has(&kid) {
            self.refetch().await?;
        }
        self.current()
            .verify_for(token, issuer, audiences, now)
            .ok_or_else(invalid)
    }

    async fn refetch(&self) -> Result<(), RemoteError> {
        let mut fetched = self.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
            return Ok(());
        }
        *fetched = Some(Instant::now());
        let request = Request::get(self.url.clone())
            .body(Full::default())
            .map_err(|e| RemoteError::Unavailable(e.to_string()))?;
        let jwks = call(&self.client, request).await?;
        let keys = PublicKeys::from_jwks(&jwks).map_err(|e| RemoteError::Unavailable(e.to_string()))?;
        tracing::info!(url = %self.url, keys = ?keys, "fetched the JWKS");
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
        Ok(())
    }
}

/// RFC 7662 introspection as a confidential client (`client_secret_basic`).
pub(crate) struct Introspection {
    url: http::Uri,
    client: HttpClient,
    /// `Basic` and the client's id and secret: never printed.
    authorization: String,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("url", &self.url)
            .field("authorization", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Introspection {
    pub(crate) fn new(url: http::Uri, client_id: &str, client_secret: &str, client: HttpClient) -> Self {
        Self {
            url,
            client,
            authorization: format!("Basic {}", STANDARD.encode(format!("{client_id}:{client_secret}"))),
        }
    }

    pub(crate) async fn introspect(&self, token: &str) -> Result<serde_json::Value, RemoteError> {
        let form = format!("token={}&token_type_hint=access_token", form_encode(token));
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| RemoteError::Unavailable(e.to_string()))?;
        call(&self.client, request).await
    }
}

/// `application/x-www-form-urlencoded` for a token (RFC 6750 `b64token`
/// characters; anything else escaped).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
