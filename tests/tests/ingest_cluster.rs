//! End to end on a Redis Cluster: the real `blackhole-ingest`, started with `--redis-cluster`
//! and the three nodes as seeds, publishes each account's events with `SPUBLISH` on the shard
//! that owns the account's slot, and appends them to the account's stream on that shard.

use std::collections::BTreeSet;
use std::time::Duration;

use blackhole_bus::{AccountId, Keyspace};
use blackhole_tests::ingest::{ChannelWatcher, IngestProcess, read_stream_on, seq_of};
use blackhole_tests::kazoo::{KazooPublisher, SAMPLE_ACCOUNT, call_samples, numbered_call_event};
use blackhole_tests::servers::{RabbitVhost, RedisCluster, wait_until};

const READY: Duration = Duration::from_secs(30);

/// Ingest publishing to `cluster`: all nodes as seeds, comma-separated.
fn spawn_ingest(vhost: &RabbitVhost, cluster: &RedisCluster, extra: &[&str]) -> IngestProcess {
    let seeds = cluster.urls().join(",");
    let mut args = vec!["--redis-cluster"];
    args.extend_from_slice(extra);
    IngestProcess::spawn(&vhost.url(), &seeds, &args)
}

async fn cluster_connection(cluster: &RedisCluster) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClientBuilder::new(cluster.urls())
        .build()
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn call_samples_reach_a_sharded_subscriber_in_order_and_byte_identical() {
    let cluster = RedisCluster::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = spawn_ingest(&vhost, &cluster, &[]);
    ingest.wait_ready(READY).await;
    let mut watcher = ChannelWatcher::ssubscribe_cluster(&cluster.urls(), SAMPLE_ACCOUNT).await;

    let kazoo = KazooPublisher::connect(&vhost.url()).await;
    let samples = call_samples();
    for (key, body) in &samples {
        kazoo.publish("callevt", key, body).await;
    }

    let received = watcher.take(3, Duration::from_secs(10)).await;
    assert_eq!(
        received.len(),
        3,
        "ingest output:\n{}\n{}",
        ingest.process.logs(),
        cluster.logs()
    );
    for (envelope, (key, body)) in received.iter().zip(&samples) {
        assert_eq!(
            envelope.payload.as_ref(),
            body.as_slice(),
            "payload of {key} changed"
        );
        assert_eq!(envelope.meta.account_id.as_str(), SAMPLE_ACCOUNT);
        assert_eq!(&envelope.meta.routing_key, key);
        assert_eq!(envelope.meta.exchange, "callevt");
    }
    assert!(
        received.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets grow"
    );

    // The replay stream on the account's shard holds the same envelopes.
    let mut connection = cluster_connection(&cluster).await;
    assert_eq!(
        read_stream_on(&mut connection, SAMPLE_ACCOUNT).await,
        received
    );
    assert_eq!(
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")]
            )
            .await,
        3.0
    );
}

#[tokio::test]
async fn events_of_twenty_accounts_land_in_their_streams_on_the_owning_nodes() {
    const ACCOUNTS: u64 = 20;
    const PER_ACCOUNT: u64 = 5;
    let cluster = RedisCluster::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = spawn_ingest(&vhost, &cluster, &[]);
    ingest.wait_ready(READY).await;

    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|n| format!("{n:08x}{:024x}", 0xfeed_face_u64))
        .collect();
    // Interleaved, so that every batch spans accounts and therefore nodes.
    let events: Vec<(String, Vec<u8>)> = (0..ACCOUNTS * PER_ACCOUNT)
        .map(|seq| numbered_call_event(&accounts[(seq % ACCOUNTS) as usize], "CHANNEL_CREATE", seq))
        .collect();
    let kazoo = KazooPublisher::connect(&vhost.url()).await;
    kazoo.publish_all("callevt", &events).await;

    let total = (ACCOUNTS * PER_ACCOUNT) as f64;
    let all_published = wait_until(Duration::from_secs(30), || async {
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")],
            )
            .await
            >= total
    })
    .await;
    assert!(
        all_published,
        "ingest output:\n{}\n{}",
        ingest.process.logs(),
        cluster.logs()
    );

    let mut connection = cluster_connection(&cluster).await;
    let mut nodes: Vec<redis::aio::MultiplexedConnection> = Vec::new();
    for url in cluster.urls() {
        let client = redis::Client::open(url).unwrap();
        nodes.push(client.get_multiplexed_async_connection().await.unwrap());
    }
    let mut owners = BTreeSet::new();
    for (index, account) in accounts.iter().enumerate() {
        let seqs: Vec<u64> = read_stream_on(&mut connection, account)
            .await
            .iter()
            .map(seq_of)
            .collect();
        let expected: Vec<u64> = (0..PER_ACCOUNT)
            .map(|k| k * ACCOUNTS + index as u64)
            .collect();
        assert_eq!(seqs, expected, "account {account}: every event, in order");

        // Asked directly, only the owner of the slot has the stream; the others answer MOVED.
        let key = Keyspace::default().stream(&AccountId::parse(account).unwrap());
        let mut holders = Vec::new();
        for (node, node_connection) in nodes.iter_mut().enumerate() {
            let exists: redis::RedisResult<u64> = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(node_connection)
                .await;
            match exists {
                Ok(1) => holders.push(node),
                Ok(n) => panic!("node {node} answered EXISTS {key} with {n}"),
                Err(e) => assert_eq!(e.code(), Some("MOVED"), "node {node}: {e}"),
            }
        }
        assert_eq!(holders.len(), 1, "{key} lives on exactly one node");
        owners.insert(holders[0]);
    }
    assert_eq!(
        owners.len(),
        3,
        "the accounts' streams are spread over all three nodes"
    );
}
