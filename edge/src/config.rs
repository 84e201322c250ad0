//! Command line and environment → a validated [`Config`], before any port is bound.
//!
//! Every flag has an environment variable (`BLACKHOLE_` + the flag in upper snake case); a flag
//! on the command line wins. Every limit has a safe default and a metric counting refusals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use blackhole_bus::Keyspace;
use blackhole_ops::telemetry::LogFormat;
use clap::Parser;

use crate::auth::AuthConfig;
use crate::proxy_protocol::TrustedNetworks;
use crate::tls::TlsFiles;

/// `blackhole-edge`: serves Kazoo's real-time events to websocket clients of every Blackhole
/// generation (socket.io 0.9, Socket.IO 1.x–4.x, Kazoo 4.x JSON) on one port.
#[derive(Debug, Parser)]
#[command(name = "blackhole-edge", version, about)]
pub struct Args {
    /// Plain HTTP and websocket listener.
    #[arg(long, env = "BLACKHOLE_LISTEN", default_value = "0.0.0.0:5555")]
    pub listen: SocketAddr,

    /// TLS listener (https and wss); needs --tls-cert and --tls-key.
    #[arg(long, env = "BLACKHOLE_TLS_LISTEN", requires_all = ["tls_cert", "tls_key"])]
    pub tls_listen: Option<SocketAddr>,

    /// PEM certificate chain, leaf first; re-read when it changes and on SIGHUP.
    #[arg(long, env = "BLACKHOLE_TLS_CERT", requires = "tls_listen")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, RSA or EC); re-read with the certificate.
    #[arg(long, env = "BLACKHOLE_TLS_KEY", requires = "tls_listen")]
    pub tls_key: Option<PathBuf>,

    /// Seconds allowed for a TLS handshake (and a PROXY protocol header) before the connection
    /// is dropped.
    #[arg(
        long,
        env = "BLACKHOLE_TLS_HANDSHAKE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub tls_handshake_timeout_secs: u64,

    /// Comma-separated networks (CIDR) of trusted L4 load balancers that send a PROXY protocol
    /// (v1 or v2) header; connections from them are attributed to the client in the header.
    #[arg(long, env = "BLACKHOLE_PROXY_PROTOCOL_FROM")]
    pub proxy_protocol_from: Option<TrustedNetworks>,

    /// Admin listener (/metrics, /healthz, /readyz).
    #[arg(long, env = "BLACKHOLE_ADMIN_LISTEN", default_value = "0.0.0.0:9555")]
    pub admin_listen: SocketAddr,

    /// Redis URL; with --redis-cluster, comma-separated seed nodes.
    #[arg(
        long,
        env = "BLACKHOLE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Treat --redis-url as a Redis Cluster (sharded pub/sub).
    #[arg(long, env = "BLACKHOLE_REDIS_CLUSTER")]
    pub redis_cluster: bool,

    /// Prefix of every Redis channel and stream name (as given to ingest).
    #[arg(long, env = "BLACKHOLE_REDIS_PREFIX", default_value = Keyspace::DEFAULT_PREFIX)]
    pub redis_prefix: String,

    /// Static token file (JSON; reloaded when it changes).
    #[arg(long, env = "BLACKHOLE_AUTH_TOKENS")]
    pub auth_tokens: Option<PathBuf>,

    /// Kazoo JWT public keys: a directory of <kid>.pem files, or a JWKS file.
    #[arg(long, env = "BLACKHOLE_AUTH_JWT_KEYS")]
    pub auth_jwt_keys: Option<PathBuf>,

    /// Kazoo Crossbar API base URL (e.g. http://kazoo:8000/v2) to validate tokens against.
    #[arg(long, env = "BLACKHOLE_AUTH_CROSSBAR_URL")]
    pub auth_crossbar_url: Option<String>,

    /// Demo mode: no Redis, synthetic Kazoo traffic, demo tokens printed at start.
    #[arg(long, env = "BLACKHOLE_DEMO")]
    pub demo: bool,

    /// Path of the Socket.IO endpoints.
    #[arg(long, env = "BLACKHOLE_SOCKETIO_PATH", default_value = "/socket.io")]
    pub socketio_path: String,

