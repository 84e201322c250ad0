//! Real handshakes on 127.0.0.1: versions, ALPN, the chain, rotation under load, and hostile
//! or stalled clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, HandshakeKind, ProtocolVersion, RootCertStore, SupportedProtocolVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client;

use super::*;
use crate::tls::test_pki::{KeyKind, Leaf, Pki, ders};
use crate::tls::{CertInfo, CertStore, TlsFiles, TlsMetrics, server_config};

/// What the server side saw of one handshake.
type Outcome = Result<(Option<ProtocolVersion>, Option<Vec<u8>>), TlsAcceptError>;

/// A TLS listener that handshakes each connection in its own task, reports the outcome, then
/// echoes what the client sends.
struct Server {
    addr: SocketAddr,
    store: Arc<CertStore>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

async fn start(files: TlsFiles, timeout: Duration) -> Server {
    let store = CertStore::load(files, TlsMetrics::new()).unwrap();
    let acceptor = TlsAcceptor::from(server_config(store.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, outcomes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match accept(&acceptor, stream, timeout).await {
                    Ok(mut tls) => {
                        let conn = tls.get_ref().1;
                        let seen = (
                            conn.protocol_version(),
                            conn.alpn_protocol().map(<[u8]>::to_vec),
                        );
                        let _ = tx.send(Ok(seen));
                        let mut buf = [0u8; 64];
                        while let Ok(n @ 1..) = tls.read(&mut buf).await {
                            if tls.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        }
    });
    Server {
        addr,
        store,
        outcomes,
    }
}

fn connector(
    pki: &Pki,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for der in ders(&pki.root()) {
        roots.add(CertificateDer::from(der)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> io::Result<client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn served_serial(stream: &client::TlsStream<TcpStream>) -> String {
    let leaf = &stream.get_ref().1.peer_certificates().unwrap()[0];
    crate::tls::x509::summarize(leaf).unwrap().serial
}

async fn echo(stream: &mut client::TlsStream<TcpStream>, text: &[u8]) {
    stream.write_all(text).await.unwrap();
    let mut back = vec![0u8; text.len()];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back, text);
}

fn files_of(leaf: &Leaf) -> TlsFiles {
    TlsFiles::new(&leaf.fullchain, &leaf.key)
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

#[tokio::test]
async fn negotiates_tls13_and_http11_with_a_client_that_trusts_only_the_root() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 0x42);
    let mut server = start(files_of(&leaf), DEFAULT_HANDSHAKE_TIMEOUT).await;
    // Offered the way browsers do; only verifiable if the intermediate is served.
    let client = connector(&pki, BOTH, &[b"h2", b"http/1.1"]);
    let mut stream = connect(&client, server.addr).await.unwrap();
    let conn = stream.get_ref().1;
    assert_eq!(conn.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(conn.peer_certificates().unwrap().len(), 2);
    let seen = server.outcomes.recv().await.unwrap().unwrap();
    assert_eq!(
        seen,
        (Some(ProtocolVersion::TLSv1_3), Some(b"http/1.1".to_vec()))
    );
    echo(&mut stream, b"hello").await;
}

#[tokio::test]
async fn serves_tls12_clients_and_clients_without_alpn() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::RsaPkcs1, 0x43);
    let mut server = start(files_of(&leaf), DEFAULT_HANDSHAKE_TIMEOUT).await;
    let tls12 = connector(&pki, &[&rustls::version::TLS12], &[b"http/1.1"]);
    let stream = connect(&tls12, server.addr).await.unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    let no_alpn = connector(&pki, BOTH, &[]);
    let stream = connect(&no_alpn, server.addr).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    for _ in 0..2 {
        assert!(server.outcomes.recv().await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn refuses_alpn_without_http11() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcSec1, 0x44);
    let mut server = start(files_of(&leaf), DEFAULT_HANDSHAKE_TIMEOUT).await;
    let h2_only = connector(&pki, BOTH, &[b"h2"]);
    assert!(connect(&h2_only, server.addr).await.is_err());
    let err = server.outcomes.recv().await.unwrap().unwrap_err();
    assert_eq!(err.reason(), "incompatible", "{err}");
}

#[tokio::test]
async fn a_rotation_reaches_new_connections_and_spares_open_ones() {
    let pki = Pki::new();
    let (a, b) = (
        pki.leaf("a", KeyKind::EcPkcs8, 0xa1),
        pki.leaf("b", KeyKind::RsaPkcs8, 0xb2),
    );
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles::new(dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(&a.fullchain, &files.cert).unwrap();
    std::fs::copy(&a.key, &files.key).unwrap();
    let server = start(files.clone(), DEFAULT_HANDSHAKE_TIMEOUT).await;
    let client = connector(&pki, BOTH, &[b"http/1.1"]);

    let mut before = connect(&client, server.addr).await.unwrap();
    assert_eq!(served_serial(&before), "A1");
    // Reading the echo also takes in the session tickets the server sends after a handshake.
    echo(&mut before, b"before the rotation").await;
    let mut resumed = connect(&client, server.addr).await.unwrap();
    assert_eq!(
        resumed.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Resumed)
    );
    echo(&mut resumed, b"resumed").await;

    std::fs::copy(&b.fullchain, &files.cert).unwrap();
    std::fs::copy(&b.key, &files.key).unwrap();
    assert!(matches!(
        server.store.reload(),
        Ok(crate::tls::Reload::Replaced(_))
    ));

    // The client still holds tickets from A's sessions; they must not skip the new certificate.
    let mut after = connect(&client, server.addr).await.unwrap();
    assert_eq!(
        after.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Full)
    );
    assert_eq!(served_serial(&after), "B2");
    echo(&mut after, b"new connection").await;
    echo(&mut before, b"still open after the rotation").await;
    assert_eq!(CertInfo::of(&server.store.current()).serial, "B2");
}

/// Sends `bytes` and returns what the server made of it, and how long that took.
async fn hostile(server: &mut Server, bytes: &[u8]) -> (TlsAcceptError, Duration) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), server.outcomes.recv())
        .await
        .expect("an outcome")
        .unwrap();
    (outcome.expect_err("not a handshake"), started.elapsed())
}

