//! A TLS terminator in front of DynamoDB Local, which speaks plain HTTP only: it accepts TLS on
//! a loopback port of its own with the local CA's server certificate
//! ([`crate::local::tls::LocalCa`]) and passes each connection's bytes to DynamoDB Local and
//! back. With it every AWS call a benchmarked function makes is HTTPS, as on AWS, so its cold
//! start includes the handshake. It runs in the benchmark's process, outside the functions'
//! cgroups, as the emulators do; it lives as long as the value.

use anyhow::{Context, Result};
use local_stack::LOOPBACK;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub struct TlsTerminator {
    port: u16,
    accepting: JoinHandle<()>,
}

impl TlsTerminator {
    /// Listens on a free loopback port; each connection goes to the loopback port `upstream`
    /// (plain TCP).
    pub async fn start(config: rustls::ServerConfig, upstream: u16) -> Result<Self> {
        let listener = TcpListener::bind((LOOPBACK, 0))
            .await
            .context("binding the TLS terminator")?;
        let port = listener.local_addr()?.port();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that gives up mid-handshake or mid-request is its own business.
                    let _ = relay(acceptor, client, upstream).await;
                });
            }
        });
        Ok(Self { port, accepting })
    }

    /// Its `https://` URL.
    pub fn url(&self) -> String {
        format!("https://{LOOPBACK}:{}", self.port)
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn relay(acceptor: TlsAcceptor, client: TcpStream, upstream: u16) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut client = acceptor.accept(client).await?;
    let mut server = TcpStream::connect((LOOPBACK, upstream)).await?;
    server.set_nodelay(true)?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::tls::LocalCa;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_pass_through_a_verified_handshake_both_ways() {
        let state = std::env::temp_dir().join(format!("xtask-terminator-{}", std::process::id()));
        let ca = LocalCa::ensure(&state).unwrap();
        // The upstream: an echo of what it reads, upper-cased, so that the answer is its own.
        let upstream = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let upstream_port = upstream.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).await.unwrap();
            conn.write_all(&buf.to_ascii_uppercase()).await.unwrap();
        });
        let terminator = TlsTerminator::start(ca.server_config().unwrap(), upstream_port)
            .await
            .unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(ca.ca_pem()).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let port = terminator.url().rsplit(':').next().unwrap().parse::<u16>().unwrap();
        let tcp = TcpStream::connect((LOOPBACK, port)).await.unwrap();
        let name = ServerName::try_from(LOOPBACK).unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        tls.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HELLO");
        std::fs::remove_dir_all(&state).unwrap();
    }
}
