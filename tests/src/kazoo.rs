//! Plays Kazoo's part on AMQP: declares its exchanges the way Kazoo does and publishes events
//! with Kazoo's routing keys, using publisher confirms so a test knows the broker has them.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

/// The account of the real call samples in `testdata/kazoo/`.
pub const SAMPLE_ACCOUNT: &str = "4b8c6fec4b2597882c0390202d195419";
/// The call id of the real call samples.
pub const SAMPLE_CALL_ID: &str = "at6dmu4ffk97vnlp6qfq";

/// A real Kazoo payload from `testdata/kazoo/`, byte for byte.
pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/kazoo/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The three call samples with the routing keys Kazoo publishes them with, in call order.
pub fn call_samples() -> Vec<(String, Vec<u8>)> {
    ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY"]
        .into_iter()
        .map(|event| {
            (
                format!("call.{event}.{SAMPLE_CALL_ID}"),
                sample(&format!("amqp_call_{event}.json")),
            )
        })
        .collect()
}

/// A minimal call event of `account` carrying a sequence number, for counting and ordering.
pub fn numbered_call_event(account: &str, event: &str, seq: u64) -> (String, Vec<u8>) {
    let call_id = format!("call-{seq}");
    let body = serde_json::json!({
        "Event-Category": "call_event",
        "Event-Name": event,
        "Call-ID": call_id,
        "Custom-Channel-Vars": {"Account-ID": account},
        "Test-Seq": seq,
    });
    (
        format!("call.{event}.{call_id}"),
        serde_json::to_vec(&body).unwrap(),
    )
}

/// A publisher connected to one vhost.
pub struct KazooPublisher {
    _connection: Connection,
    channel: Channel,
}

impl KazooPublisher {
    /// Connects and declares `callevt`, `conference`, `faxes` and `configuration` as Kazoo does:
    /// topic, not durable, not auto-delete.
    pub async fn connect(amqp_url: &str) -> Self {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("connect to RabbitMQ: {e}"));
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        for exchange in ["callevt", "conference", "faxes", "configuration"] {
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
                .await
                .unwrap();
        }
        Self {
            _connection: connection,
            channel,
        }
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(routing_key),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_content_type(ShortString::from("application/json")),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Publishes many messages, then waits for all confirms at once.
    pub async fn publish_all(&self, exchange: &str, messages: &[(String, Vec<u8>)]) {
        for (key, body) in messages {
            let _confirm = self
                .channel
                .basic_publish(
                    ShortString::from(exchange),
                    ShortString::from(key.as_str()),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default(),
                )
                .await
                .unwrap();
        }
        self.channel.wait_for_confirms().await.unwrap();
    }
}

/// Messages ready in `queue` (not counting those delivered and not yet acked).
pub async fn queue_depth(amqp_url: &str, queue: &str) -> u32 {
    let connection = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = channel
        .queue_declare(
            ShortString::from(queue),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    queue.message_count()
}