#[tokio::test]
async fn hostile_first_bytes_are_refused_at_once_with_a_reason() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 0x45);
    let mut server = start(files_of(&leaf), DEFAULT_HANDSHAKE_TIMEOUT).await;
    let cases: [(&[u8], &str); 6] = [
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "plain_http"),
        (b"\x00\xff\x13\x37garbage", "not_tls"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1000 443\r\n", "proxy_header"),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", "proxy_header"),
        // A handshake record whose body is not a handshake message rustls knows.
        (b"\x16\x03\x01\x00\x04\xfe\x00\x00\x00", "malformed"),
        // A handshake record claiming an absurd version and length.
        (b"\x16\x7f\x7f\xff\xff", "malformed"),
    ];
    for (bytes, reason) in cases {
        let (err, took) = hostile(&mut server, bytes).await;
        assert_eq!(err.reason(), reason, "{bytes:?}: {err}");
        assert!(took < Duration::from_secs(2), "{bytes:?} took {took:?}");
    }
    // Connect and hang up: a load balancer's TCP health check.
    drop(TcpStream::connect(server.addr).await.unwrap());
    let err = server.outcomes.recv().await.unwrap().unwrap_err();
    assert_eq!(err.reason(), "closed", "{err}");
}

#[tokio::test]
async fn stalled_clients_time_out_without_delaying_others() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 0x46);
    let timeout = Duration::from_millis(500);
    let mut server = start(files_of(&leaf), timeout).await;
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 0 {
            // Half a ClientHello record, then silence.
            tcp.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                .await
                .unwrap();
        }
        stalled.push(tcp);
    }
    let client = connector(&pki, BOTH, &[b"http/1.1"]);
    let started = Instant::now();
    connect(&client, server.addr).await.unwrap();
    let took = started.elapsed();
    assert!(
        took < timeout,
        "a normal handshake waited {took:?} behind stalled ones"
    );

    let mut timeouts = 0;
    while timeouts < 50 {
        match tokio::time::timeout(Duration::from_secs(5), server.outcomes.recv()).await {
            Ok(Some(Err(TlsAcceptError::Timeout(t)))) => {
                assert_eq!(t, timeout);
                timeouts += 1;
            }
            Ok(Some(Ok(_))) => {} // the normal client
            other => panic!("expected timeouts, got {other:?}"),
        }
    }
    // The server dropped them: each stalled socket reads EOF (or a reset).
    for mut tcp in stalled {
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    }
}
