//! TLS for `tokio-postgres` with rustls (ring), configured from [`Tls`].

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::config::{Roots, Tls};

/// Makes the TLS session of each new connection; cheap to clone.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    /// `None` for `sslmode=disable`: tokio-postgres then never asks for TLS.
    config: Option<Arc<ClientConfig>>,
    /// Whether the certificate must name the host (verify-full).
    needs_name: bool,
}

impl MakeRustls {
    /// Builds the rustls configuration once: reads and parses the CA file.
    pub(crate) fn new(tls: &Tls) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let config = match tls {
            Tls::Disable => None,
            Tls::Prefer | Tls::Require => Some(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                    .with_no_client_auth(),
            ),
            Tls::VerifyCa(roots) => Some(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly {
                        roots: Arc::new(load(roots)?),
                        provider,
                    }))
                    .with_no_client_auth(),
            ),
            Tls::VerifyFull(roots) => Some(
                builder
                    .with_root_certificates(load(roots)?)
                    .with_no_client_auth(),
            ),
        };
        Ok(MakeRustls {
            config: config.map(|mut c| {
                // what PostgreSQL 17 expects; older servers ignore it
                c.alpn_protocols = vec![b"postgresql".to_vec()];
                Arc::new(c)
            }),
            needs_name: matches!(tls, Tls::VerifyFull(_)),
        })
    }
}

/// The trust anchors: the CA file's certificates, or the built-in roots.
fn load(roots: &Roots) -> Result<RootCertStore, String> {
    let path = match roots {
        Roots::Builtin => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
        }
        Roots::File(path) => path,
    };
    let shown = path.display();
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read `sslrootcert` `{shown}`: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot read `sslrootcert` `{shown}`: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("`sslrootcert` `{shown}` holds an unusable certificate: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("`sslrootcert` `{shown}` holds no PEM certificate"));
    }
    Ok(store)
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        // called for every connection, even with `sslmode=disable`; then
        // tokio-postgres never starts the handshake
        let Some(config) = self.config.clone() else {
            return Ok(RustlsConnect(None));
        };
        let name = match ServerName::try_from(domain.to_owned()) {
            Ok(name) => name,
            // only verify-full reads the name: the others may connect by `hostaddr` alone
            Err(_) if !self.needs_name => {
                ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into())
            }
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "`sslmode=verify-full` needs a host name or address to check the certificate against, not `{domain}`"
                    ),
                ));
            }
        };
        Ok(RustlsConnect(Some((
            tokio_rustls::TlsConnector::from(config),
            name,
        ))))
    }
}

/// One connection's TLS handshake (`None` with `sslmode=disable`).
pub(crate) struct RustlsConnect(Option<(tokio_rustls::TlsConnector, ServerName<'static>)>);

type Handshake = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, socket: Socket) -> Handshake {
        Box::pin(async move {
            let (connector, name) = self
                .0
                .ok_or_else(|| io::Error::other("TLS is disabled (`sslmode=disable`)"))?;
            let stream = connector.connect(name, socket).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS session over a PostgreSQL socket.
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // no `tls-server-end-point`: SCRAM runs without the -PLUS binding
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// `require` (and local `prefer`): any certificate is accepted, so the
/// session resists passive eavesdropping but not an active man in the middle.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls certificate error behind a failed connection, if that is why.
pub(crate) fn certificate_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
            && matches!(tls, rustls::Error::InvalidCertificate(_))
        {
            return Some(tls);
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>()
            && matches!(tls, rustls::Error::InvalidCertificate(_))
        {
            return Some(tls);
        }
        source = s.source();
    }
    None
}
