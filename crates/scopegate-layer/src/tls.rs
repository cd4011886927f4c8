//! TLS for scopegate's outgoing connections (the gateway's upstream, the
//! layer's JWKS and introspection calls): rustls on ring, trusting the
//! system's root certificates, or those of `SSL_CERT_FILE` / `SSL_CERT_DIR`
//! when set (the usual OpenSSL variables), or roots the caller gives.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Why a TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no trusted root certificates: the system has none, or SSL_CERT_FILE / SSL_CERT_DIR name none")]
    NoRoots,
    #[error("the root certificates given are not PEM certificates: {0}")]
    BadPem(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The system's roots, read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Option<Arc<RootCertStore>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "a root certificate could not be read");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::warn!(ignored, "root certificates that did not parse were skipped");
            }
            (added > 0).then(|| Arc::new(roots))
        })
        .clone()
        .ok_or(TlsError::NoRoots)
}

/// Roots from PEM text (one or more `CERTIFICATE` blocks).
pub fn roots_from_pem(pem: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::BadPem("no certificate in it".into()));
    }
    Ok(Arc::new(roots))
}

/// A client configuration offering `alpn` (e.g. `b"h2"` or `b"http/1.1"`),
/// trusting `roots` or, if `None`, the system's.
pub fn client_config(roots: Option<Arc<RootCertStore>>, alpn: &[&[u8]]) -> Result<ClientConfig, TlsError> {
    let roots = match roots {
        Some(r) => r,
        None => system_roots()?,
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