    /// Connections accepted in total; more are refused.
    #[arg(long, env = "BLACKHOLE_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// TCP connections per client IP; more are answered with 429.
    #[arg(
        long,
        env = "BLACKHOLE_MAX_CONNECTIONS_PER_IP",
        default_value_t = 1_000
    )]
    pub max_connections_per_ip: usize,

    /// Bindings one socket may hold.
    #[arg(long, env = "BLACKHOLE_MAX_BINDINGS_PER_SOCKET", default_value_t = 100)]
    pub max_bindings_per_socket: usize,

    /// Largest websocket message or polling packet a client may send, in bytes.
    #[arg(long, env = "BLACKHOLE_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest HTTP request body (polling POST), in bytes.
    #[arg(long, env = "BLACKHOLE_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Requests a socket may make in a burst (token bucket size), as Kazoo's Blackhole.
    #[arg(long, env = "BLACKHOLE_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,

    /// Requests per second refilled into each socket's bucket.
    #[arg(long, env = "BLACKHOLE_RATE_PER_SEC", default_value_t = 10)]
    pub rate_per_sec: u32,

    /// Frames queued for one socket before it is disconnected as too slow.
    #[arg(long, env = "BLACKHOLE_OUTBOX_FRAMES", default_value_t = 1_024)]
    pub outbox_frames: usize,

    /// Seconds a socket may stay without a successful subscription before it is closed.
    #[arg(long, env = "BLACKHOLE_AUTH_TIMEOUT_SECS", default_value_t = 60)]
    pub auth_timeout_secs: u64,

    /// Engine.IO ping interval in milliseconds.
    #[arg(long, env = "BLACKHOLE_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,

    /// Engine.IO ping timeout in milliseconds.
    #[arg(long, env = "BLACKHOLE_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,

    /// Seconds over which sockets are closed, at a paced rate, after SIGTERM.
    #[arg(long, env = "BLACKHOLE_DRAIN_SECS", default_value_t = 10)]
    pub drain_secs: u64,

    /// Log format; the filter comes from RUST_LOG.
    #[arg(long, env = "BLACKHOLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Where the edge's events come from.
#[derive(Debug, Clone)]
pub enum EventSource {
    /// A Redis server or cluster fed by ingest.
    Redis {
        /// Node URLs.
        nodes: Vec<String>,
        /// Cluster mode (SSUBSCRIBE).
        cluster: bool,
    },
    /// The in-process demo generator.
    Demo,
}

/// The TLS listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Address of the https/wss listener.
    pub listen: SocketAddr,
    /// Certificate chain and key.
    pub files: TlsFiles,
    /// Time allowed for the handshake.
    pub handshake_timeout: Duration,
}

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total connections.
    pub max_connections: usize,
    /// Connections per client IP.
    pub max_connections_per_ip: usize,
    /// Bindings per socket.
    pub max_bindings_per_socket: usize,
    /// Largest client message.
    pub max_frame_bytes: usize,
    /// Largest HTTP body.
    pub max_body_bytes: usize,
    /// Token bucket size.
    pub rate_burst: u32,
    /// Token bucket refill per second.
    pub rate_per_sec: u32,
    /// Outbox capacity in frames.
    pub outbox_frames: usize,
    /// Time allowed to subscribe successfully.
    pub auth_timeout: Duration,
    /// Engine.IO ping interval.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout.
    pub ping_timeout: Duration,
}

/// A validated configuration. The authenticator flags are checked when [`crate::Edge::bind`]
/// loads them, still before any port is bound.
#[derive(Debug, Clone)]
pub struct Config {
    /// Public listener.
    pub listen: SocketAddr,
    /// TLS listener, if any.
    pub tls: Option<TlsConfig>,
    /// Load balancers trusted to send PROXY protocol headers.
    pub proxy_protocol_from: Option<Arc<TrustedNetworks>>,
    /// Time allowed for a PROXY header and a TLS handshake, on every listener.
    pub handshake_timeout: Duration,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Event source.
    pub source: EventSource,
    /// Redis names.
    pub keyspace: Keyspace,
    /// Authenticators.
    pub auth: AuthConfig,
    /// Demo mode: no Redis, synthetic traffic, demo tokens.
    pub demo: bool,
    /// Socket.IO path, without a trailing slash.
    pub socketio_path: String,
    /// Limits.
    pub limits: Limits,
    /// Drain window after SIGTERM.
    pub drain: Duration,
}

