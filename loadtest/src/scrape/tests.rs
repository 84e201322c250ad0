use super::*;

const TEXT: &str = r#"# HELP blackhole_ingest_messages_total AMQP messages handled, by outcome.
# TYPE blackhole_ingest_messages_total counter
blackhole_ingest_messages_total{outcome="published"} 99500
blackhole_ingest_messages_total{outcome="not_json"} 2
blackhole_ingest_messages_total{outcome="no_account"} 0
blackhole_ingest_batch_events_bucket{le="+Inf"} 400
blackhole_ingest_batch_events_sum 99500
blackhole_ingest_batch_events_count 400
blackhole_ingest_redis_up 1
"#;

#[test]
fn labelled_unlabelled_and_summed_samples() {
    let published = Some(("outcome", "published"));
    assert_eq!(
        sample(TEXT, "blackhole_ingest_messages_total", published),
        Some(99500.0)
    );
    assert_eq!(
        sample(TEXT, "blackhole_ingest_messages_total", None),
        Some(99502.0)
    );
    assert_eq!(
        sample(TEXT, "blackhole_ingest_batch_events_count", None),
        Some(400.0)
    );
    assert_eq!(sample(TEXT, "blackhole_ingest_redis_up", None), Some(1.0));
}

#[test]
fn absent_samples_and_prefixes_are_none() {
    assert_eq!(sample(TEXT, "blackhole_ingest_messages", None), None);
    assert_eq!(sample(TEXT, "blackhole_ingest_batch_events", None), None);
    assert_eq!(
        sample(
            TEXT,
            "blackhole_ingest_messages_total",
            Some(("outcome", "oversized"))
        ),
        None
    );
}

#[tokio::test]
async fn metrics_are_fetched_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for status in ["200 OK", "503 Service Unavailable"] {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 512];
            let n = stream.read(&mut request).await.unwrap();
            assert!(request[..n].starts_with(b"GET /metrics HTTP/1.0\r\n"));
            let response = format!("HTTP/1.1 {status}\r\nContent-Length: 4\r\n\r\nup 1");
            stream.write_all(response.as_bytes()).await.unwrap();
        }
    });
    assert_eq!(metrics(addr).await.unwrap(), "up 1");
    assert!(metrics(addr).await.is_err(), "a 503 is an error");
    server.await.unwrap();
}
