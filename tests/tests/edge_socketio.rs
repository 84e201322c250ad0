//! End to end: RabbitMQ → ingest → Redis → edge → unmodified socket.io-client 2.x and 4.x.

use std::time::Duration;

use blackhole_tests::clients::SioClient;
use blackhole_tests::edge::EdgeProcess;
use blackhole_tests::ingest::IngestProcess;
use blackhole_tests::kazoo::{KazooPublisher, SAMPLE_ACCOUNT, call_samples, numbered_call_event};
use blackhole_tests::servers::{RabbitVhost, RedisServer};
use blackhole_tests::stack::{OTHER_ACCOUNT, Stack, tokens};
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(30);
fn subscription(account: &str, token: &str, binding: &str) -> Value {
    json!({"account_id": account, "auth_token": token, "binding": binding})
}

fn sample_json(index: usize) -> Value {
    serde_json::from_slice(&call_samples()[index].1).unwrap()
}

#[tokio::test]
async fn every_client_generation_and_transport_receives_its_binding_with_the_exact_payload() {
    let stack = Stack::start(&[]).await;
    for (major, transports) in [
        ("4", "websocket"),
        ("4", "polling,websocket"),
        ("2", "websocket"),
        ("2", "polling,websocket"),
    ] {
        let mut creates = SioClient::connect(&stack.edge.url(), major, transports, None);
        let mut everything = SioClient::connect(&stack.edge.url(), major, transports, None);
        creates.connected().await;
        everything.connected().await;
        let reply = creates
            .subscribe(subscription(
                SAMPLE_ACCOUNT,
                "token-a",
                "call.CHANNEL_CREATE.*",
            ))
            .await;
        assert_eq!(
            reply,
            json!({"status": "success", "subscribed": ["call.CHANNEL_CREATE.*"]})
        );
        let reply = everything
            .subscribe(subscription(SAMPLE_ACCOUNT, "token-a", "call.*.*"))
            .await;
        assert_eq!(reply["status"], "success");

        for (key, body) in call_samples() {
            stack.kazoo.publish("callevt", &key, &body).await;
        }
        let create = creates.next_event(Duration::from_secs(1)).await;
        let create = create.unwrap_or_else(|| {
            panic!(
                "client {major} over {transports}: no CHANNEL_CREATE within 1 s; saw {:?}",
                creates.seen
            )
        });
        assert_eq!(create["name"], "CHANNEL_CREATE");
        assert_eq!(
            create["data"],
            sample_json(0),
            "payload is Kazoo's, untouched"
        );
        assert!(
            creates
                .next_event(Duration::from_millis(700))
                .await
                .is_none(),
            "CHANNEL_ANSWER and CHANNEL_DESTROY do not match call.CHANNEL_CREATE.*"
        );

        let mut names = Vec::new();
        for _ in 0..3 {
            let event = everything
                .next_event(Duration::from_secs(2))
                .await
                .expect("call.*.* gets all three");
            names.push(event["name"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            names,
            ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY"],
            "client {major} over {transports}"
        );
        if transports.starts_with("polling") {
            assert!(
                everything.seen.iter().any(|v| v["type"] == "upgrade"),
                "client {major} upgraded from polling to websocket"
            );
        }
        creates.close().await;
        everything.close().await;
    }
}

#[tokio::test]
async fn tokens_only_reach_their_own_accounts_and_descendants() {
    let stack = Stack::start(&[]).await;
    let url = stack.edge.url();

    let mut intruder = SioClient::connect(&url, "4", "websocket", None);
    intruder.connected().await;
    let reply = intruder
        .subscribe(subscription(OTHER_ACCOUNT, "token-a", "call.*.*"))
        .await;
    assert_eq!(
        reply,
        json!({"status": "error", "errors": ["unauthorized account id"]})
    );
    // Without an ack, Kazoo's failure event says why.
    intruder
        .subscribe_without_ack(subscription(OTHER_ACCOUNT, "token-a", "call.*.*"))
        .await;
    let failure = intruder
        .next_event(Duration::from_secs(5))
        .await
        .expect("error event");
    assert_eq!(failure["name"], "error");
    assert_eq!(failure["data"]["message"], "unauthorized account id");

    let mut reseller = SioClient::connect(&url, "2", "websocket", None);
    reseller.connected().await;
    assert_eq!(
        reseller
            .subscribe(subscription(SAMPLE_ACCOUNT, "token-reseller", "call.*.*"))
            .await["status"],
        "success"
    );

    let mut expired = SioClient::connect(&url, "4", "websocket", None);
    expired.connected().await;
    let reply = expired
        .subscribe(subscription(SAMPLE_ACCOUNT, "token-expired", "call.*.*"))
        .await;
    assert_eq!(reply["status"], "error");
    assert!(
        reply["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("failed to authenticate token"),
        "{reply}"
    );
    expired
        .subscribe_without_ack(subscription(SAMPLE_ACCOUNT, "token-unknown", "call.*.*"))
        .await;
    let failure = expired
        .next_event(Duration::from_secs(5))
        .await
        .expect("auth_failure event");
    assert_eq!(failure["name"], "auth_failure");
    assert_eq!(failure["data"]["message"], "invalid auth token");

    // Kazoo 5.x: without account_id the token's own account is meant.
    let mut own = SioClient::connect(&url, "4", "websocket", None);
    own.connected().await;
    let reply = own
        .subscribe(json!({"auth_token": "token-b", "binding": "call.*.*"}))
        .await;
    assert_eq!(reply["status"], "success", "{reply}");

    let (other_key, other_body) = numbered_call_event(OTHER_ACCOUNT, "CHANNEL_CREATE", 7);
    stack
        .kazoo
        .publish("callevt", &other_key, &other_body)
        .await;
    let (key, body) = &call_samples()[0];
    stack.kazoo.publish("callevt", key, body).await;

    let got = reseller
        .next_event(Duration::from_secs(2))
        .await
        .expect("reseller sees its descendant's call");
    assert_eq!(got["data"], sample_json(0));
    assert!(
        intruder
            .next_event(Duration::from_millis(500))
            .await
            .is_none(),
        "refused sockets get nothing"
    );
    assert!(
        expired
            .next_event(Duration::from_millis(200))
            .await
            .is_none()
    );
    assert!(
        stack
            .edge
            .metric(
                "blackhole_edge_auth_failures_total",
                &[("reason", "unauthorized_account")]
            )
            .await
            >= 2.0
    );
    let _ = &stack.vhost;
}

#[tokio::test]
async fn sockets_stay_connected_through_a_redis_restart_and_receive_again() {
    let mut stack = Stack::start(&[]).await;
    let mut client = SioClient::connect(&stack.edge.url(), "4", "websocket", None);
    client.connected().await;
    client
        .subscribe(subscription(SAMPLE_ACCOUNT, "token-a", "call.*.*"))
        .await;

    stack.redis.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.redis.start().await;
    let back = std::time::Instant::now();
    stack.edge.wait_ready(Duration::from_secs(15)).await;
    // Publish until one arrives; it must within 5 s of Redis returning.
    let mut seq = 0;
    let received = loop {
        let (key, body) = numbered_call_event(SAMPLE_ACCOUNT, "CHANNEL_CREATE", seq);
        stack.kazoo.publish("callevt", &key, &body).await;
        seq += 1;
        if let Some(event) = client.next_event(Duration::from_millis(250)).await {
            break Some(event);
        }
        if back.elapsed() > Duration::from_secs(5) {
            break None;
        }
    };
    assert!(
        received.is_some(),
        "no event within 5 s of Redis returning; edge output:\n{}",
        stack.edge.process.logs()
    );
    assert!(
        !client.seen.iter().any(|v| v["type"] == "disconnect"),
        "the socket stayed connected: {:?}",
        client.seen
    );
}

#[tokio::test]
async fn a_socket_that_stops_reading_is_disconnected_without_slowing_the_others() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    let edge = EdgeProcess::spawn(Some(&redis.url()), Some(&tokens()), &[]);
    ingest.wait_ready(READY).await;
    edge.wait_ready(READY).await;
    let kazoo = KazooPublisher::connect(&vhost.url()).await;

    let subscribe = format!(
        r#"42["subscribe",{{"account_id":"{SAMPLE_ACCOUNT}","auth_token":"token-a","binding":"call.*.*"}}]"#
    );
    let _stalled = blackhole_tests::clients::StalledWebsocket::open(
        edge.addr,
        "/socket.io/?EIO=4&transport=websocket",
        &["40", &subscribe],
    )
    .await;
    let mut healthy = SioClient::connect(&edge.url(), "4", "websocket", None);
    healthy.connected().await;
    healthy
        .subscribe(subscription(SAMPLE_ACCOUNT, "token-a", "call.*.*"))
        .await;
    assert!(
        blackhole_tests::servers::wait_until(Duration::from_secs(5), || async {
            edge.metric("blackhole_edge_subscriptions", &[]).await >= 2.0
        })
        .await,
        "both sockets subscribed"
    );

    // About 12 MB of events: far more than the kernel buffers hold for the stalled socket.
    const EVENTS: usize = 3_000;
    let destroy = call_samples()[2].1.clone();
    let messages: Vec<(String, Vec<u8>)> = (0..EVENTS)
        .map(|i| (format!("call.CHANNEL_DESTROY.stall-{i}"), destroy.clone()))
        .collect();
    kazoo.publish_all("callevt", &messages).await;

    let disconnected = blackhole_tests::servers::wait_until(Duration::from_secs(30), || async {
        edge.metric("blackhole_edge_slow_consumer_disconnects_total", &[])
            .await
            >= 1.0
    })
    .await;
    assert!(
        disconnected,
        "the stalled socket is disconnected as a slow consumer; edge output:\n{}",
        edge.process.logs()
    );
    let mut received = 0;
    while received < EVENTS {
        if healthy.next_event(Duration::from_secs(10)).await.is_none() {
            break;
        }
        received += 1;
    }
    assert_eq!(received, EVENTS, "the healthy socket receives every event");
    assert!(
        edge.process.logs().contains("reason=\"slow_consumer\"")
            || edge.process.logs().contains("reason=slow_consumer"),
        "logged with its reason"
    );
}
