//! Owns the benchmark's side of RabbitMQ: exchanges declared as Kazoo declares them, queues
//! declared exactly as ingest declares its own, publishing with confirms, and queue depths.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::kazoo::EventFactory;

/// Messages published before waiting for their confirms: enough to keep the connection busy,
/// few enough that a nack is reported close to its cause.
const CONFIRM_WINDOW: u64 = 2000;

/// One connection and one confirming channel to the broker under test.
pub(crate) struct Broker {
    connection: Connection,
    channel: Channel,
}

impl Broker {
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Self> {
        let connection = connect(url, "blackhole-loadtest").await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// As Kazoo declares its exchanges: topic, not durable, not auto-delete.
    pub(crate) async fn declare_kazoo_exchange(&self, exchange: &str) -> anyhow::Result<()> {
        self.channel
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
            .await
            .with_context(|| format!("declare exchange {exchange}"))
    }

    /// Declares `queue` as ingest declares its queue (`ingest/src/zone.rs`: durable, single
    /// active consumer, no dead-letter exchange) and binds it to `exchange` with `binding`.
    /// Returns the messages already in it.
    pub(crate) async fn declare_ingest_queue(
        &self,
        queue: &str,
        exchange: &str,
        binding: &str,
    ) -> anyhow::Result<u32> {
        let mut arguments = FieldTable::default();
        arguments.insert(
            ShortString::from("x-single-active-consumer"),
            AMQPValue::Boolean(true),
        );
        let declared = self
            .channel
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .with_context(|| format!("declare queue {queue} as ingest does"))?;
        self.channel
            .queue_bind(
                ShortString::from(queue),
                ShortString::from(exchange),
                ShortString::from(binding),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("bind {queue} to {exchange} with {binding}"))?;
        Ok(declared.message_count())
    }

    /// Messages ready in `queue` (delivered but unacked ones are not counted).
    pub(crate) async fn depth(&self, queue: &str) -> anyhow::Result<u32> {
        let declared = self
            .channel
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("passive declare of {queue}"))?;
        Ok(declared.message_count())
    }

    pub(crate) async fn purge(&self, queue: &str) -> anyhow::Result<()> {
        self.channel
            .queue_purge(ShortString::from(queue), QueuePurgeOptions::default())
            .await
            .with_context(|| format!("purge {queue}"))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, queue: &str) -> anyhow::Result<()> {
        self.channel
            .queue_delete(ShortString::from(queue), QueueDeleteOptions::default())
            .await
            .with_context(|| format!("delete {queue}"))?;
        Ok(())
    }

    /// Publishes events `0..count` of `factory` to `exchange` and waits for every confirm.
    /// Fails if the broker nacks a message or cannot route it (they are published mandatory),
    /// so that afterwards the bound queue is known to hold all of them. Returns the time taken.
    pub(crate) async fn publish(
        &self,
        exchange: &str,
        factory: &EventFactory,
        count: u64,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut seq = 0;
        while seq < count {
            let window_end = (seq + CONFIRM_WINDOW).min(count);
            let mut confirms = Vec::with_capacity((window_end - seq) as usize);
            for seq in seq..window_end {
                let event = factory.event(seq);
                confirms.push(
                    self.channel
                        .basic_publish(
                            ShortString::from(exchange),
                            ShortString::from(event.routing_key),
                            BasicPublishOptions {
                                mandatory: true,
                                ..Default::default()
                            },
                            &event.body,
                            BasicProperties::default()
                                .with_content_type(ShortString::from("application/json")),
                        )
                        .await
                        .context("publish")?,
                );
            }
            for confirmation in join_all(confirms).await {
                let confirmation = confirmation.context("publisher confirm")?;
                if !confirmation.is_ack() {
                    bail!("the broker nacked a message published to {exchange}");
                }
                if confirmation.take_message().is_some() {
                    bail!("a message published to {exchange} reached no queue");
                }
            }
            seq = window_end;
        }
        Ok(started.elapsed())
    }

    /// Waits until `queue` holds `expected` ready messages.
    pub(crate) async fn wait_depth(
        &self,
        queue: &str,
        expected: u32,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let depth = self.depth(queue).await?;
            if depth == expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{queue} holds {depth} messages after {timeout:?}, expected {expected}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn close(self) {
        let _ = self.channel.close(200, ShortString::from("done")).await;
        let _ = self.connection.close(200, ShortString::from("done")).await;
    }
}

/// A connection named `name` in the broker's management views.
pub(crate) async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default()
        .with_connection_name(lapin::types::LongString::from(name.to_owned()));
    Connection::connect(url, properties)
        .await
        .with_context(|| format!("connect to RabbitMQ at {}", redact(url)))
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let user = url[scheme_end + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
