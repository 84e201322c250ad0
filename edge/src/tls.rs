//! Native TLS termination (rustls on aws-lc-rs): loads the certificate chain and key, keeps them
//! current for new handshakes, and performs handshakes under a deadline.
//!
//! Invariants:
//! - the pair in use always parsed and matched; a broken replacement is refused with one warning
//!   and the previous pair stays in use ([`CertStore`]);
//! - a new pair only affects handshakes that start after the swap: an established connection
//!   holds its own session keys, so rotation never drops anyone;
//! - key material never reaches a log line, a metric or an error message: errors name the file
//!   and say what is wrong with it, never quote it;
//! - resumable sessions are forgotten when the pair changes, so every client's next connection
//!   sees the new certificate;
//! - TLS 1.2 and 1.3 only, the aws-lc-rs provider's default suites (ECDHE key exchange and AEAD
//!   ciphers only), ALPN `http/1.1`, no client certificates ([`server_config`]).
//!
//! Memory per connection (rustls 0.23.46, read from its source): after the handshake a
//! `ServerConnection` keeps the record-layer keys and a few hundred bytes of state, plus
//! - the incoming-record buffer, which rustls resizes to what is buffered + 4 KiB before each
//!   socket read and shrinks back when it is empty, so an idle connection holds about 4 KiB
//!   (up to 64 KiB transiently while a large handshake flight is being received);
//! - the received-plaintext queue (capped at 16 KiB) and the outgoing TLS queue (capped at
//!   64 KiB by `set_buffer_limit`), both chunk lists that free each chunk once it is consumed,
//!   so they are empty on an idle socket.
//!
//! `ServerConnection::set_buffer_limit` therefore does not matter for idle sockets; it bounds
//! what a socket that is *writing* faster than its peer reads can buffer above the kernel's send
//! buffer, on top of the session outbox. The default (64 KiB) is kept. `max_fragment_size` is
//! left alone: it shrinks records, not buffers.

mod accept;
mod store;
mod x509;

#[cfg(test)]
mod test_pki;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

pub use accept::{DEFAULT_HANDSHAKE_TIMEOUT, TlsAcceptError, accept};
pub use store::{CertStore, DEFAULT_POLL_INTERVAL, Reload, reload_on_sighup};

/// The certificate and key files, as given by `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain: the leaf first, then the intermediates.
    pub cert: PathBuf,
    /// PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`), unencrypted.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Names the two files.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// Why a certificate and key could not be put in use. Messages name files, never contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The certificate file holds no usable chain.
    #[error("TLS certificate file {}: {problem}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The key file holds no usable key.
    #[error("TLS key file {}: {problem}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The key is not the one the leaf certificate was issued for.
    #[error(
        "TLS key file {} does not match the first certificate of {} (is the leaf certificate first?)",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// What log lines and tests say about a certificate in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number in upper-case hex, as `openssl x509 -noout -serial` prints it; "unknown"
    /// when the certificate's first fields could not be read.
    pub serial: String,
    /// `notAfter` in unix seconds, when readable.
    pub not_after: Option<i64>,
    /// SHA-256 of the leaf's DER in lower-case hex (`openssl x509 -fingerprint -sha256`
    /// without the colons).
    pub sha256: String,
    /// Certificates in the chain, the leaf included.
    pub chain_len: usize,
}

impl CertInfo {
    /// Describes the leaf of `key`.
    pub fn of(key: &CertifiedKey) -> Self {
        let leaf = key.cert.first().map(|c| c.as_ref()).unwrap_or_default();
        let summary = x509::summarize(leaf);
        Self {
            serial: summary
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |s| s.serial.clone()),
            not_after: summary.map(|s| s.not_after),
            sha256: sha256(leaf).iter().map(|b| format!("{b:02x}")).collect(),
            chain_len: key.cert.len(),
        }
    }

    /// `notAfter` as RFC 3339, or "unknown".
    pub fn not_after_rfc3339(&self) -> String {
        self.not_after
            .map_or_else(|| "unknown".to_owned(), x509::rfc3339)
    }
}

/// Reads and checks the pair named by `files`.
pub fn load_certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let (cert_pem, key_pem) = read_pair(files)?;
    certified_key_from_pem(files, &cert_pem, &key_pem)
}

/// Reads both files; each read follows symlinks afresh, which is what makes a Kubernetes
/// `..data` swap visible.
fn read_pair(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    Ok((read("certificate", &files.cert)?, read("key", &files.key)?))
}

