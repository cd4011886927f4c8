//! The HTTP client the relying-party crate calls the providers with:
//! hyper over rustls (the system's roots, or `SSL_CERT_FILE`), no redirects
//! followed, every call bounded in time and size.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::http;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest answer read from a provider (discovery, JWKS, token, userinfo).
const MAX_ANSWER: usize = 1 << 20;
/// Time allowed for one call to a provider.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call to a provider failed (for the log and the sign-in page; it
/// never holds a secret: requests are not echoed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CallError(String);

#[derive(Clone, Debug)]
pub(crate) struct ProviderHttp(Option<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>);

impl ProviderHttp {
    pub(crate) fn new() -> Self {
        let config = scopegate_layer::tls::client_config(None, &[]).map_err(|e| {
            tracing::error!(error = %e, "https:// calls to identity providers will fail");
        });
        ProviderHttp(config.ok().map(|config| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .build();
            Client::builder(TokioExecutor::new()).build(connector)
        }))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, CallError> {
        let Some(client) = &self.0 else {
            return Err(CallError("no TLS configuration for https:// calls".into()));
        };
        let target = format!(
            "{}://{}{}",
            request.uri().scheme_str().unwrap_or("?"),
            request.uri().authority().map_or("?", |a| a.as_str()),
            request.uri().path()
        );
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let response = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| CallError(format!("{target}: no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| CallError(format!("{target}: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(TIMEOUT, Limited::new(body, MAX_ANSWER).collect())
            .await
            .map_err(|_| CallError(format!("{target}: the answer took over {} s", TIMEOUT.as_secs())))?
            .map_err(|e| CallError(format!("{target}: reading the answer: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body.to_vec()))
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, CallError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
