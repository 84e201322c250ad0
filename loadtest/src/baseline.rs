//! Owns the baseline: how fast a bare lapin consumer drains the same broker with the same queue
//! shape, payloads and prefetch as ingest, acking the way ingest acks (one multiple-ack per batch
//! of what has already arrived) but doing nothing else. Ingest cannot beat this number on the
//! same machine; the gap is what ingest's own work (parse, route, Redis) costs.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{FutureExt, StreamExt};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};

use crate::amqp::{self, Broker};
use crate::kazoo::{CALL_BINDING, EventFactory};
use crate::procfs::{CpuClock, CpuSpent};

/// The baseline's own exchange and queue, so that it never touches ingest's.
const EXCHANGE: &str = "blackhole.bench";
const QUEUE: &str = "blackhole.bench.baseline";

/// What the baseline measured.
pub(crate) struct BaselineResult {
    /// Time to pre-publish every message with confirms (not part of the rate).
    pub(crate) publish: Duration,
    /// First delivery to the last ack.
    pub(crate) consume: Duration,
    pub(crate) messages: u64,
    /// CPU time spent while consuming; `own` is the consumer's.
    pub(crate) cpu: CpuSpent,
}

impl BaselineResult {
    pub(crate) fn msgs_per_s(&self) -> f64 {
        self.messages as f64 / self.consume.as_secs_f64()
    }
}

/// Fills a queue with `count` events, then drains it with prefetch `prefetch`. `broker_pid`,
/// if known, is the broker's VM, whose CPU time is then measured too.
pub(crate) async fn run(
    amqp_url: &str,
    factory: &EventFactory,
    count: u64,
    prefetch: u16,
    broker_pid: Option<u32>,
    stall_timeout: Duration,
) -> anyhow::Result<BaselineResult> {
    let broker = Broker::connect(amqp_url).await?;
    broker.declare_kazoo_exchange(EXCHANGE).await?;
    broker
        .declare_ingest_queue(QUEUE, EXCHANGE, CALL_BINDING)
        .await?;
    // Our own queue: whatever an interrupted run left in it would skew the count.
    broker.purge(QUEUE).await?;
    let publish = broker.publish(EXCHANGE, factory, count).await?;
    broker
        .wait_depth(QUEUE, u32::try_from(count)?, stall_timeout)
        .await?;

    let clock = CpuClock::start(broker_pid)?;
    let (consume, messages) = consume(amqp_url, count, prefetch, stall_timeout).await?;
    let cpu = clock.stop()?;

    let left = broker.depth(QUEUE).await?;
    if left != 0 {
        bail!("{left} messages left in {QUEUE} after the baseline consumer acked {messages}");
    }
    broker.delete(QUEUE).await?;
    broker.close().await;
    Ok(BaselineResult {
        publish,
        consume,
        messages,
        cpu,
    })
}

/// Consumes `count` messages on a connection of its own, as ingest does. Returns the time from
/// the first delivery to the last ack, and the messages acked.
async fn consume(
    amqp_url: &str,
    count: u64,
    prefetch: u16,
    stall_timeout: Duration,
) -> anyhow::Result<(Duration, u64)> {
    let connection = amqp::connect(amqp_url, "blackhole-loadtest baseline consumer").await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            ShortString::from(QUEUE),
            ShortString::from("blackhole-loadtest-baseline"),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let max_batch = usize::from(prefetch);
    let mut acked = 0u64;
    let mut first_delivery = None;
    while acked < count {
        let next = tokio::time::timeout(stall_timeout, consumer.next())
            .await
            .with_context(|| format!("no delivery for {stall_timeout:?} after {acked} acks"))?;
        let mut last_tag = match next {
            Some(delivery) => delivery?.delivery_tag,
            None => bail!("the broker ended the consumer after {acked} acks"),
        };
        first_delivery.get_or_insert_with(Instant::now);
        let mut batch = 1;
        // Take whatever else has already arrived, as ingest does, and settle it with one ack.
        while batch < max_batch {
            match consumer.next().now_or_never() {
                Some(Some(delivery)) => {
                    last_tag = delivery?.delivery_tag;
                    batch += 1;
                }
                Some(None) => bail!("the broker ended the consumer"),
                None => break,
            }
        }
        channel
            .basic_ack(last_tag, BasicAckOptions { multiple: true })
            .await?;
        acked += batch as u64;
    }
    let elapsed = first_delivery.map_or(Duration::ZERO, |t| t.elapsed());
    let _ = channel.close(200, ShortString::from("done")).await;
    let _ = connection.close(200, ShortString::from("done")).await;
    Ok((elapsed, acked))
}
