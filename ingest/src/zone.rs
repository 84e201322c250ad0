//! One Kazoo zone: a connection to its broker, the shared durable queue, and the consume loop
//! that publishes each batch to Redis before acknowledging it.
//!
//! Invariants:
//! - a message is acked only after Redis accepted it; refused messages (not JSON, no account,
//!   oversized) are counted, logged once and acked, or dead-lettered when a DLX is configured,
//!   so no message loops forever;
//! - while Redis is failing, the batch in hand is retried and nothing newer is taken: the
//!   broker's prefetch window stays full, so it stops delivering rather than ingest buffering;
//! - on shutdown, consuming stops first, the batch in hand is finished, then the channel closes
//!   (anything not acked goes back to the queue for the standby replica).

use std::sync::Arc;
use std::time::Duration;

use blackhole_ops::backoff::Backoff;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind, message::Delivery};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Secret};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::prepare::{PreparedEvent, prepare};
use crate::publisher::{Cancelled, Publisher, unix_ms};

/// How a session with the broker ended.
enum SessionEnd {
    /// Shutdown was requested and the session wound down cleanly.
    Shutdown,
}

/// A failure that ends a session; the zone reconnects after a backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ZoneError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("the broker ended the consumer")]
    ConsumerEnded,
}

/// Consumes one zone's queue until shutdown.
pub(crate) struct Zone {
    index: usize,
    url: Secret,
    config: Arc<Config>,
    publisher: Publisher,
    metrics: Metrics,
    health: Arc<Health>,
}

impl Zone {
    pub(crate) fn new(
        index: usize,
        url: Secret,
        config: Arc<Config>,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        let publisher = Publisher::new(
            config.redis.clone(),
            config.keyspace.clone(),
            config.stream,
            metrics.clone(),
            health.clone(),
        );
        Self {
            index,
            url,
            config,
            publisher,
            metrics,
            health,
        }
    }

