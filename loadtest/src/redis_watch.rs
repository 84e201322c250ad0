//! Owns the benchmark's view of Redis: a pattern subscriber that counts the events ingest
//! publishes on every account channel (proof that all of them arrived), and the CPU time Redis
//! reports for itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use blackhole_bus::Envelope;
use bytes::Bytes;
use futures_util::StreamExt;

/// One message in this many is decoded as an envelope, to catch a wrong wire format without
/// making the subscriber a noticeable consumer of the CPU it shares with ingest.
const DECODE_EVERY: u64 = 1000;

/// Counts messages on the channels matching a pattern, from the moment it is created.
pub(crate) struct ChannelCounter {
    state: Arc<CounterState>,
    task: tokio::task::JoinHandle<()>,
}

struct CounterState {
    base: Instant,
    count: AtomicU64,
    /// Nanoseconds after `base` at which the latest message arrived.
    last_at_nanos: AtomicU64,
    /// Set when the subscription ended (Redis closed it, e.g. the output buffer limit) or a
    /// message was not a valid envelope; the count is then no proof of anything.
    failed: AtomicBool,
}

impl ChannelCounter {
    /// `PSUBSCRIBE pattern`, confirmed before this returns.
    pub(crate) async fn psubscribe(redis_url: &str, pattern: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(redis_url).context("Redis URL")?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .context("connect the Redis subscriber")?;
        pubsub
            .psubscribe(pattern)
            .await
            .with_context(|| format!("PSUBSCRIBE {pattern}"))?;
        let state = Arc::new(CounterState {
            base: Instant::now(),
            count: AtomicU64::new(0),
            last_at_nanos: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        });
        let counting = state.clone();
        let task = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let n = counting.count.fetch_add(1, Ordering::Relaxed) + 1;
                let nanos = counting.base.elapsed().as_nanos() as u64;
                counting.last_at_nanos.store(nanos, Ordering::Relaxed);
                if n % DECODE_EVERY == 1 {
                    let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                    if let Err(e) = Envelope::decode(payload) {
                        eprintln!(
                            "message {n} on {} is no envelope: {e}",
                            message.get_channel_name()
                        );
                        counting.failed.store(true, Ordering::Relaxed);
                    }
                }
            }
            counting.failed.store(true, Ordering::Relaxed);
        });
        Ok(Self { state, task })
    }

    pub(crate) fn count(&self) -> u64 {
        self.state.count.load(Ordering::Relaxed)
    }

    /// When the latest message arrived.
    pub(crate) fn last_message_at(&self) -> Option<Instant> {
        (self.count() > 0).then(|| {
            self.state.base + Duration::from_nanos(self.state.last_at_nanos.load(Ordering::Relaxed))
        })
    }

    /// Waits until `expected` messages were counted.
    pub(crate) async fn wait_for(&self, expected: u64, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.failed.load(Ordering::Relaxed) {
                bail!(
                    "the Redis subscriber failed after {} messages (subscription closed, or a \
                     message was not an envelope)",
                    self.count()
                );
            }
            let count = self.count();
            if count >= expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the Redis subscriber saw {count} of {expected} messages in {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChannelCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU seconds (user + system) Redis has used since it started, from `INFO cpu`.
pub(crate) async fn redis_cpu_seconds(redis_url: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(redis_url).context("Redis URL")?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .context("connect to Redis")?;
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut connection)
        .await
        .context("INFO cpu")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        info.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(':')?
                    .trim()
                    .parse()
                    .ok()
            })
            .with_context(|| format!("{name} in INFO cpu"))
    };
    Ok(field("used_cpu_user")? + field("used_cpu_sys")?)
}

/// One line of `INFO commandstats`: how often a command ran and the CPU time it took inside
/// Redis. Commands run by a script are counted on their own too, so for the publish script the
/// `evalsha` line is the whole script and the others show where its time goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommandStat {
    pub(crate) command: String,
    pub(crate) calls: u64,
    pub(crate) usec_per_call: f64,
}

/// `INFO commandstats` of the commands that ran at least `min_calls` times, busiest first.
pub(crate) async fn redis_command_stats(
    redis_url: &str,
    min_calls: u64,
) -> anyhow::Result<Vec<CommandStat>> {
    let client = redis::Client::open(redis_url).context("Redis URL")?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .context("connect to Redis")?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .context("INFO commandstats")?;
    let mut stats: Vec<CommandStat> = info
        .lines()
        .filter_map(parse_command_stat)
        .filter(|stat| stat.calls >= min_calls)
        .collect();
    stats.sort_by(|a, b| {
        (b.usec_per_call * b.calls as f64).total_cmp(&(a.usec_per_call * a.calls as f64))
    });
    Ok(stats)
}

/// `cmdstat_xadd:calls=3,usec=25,usec_per_call=8.33,rejected_calls=0,failed_calls=0`
fn parse_command_stat(line: &str) -> Option<CommandStat> {
    let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
    let field = |key: &str| {
        fields
            .split(',')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    Some(CommandStat {
        command: name.to_owned(),
        calls: field("calls")?.parse().ok()?,
        usec_per_call: field("usec_per_call")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests;
