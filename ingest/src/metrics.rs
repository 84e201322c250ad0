//! Ingest's Prometheus metrics, registered once; hot paths hold resolved handles.
//!
//! No label ever holds an account, a call id or a URL: only outcomes, reasons and zone indexes.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric `blackhole-ingest` exports.
#[derive(Clone)]
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    messages: IntCounterVec,
    pub(crate) event_bytes: IntCounter,
    pub(crate) dead_lettered: IntCounter,
    pub(crate) redis_errors: IntCounterVec,
    pub(crate) redis_up: IntGauge,
    pub(crate) amqp_connected: IntGaugeVec,
    pub(crate) amqp_consuming: IntGaugeVec,
    pub(crate) amqp_reconnects: IntCounter,
    pub(crate) batch_events: Histogram,
    pub(crate) publish_seconds: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let messages = IntCounterVec::new(
            Opts::new(
                "blackhole_ingest_messages_total",
                "AMQP messages handled, by outcome: published, or the reason it was refused.",
            ),
            &["outcome"],
        )
        .unwrap();
        let event_bytes = IntCounter::new(
            "blackhole_ingest_event_bytes_total",
            "Bytes of event payloads published to Redis.",
        )
        .unwrap();
        let dead_lettered = IntCounter::new(
            "blackhole_ingest_dead_lettered_total",
            "Refused messages rejected to the dead-letter exchange instead of acked.",
        )
        .unwrap();
        let redis_errors = IntCounterVec::new(
            Opts::new(
                "blackhole_ingest_redis_errors_total",
                "Failed Redis operations, by operation (connect, publish); each is retried.",
            ),
            &["operation"],
        )
        .unwrap();
        let redis_up = IntGauge::new(
            "blackhole_ingest_redis_up",
            "1 while Redis answers, 0 while it does not.",
        )
        .unwrap();
        let amqp_connected = IntGaugeVec::new(
            Opts::new(
                "blackhole_ingest_amqp_connected",
                "1 while connected to the zone's broker.",
            ),
            &["zone"],
        )
        .unwrap();
        let amqp_consuming = IntGaugeVec::new(
            Opts::new(
                "blackhole_ingest_amqp_consuming",
                "1 while registered as a consumer of the zone's queue (active or standing by).",
            ),
            &["zone"],
        )
        .unwrap();
        let amqp_reconnects = IntCounter::new(
            "blackhole_ingest_amqp_reconnects_total",
            "AMQP sessions lost and re-established.",
        )
        .unwrap();
        let batch_events = Histogram::with_opts(
            HistogramOpts::new(
                "blackhole_ingest_batch_events",
                "Events published to Redis per round trip.",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
        )
        .unwrap();
        let publish_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "blackhole_ingest_publish_seconds",
                "Time to publish one batch to Redis, retries included.",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.5, 14).unwrap()),
        )
        .unwrap();
        for collector in [
            Box::new(messages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(event_bytes.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(redis_errors.clone()),
            Box::new(redis_up.clone()),
            Box::new(amqp_connected.clone()),
            Box::new(amqp_consuming.clone()),
            Box::new(amqp_reconnects.clone()),
            Box::new(batch_events.clone()),
            Box::new(publish_seconds.clone()),
        ] {
            registry.register(collector).unwrap();
        }
        // Pre-create the series so dashboards see zeros rather than gaps.
        for outcome in OUTCOMES {
            messages.with_label_values(&[outcome]);
        }
        for operation in ["connect", "publish"] {
            redis_errors.with_label_values(&[operation]);
        }
        Self {
            registry,
            messages,
            event_bytes,
            dead_lettered,
            redis_errors,
            redis_up,
            amqp_connected,
            amqp_consuming,
            amqp_reconnects,
            batch_events,
            publish_seconds,
        }
    }

    /// Counts one message by outcome (`published` or a refusal reason).
    pub(crate) fn message(&self, outcome: &'static str) {
        self.messages.with_label_values(&[outcome]).inc();
    }

    pub(crate) fn published(&self, count: u64) {
        self.messages
            .with_label_values(&["published"])
            .inc_by(count);
    }
}

/// Every outcome label of `blackhole_ingest_messages_total`.
const OUTCOMES: [&str; 7] = [
    "published",
    "oversized",
    "not_json",
    "not_object",
    "no_account",
    "not_account_db",
    "malformed_key",
];