/// Parses a PEM chain and key and checks that the key belongs to the leaf.
fn certified_key_from_pem(
    files: &TlsFiles,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_problem = |problem| TlsError::Certificate {
        path: files.cert.clone(),
        problem,
    };
    let key_problem = |problem| TlsError::Key {
        path: files.key.clone(),
        problem,
    };
    // File order is chain order: rustls sends the chain as given, leaf first.
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_problem(pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(cert_problem("no CERTIFICATE block found (expected PEM)"));
    }
    let der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => key_problem(
            "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found \
             (encrypted keys are not supported)",
        ),
        other => key_problem(pem_problem(&other)),
    })?;
    // The parser's own error would say nothing more useful, and must not be trusted to keep
    // key bytes out of its message.
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|_| key_problem("not a usable RSA, ECDSA (P-256/P-384/P-521) or Ed25519 key"))?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) => Ok(Arc::new(key)),
        // aws-lc-rs keys always expose their public half; "unknown" cannot happen with them,
        // and rustls' own loader accepts it too.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(key))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        Err(_) => Err(cert_problem(
            "the first certificate is not valid X.509 (DER inside PEM)",
        )),
    }
}

/// Says what is wrong with a PEM file without quoting it (the file may hold a key).
fn pem_problem(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::MissingSectionEnd { .. } => {
            "a PEM block has no END line (truncated, or still being written?)"
        }
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64",
        pem::Error::SectionTooLarge => "a PEM block is too large",
        pem::Error::NoItemsFound => "no PEM block found",
        _ => "not valid PEM",
    }
}

/// SHA-256 through the provider rustls already links: the workspace adds no digest crate.
fn sha256(data: &[u8]) -> Vec<u8> {
    sha256_of(&[data])
}

/// SHA-256 of the concatenation of `parts`, without concatenating them.
fn sha256_of(parts: &[&[u8]]) -> Vec<u8> {
    let Some(suite) = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()
    else {
        unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")
    };
    let mut context = suite.common.hash_provider.start();
    for part in parts {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

/// The server configuration for the TLS listener: certificates come from `store` at each
/// handshake, so a reload needs no new configuration.
///
/// The provider is named explicitly rather than taken from the process default, so that this
/// keeps working (and keeps using aws-lc-rs) even if a dependency someday enables ring too.
pub fn server_config(store: Arc<CertStore>) -> Arc<ServerConfig> {
    let sessions = store.sessions();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(store);
    // Same size as rustls' default cache, but emptied when the certificate changes.
    config.session_storage = sessions;
    // Only HTTP/1.1 is served (websocket upgrades need it). A client that offers ALPN without
    // http/1.1 gets a `no_application_protocol` alert (RFC 7301); one that offers no ALPN at
    // all is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The TLS listener's metrics; the caller registers them once with [`TlsMetrics::register`].
#[derive(Clone)]
pub struct TlsMetrics {
    /// Certificate reloads by `outcome`: `ok` or `refused`.
    pub reloads: IntCounterVec,
    /// Completed handshakes.
    pub handshakes: IntCounter,
    /// Failed handshakes by `reason` (see [`TlsAcceptError::reason`]).
    pub handshake_failures: IntCounterVec,
    /// `notAfter` of the certificate in use, in unix seconds (0 when unreadable): alert on it.
    pub certificate_not_after: IntGauge,
}

impl TlsMetrics {
    /// Creates the metrics, every label value at zero.
    pub fn new() -> Self {
        let reloads = IntCounterVec::new(
            Opts::new(
                "blackhole_edge_tls_reloads_total",
                "TLS certificate reloads, by outcome (ok, refused).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let handshake_failures = IntCounterVec::new(
            Opts::new(
                "blackhole_edge_tls_handshake_failures_total",
                "TLS handshakes that failed, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for outcome in ["ok", "refused"] {
            reloads.with_label_values(&[outcome]);
        }
        for reason in TlsAcceptError::REASONS {
            handshake_failures.with_label_values(&[reason]);
        }
        Self {
            reloads,
            handshakes: IntCounter::new(
                "blackhole_edge_tls_handshakes_total",
                "TLS handshakes completed.",
            )
            .expect("valid metric"),
            handshake_failures,
            certificate_not_after: IntGauge::new(
                "blackhole_edge_tls_certificate_not_after_timestamp_seconds",
                "notAfter of the TLS certificate in use, in unix seconds.",
            )
            .expect("valid metric"),
        }
    }

    /// Registers every metric with `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.reloads.clone()))?;
        registry.register(Box::new(self.handshakes.clone()))?;
        registry.register(Box::new(self.handshake_failures.clone()))?;
        registry.register(Box::new(self.certificate_not_after.clone()))
    }

    /// Counts the outcome of one [`accept`].
    pub fn record<T>(&self, outcome: &Result<T, TlsAcceptError>) {
        match outcome {
            Ok(_) => self.handshakes.inc(),
            Err(e) => self
                .handshake_failures
                .with_label_values(&[e.reason()])
                .inc(),
        }
    }
}

impl Default for TlsMetrics {
    fn default() -> Self {
        Self::new()
    }
}
