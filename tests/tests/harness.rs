//! Checks the test harness itself against the real servers: if these fail, every end-to-end
//! failure that follows is about the environment, not about Blackhole.

use std::time::Duration;

use blackhole_tests::servers::{RabbitVhost, RedisCluster, RedisServer};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::test]
async fn harness_starts_redis_and_creates_vhost() {
    let mut redis = RedisServer::start_new().await;
    assert!(redis.ping().await, "fresh server answers PING");
    let port = redis.port();

    redis.stop().await;
    assert!(!redis.ping().await, "stopped server must not answer");
    redis.start().await;
    assert_eq!(redis.port(), port, "restart keeps the port");
    assert!(redis.ping().await, "restarted server answers PING");
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));

    let vhost = RabbitVhost::create().await;
    let other = RabbitVhost::create().await;
    assert_ne!(vhost.url(), other.url());

    let conn = Connection::connect(&vhost.url(), ConnectionProperties::default())
        .await
        .expect("connect to the test vhost");
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            "harness".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .basic_publish(
            "".into(),
            "harness".into(),
            BasicPublishOptions::default(),
            b"hello",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let message = channel
                .basic_get("harness".into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap();
            if let Some(message) = message {
                return message.delivery.data.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the message comes back");
    assert_eq!(got, b"hello");

    // The other vhost does not see this one's queue: a passive declare fails.
    let other_conn = Connection::connect(&other.url(), ConnectionProperties::default())
        .await
        .expect("connect to the other vhost");
    let other_channel = other_conn.create_channel().await.unwrap();
    let passive = other_channel
        .queue_declare(
            "harness".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(passive.is_err(), "vhosts are isolated");

    channel
        .queue_delete("harness".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close(200, "bye".into()).await.unwrap();
    let _ = other_conn.close(200, "bye".into()).await;
}

#[tokio::test]
async fn harness_starts_a_redis_cluster_whose_slots_span_every_node() {
    let cluster = RedisCluster::start_new().await;
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    for node in cluster.nodes() {
        assert!(node.ping().await, "node {} answers PING", node.port());
        let dir = node.dir().to_path_buf();
        if let Some(tmp) = std::env::var_os("BLACKHOLE_TEST_TMPDIR") {
            assert!(
                dir.starts_with(tmp),
                "{} is in the run's temp dir",
                dir.display()
            );
        }
    }

    let client = redis::cluster::ClusterClientBuilder::new(urls.clone())
        .build()
        .unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    // Twenty keys land on all three masters; a cluster client must reach each of them.
    for n in 0..20 {
        redis::cmd("SET")
            .arg(format!("key-{n}"))
            .arg(n)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
    }
    for url in &urls {
        let mut node = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: u64 = redis::cmd("DBSIZE").query_async(&mut node).await.unwrap();
        assert!(keys > 0, "node {url} holds some of the keys");
    }

    let dirs: Vec<_> = cluster
        .nodes()
        .iter()
        .map(|n| n.dir().to_path_buf())
        .collect();
    drop(cluster);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (url, dir) in urls.iter().zip(&dirs) {
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err();
        assert!(refused, "node {url} is gone after drop");
        assert!(!dir.exists(), "{} is removed after drop", dir.display());
    }
}