/// A configuration that cannot work; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A Redis URL does not parse.
    #[error("--redis-url: not a valid Redis URL: {0}")]
    RedisUrl(String),
    /// Several Redis URLs without cluster mode.
    #[error("--redis-url: several URLs need --redis-cluster")]
    SeveralRedisWithoutCluster,
    /// The Socket.IO path is not absolute.
    #[error("--socketio-path: {0:?} must start with '/'")]
    SocketIoPath(String),
    /// A limit is out of range.
    #[error("--{flag}: {reason}")]
    Limit {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Args {
    /// Checks everything that can be checked without connecting anywhere.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let source = if self.demo {
            EventSource::Demo
        } else {
            let nodes: Vec<String> = self
                .redis_url
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for node in &nodes {
                redis::Client::open(node.as_str())
                    .map_err(|e| ConfigError::RedisUrl(e.to_string()))?;
            }
            if nodes.is_empty() {
                return Err(ConfigError::RedisUrl("empty".into()));
            }
            if nodes.len() > 1 && !self.redis_cluster {
                return Err(ConfigError::SeveralRedisWithoutCluster);
            }
            EventSource::Redis {
                nodes,
                cluster: self.redis_cluster,
            }
        };
        let auth = AuthConfig {
            tokens_file: self.auth_tokens,
            jwt_keys: self.auth_jwt_keys,
            crossbar_url: self.auth_crossbar_url.filter(|s| !s.is_empty()),
            ..AuthConfig::default()
        };
        if !self.socketio_path.starts_with('/') {
            return Err(ConfigError::SocketIoPath(self.socketio_path));
        }
        let positive = |flag: &'static str, value: u64| {
            if value == 0 {
                Err(ConfigError::Limit {
                    flag,
                    reason: "must be at least 1",
                })
            } else {
                Ok(())
            }
        };
        positive("max-connections", self.max_connections as u64)?;
        positive("max-connections-per-ip", self.max_connections_per_ip as u64)?;
        positive(
            "max-bindings-per-socket",
            self.max_bindings_per_socket as u64,
        )?;
        positive("max-frame-bytes", self.max_frame_bytes as u64)?;
        positive("max-body-bytes", self.max_body_bytes as u64)?;
        positive("rate-burst", u64::from(self.rate_burst))?;
        positive("rate-per-sec", u64::from(self.rate_per_sec))?;
        positive("outbox-frames", self.outbox_frames as u64)?;
        positive("auth-timeout-secs", self.auth_timeout_secs)?;
        positive("ping-interval-ms", self.ping_interval_ms)?;
        positive("ping-timeout-ms", self.ping_timeout_ms)?;
        let socketio_path = self.socketio_path.trim_end_matches('/').to_owned();
        positive(
            "tls-handshake-timeout-secs",
            self.tls_handshake_timeout_secs,
        )?;
        let tls = match (self.tls_listen, self.tls_cert, self.tls_key) {
            (Some(listen), Some(cert), Some(key)) => Some(TlsConfig {
                listen,
                files: TlsFiles::new(cert, key),
                handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_secs),
            }),
            _ => None,
        };
        Ok(Config {
            listen: self.listen,
            tls,
            handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_secs),
            proxy_protocol_from: self
                .proxy_protocol_from
                .filter(|n| !n.is_empty())
                .map(Arc::new),
            admin_listen: self.admin_listen,
            source,
            keyspace: Keyspace::new(self.redis_prefix),
            auth,
            demo: self.demo,
            socketio_path: if socketio_path.is_empty() {
                "/socket.io".into()
            } else {
                socketio_path
            },
            limits: Limits {
                max_connections: self.max_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                max_bindings_per_socket: self.max_bindings_per_socket,
                max_frame_bytes: self.max_frame_bytes,
                max_body_bytes: self.max_body_bytes,
                rate_burst: self.rate_burst,
                rate_per_sec: self.rate_per_sec,
                outbox_frames: self.outbox_frames,
                auth_timeout: Duration::from_secs(self.auth_timeout_secs),
                ping_interval: Duration::from_millis(self.ping_interval_ms),
                ping_timeout: Duration::from_millis(self.ping_timeout_ms),
            },
            drain: Duration::from_secs(self.drain_secs),
        })
    }
}
