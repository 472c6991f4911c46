//! TLS with rustls: the server's certificate and key from PEM files, reloaded on SIGHUP without dropping
//! connections, and optional client certificates (mTLS) verified against a CA file, which the auth layer maps
//! to agency principals by the certificate's subject (a DNS name of its SAN, else its common name).

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
};

use anyhow::Context;
use rustls::{
    RootCertStore, ServerConfig,
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tokio_rustls::{TlsAcceptor, server::TlsStream};

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA whose client certificates are accepted (mTLS); none: no client certificates.
    pub client_ca: Option<PathBuf>,
}

fn load_key(files: &TlsFiles) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key in {}", files.key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .context("unsupported private key")?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

/// The current certificate, swapped in place on reload so that new handshakes use it.
#[derive(Debug)]
struct Reloadable(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// A TLS acceptor whose certificate can be reloaded.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<Reloadable>,
    acceptor: TlsAcceptor,
}

impl Tls {
    pub fn load(files: TlsFiles) -> anyhow::Result<Tls> {
        let current = Arc::new(Reloadable(RwLock::new(load_key(&files)?)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .with_context(|| format!("reading {}", ca.display()))?
                {
                    roots
                        .add(cert.with_context(|| format!("parsing {}", ca.display()))?)
                        .with_context(|| format!("adding a CA of {}", ca.display()))?;
                }
                // Optional: token callers need no certificate; agency systems present one.
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .context("client certificate verifier")?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(current.clone());
        // h2 first (gRPC); http/1.1 for browsers and tools that offer only it (gRPC-Web, the workbench).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            files,
            current,
        })
    }

    /// Reads the certificate and key again; on error the old ones stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let key = load_key(&self.files)?;
        if let Ok(mut current) = self.current.0.write() {
            *current = key;
        }
        tracing::info!(cert = %self.files.cert.display(), "tls certificate reloaded");
        Ok(())
    }

    /// Accepted TLS connections of `listener`. Handshakes run concurrently, and a failed one is logged and
    /// dropped without disturbing the others.
    pub fn incoming(
        &self,
        listener: TcpListener,
    ) -> tokio_stream::wrappers::ReceiverStream<
        Result<TlsStream<tokio::net::TcpStream>, std::io::Error>,
    > {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                // Small response frames must not wait for delayed ACKs (Nagle).
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(tcp),
                    )
                    .await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Ok(Err(err)) => tracing::info!(%peer, error = %err, "tls handshake failed"),
                        Err(_) => tracing::info!(%peer, "tls handshake timed out"),
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

/// Reloads the certificate on every SIGHUP, for as long as the service runs.
pub fn reload_on_sighup(tls: Tls) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(err) = tls.reload() {
                tracing::error!(error = %format!("{err:#}"), "tls reload failed; keeping the old certificate");
            }
        }
    });
}

/// The names a client certificate identifies its holder by: the DNS names of its subject alternative names,
/// then its common name.
pub fn certificate_subjects(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push((*dns).to_owned());
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            names.push(cn.to_owned());
        }
    }
    names
}

/// Whether a listen address is on this machine only (plain TCP is allowed there without asking).
pub fn is_loopback(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}
