//! TLS for the servers edigate runs (rustls with ring): a server configuration from PEM files, with
//! client certificates required when a client CA is given (mTLS), and an accept loop that serves an
//! axum router over it. Used by `dev-erp --tls-cert`; the AS2 listener will use the same.

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A server configuration: certificate chain and key (PEM); with `client_ca`, clients must present a
/// certificate it signed.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("certificate chain {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).with_context(|| format!("client CA {}", ca.display()))? {
                roots.add(c.with_context(|| format!("client CA {}", ca.display()))?)?;
            }
            builder.with_client_cert_verifier(WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).context("certificate and key do not go together")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `app` over TLS on `listener` until the task is dropped. A client that fails the handshake
/// (no or a wrong certificate) is logged and dropped; the loop goes on.
pub async fn serve(listener: tokio::net::TcpListener, tls: Arc<ServerConfig>, app: axum::Router) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::warn!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::warn!(%peer, "TLS handshake timed out"),
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}
