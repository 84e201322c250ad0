//! The edge's Redis subscriber: one connection (to a server, or a cluster client) that follows the hub's demand, decodes each
//! envelope once and hands it to the hub.
//!
//! Invariants:
//! - it is subscribed to exactly the scopes the hub demands; after any reconnect it subscribes
//!   to all of them again before reporting ready;
//! - per account, events reach the hub at most once and in offset order: an envelope whose
//!   offset is not newer than the last one seen for its account is dropped as a duplicate;
//! - events published while the connection was down are read back from the accounts' replay
//!   streams right after resubscribing, before any live message is handled (live messages wait
//!   in the push channel meanwhile), so a reconnect loses nothing the streams still hold.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use blackhole_bus::envelope::Offset;
use blackhole_bus::{AccountId, Envelope, Keyspace, script};
use blackhole_ops::backoff::Backoff;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisError,
    Value,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Demand, Hub, HubEvent, Scope};
use crate::metrics::Metrics;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Channels per SUBSCRIBE command when resubscribing many accounts at once.
const SUBSCRIBE_CHUNK: usize = 500;

/// A subscription connection to a single Redis or to a Redis Cluster.
enum Connection {
    Single(MultiplexedConnection),
    /// Sharded pub/sub: SSUBSCRIBE reaches the node that owns the account's slot, and the
    /// client follows slot moves and resubscribes by itself.
    Cluster(ClusterConnection),
}

