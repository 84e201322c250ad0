//! Owns polling: waiting for a condition with a deadline, the one way tests wait for servers
//! and processes to reach a state.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `f` until it returns true or `timeout` passes; checks once more at the deadline so a
/// slow poll cannot miss it. Returns whether the condition was met.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests;
