//! Hand-built v1 and v2 headers, the socket reader (exact consumption, timeouts) and the
//! trusted-network list.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::*;

/// A v2 header: `command` (0 LOCAL, 1 PROXY), `family` byte, then the address block and TLVs.
fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut header = SIGNATURE.to_vec();
    header.push(0x20 | command);
    header.push(family);
    header.extend_from_slice(&(block.len() as u16).to_be_bytes());
    header.extend_from_slice(block);
    header
}

fn tcp4_block() -> Vec<u8> {
    let mut block = vec![203, 0, 113, 7, 10, 0, 0, 5];
    block.extend_from_slice(&51_000u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    block
}

fn tcp6_block() -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let dst: Ipv6Addr = "fd00::5".parse().unwrap();
    let mut block = src.octets().to_vec();
    block.extend_from_slice(&dst.octets());
    block.extend_from_slice(&51_000u16.to_be_bytes());
    block.extend_from_slice(&7777u16.to_be_bytes());
    block
}

/// TLVs as AWS NLB sends them: a VPC endpoint id (0xEA) and a NOOP padding TLV (0x04).
fn tlvs() -> Vec<u8> {
    let mut tlvs = vec![0xea, 0x00, 0x17, 0x01];
    tlvs.extend_from_slice(b"vpce-08d2bf15fac5001c9");
    tlvs.extend_from_slice(&[0x04, 0x00, 0x03, 0, 0, 0]);
    tlvs
}

#[test]
fn v2_tcp4() {
    let header = v2(1, 0x11, &tcp4_block());
    let parsed = parse_v2(&header).unwrap();
    assert_eq!(parsed.command, Command::Proxy);
    assert_eq!(parsed.source, Some("203.0.113.7:51000".parse().unwrap()));
    assert_eq!(parsed.destination, Some("10.0.0.5:443".parse().unwrap()));
    assert_eq!(parsed.len, 28);
}

#[test]
fn v2_tcp6_with_tlvs_and_application_bytes_after() {
    let mut block = tcp6_block();
    block.extend(tlvs());
    let mut buf = v2(1, 0x21, &block);
    let len = buf.len();
    buf.extend_from_slice(b"\x16\x03\x01 the ClientHello");
    let parsed = parse_v2(&buf).unwrap();
    assert_eq!(parsed.source, Some("[2001:db8::7]:51000".parse().unwrap()));
    assert_eq!(parsed.destination, Some("[fd00::5]:7777".parse().unwrap()));
    assert_eq!(
        parsed.len, len,
        "TLVs belong to the header, the ClientHello does not"
    );
}

#[test]
fn v2_local_and_non_tcp_families_keep_the_socket_peer() {
    for header in [
        v2(0, 0x00, &[]),           // LOCAL, as health checks send it
        v2(0, 0x11, &tcp4_block()), // LOCAL with addresses: ignored
        v2(1, 0x00, &[]),           // PROXY UNSPEC
        v2(1, 0x12, &tcp4_block()), // UDP over IPv4
        v2(1, 0x31, &[0u8; 216]),   // UNIX stream
    ] {
        let parsed = parse_v2(&header).unwrap();
        assert_eq!((parsed.source, parsed.len), (None, header.len()));
    }
    assert_eq!(parse_v2(&v2(0, 0, &[])).unwrap().command, Command::Local);
}

