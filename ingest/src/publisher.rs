//! Publishes prepared events to Redis: append to the account's stream and publish on its
//! channel, in one script call per event, pipelined per account.
//!
//! Invariants:
//! - a batch is published completely before the next one starts, and retried until it is (or the
//!   process is told to stop), so events of one account keep their AMQP order;
//! - a batch is split by account because a Redis Cluster pipeline must stay on one slot; the
//!   accounts' pipelines run concurrently and only the failed ones are retried;
//! - after an ambiguous failure (the connection died mid-pipeline) an event may be published
//!   twice, never lost: delivery is at least once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blackhole_bus::{AccountId, Keyspace, script};
use blackhole_ops::backoff::Backoff;
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, RedisError};
use tokio_util::sync::CancellationToken;

use crate::config::{RedisTarget, StreamPolicy};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::prepare::PreparedEvent;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A Redis that stops answering (paused, partitioned) must fail the batch, not hang it.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The publish was abandoned because the process is shutting down; nothing was acked.
#[derive(Debug)]
pub(crate) struct Cancelled;

enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query(&mut self, pipe: &redis::Pipeline) -> Result<Vec<redis::Value>, RedisError> {
        match self {
            Self::Single(c) => pipe.query_async(c).await,
            Self::Cluster(c) => pipe.query_async(c).await,
        }
    }
}

/// Publishes batches to one Redis deployment, reconnecting as needed.
pub(crate) struct Publisher {
    target: RedisTarget,
    keyspace: Keyspace,
    stream: StreamPolicy,
    script_sha: String,
    publish_command: &'static str,
    connection: Option<Connection>,
    metrics: Metrics,
    health: Arc<Health>,
}

