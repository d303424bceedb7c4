//! The local stack's certificates: a certificate authority of its own and one server
//! certificate it signed, for 127.0.0.1 and localhost. LocalStack answers HTTPS on its port with
//! that certificate (besides plain HTTP, on the same port), and so does the benchmark's TLS
//! terminator in front of DynamoDB Local ([`crate::bench::tls_terminator`]): a client that trusts
//! the CA (`SSL_CERT_FILE` for rustls-native-certs, `AWS_CA_BUNDLE` for botocore) verifies both
//! as it verifies AWS's endpoints, so the benchmark's cold starts pay a real handshake.
//!
//! Made once per state dir and kept: LocalStack would otherwise try to download a certificate of
//! its own at start, or make a self-signed one no client could verify.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// The names the server certificate is for: how xtask names the emulators (`LOOPBACK`), and
/// the two names LocalStack's own tools use.
const SERVER_NAMES: [&str; 3] = [local_stack::LOOPBACK, "localhost", "localhost.localstack.cloud"];

/// Where a system keeps its CA bundle (Debian/Ubuntu, then Amazon Linux/Fedora, Lambda's own OS).
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/// The files of one state dir's CA (`<state>/tls/`).
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
}

impl LocalCa {
    /// The CA of the state dir `state`, made (with its server certificate) if it has none yet.
    pub fn ensure(state: &Path) -> Result<Self> {
        let ca = Self { dir: state.join("tls") };
        if !(ca.ca_pem().is_file() && ca.server_pem().is_file()) {
            ca.make()
                .with_context(|| format!("making the local CA in {}", ca.dir.display()))?;
        }
        Ok(ca)
    }

    /// The CA's certificate: what a client trusts.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's key and then its certificate, in one file: LocalStack's format
    /// (`CUSTOM_SSL_CERT_PATH`; it splits it into `.key` and `.crt` beside it).
    pub fn server_pem(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    fn make(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "user-signup local CA (xtask)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key)?;

        let server_key = KeyPair::generate()?;
        let mut server_params = CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, local_stack::LOOPBACK);
        let server = server_params.signed_by(&server_key, &ca, &ca_key)?;

        // The server file first: `ensure` takes the CA file as the sign that both are whole.
        std::fs::write(
            self.server_pem(),
            format!("{}{}", server_key.serialize_pem(), server.pem()),
        )?;
        std::fs::write(self.ca_pem(), ca.pem())?;
        Ok(())
    }

    /// A TLS server configuration with the server certificate (the terminator's).
    pub fn server_config(&self) -> Result<rustls::ServerConfig> {
        let pem = std::fs::read(self.server_pem())?;
        let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(&pem)?;
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?)
    }

    /// Writes a bundle of the system's CAs and this one beside the CA and returns its path, for
    /// `SSL_CERT_FILE` and `AWS_CA_BUNDLE`: a function then reads and parses as many certificates
    /// at its first handshake as it would on Lambda, where the bundle is the system's (plus ours
    /// here).
    pub fn write_trust_bundle(&self) -> Result<PathBuf> {
        let mut bundle = SYSTEM_BUNDLES
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&std::fs::read_to_string(self.ca_pem())?);
        let out = self.dir.join("trust-bundle.pem");
        std::fs::write(&out, bundle)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    #[test]
    fn the_server_certificate_is_signed_by_the_ca_for_the_loopback_address() {
        let state = std::env::temp_dir().join(format!("xtask-tls-{}", std::process::id()));
        let ca = LocalCa::ensure(&state).unwrap();
        let roots = {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_file(ca.ca_pem()).unwrap()).unwrap();
            std::sync::Arc::new(roots)
        };
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .unwrap();
        let pem = std::fs::read(ca.server_pem()).unwrap();
        let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem).map(Result::unwrap).collect();
        for name in SERVER_NAMES {
            let name = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&chain[0], &[], &name, &[], rustls::pki_types::UnixTime::now())
                .unwrap_or_else(|err| panic!("{name:?}: {err}"));
        }
        let other = rustls::pki_types::ServerName::try_from("example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(&chain[0], &[], &other, &[], rustls::pki_types::UnixTime::now())
                .is_err()
        );
        // Made once: a second `ensure` keeps the same CA.
        let before = std::fs::read(ca.ca_pem()).unwrap();
        LocalCa::ensure(&state).unwrap();
        assert_eq!(std::fs::read(ca.ca_pem()).unwrap(), before);
        ca.server_config().unwrap();
        let bundle = ca.write_trust_bundle().unwrap();
        assert!(
            std::fs::read_to_string(&bundle)
                .unwrap()
                .ends_with(&String::from_utf8(before).unwrap())
        );
        std::fs::remove_dir_all(&state).unwrap();
    }
}