#[test]
fn v2_refusals() {
    let good = v2(1, 0x11, &tcp4_block());
    for cut in [0, 5, 12, 15] {
        assert!(matches!(
            parse_v2(&good[..cut]),
            Err(ProxyError::Incomplete { needed: 16 })
        ));
    }
    assert!(matches!(
        parse_v2(&good[..20]),
        Err(ProxyError::Incomplete { needed: 28 })
    ));

    let mut wrong = good.clone();
    wrong[3] = b'X';
    assert!(matches!(parse_v2(&wrong), Err(ProxyError::Missing)));
    assert!(matches!(
        parse_v2(b"GET / HTTP/1.1\r\n"),
        Err(ProxyError::Missing)
    ));
    assert!(matches!(
        parse_v2(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
        Err(ProxyError::Missing)
    ));

    let mut version = good.clone();
    version[12] = 0x31;
    assert!(matches!(parse_v2(&version), Err(ProxyError::Version(3))));
    let mut command = good.clone();
    command[12] = 0x2f;
    assert!(matches!(parse_v2(&command), Err(ProxyError::Command(0xf))));
    assert!(matches!(
        parse_v2(&v2(1, 0x11, &[1, 2, 3])),
        Err(ProxyError::ShortAddress)
    ));
    assert!(matches!(
        parse_v2(&v2(1, 0x21, &tcp4_block())),
        Err(ProxyError::ShortAddress)
    ));
    let huge = v2(1, 0x11, &vec![0u8; MAX_V2_HEADER]);
    assert!(matches!(parse_v2(&huge[..16]), Err(ProxyError::TooLong)));
}

#[test]
fn v1_lines() {
    let parsed = parse_v1(b"PROXY TCP4 192.0.2.1 10.0.0.5 56324 443\r\nGET /").unwrap();
    assert_eq!(parsed.source, Some("192.0.2.1:56324".parse().unwrap()));
    assert_eq!(parsed.destination, Some("10.0.0.5:443".parse().unwrap()));
    assert_eq!(parsed.len, 41);
    let parsed = parse_v1(b"PROXY TCP6 2001:db8::1 fd00::5 65535 7777\r\n").unwrap();
    assert_eq!(parsed.source, Some("[2001:db8::1]:65535".parse().unwrap()));
    let parsed = parse_v1(b"PROXY UNKNOWN\r\n").unwrap();
    assert_eq!((parsed.source, parsed.len), (None, 15));
    assert_eq!(
        parse_v1(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
            .unwrap()
            .source,
        None
    );

    for bad in [
        &b"PROXY TCP4 192.0.2.1 10.0.0.5 56324\r\n"[..],
        b"PROXY TCP4 2001:db8::1 10.0.0.5 1 2\r\n",
        b"PROXY TCP6 192.0.2.1 10.0.0.5 1 2\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.5 65536 2\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.5 080 2\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.5 +80 2\r\n",
        b"PROXY TCP4  192.0.2.1 10.0.0.5 80 2\r\n",
        b"PROXY UDP4 192.0.2.1 10.0.0.5 80 2\r\n",
    ] {
        assert!(
            matches!(parse_v1(bad), Err(ProxyError::MalformedV1)),
            "{bad:?}"
        );
    }
    assert!(matches!(
        parse_v1(b"PROXY TCP4 192.0"),
        Err(ProxyError::Incomplete { .. })
    ));
    assert!(matches!(parse_v1(&[b'A'; 200]), Err(ProxyError::Missing)));
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(200, b'x');
    assert!(matches!(parse_v1(&long), Err(ProxyError::MalformedV1)));
}

/// A connected pair: the server's end, and a client that sends `bytes` and keeps its end open.
async fn pair(bytes: Vec<u8>) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.write_all(&bytes).await.unwrap();
    (server, client)
}

async fn rest_of(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut rest = vec![0u8; len];
    stream.read_exact(&mut rest).await.unwrap();
    rest
}

const TIMEOUT: Duration = Duration::from_secs(5);
const APP: &[u8] = b"\x16\x03\x01\x00\x05hello";

#[tokio::test]
async fn reader_consumes_exactly_the_header() {
    let mut block = tcp6_block();
    block.extend(tlvs());
    let cases: [(Vec<u8>, Option<SocketAddr>); 5] = [
        (
            v2(1, 0x11, &tcp4_block()),
            Some("203.0.113.7:51000".parse().unwrap()),
        ),
        (
            v2(1, 0x21, &block),
            Some("[2001:db8::7]:51000".parse().unwrap()),
        ),
        (v2(0, 0x00, &[]), None),
        (
            b"PROXY TCP4 192.0.2.1 10.0.0.5 56324 443\r\n".to_vec(),
            Some("192.0.2.1:56324".parse().unwrap()),
        ),
        (b"PROXY UNKNOWN\r\n".to_vec(), None),
    ];
    for (header, source) in cases {
        let (mut server, _client) = pair([header.as_slice(), APP].concat()).await;
        assert_eq!(read_header(&mut server, TIMEOUT).await.unwrap(), source);
        assert_eq!(rest_of(&mut server, APP.len()).await, APP);
    }
}

#[tokio::test]
async fn reader_waits_for_a_header_sent_in_pieces() {
    let header = b"PROXY TCP4 192.0.2.1 10.0.0.5 56324 443\r\n";
    let (mut server, mut client) = pair(header[..20].to_vec()).await;
    let reader = tokio::spawn(async move {
        let source = read_header(&mut server, TIMEOUT).await.unwrap();
        (source, rest_of(&mut server, APP.len()).await)
    });
    for piece in [&header[20..30], &header[30..], APP] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        client.write_all(piece).await.unwrap();
    }
    let (source, rest) = reader.await.unwrap();
    assert_eq!(source, Some("192.0.2.1:56324".parse().unwrap()));
    assert_eq!(rest, APP);

    let header = v2(1, 0x11, &tcp4_block());
    let (mut server, mut client) = pair(header[..10].to_vec()).await;
    let reader = tokio::spawn(async move { read_header(&mut server, TIMEOUT).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(30)).await;
    client.write_all(&header[10..]).await.unwrap();
    assert_eq!(
        reader.await.unwrap(),
        Some("203.0.113.7:51000".parse().unwrap())
    );
}

#[tokio::test]
async fn reader_refuses_what_a_trusted_source_must_not_send() {
    let cases: [(&[u8], &str); 4] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "missing"),
        (APP, "missing"),
        (
            b"PROXY TCP4 nonsense but long enough to end\r\n",
            "malformed",
        ),
        (
            &[
                b'\r', b'\n', b'\r', b'\n', 0, b'\r', b'\n', b'Q', b'U', b'I', b'T', b'\n', 0x21,
                0x11, 0xff, 0xff,
            ],
            "too_long",
        ),
    ];
    for (bytes, reason) in cases {
        let (mut server, _client) = pair(bytes.to_vec()).await;
        let err = read_header(&mut server, TIMEOUT).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{bytes:?}: {err}");
    }
    let (mut server, client) = pair(b"PROXY TCP4 192.0".to_vec()).await;
    drop(client);
    let err = read_header(&mut server, TIMEOUT).await.unwrap_err();
    assert_eq!(err.reason(), "closed", "{err}");
}