    /// Runs sessions with the broker until shutdown, reconnecting after failures.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            // Redis first: consuming while Redis is away would only fill the prefetch window.
            if self.publisher.ensure_connected(&shutdown).await.is_err() {
                return;
            }
            let result = self.session(&shutdown, &mut backoff).await;
            self.health.set_consuming(self.index, false);
            self.health.set_connected(self.index, false);
            match result {
                Ok(SessionEnd::Shutdown) => return,
                Err(e) => {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    self.metrics.amqp_reconnects.inc();
                    let delay = backoff.next_delay();
                    tracing::warn!(zone = self.index, broker = %self.url, error = %e, retry_in = ?delay, "AMQP session ended; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn session(
        &mut self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<SessionEnd, ZoneError> {
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(
            format!("blackhole-ingest zone {}", self.index),
        ));
        let connection = Connection::connect(self.url.expose(), properties).await?;
        self.health.set_connected(self.index, true);
        let channel = connection.create_channel().await?;
        let consumer = self.declare_and_consume(&channel).await?;
        self.health.set_consuming(self.index, true);
        backoff.reset();
        tracing::info!(zone = self.index, broker = %self.url, queue = %self.config.queue, "consuming (active, or standing by for the active replica)");
        let result = self.consume(&channel, consumer, shutdown).await;
        // Closing returns anything unacked to the queue at once, for the standby replica.
        let _ = channel.close(200, ShortString::from("shutting down")).await;
        let _ = connection
            .close(200, ShortString::from("shutting down"))
            .await;
        result
    }

    async fn declare_and_consume(&self, channel: &Channel) -> Result<Consumer, lapin::Error> {
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await?;
        let mut exchanges: Vec<&str> = self
            .config
            .bindings
            .iter()
            .map(|b| b.exchange.as_str())
            .collect();
        exchanges.sort_unstable();
        exchanges.dedup();
        for exchange in exchanges {
            // As Kazoo declares them, so that either side may start first.
            channel
                .exchange_declare(
                    ShortString::from(exchange),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: false,
                        auto_delete: false,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        let mut arguments = FieldTable::default();
        arguments.insert(
            ShortString::from("x-single-active-consumer"),
            AMQPValue::Boolean(true),
        );
        if let Some(dlx) = &self.config.dead_letter_exchange {
            arguments.insert(
                ShortString::from("x-dead-letter-exchange"),
                AMQPValue::LongString(LongString::from(dlx.as_str())),
            );
        }
        let queue = ShortString::from(self.config.queue.as_str());
        channel
            .queue_declare(
                queue.clone(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await?;
        for binding in &self.config.bindings {
            channel
                .queue_bind(
                    queue.clone(),
                    ShortString::from(binding.exchange.as_str()),
                    ShortString::from(binding.routing_key.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let tag = ShortString::from(format!(
            "blackhole-ingest-{}-{}",
            std::process::id(),
            self.index
        ));
        let consumer = channel
            .basic_consume(
                queue,
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(consumer)
    }

    async fn consume(
        &mut self,
        channel: &Channel,
        mut consumer: Consumer,
        shutdown: &CancellationToken,
    ) -> Result<SessionEnd, ZoneError> {
        let max_batch = usize::from(self.config.prefetch);
        let mut batch: Vec<Delivery> = Vec::with_capacity(max_batch);
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    let _ = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
                    return Ok(SessionEnd::Shutdown);
                }
                next = consumer.next() => next,
            };
            let mut pending_error = None;
            match first {
                None => return Err(ZoneError::ConsumerEnded),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(delivery)) => batch.push(delivery),
            }
            // Take whatever else is already here: one Redis round trip for the lot.
            while batch.len() < max_batch {
                match consumer.next().now_or_never() {
                    Some(Some(Ok(delivery))) => batch.push(delivery),
                    Some(Some(Err(e))) => {
                        pending_error = Some(ZoneError::from(e));
                        break;
                    }
                    Some(None) => {
                        pending_error = Some(ZoneError::ConsumerEnded);
                        break;
                    }
                    None => break,
                }
            }
            match self.handle_batch(channel, &mut batch, shutdown).await {
                Ok(()) => {}
                Err(Cancelled) => {
                    // Shutdown while Redis was failing: nothing in hand was acked, so closing the
                    // channel returns it to the queue.
                    tracing::warn!(
                        zone = self.index,
                        unacked = batch.len(),
                        "shutting down before Redis accepted the batch in hand; it returns to the queue"
                    );
                    return Ok(SessionEnd::Shutdown);
                }
            }
            batch.clear();
            if let Some(e) = pending_error {
                return Err(e);
            }
        }
    }

    async fn handle_batch(
        &mut self,
        channel: &Channel,
        batch: &mut [Delivery],
        shutdown: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let now_ms = unix_ms();
        let mut events: Vec<PreparedEvent> = Vec::with_capacity(batch.len());
        let mut last_ackable = None;
        for delivery in batch.iter_mut() {
            let body = Bytes::from(std::mem::take(&mut delivery.data));
            let size = body.len();
            match prepare(
                delivery.exchange.as_str(),
                delivery.routing_key.as_str(),
                body,
                self.config.max_event_bytes,
                now_ms,
            ) {
                Ok(event) => {
                    events.push(event);
                    last_ackable = Some(delivery.delivery_tag);
                }
                Err(rejection) => {
                    self.metrics.message(rejection.reason());
                    let dead_letter = self.config.dead_letter_exchange.is_some();
                    tracing::warn!(
                        zone = self.index,
                        exchange = %delivery.exchange,
                        routing_key = %delivery.routing_key,
                        bytes = size,
                        reason = rejection.reason(),
                        detail = %rejection,
                        settled = if dead_letter { "dead-lettered" } else { "acked" },
                        "refused an AMQP message"
                    );
                    if dead_letter {
                        self.metrics.dead_lettered.inc();
                        let nack = BasicNackOptions {
                            multiple: false,
                            requeue: false,
                        };
                        if let Err(e) = channel.basic_nack(delivery.delivery_tag, nack).await {
                            tracing::warn!(zone = self.index, error = %e, "could not dead-letter a refused message; the broker will redeliver it");
                        }
                    } else {
                        last_ackable = Some(delivery.delivery_tag);
                    }
                }
            }
        }
        self.publisher.publish_all(&events, shutdown).await?;
        self.metrics.published(events.len() as u64);
        if let Some(tag) = last_ackable {
            // One ack settles everything up to `tag` that is still outstanding.
            if let Err(e) = channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await
            {
                // The channel is gone: the broker redelivers, and Redis may see these twice.
                tracing::warn!(zone = self.index, error = %e, "could not ack a published batch; it will be redelivered");
            }
        }
        Ok(())
    }
}