impl Publisher {
    pub(crate) fn new(
        target: RedisTarget,
        keyspace: Keyspace,
        stream: StreamPolicy,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        let publish_command = if target.cluster {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        Self {
            target,
            keyspace,
            stream,
            script_sha: redis::Script::new(script::APPEND_AND_PUBLISH)
                .get_hash()
                .to_owned(),
            publish_command,
            connection: None,
            metrics,
            health,
        }
    }

    async fn connect(&self) -> Result<Connection, RedisError> {
        if self.target.cluster {
            let nodes: Vec<&str> = self.target.nodes.iter().map(|n| n.expose()).collect();
            let client = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .build()?;
            Ok(Connection::Cluster(client.get_async_connection().await?))
        } else {
            let client = redis::Client::open(self.target.nodes[0].expose())?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            Ok(Connection::Single(
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?,
            ))
        }
    }

    /// Connects, retrying with backoff, unless shutdown comes first.
    pub(crate) async fn ensure_connected(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        while self.connection.is_none() {
            match self.connect().await {
                Ok(connection) => {
                    tracing::info!(redis = %self.target.nodes[0], "connected to Redis");
                    self.connection = Some(connection);
                    self.health.set_redis_up(true);
                }
                Err(e) => {
                    self.metrics
                        .redis_errors
                        .with_label_values(&["connect"])
                        .inc();
                    self.health.set_redis_up(false);
                    let delay = backoff.next_delay();
                    tracing::warn!(redis = %self.target.nodes[0], error = %e, retry_in = ?delay, "cannot connect to Redis");
                    sleep_or_cancel(delay, shutdown).await?;
                }
            }
        }
        Ok(())
    }

    /// Publishes every event of `batch`, in order per account, retrying until Redis accepts
    /// them all.
    pub(crate) async fn publish_all(
        &mut self,
        batch: &[PreparedEvent],
        shutdown: &CancellationToken,
    ) -> Result<(), Cancelled> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut pending = group_by_account(batch);
        let mut use_eval = false;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            self.ensure_connected(shutdown).await?;
            let pipelines: Vec<redis::Pipeline> = pending
                .iter()
                .map(|events| self.pipeline(events, use_eval))
                .collect();
            let connection = self.connection.as_mut().expect("connected above");
            let results = match connection {
                Connection::Single(c) => {
                    join_all(pipelines.iter().map(|p| {
                        let mut c = c.clone();
                        async move { p.query_async::<Vec<redis::Value>>(&mut c).await }
                    }))
                    .await
                }
                Connection::Cluster(c) => {
                    join_all(pipelines.iter().map(|p| {
                        let mut c = c.clone();
                        async move { p.query_async::<Vec<redis::Value>>(&mut c).await }
                    }))
                    .await
                }
            };
            let mut failed = Vec::new();
            let mut first_error = None;
            for (events, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(_) => self.metrics.event_bytes.inc_by(bytes_of(&events)),
                    Err(e) => {
                        failed.push(events);
                        first_error.get_or_insert(e);
                    }
                }
            }
            let Some(error) = first_error else {
                self.health.set_redis_up(true);
                self.metrics.batch_events.observe(batch.len() as f64);
                self.metrics
                    .publish_seconds
                    .observe(started.elapsed().as_secs_f64());
                return Ok(());
            };
            pending = failed;
            if error.code() == Some("NOSCRIPT") {
                // A new (or restarted) Redis has no cached script: nothing of these pipelines
                // ran. Send the script itself once, which caches it again.
                tracing::debug!("Redis does not have the publish script cached; sending it");
                use_eval = true;
                continue;
            }
            self.metrics
                .redis_errors
                .with_label_values(&["publish"])
                .inc();
            if error.is_unrecoverable_error()
                || error.is_io_error()
                || error.is_timeout()
                || error.is_connection_dropped()
            {
                self.connection = None;
                self.health.set_redis_up(false);
            }
            let delay = backoff.next_delay();
            tracing::warn!(
                error = %error,
                accounts = pending.len(),
                events = pending.iter().map(Vec::len).sum::<usize>(),
                retry_in = ?delay,
                "Redis refused a batch; retrying it before anything newer"
            );
            sleep_or_cancel(delay, shutdown).await?;
        }
    }

    fn pipeline(&self, events: &[&PreparedEvent], use_eval: bool) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        let retention_ms = self.stream.retention.as_millis() as u64;
        for event in events {
            let now_ms = unix_ms();
            let (command, script_ref) = if use_eval {
                ("EVAL", script::APPEND_AND_PUBLISH)
            } else {
                ("EVALSHA", self.script_sha.as_str())
            };
            pipe.cmd(command)
                .arg(script_ref)
                .arg(2)
                .arg(self.keyspace.stream(&event.account))
                .arg(self.keyspace.channel(&event.account))
                .arg(&event.header_prefix)
                .arg(event.payload.as_ref())
                .arg(self.stream.max_len)
                .arg(now_ms.saturating_sub(retention_ms))
                .arg(retention_ms)
                .arg(self.publish_command);
        }
        pipe
    }

    /// Checks that Redis answers, for readiness while no events flow.
    pub(crate) async fn ping(&mut self) -> Result<(), RedisError> {
        let connection = match &mut self.connection {
            Some(c) => c,
            None => self.connection.insert(self.connect().await?),
        };
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        let result = connection.query(&pipe).await.map(|_| ());
        if result.is_err() {
            self.connection = None;
        }
        result
    }
}

/// Splits a batch by account, keeping each account's events in order.
fn group_by_account(batch: &[PreparedEvent]) -> Vec<Vec<&PreparedEvent>> {
    let mut index: HashMap<&AccountId, usize> = HashMap::new();
    let mut groups: Vec<Vec<&PreparedEvent>> = Vec::new();
    for event in batch {
        let slot = *index.entry(&event.account).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(event);
    }
    groups
}

fn bytes_of(events: &[&PreparedEvent]) -> u64 {
    events.iter().map(|e| e.payload.len() as u64).sum()
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn sleep_or_cancel(delay: Duration, shutdown: &CancellationToken) -> Result<(), Cancelled> {
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = shutdown.cancelled() => Err(Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(account: &str, n: u8) -> PreparedEvent {
        PreparedEvent {
            account: AccountId::parse(account).unwrap(),
            header_prefix: vec![n],
            payload: Bytes::new(),
        }
    }

    #[test]
    fn grouping_keeps_each_accounts_order() {
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let batch = [
            event(a, 1),
            event(b, 2),
            event(a, 3),
            event(b, 4),
            event(a, 5),
        ];
        let groups = group_by_account(&batch);
        let ids: Vec<Vec<u8>> = groups
            .iter()
            .map(|g| g.iter().map(|e| e.header_prefix[0]).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 3, 5], vec![2, 4]]);
    }
}