#[tokio::test]
async fn reader_times_out_on_silence_and_on_half_a_header() {
    for bytes in [Vec::new(), v2(1, 0x11, &tcp4_block())[..20].to_vec()] {
        let (mut server, _client) = pair(bytes).await;
        let started = std::time::Instant::now();
        let err = read_header(&mut server, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, ProxyError::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn trusted_networks_parse_and_match() {
    let trusted = TrustedNetworks::parse(" 10.0.0.0/8, fd00::/8,127.0.0.1/32 ,192.0.2.7").unwrap();
    assert_eq!(
        trusted.to_string(),
        "10.0.0.0/8,fd00::/8,127.0.0.1/32,192.0.2.7/32"
    );
    for ip in [
        "10.1.2.3",
        "10.255.255.255",
        "fd12::1",
        "127.0.0.1",
        "192.0.2.7",
        "::ffff:10.9.9.9",
    ] {
        assert!(trusted.contains(ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "11.0.0.1",
        "127.0.0.2",
        "fe80::1",
        "::1",
        "192.0.2.8",
        "::ffff:11.0.0.1",
        "::a00:1",
    ] {
        assert!(!trusted.contains(ip.parse().unwrap()), "{ip}");
    }
    let everyone: TrustedNetworks = "0.0.0.0/0,::/0".parse().unwrap();
    assert!(everyone.contains("8.8.8.8".parse().unwrap()));
    assert!(everyone.contains("2001:db8::1".parse().unwrap()));
    assert!(!everyone.is_empty());
}

#[test]
fn trusted_networks_refuse_typos() {
    assert_eq!(TrustedNetworks::parse(" , "), Err(NetworkError::Empty));
    assert!(matches!(
        TrustedNetworks::parse("10.0.0.0/8,nope"),
        Err(NetworkError::Invalid { .. })
    ));
    assert!(matches!(
        TrustedNetworks::parse("10.0.0.0/"),
        Err(NetworkError::Invalid { .. })
    ));
    assert!(matches!(
        TrustedNetworks::parse("10.0.0.0/-1"),
        Err(NetworkError::Invalid { .. })
    ));
    assert!(matches!(
        TrustedNetworks::parse("10.0.0.0/33"),
        Err(NetworkError::Prefix { max: 32, .. })
    ));
    assert!(matches!(
        TrustedNetworks::parse("fd00::/129"),
        Err(NetworkError::Prefix { max: 128, .. })
    ));
    assert!(matches!(
        TrustedNetworks::parse("10.0.0.0/300"),
        Err(NetworkError::Prefix { .. })
    ));
    let err = TrustedNetworks::parse("10.1.2.3/8").unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"10.1.2.3/8\" has bits set beyond its prefix; did you mean 10.0.0.0/8?"
    );
}
