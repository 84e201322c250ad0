use std::net::Ipv4Addr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::servers::free_port;

#[test]
fn http_response_parsing() {
    assert_eq!(
        parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Some((200, "ok".to_owned()))
    );
    assert_eq!(
        parse_http_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
        Some((503, String::new()))
    );
    assert_eq!(parse_http_response(b"SSH-2.0-x\r\n\r\n"), None);
    assert_eq!(parse_http_response(b"HTTP/1.1 200 OK\r\n"), None);
}

#[tokio::test]
async fn http_get_reads_a_response_and_fails_softly() {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 1024];
        let n = stream.read(&mut request).await.unwrap();
        assert!(request[..n].starts_with(b"GET /metrics HTTP/1.0\r\n"));
        stream
            .write_all(b"HTTP/1.0 200 OK\r\n\r\nup 1\n")
            .await
            .unwrap();
    });
    assert_eq!(
        http_get(addr, "/metrics").await,
        Some((200, "up 1\n".to_owned()))
    );
    server.await.unwrap();
    assert_eq!(
        http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())), "/").await,
        None
    );
}
