//! The whole pipeline on a Redis Cluster: ingest publishes with SPUBLISH on each account's shard
//! and the edge subscribes with SSUBSCRIBE on the node that owns it; a socket.io-client 4 gets
//! its account's events and no other's.

use std::time::Duration;

use blackhole_tests::clients::SioClient;
use blackhole_tests::edge::EdgeProcess;
use blackhole_tests::ingest::IngestProcess;
use blackhole_tests::kazoo::{KazooPublisher, SAMPLE_ACCOUNT, call_samples, numbered_call_event};
use blackhole_tests::servers::{RabbitVhost, RedisCluster};
use blackhole_tests::stack::{OTHER_ACCOUNT, tokens};
use serde_json::{Value, json};

#[tokio::test]
async fn a_socket_receives_its_accounts_events_through_a_sharded_redis_cluster() {
    let cluster = RedisCluster::start_new().await;
    let seeds = cluster.urls().join(",");
    let vhost = RabbitVhost::create().await;
    let ingest = IngestProcess::spawn(&vhost.url(), &seeds, &["--redis-cluster"]);
    let edge = EdgeProcess::spawn(Some(&seeds), Some(&tokens()), &["--redis-cluster"]);
    ingest.wait_ready(Duration::from_secs(30)).await;
    edge.wait_ready(Duration::from_secs(30)).await;

    let mut client = SioClient::connect(&edge.url(), "4", "websocket", None);
    client.connected().await;
    let reply = client
        .subscribe(
            json!({"account_id": SAMPLE_ACCOUNT, "auth_token": "token-a", "binding": "call.*.*"}),
        )
        .await;
    assert_eq!(reply["status"], "success");

    let kazoo = KazooPublisher::connect(&vhost.url()).await;
    let (key, body) = numbered_call_event(OTHER_ACCOUNT, "CHANNEL_CREATE", 1);
    kazoo.publish("callevt", &key, &body).await;
    for (key, body) in call_samples() {
        kazoo.publish("callevt", &key, &body).await;
    }
    for (i, name) in ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY"]
        .into_iter()
        .enumerate()
    {
        let event = client
            .next_event(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no {name}; edge output:\n{}", edge.process.logs()));
        assert_eq!(event["name"], name);
        let sample: Value = serde_json::from_slice(&call_samples()[i].1).unwrap();
        assert_eq!(
            event["data"], sample,
            "untouched payload, and never the other account's event"
        );
    }
}