impl Connection {
    async fn channels(&mut self, channels: &[String], on: bool) -> Result<(), RedisError> {
        match (self, on) {
            (Self::Single(c), true) => c.subscribe(channels).await,
            (Self::Single(c), false) => c.unsubscribe(channels).await,
            // A sharded subscription command must stay on one slot: one channel at a time.
            (Self::Cluster(c), true) => {
                for channel in channels {
                    c.ssubscribe(channel).await?;
                }
                Ok(())
            }
            (Self::Cluster(c), false) => {
                for channel in channels {
                    c.sunsubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    async fn pattern(&mut self, pattern: &str, on: bool) -> Result<(), RedisError> {
        match (self, on) {
            (Self::Single(c), true) => c.psubscribe(pattern).await,
            (Self::Single(c), false) => c.punsubscribe(pattern).await,
            (Self::Cluster(_), _) => {
                // Sharded channels have no pattern subscriptions: a `*` subscriber would see
                // nothing, so say so rather than pretend.
                tracing::warn!(
                    "a super-admin `*` subscription cannot be served on a Redis Cluster"
                );
                Ok(())
            }
        }
    }

    async fn xrange(
        &mut self,
        key: String,
        after: Offset,
    ) -> Result<Vec<script::StreamEntry>, RedisError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(key).arg(format!("({after}")).arg("+");
        match self {
            Self::Single(c) => cmd.query_async(c).await,
            Self::Cluster(c) => cmd.query_async(c).await,
        }
    }
}

/// Follows the hub's demand on one Redis deployment.
pub(crate) struct RedisBus {
    nodes: Vec<String>,
    cluster: bool,
    keyspace: Keyspace,
    hub: Arc<Hub>,
    /// Written by the hub (see [`Demand`]); `None` once it closed.
    demand: mpsc::UnboundedReceiver<Demand>,
    subscribed: HashSet<Scope>,
    last_offsets: HashMap<AccountId, Offset>,
    ready: Arc<AtomicBool>,
    metrics: Metrics,
}

enum SessionEnd {
    Shutdown,
    Lost(RedisError),
}

impl RedisBus {
    /// A subscriber for `nodes` (one server, or cluster seeds) that reports readiness in `ready`.
    pub(crate) fn new(
        nodes: Vec<String>,
        cluster: bool,
        keyspace: Keyspace,
        hub: Arc<Hub>,
        demand: mpsc::UnboundedReceiver<Demand>,
        ready: Arc<AtomicBool>,
        metrics: Metrics,
    ) -> Self {
        Self {
            nodes,
            cluster,
            keyspace,
            hub,
            demand,
            subscribed: HashSet::new(),
            last_offsets: HashMap::new(),
            ready,
            metrics,
        }
    }

    /// Runs until `shutdown`, reconnecting with backoff.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match self.session(&shutdown, &mut backoff).await {
                SessionEnd::Shutdown => return,
                SessionEnd::Lost(e) => {
                    self.set_ready(false);
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?delay, "Redis subscription lost; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        self.metrics.redis_up.set(i64::from(ready));
    }

    async fn connect(&self) -> Result<(Connection, mpsc::UnboundedReceiver<PushInfo>), RedisError> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(self.nodes.clone())
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(tx)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .build()?;
            return Ok((
                Connection::Cluster(client.get_async_connection().await?),
                rx,
            ));
        }
        let info = self.nodes[0].as_str().into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_push_sender(tx);
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok((Connection::Single(connection), rx))
    }

    async fn session(&mut self, shutdown: &CancellationToken, backoff: &mut Backoff) -> SessionEnd {
        let (mut connection, mut pushes) = match self.connect().await {
            Ok(pair) => pair,
            Err(e) => return SessionEnd::Lost(e),
        };
        // Everything demanded so far, including changes that arrived while disconnected.
        self.drain_demand_into_wanted();
        let wanted: Vec<Scope> = self.subscribed.iter().cloned().collect();
        for chunk in wanted.chunks(SUBSCRIBE_CHUNK) {
            if let Err(e) = self.subscribe(&mut connection, chunk, true).await {
                return SessionEnd::Lost(e);
            }
        }
        if let Err(e) = self.replay(&mut connection, &wanted).await {
            return SessionEnd::Lost(e);
        }
        self.set_ready(true);
        backoff.reset();
        tracing::info!(accounts = wanted.len(), "subscribed to Redis");
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return SessionEnd::Shutdown,
                demand = self.demand.recv() => {
                    let Some(demand) = demand else { return SessionEnd::Shutdown };
                    if let Err(e) = self.apply(&mut connection, demand).await {
                        return SessionEnd::Lost(e);
                    }
                }
                push = pushes.recv() => match push {
                    Some(push) => {
                        if push.kind == PushKind::Disconnection {
                            return SessionEnd::Lost(RedisError::from(std::io::Error::other("connection closed")));
                        }
                        self.handle_push(push);
                    }
                    None => return SessionEnd::Lost(RedisError::from(std::io::Error::other("push channel closed"))),
                },
            }
        }
    }

    /// Folds queued demand changes into the wanted set without talking to Redis.
    fn drain_demand_into_wanted(&mut self) {
        while let Ok(demand) = self.demand.try_recv() {
            match demand {
                Demand::Subscribe(scope) => {
                    self.subscribed.insert(scope);
                }
                Demand::Unsubscribe(scope) => {
                    self.forget(&scope);
                }
            }
        }
    }

    fn forget(&mut self, scope: &Scope) {
        self.subscribed.remove(scope);
        if let Scope::Account(account) = scope {
            self.last_offsets.remove(account);
        }
    }

    async fn apply(
        &mut self,
        connection: &mut Connection,
        demand: Demand,
    ) -> Result<(), RedisError> {
        match demand {
            Demand::Subscribe(scope) => {
                self.subscribed.insert(scope.clone());
                self.subscribe(connection, std::slice::from_ref(&scope), true)
                    .await
            }
            Demand::Unsubscribe(scope) => {
                self.forget(&scope);
                self.subscribe(connection, std::slice::from_ref(&scope), false)
                    .await
            }
        }
    }

    async fn subscribe(
        &self,
        connection: &mut Connection,
        scopes: &[Scope],
        on: bool,
    ) -> Result<(), RedisError> {
        let (channels, patterns): (Vec<_>, Vec<_>) =
            scopes.iter().partition(|s| matches!(s, Scope::Account(_)));
        let channels: Vec<String> = channels
            .into_iter()
            .filter_map(|s| match s {
                Scope::Account(a) => Some(self.keyspace.channel(a)),
                Scope::All => None,
            })
            .collect();
        if !channels.is_empty() {
            connection.channels(&channels, on).await?;
        }
        if !patterns.is_empty() {
            connection
                .pattern(&self.keyspace.all_channels_pattern(), on)
                .await?;
        }
        Ok(())
    }

    /// Reads what each account's stream holds beyond the last offset seen, oldest first.
    async fn replay(
        &mut self,
        connection: &mut Connection,
        scopes: &[Scope],
    ) -> Result<(), RedisError> {
        for scope in scopes {
            let Scope::Account(account) = scope else {
                continue;
            };
            let Some(last) = self.last_offsets.get(account).copied() else {
                continue;
            };
            let entries = connection
                .xrange(self.keyspace.stream(account), last)
                .await?;
            for entry in &entries {
                match script::envelope_from_xrange(entry) {
                    Some(Ok(envelope)) => {
                        self.metrics.events_replayed.inc();
                        self.accept(envelope);
                    }
                    Some(Err(e)) => self.undecodable(&e),
                    None => self
                        .metrics
                        .events_dropped
                        .with_label_values(&["undecodable"])
                        .inc(),
                }
            }
        }
        Ok(())
    }

    fn handle_push(&mut self, push: PushInfo) {
        let payload = match push.kind {
            // [channel, payload]
            PushKind::Message | PushKind::SMessage => push.data.into_iter().nth(1),
            // [pattern, channel, payload]
            PushKind::PMessage => push.data.into_iter().nth(2),
            _ => return,
        };
        let Some(Value::BulkString(bytes)) = payload else {
            return;
        };
        match Envelope::decode(Bytes::from(bytes)) {
            Ok(envelope) => self.accept(envelope),
            Err(e) => self.undecodable(&e),
        }
    }

    fn undecodable(&self, error: &blackhole_bus::EnvelopeError) {
        self.metrics
            .events_dropped
            .with_label_values(&["undecodable"])
            .inc();
        tracing::warn!(error = %error, "dropped a Redis message that is not a valid envelope");
    }

    fn accept(&mut self, envelope: Envelope) {
        let account = &envelope.meta.account_id;
        if self
            .last_offsets
            .get(account)
            .is_some_and(|last| envelope.offset <= *last)
        {
            self.metrics
                .events_dropped
                .with_label_values(&["duplicate"])
                .inc();
            return;
        }
        if self.subscribed.contains(&Scope::Account(account.clone())) {
            self.last_offsets.insert(account.clone(), envelope.offset);
        }
        self.hub.publish(Arc::new(HubEvent::new(envelope)));
    }
}
