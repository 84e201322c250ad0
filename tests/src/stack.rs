//! The whole pipeline for a test: a RabbitMQ vhost, a Redis, ingest and one edge, all ready,
//! plus a publisher playing Kazoo.

use std::time::Duration;

use serde_json::{Value, json};

use crate::edge::EdgeProcess;
use crate::ingest::IngestProcess;
use crate::kazoo::{KazooPublisher, SAMPLE_ACCOUNT};
use crate::servers::{RabbitVhost, RedisServer, wait_until};

/// Another account, with its own token.
pub const OTHER_ACCOUNT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
/// A reseller whose descendant is [`SAMPLE_ACCOUNT`].
pub const RESELLER: &str = "aaaa0000aaaa0000aaaa0000aaaa0000";

/// The static tokens every stack's edge accepts: `token-a` (the sample account), `token-b`
/// ([`OTHER_ACCOUNT`]), `token-reseller`, and `token-expired`.
pub fn tokens() -> Value {
    json!({
        "tokens": {
            "token-a": {"account_id": SAMPLE_ACCOUNT},
            "token-b": {"account_id": OTHER_ACCOUNT},
            "token-reseller": {"account_id": RESELLER},
            "token-expired": {"account_id": SAMPLE_ACCOUNT, "exp": 1_000_000_000},
        },
        "accounts": {RESELLER: {"descendants": [SAMPLE_ACCOUNT]}}
    })
}

/// RabbitMQ vhost, Redis, ingest and one edge.
pub struct Stack {
    /// The vhost Kazoo publishes to.
    pub vhost: RabbitVhost,
    /// The Redis between ingest and edge.
    pub redis: RedisServer,
    /// The ingest process.
    pub ingest: IngestProcess,
    /// The edge process.
    pub edge: EdgeProcess,
    /// Publishes like Kazoo.
    pub kazoo: KazooPublisher,
}

impl Stack {
    /// Starts everything and waits until it is ready; `edge_args` are extra edge flags.
    pub async fn start(edge_args: &[&str]) -> Self {
        let redis = RedisServer::start_new().await;
        let vhost = RabbitVhost::create().await;
        let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
        let edge = EdgeProcess::spawn(Some(&redis.url()), Some(&tokens()), edge_args);
        ingest.wait_ready(Duration::from_secs(30)).await;
        edge.wait_ready(Duration::from_secs(30)).await;
        let kazoo = KazooPublisher::connect(&vhost.url()).await;
        Self {
            vhost,
            redis,
            ingest,
            edge,
            kazoo,
        }
    }

    /// Waits until the edge holds at least `count` bindings.
    pub async fn wait_for_subscriptions(&self, count: usize) {
        let held = wait_until(Duration::from_secs(20), || async {
            self.edge.metric("blackhole_edge_subscriptions", &[]).await >= count as f64
        })
        .await;
        assert!(
            held,
            "the edge never held {count} bindings; its output:\n{}",
            self.edge.process.logs()
        );
    }
}
