//! Runs the real `blackhole-ingest` binary against a test's Redis and RabbitMQ vhost, and reads
//! what it published.

use std::net::SocketAddr;
use std::time::Duration;

use blackhole_bus::{AccountId, Envelope, Keyspace, script};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::servers::{ChildProcess, free_port, http_get, metric_value, wait_until};

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
        let ready = wait_until(timeout, || async {
            matches!(http_get(self.admin, "/readyz").await, Some((200, _)))
        })
        .await;
        assert!(
            ready,
            "ingest not ready within {timeout:?}; its output:\n{}",
            self.process.logs()
        );
    }

    /// The value of a metric (summed over series matching `labels`), 0 if absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (_, body) = http_get(self.admin, "/metrics")
            .await
            .unwrap_or_else(|| panic!("scrape {}", self.admin));
        metric_value(&body, name, labels).unwrap_or(0.0)
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

/// One XRANGE entry: its id and its field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// Every envelope in an account's replay stream, oldest first.
pub async fn read_stream(redis_url: &str, account: &str) -> Vec<Envelope> {
    let account = AccountId::parse(account).unwrap();
    let key = Keyspace::default().stream(&account);
    let client = redis::Client::open(redis_url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .unwrap();
    entries
        .into_iter()
        .map(|(id, fields)| {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("stream entry {id} lacks field {name}"))
            };
            script::envelope_from_stream_entry(
                &id,
                &field(script::FIELD_HEADER),
                &field(script::FIELD_PAYLOAD),
            )
            .unwrap()
        })
        .collect()
}

/// The `Test-Seq` of a numbered event.
pub fn seq_of(envelope: &Envelope) -> u64 {
    let body: serde_json::Value = serde_json::from_slice(&envelope.payload).unwrap();
    body["Test-Seq"].as_u64().expect("numbered event")
}
