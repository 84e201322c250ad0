//! blackhole-ingest: consumes Kazoo's AMQP exchanges once for the whole deployment and
//! republishes every event to its account's Redis channel and replay stream.
//!
//! [`Ingest::bind`] validates nothing further and binds the admin listener; [`Ingest::run`]
//! consumes until the shutdown future resolves, then stops consuming, finishes the batch in hand
//! and returns. Tests call both on `127.0.0.1:0`.

pub mod config;
mod health;
mod metrics;
mod prepare;
mod publisher;
mod zone;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{Args, Config, ConfigError};

use health::Health;
use metrics::Metrics;
use publisher::Publisher;
use zone::Zone;

/// Interval of the Redis probe that keeps `/readyz` honest while no events flow.
const REDIS_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Errors that stop ingest from starting.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The admin listener could not be bound.
    #[error("cannot listen on {addr} (--admin-listen): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// An ingest service whose admin listener is bound.
pub struct Ingest {
    config: Arc<Config>,
    admin: TcpListener,
}

impl Ingest {
    /// Binds the admin listener.
    pub async fn bind(config: Config) -> Result<Self, IngestError> {
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .map_err(|source| IngestError::Bind {
                addr: config.admin_listen,
                source,
            })?;
        Ok(Self {
            config: Arc::new(config),
            admin,
        })
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Consumes until `shutdown` resolves, then drains and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), IngestError> {
        let metrics = Metrics::new();
        let health = Arc::new(Health::new(self.config.amqp_urls.len(), metrics.clone()));
        let stop_consuming = CancellationToken::new();
        let stop_admin = CancellationToken::new();

        let admin = tokio::spawn(blackhole_ops::admin::serve(
            self.admin,
            metrics.registry.clone(),
            health.clone(),
            stop_admin.clone(),
        ));
        tracing::info!(admin = %self.config.admin_listen, zones = self.config.amqp_urls.len(), redis = %self.config.redis.nodes[0], "blackhole-ingest starting");

        let mut zones = JoinSet::new();
        for (index, url) in self.config.amqp_urls.iter().enumerate() {
            let zone = Zone::new(
                index,
                url.clone(),
                self.config.clone(),
                metrics.clone(),
                health.clone(),
            );
            zones.spawn(zone.run(stop_consuming.clone()));
        }
        let probe = tokio::spawn(probe_redis(
            Publisher::new(
                self.config.redis.clone(),
                self.config.keyspace.clone(),
                self.config.stream,
                metrics.clone(),
                health.clone(),
            ),
            health.clone(),
            stop_consuming.clone(),
        ));

        shutdown.await;
        health.start_draining();
        stop_consuming.cancel();
        let drained = tokio::time::timeout(self.config.drain_timeout, async {
            while zones.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?self.config.drain_timeout, "drain timeout passed; unacked messages return to the queue");
            zones.abort_all();
        }
        probe.abort();
        stop_admin.cancel();
        let _ = admin.await;
        tracing::info!("blackhole-ingest stopped");
        Ok(())
    }
}

/// Runs ingest with `config` until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), IngestError> {
    Ingest::bind(config).await?.run(shutdown).await
}

async fn probe_redis(mut publisher: Publisher, health: Arc<Health>, shutdown: CancellationToken) {
    let mut was_up = None;
    loop {
        let up = match publisher.ping().await {
            Ok(()) => true,
            Err(e) => {
                if was_up != Some(false) {
                    tracing::warn!(error = %e, "Redis does not answer");
                }
                false
            }
        };
        health.set_redis_up(up);
        was_up = Some(up);
        tokio::select! {
            _ = tokio::time::sleep(REDIS_PROBE_INTERVAL) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
