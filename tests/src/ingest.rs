//! Runs the real `blackhole-ingest` binary against a test's Redis (one server or a cluster) and
//! RabbitMQ vhost, and reads what it published: from the account channel and the replay stream.

use std::net::SocketAddr;
use std::time::Duration;

use blackhole_bus::{AccountId, Envelope, Keyspace, script};
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionLike;
use redis::{ProtocolVersion, PushKind};

use crate::servers::{ChildProcess, free_port};

/// A running `blackhole-ingest` process.
pub struct IngestProcess {
    /// The process, for its logs and signals.
    pub process: ChildProcess,
    /// Its admin listener.
    pub admin: SocketAddr,
}

impl IngestProcess {
    /// Starts ingest with a private queue name in the vhost, plus `extra` flags.
    pub fn spawn(amqp_url: &str, redis_url: &str, extra: &[&str]) -> Self {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args: Vec<String> = [
            "--amqp-url",
            amqp_url,
            "--redis-url",
            redis_url,
            "--admin-listen",
            &admin.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = ChildProcess::spawn("blackhole-ingest", &args, &[]);
        Self { process, admin }
    }

    /// Waits until `/readyz` answers 200; panics with the process output otherwise.
    pub async fn wait_ready(&self, timeout: Duration) {
        crate::servers::wait_ready(self.admin, &self.process, "ingest", timeout).await;
    }

    /// The value of a metric (summed over series matching `labels`), 0 if absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        crate::servers::metric(self.admin, name, labels).await
    }
}

/// Subscribes to an account's channel and collects decoded envelopes.
pub struct ChannelWatcher {
    messages: tokio::sync::mpsc::UnboundedReceiver<Envelope>,
    _task: tokio::task::JoinHandle<()>,
}

impl ChannelWatcher {
    /// Subscribes before returning, so nothing published afterwards is missed.
    pub async fn subscribe(redis_url: &str, account: &str) -> Self {
        let account = AccountId::parse(account).unwrap();
        let channel = Keyspace::default().channel(&account);
        let client = redis::Client::open(redis_url).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(&channel).await.unwrap();
        let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = pubsub.into_on_message();
            while let Some(msg) = stream.next().await {
                let envelope = Envelope::decode(Bytes::copy_from_slice(msg.get_payload_bytes()))
                    .expect("ingest publishes valid envelopes");
                if tx.send(envelope).is_err() {
                    return;
                }
            }
        });
        Self {
            messages,
            _task: task,
        }
    }

    /// Like [`subscribe`](Self::subscribe) on a Redis Cluster: `SSUBSCRIBE` (sharded pub/sub)
    /// through a cluster client, which subscribes on the node owning the channel's slot, the way
    /// an edge does there.
    pub async fn ssubscribe_cluster(nodes: &[String], account: &str) -> Self {
        let account = AccountId::parse(account).unwrap();
        let channel = Keyspace::default().channel(&account);
        // Pushes (RESP3 only) arrive here: subscription confirmations and messages alike.
        let (push_tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .use_protocol(ProtocolVersion::RESP3)
            .push_sender(push_tx)
            .build()
            .unwrap();
        let mut connection = client.get_async_connection().await.unwrap();
        connection.ssubscribe(&channel).await.unwrap();
        let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            // Dropping the connection would end the subscription.
            let _connection = connection;
            while let Some(push) = pushes.recv().await {
                if push.kind != PushKind::SMessage {
                    continue;
                }
                let [from, payload] = push.data.as_slice() else {
                    panic!("an smessage push is [channel, payload]: {:?}", push.data);
                };
                let from: String = redis::from_redis_value_ref(from).unwrap();
                assert_eq!(from, channel, "a message of another channel");
                let payload: Vec<u8> = redis::from_redis_value_ref(payload).unwrap();
                let envelope = Envelope::decode(Bytes::from(payload))
                    .expect("ingest publishes valid envelopes");
                if tx.send(envelope).is_err() {
                    return;
                }
            }
        });
        Self {
            messages,
            _task: task,
        }
    }

    /// The next envelope, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Envelope> {
        tokio::time::timeout(timeout, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits up to `timeout` for `count` envelopes.
    pub async fn take(&mut self, count: usize, timeout: Duration) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(Some(envelope)) => out.push(envelope),
                _ => break,
            }
        }
        out
    }
}

/// Every envelope in an account's replay stream on a single Redis, oldest first.
pub async fn read_stream(redis_url: &str, account: &str) -> Vec<Envelope> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    read_stream_on(&mut connection, account).await
}

/// Every envelope in an account's replay stream, read over any connection (a cluster
/// connection routes the XRANGE to the node that owns the account's slot).
pub async fn read_stream_on(connection: &mut impl ConnectionLike, account: &str) -> Vec<Envelope> {
    let account = AccountId::parse(account).unwrap();
    let key = Keyspace::default().stream(&account);
    let entries: Vec<script::StreamEntry> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query_async(connection)
        .await
        .unwrap();
    entries
        .iter()
        .map(|entry| {
            script::envelope_from_xrange(entry)
                .expect("entries have the script's fields")
                .expect("entries hold valid envelopes")
        })
        .collect()
}

/// The `Test-Seq` of a numbered event.
pub fn seq_of(envelope: &Envelope) -> u64 {
    let body: serde_json::Value = serde_json::from_slice(&envelope.payload).unwrap();
    body["Test-Seq"].as_u64().expect("numbered event")
}
