//! One TLS handshake under a deadline, with failures sorted into a fixed set of reasons.
//!
//! Invariants: the whole handshake (including waiting for the first byte) is bounded by the
//! caller's timeout, after which the socket is dropped; a connection that is obviously not TLS
//! (plain HTTP, a stray PROXY header, random bytes) is refused on its first bytes, before rustls
//! allocates anything for it. Every failure is the client's doing: callers log them at `debug`
//! and count them by [`TlsAcceptError::reason`].

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to complete its handshake, unless configured otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS record carrying a handshake message: what every ClientHello starts with.
const HANDSHAKE_RECORD: u8 = 0x16;

/// The first bytes of a PROXY protocol v2 header.
const PROXY_V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TlsAcceptError {
    /// The handshake did not finish in time (a stalled or very slow client).
    #[error("TLS handshake not completed within {0:?}")]
    Timeout(Duration),
    /// The client closed the connection before or during the handshake (port scanners, load
    /// balancer TCP health checks).
    #[error("connection closed during the TLS handshake")]
    Closed,
    /// The client spoke plain HTTP to the TLS port.
    #[error("plain HTTP sent to the TLS port")]
    PlainHttp,
    /// The connection starts with a PROXY protocol header, but its source is not in
    /// `--proxy-protocol-from` (or the option is off).
    #[error("PROXY protocol header from a source not trusted to send one")]
    UnexpectedProxyHeader,
    /// The first byte cannot start a TLS handshake.
    #[error("not TLS (first byte {0:#04x})")]
    NotTls(u8),
    /// rustls refused the handshake.
    #[error("TLS handshake failed: {0}")]
    Handshake(rustls::Error),
    /// The socket failed.
    #[error("I/O error during the TLS handshake: {0}")]
    Io(#[source] io::Error),
}

impl TlsAcceptError {
    /// Every value [`TlsAcceptError::reason`] returns.
    pub const REASONS: [&'static str; 10] = [
        "timeout",
        "closed",
        "plain_http",
        "proxy_header",
        "not_tls",
        "malformed",
        "incompatible",
        "client_alert",
        "handshake",
        "io",
    ];

    /// A metric label from a fixed set ([`Self::REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Closed => "closed",
            Self::PlainHttp => "plain_http",
            Self::UnexpectedProxyHeader => "proxy_header",
            Self::NotTls(_) => "not_tls",
            // Bytes that start like TLS and then are not.
            Self::Handshake(rustls::Error::InvalidMessage(_)) => "malformed",
            // Only old protocol versions or suites, or ALPN without http/1.1.
            Self::Handshake(
                rustls::Error::PeerIncompatible(_) | rustls::Error::NoApplicationProtocol,
            ) => "incompatible",
            // Typically the client does not trust our certificate: watch this after a rotation.
            Self::Handshake(rustls::Error::AlertReceived(_)) => "client_alert",
            Self::Handshake(_) => "handshake",
            Self::Io(_) => "io",
        }
    }
}

/// Performs the server side of a handshake on `stream` within `timeout`.
///
/// Run it in the connection's own task, never in the accept loop: a stalled client must only
/// ever stall itself.
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, TlsAcceptError> {
    let handshake = async {
        sniff(&stream).await?;
        acceptor.accept(stream).await.map_err(classify)
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| TlsAcceptError::Timeout(timeout))?
}

/// Looks at the first bytes without consuming them, so rustls still sees the whole ClientHello.
async fn sniff(stream: &TcpStream) -> Result<(), TlsAcceptError> {
    let mut first = [0u8; 8];
    let n = stream.peek(&mut first).await.map_err(TlsAcceptError::Io)?;
    let first = &first[..n];
    match first {
        [] => Err(TlsAcceptError::Closed),
        [HANDSHAKE_RECORD, ..] => Ok(()),
        // v1 text header, or the start of the v2 signature.
        _ if first.starts_with(b"PROXY ") || PROXY_V2_SIGNATURE.starts_with(first) => {
            Err(TlsAcceptError::UnexpectedProxyHeader)
        }
        // Every HTTP method (and HTTP/2's `PRI`) starts with an upper-case letter.
        [b'A'..=b'Z', ..] => Err(TlsAcceptError::PlainHttp),
        [byte, ..] => Err(TlsAcceptError::NotTls(*byte)),
    }
}

/// tokio-rustls reports rustls' verdicts as `InvalidData` I/O errors wrapping a
/// `rustls::Error`; unwrap them so the reason is typed.
fn classify(err: io::Error) -> TlsAcceptError {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return TlsAcceptError::Closed;
    }
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => TlsAcceptError::Handshake(tls.clone()),
        None => TlsAcceptError::Io(err),
    }
}

#[cfg(test)]
mod tests;
