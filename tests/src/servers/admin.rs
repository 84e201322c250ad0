//! Owns what tests ask a Blackhole binary's admin listener: readiness and metric values.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ChildProcess, http_get, metric_value, wait_until};

/// Waits until `admin`'s `/readyz` answers 200; panics with `process`'s output otherwise.
pub async fn wait_ready(admin: SocketAddr, process: &ChildProcess, what: &str, timeout: Duration) {
    let ready = wait_until(timeout, || async {
        matches!(http_get(admin, "/readyz").await, Some((200, _)))
    })
    .await;
    assert!(
        ready,
        "{what} not ready within {timeout:?}; its output:\n{}",
        process.logs()
    );
}

/// The value of a metric on `admin` (summed over series matching `labels`), 0 if absent.
pub async fn metric(admin: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, body) = http_get(admin, "/metrics")
        .await
        .unwrap_or_else(|| panic!("scrape {admin}"));
    metric_value(&body, name, labels).unwrap_or(0.0)
}
