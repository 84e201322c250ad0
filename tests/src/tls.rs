//! Clients for the edge's TLS listener: a rustls client that trusts only the test root and
//! reports the certificate it was served, `openssl s_client`, and a minimal HTTP/1.1 exchange
//! over any stream (TLS, or TCP after a PROXY header).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A TLS client that trusts only one root and never resumes a session, so every connection is
/// a full handshake that shows the certificate in use at that moment.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
}

impl TlsClient {
    /// Trusts the PEM root certificates in `roots`, offers ALPN `http/1.1` as browsers do.
    pub fn trusting(roots: &Path) -> Self {
        let mut store = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(roots).expect("read the root PEM") {
            store.add(cert.expect("a PEM certificate")).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = Resumption::disabled();
        Self {
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Completes a handshake for server name 127.0.0.1 over `stream`.
    pub async fn handshake<S>(&self, stream: S) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        self.connector.connect(name, stream).await
    }

    /// Connects to `addr` and completes a handshake.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        self.handshake(tcp).await
    }

    /// The serial of the leaf certificate a new connection to `addr` is served.
    pub async fn peer_serial(&self, addr: SocketAddr) -> io::Result<String> {
        let stream = self.connect(addr).await?;
        Ok(serial_of_stream(&stream))
    }

    /// `GET path` on a new connection, read in full: the status and the body.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
        let mut stream = self.connect(addr).await?;
        http_request(&mut stream, &addr.to_string(), path).await
    }
}

/// The serial of the leaf certificate `stream`'s server sent.
pub fn serial_of_stream<S>(stream: &TlsStream<S>) -> String {
    let (_, connection) = stream.get_ref();
    let leaf = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a TLS server always sends a certificate");
    serial_of(leaf).expect("a well-formed X.509 certificate")
}

/// The serial number of a DER certificate in upper-case hex, as `openssl x509 -noout -serial`
/// prints it.
pub fn serial_of(cert_der: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial, ... } }
    let (certificate, _) = der_element(cert_der, 0x30)?;
    let (tbs, _) = der_element(certificate, 0x30)?;
    let after_version = match der_element(tbs, 0xa0) {
        Some((_, rest)) => rest,
        None => tbs,
    };
    let (serial, _) = der_element(after_version, 0x02)?;
    // DER pads a positive integer whose high bit is set with a zero byte; openssl prints the
    // magnitude.
    let magnitude = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    Some(magnitude.iter().map(|b| format!("{b:02X}")).collect())
}

/// Splits the DER element with tag `tag` at the start of `input` into its contents and the rest.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let count = usize::from(len_byte & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, b| (len << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Sends `GET path` (HTTP/1.1, keep-alive) on `stream` and reads the whole response, leaving the
/// connection open for the caller. Returns the status and the body.
pub async fn http_request<S>(stream: &mut S, host: &str, path: &str) -> io::Result<(u16, String)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: blackhole-tests\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let (status, content_length, mut body) = read_head(stream).await?;
    let Some(length) = content_length else {
        return Err(io::Error::other(
            "response without Content-Length: cannot tell where it ends",
        ));
    };
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Reads a response's head: status, Content-Length, and any body bytes read past the head.
async fn read_head<S>(stream: &mut S) -> io::Result<(u16, Option<usize>, Vec<u8>)>
where
    S: AsyncRead + Unpin,
{
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP/1.1 response: {head:?}")))?;
    let content_length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    });
    Ok((status, content_length, buffer[head_end + 4..].to_vec()))
}

/// What `openssl s_client` printed (stdout and stderr) and whether it succeeded.
#[derive(Debug)]
pub struct SClient {
    /// Exit status 0: the handshake completed.
    pub success: bool,
    /// Everything it printed.
    pub output: String,
}

/// Runs `openssl s_client -connect addr -CAfile root` with `args`, its stdin empty so it closes
/// right after the handshake.
pub async fn s_client(addr: SocketAddr, root: &Path, args: &[&str]) -> SClient {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run openssl (the openssl CLI is required)");
    SClient {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The serial of the certificate `openssl s_client` is served at `addr`, read back by
/// `openssl x509 -noout -serial` (`s_client ... </dev/null | openssl x509 -noout -serial`).
pub async fn s_client_serial(addr: SocketAddr, root: &Path) -> Option<String> {
    let served = s_client(addr, root, &[]).await;
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run openssl");
    let mut stdin = x509.stdin.take().unwrap();
    stdin.write_all(served.output.as_bytes()).await.ok()?;
    drop(stdin);
    let output = x509.wait_with_output().await.ok()?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .strip_prefix("serial=")
        .map(str::to_owned)
}
