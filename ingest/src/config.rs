//! Command line and environment → a validated [`Config`], before any port is bound.
//!
//! Every flag has an environment variable (`BLACKHOLE_` + the flag in upper snake case); a flag
//! given on the command line wins. Secrets in URLs never reach a log line: [`Secret`] redacts them.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use blackhole_bus::{Keyspace, Source};
use blackhole_ops::telemetry::LogFormat;
use clap::Parser;

/// Kazoo's Blackhole event families, as (exchange, routing key) bindings.
pub const DEFAULT_BINDINGS: &[&str] = &[
    "callevt:call.CHANNEL_CREATE.*",
    "callevt:call.CHANNEL_ANSWER.*",
    "callevt:call.CHANNEL_DESTROY.*",
    "callevt:call.CHANNEL_HOLD.*",
    "callevt:call.CHANNEL_UNHOLD.*",
    "callevt:call.CHANNEL_BRIDGE.*",
    "callevt:call.PARK_PARKED.*",
    "callevt:call.PARK_RETRIEVED.*",
    "callevt:call.PARK_ABANDONED.*",
    "callevt:call.RECORD_START.*",
    "callevt:call.RECORD_STOP.*",
    "conference:conference.event.#",
    "conference:conference.command.*",
    "faxes:fax.status.#",
    "configuration:doc_created.#",
    "configuration:doc_edited.#",
    "configuration:doc_deleted.#",
];

/// `blackhole-ingest`: consumes Kazoo's AMQP exchanges once for the whole deployment and
/// republishes every event to its account's Redis channel.
#[derive(Debug, Parser)]
#[command(name = "blackhole-ingest", version, about)]
pub struct Args {
    /// AMQP URLs of the Kazoo brokers, comma-separated: one consumer per Kazoo zone.
    #[arg(
        long,
        env = "BLACKHOLE_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Redis URL; with --redis-cluster, comma-separated seed nodes.
    #[arg(
        long,
        env = "BLACKHOLE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Treat --redis-url as a Redis Cluster and publish with SPUBLISH (sharded pub/sub).
    #[arg(long, env = "BLACKHOLE_REDIS_CLUSTER")]
    pub redis_cluster: bool,

    /// Prefix of every Redis channel and stream name.
    #[arg(long, env = "BLACKHOLE_REDIS_PREFIX", default_value = Keyspace::DEFAULT_PREFIX)]
    pub redis_prefix: String,

    /// Address of the admin listener (/metrics, /healthz, /readyz).
    #[arg(long, env = "BLACKHOLE_ADMIN_LISTEN", default_value = "0.0.0.0:9556")]
    pub admin_listen: SocketAddr,

    /// Durable queue shared by all ingest replicas (single active consumer).
    #[arg(long, env = "BLACKHOLE_QUEUE", default_value = "blackhole.ingest")]
    pub queue: String,

    /// EXCHANGE:ROUTING_KEY bindings of the queue, repeatable (or comma-separated in the
    /// environment). Replaces the default set, which covers calls, conferences, faxes and
    /// document changes.
    #[arg(long = "bind", env = "BLACKHOLE_BIND", value_delimiter = ',', default_values_t = DEFAULT_BINDINGS.iter().map(|s| s.to_string()))]
    pub bindings: Vec<String>,

    /// Unacknowledged messages the broker may hand over at once; also the largest batch
    /// published to Redis in one round trip.
    #[arg(long, env = "BLACKHOLE_PREFETCH", default_value_t = 500)]
    pub prefetch: u16,

    /// Larger AMQP messages are refused (counted, logged and acked or dead-lettered).
    #[arg(long, env = "BLACKHOLE_MAX_EVENT_BYTES", default_value_t = 1024 * 1024)]
    pub max_event_bytes: usize,

    /// Exchange to dead-letter refused messages to, instead of acking them. Set on the queue
    /// when it is first declared.
    #[arg(long, env = "BLACKHOLE_DEAD_LETTER_EXCHANGE")]
    pub dead_letter_exchange: Option<String>,

    /// Approximate number of recent events kept per account for replay.
    #[arg(long, env = "BLACKHOLE_STREAM_MAX_LEN", default_value_t = 1000)]
    pub stream_max_len: u64,

    /// Seconds an event stays in its account's replay stream; an idle account's stream expires
    /// after this long.
    #[arg(long, env = "BLACKHOLE_STREAM_RETENTION_SECS", default_value_t = 300)]
    pub stream_retention_secs: u64,

    /// Seconds allowed, after SIGTERM, to finish publishing what is in flight.
    #[arg(long, env = "BLACKHOLE_DRAIN_TIMEOUT_SECS", default_value_t = 30)]
    pub drain_timeout_secs: u64,

    /// Log format; the filter comes from RUST_LOG.
    #[arg(long, env = "BLACKHOLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// One entry per Kazoo zone.
    pub amqp_urls: Vec<Secret>,
    /// Where events are published.
    pub redis: RedisTarget,
    /// Channel and stream names.
    pub keyspace: Keyspace,
    /// Admin listener address.
    pub admin_listen: SocketAddr,
    /// Shared durable queue name.
    pub queue: String,
    /// Queue bindings.
    pub bindings: Vec<Binding>,
    /// Broker prefetch, and the largest Redis batch.
    pub prefetch: u16,
    /// Largest accepted message body.
    pub max_event_bytes: usize,
    /// Where refused messages go, if anywhere.
    pub dead_letter_exchange: Option<String>,
    /// Per-account replay stream limits.
    pub stream: StreamPolicy,
    /// Time allowed to finish in-flight work on shutdown.
    pub drain_timeout: Duration,
}

