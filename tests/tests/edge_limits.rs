//! Bad input and limits: each gets a clear protocol-level answer or a clean close, is counted,
//! and never disturbs another socket.

use std::time::Duration;

use blackhole_tests::clients::{SioClient, raw_websocket};
use blackhole_tests::edge::EdgeProcess;
use blackhole_tests::servers::http_get;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const ACME: &str = "cea599337b69fb3eee2e4fbe58318e1a";
const ACME_TOKEN: &str = "demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT";

fn demo_edge(extra: &[&str]) -> EdgeProcess {
    let mut args = vec!["--demo"];
    args.extend_from_slice(extra);
    EdgeProcess::spawn(None, None, &args)
}

fn ws_url(edge: &EdgeProcess) -> String {
    format!("ws://{}/socket.io/?EIO=4&transport=websocket", edge.addr)
}

fn close_code(lines: &[Value]) -> Option<u64> {
    lines
        .iter()
        .find(|l| l["type"] == "close")
        .and_then(|l| l["code"].as_u64())
}

/// A subscribed client that keeps receiving the demo's traffic while others misbehave.
async fn bystander(edge: &EdgeProcess) -> SioClient {
    let mut client = SioClient::connect(&edge.url(), "4", "websocket", None);
    client.connected().await;
    let reply = client
        .subscribe(json!({"account_id": ACME, "auth_token": ACME_TOKEN, "binding": "call.*.*"}))
        .await;
    assert_eq!(reply["status"], "success");
    client
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_their_socket() {
    let edge = demo_edge(&["--max-frame-bytes", "1024"]);
    edge.wait_ready(Duration::from_secs(20)).await;
    let mut healthy = bystander(&edge).await;

    let garbage = raw_websocket(
        &ws_url(&edge),
        &json!(["40", "4abc"]),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        close_code(&garbage),
        Some(1002),
        "a malformed Socket.IO packet closes with a protocol error: {garbage:?}"
    );
    let not_engineio = raw_websocket(&ws_url(&edge), &json!(["zzz"]), Duration::from_secs(3)).await;
    assert_eq!(close_code(&not_engineio), Some(1002), "{not_engineio:?}");
    let huge = raw_websocket(
        &ws_url(&edge),
        &json!([{"repeat": "x", "times": 4096}]),
        Duration::from_secs(3),
    )
    .await;
    assert!(
        close_code(&huge).is_some(),
        "an oversized frame closes the socket: {huge:?}"
    );

    assert!(
        edge.metric(
            "blackhole_edge_requests_refused_total",
            &[("reason", "protocol_error")]
        )
        .await
            >= 2.0
    );
    assert!(
        edge.metric(
            "blackhole_edge_requests_refused_total",
            &[("reason", "frame_too_large")]
        )
        .await
            >= 1.0
    );
    assert!(
        healthy.next_event(Duration::from_secs(15)).await.is_some(),
        "the well-behaved socket still receives events"
    );
}

#[tokio::test]
async fn bad_subscriptions_get_kazoo_errors_and_limits_hold() {
    let edge = demo_edge(&["--max-bindings-per-socket", "2"]);
    edge.wait_ready(Duration::from_secs(20)).await;
    let mut client = SioClient::connect(&edge.url(), "4", "websocket", None);
    client.connected().await;
    let subscribe =
        |binding: &str| json!({"account_id": ACME, "auth_token": ACME_TOKEN, "binding": binding});

    let reply = client.subscribe(subscribe("nonsense.binding")).await;
    assert_eq!(
        reply,
        json!({"status": "error", "errors": ["no available subscriptions to requested binding"]})
    );
    let reply = client.subscribe(subscribe("call.CHANNEL_FOO.*")).await;
    assert_eq!(reply["errors"][0], "event CHANNEL_FOO not supported");
    let reply = client.subscribe(json!({"account_id": "not-an-account", "auth_token": ACME_TOKEN, "binding": "call.*.*"})).await;
    assert_eq!(reply["errors"][0], "unauthorized account id");
    let reply = client
        .subscribe(json!({"account_id": ACME, "binding": "call.*.*"}))
        .await;
    assert_eq!(reply["errors"][0], "authentication token required");

    assert_eq!(
        client.subscribe(subscribe("call.CHANNEL_CREATE.*")).await["status"],
        "success"
    );
    assert_eq!(
        client.subscribe(subscribe("call.CHANNEL_ANSWER.*")).await["status"],
        "success"
    );
    let reply = client.subscribe(subscribe("call.CHANNEL_DESTROY.*")).await;
    assert_eq!(
        reply["errors"][0],
        "too many bindings on this socket (limit 2)"
    );

    // Kazoo's bucket: 100 requests at once, then 10 per second.
    let mut refused = None;
    for _ in 0..120 {
        let reply = client
            .unsubscribe(json!({"account_id": ACME, "binding": "call.PARK_PARKED.*"}))
            .await;
        if reply["status"] == "error" {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("the request budget runs out");
    assert!(
        refused["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("rate limiting threshold hit for 127.0.0.1:"),
        "{refused}"
    );
    assert!(
        edge.metric(
            "blackhole_edge_requests_refused_total",
            &[("reason", "rate_limited")]
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_get_429() {
    let edge = demo_edge(&["--max-connections-per-ip", "2"]);
    edge.wait_ready(Duration::from_secs(20)).await;
    let _first = TcpStream::connect(edge.addr).await.unwrap();
    let _second = TcpStream::connect(edge.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = http_get(edge.addr, "/").await.expect("an answer");
    assert_eq!(status, 429);
    assert_eq!(
        edge.metric(
            "blackhole_edge_connections_refused_total",
            &[("reason", "max_connections_per_ip")]
        )
        .await,
        1.0
    );
    drop((_first, _second));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        http_get(edge.addr, "/").await.map(|(s, _)| s),
        Some(200),
        "slots are freed when connections close"
    );
}

#[tokio::test]
async fn sockets_that_never_subscribe_are_closed_after_the_auth_timeout() {
    let edge = demo_edge(&["--auth-timeout-secs", "1"]);
    edge.wait_ready(Duration::from_secs(20)).await;
    let lines = raw_websocket(&ws_url(&edge), &json!(["40"]), Duration::from_secs(5)).await;
    assert!(
        close_code(&lines).is_some(),
        "closed after the auth timeout: {lines:?}"
    );
    assert_eq!(
        edge.metric(
            "blackhole_edge_auth_failures_total",
            &[("reason", "timeout")]
        )
        .await,
        1.0
    );
}
