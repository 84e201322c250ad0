//! Owns what an end-to-end test runs against: private Redis servers and clusters, a private
//! vhost on the RabbitMQ node that `scripts/test` starts, the project's binaries as child
//! processes, and the small probes (HTTP, Prometheus text, polling) used to watch them.
//!
//! Missing servers are a hard failure, never a skip: a suite that silently skips proves nothing.
//! Run everything through `./scripts/test`, which installs and starts what is needed.

mod admin;
mod http;
mod metrics;
mod process;
mod rabbitmq;
mod redis;
mod redis_cluster;
mod scratch;
mod wait;

pub use self::admin::{metric, wait_ready};
pub use self::http::http_get;
pub use self::metrics::metric_value;
pub use self::process::{ChildProcess, binary};
pub use self::rabbitmq::RabbitVhost;
pub use self::redis::RedisServer;
pub use self::redis_cluster::RedisCluster;
pub use self::scratch::free_port;
pub use self::wait::wait_until;