/// Redis deployment to publish to.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    /// Node URLs: one for a single Redis, seed nodes for a cluster.
    pub nodes: Vec<Secret>,
    /// Whether `nodes` are Redis Cluster seeds (SPUBLISH) or a single server (PUBLISH).
    pub cluster: bool,
}

/// How long an account's replay stream keeps events.
#[derive(Debug, Clone, Copy)]
pub struct StreamPolicy {
    /// Approximate cap on entries.
    pub max_len: u64,
    /// Age after which entries are trimmed and an idle stream expires.
    pub retention: Duration,
}

/// One queue binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Exchange name (declared as Kazoo declares it: topic, not durable, not auto-delete).
    pub exchange: String,
    /// Topic routing key pattern.
    pub routing_key: String,
    /// How messages of this exchange are routed.
    pub source: Source,
}

/// A URL that may carry a password: `Display` and `Debug` show it with the password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host… → scheme://user:***@host…
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                write!(
                    f,
                    "{}{}:***{}",
                    &self.0[..scheme_end + 3],
                    user,
                    &self.0[at..]
                )
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A configuration that cannot work. The message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An AMQP URL does not parse.
    #[error("--amqp-url: {url} is not a valid AMQP URL: {reason}")]
    AmqpUrl {
        /// The redacted URL.
        url: Secret,
        /// Why it does not parse.
        reason: String,
    },
    /// A Redis URL does not parse.
    #[error("--redis-url: {url} is not a valid Redis URL: {reason}")]
    RedisUrl {
        /// The redacted URL.
        url: Secret,
        /// Why it does not parse.
        reason: String,
    },
    /// Several Redis URLs without cluster mode.
    #[error("--redis-url: several URLs need --redis-cluster")]
    SeveralRedisWithoutCluster,
    /// A binding is not `EXCHANGE:ROUTING_KEY`.
    #[error("--bind: {0:?} is not EXCHANGE:ROUTING_KEY")]
    Binding(String),
    /// A numeric limit is out of range.
    #[error("--{flag}: {reason}")]
    Limit {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A name is empty.
    #[error("--{0} must not be empty")]
    Empty(&'static str),
}

impl Args {
    /// Checks everything that can be checked without connecting anywhere.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let amqp_urls = split_list(&self.amqp_url)
            .map(|url| {
                let secret = Secret(url.to_owned());
                url.parse::<lapin::uri::AMQPUri>()
                    .map(|_| secret.clone())
                    .map_err(|reason| ConfigError::AmqpUrl {
                        url: secret,
                        reason,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if amqp_urls.is_empty() {
            return Err(ConfigError::Empty("amqp-url"));
        }
        let redis_nodes = split_list(&self.redis_url)
            .map(|url| {
                let secret = Secret(url.to_owned());
                redis::Client::open(url)
                    .map(|_| secret.clone())
                    .map_err(|e| ConfigError::RedisUrl {
                        url: secret,
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if redis_nodes.is_empty() {
            return Err(ConfigError::Empty("redis-url"));
        }
        if redis_nodes.len() > 1 && !self.redis_cluster {
            return Err(ConfigError::SeveralRedisWithoutCluster);
        }
        let bindings = self
            .bindings
            .iter()
            .map(|raw| parse_binding(raw))
            .collect::<Result<Vec<_>, _>>()?;
        if bindings.is_empty() {
            return Err(ConfigError::Empty("bind"));
        }
        if self.queue.trim().is_empty() {
            return Err(ConfigError::Empty("queue"));
        }
        if self.redis_prefix.is_empty() {
            return Err(ConfigError::Empty("redis-prefix"));
        }
        if self.prefetch == 0 {
            return Err(ConfigError::Limit {
                flag: "prefetch",
                reason: "must be at least 1",
            });
        }
        if self.max_event_bytes == 0 {
            return Err(ConfigError::Limit {
                flag: "max-event-bytes",
                reason: "must be at least 1",
            });
        }
        if self.stream_max_len == 0 {
            return Err(ConfigError::Limit {
                flag: "stream-max-len",
                reason: "must be at least 1",
            });
        }
        if self.stream_retention_secs == 0 {
            return Err(ConfigError::Limit {
                flag: "stream-retention-secs",
                reason: "must be at least 1",
            });
        }
        Ok(Config {
            amqp_urls,
            redis: RedisTarget {
                nodes: redis_nodes,
                cluster: self.redis_cluster,
            },
            keyspace: Keyspace::new(self.redis_prefix),
            admin_listen: self.admin_listen,
            queue: self.queue,
            bindings,
            prefetch: self.prefetch,
            max_event_bytes: self.max_event_bytes,
            dead_letter_exchange: self.dead_letter_exchange.filter(|s| !s.is_empty()),
            stream: StreamPolicy {
                max_len: self.stream_max_len,
                retention: Duration::from_secs(self.stream_retention_secs),
            },
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
        })
    }
}

fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_binding(raw: &str) -> Result<Binding, ConfigError> {
    let (exchange, routing_key) = raw
        .split_once(':')
        .filter(|(e, k)| !e.trim().is_empty() && !k.trim().is_empty())
        .ok_or_else(|| ConfigError::Binding(raw.to_owned()))?;
    let exchange = exchange.trim().to_owned();
    Ok(Binding {
        source: Source::for_exchange(&exchange),
        routing_key: routing_key.trim().to_owned(),
        exchange,
    })
}

#[cfg(test)]
mod tests;
