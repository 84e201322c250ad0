//! The edge's Prometheus metrics, registered once; sessions hold resolved handles.
//!
//! No label ever holds an account, token, socket or call id: only protocols, transports and
//! reasons, each from a fixed set.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric `blackhole-edge` exports.
#[derive(Clone)]
pub struct Metrics {
    /// Where everything is registered; served on the admin listener.
    pub registry: Registry,
    /// Open connections by protocol and transport.
    pub connections: IntGaugeVec,
    /// Connections or sessions refused, by reason.
    pub connections_refused: IntCounterVec,
    /// Bindings held by sockets.
    pub subscriptions: IntGauge,
    /// Accounts this edge is subscribed to in Redis.
    pub accounts_subscribed: IntGauge,
    /// Events received from the bus.
    pub events_received: IntCounter,
    /// Event frames handed to sockets.
    pub events_delivered: IntCounter,
    /// Events not delivered, by reason.
    pub events_dropped: IntCounterVec,
    /// Failed subscriptions, by reason.
    pub auth_failures: IntCounterVec,
    /// Client requests refused, by reason.
    pub requests_refused: IntCounterVec,
    /// Sockets disconnected because their outbox was full.
    pub slow_consumer_disconnects: IntCounter,
    /// Seconds from ingest to the socket write.
    pub event_latency: Histogram,
    /// 1 while the Redis subscription is up.
    pub redis_up: IntGauge,
    /// Events recovered from the replay streams after a Redis reconnect.
    pub events_replayed: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let m = IntGaugeVec::new(Opts::new(name, help), labels).unwrap();
            registry.register(Box::new(m.clone())).unwrap();
            m
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let m = IntCounterVec::new(Opts::new(name, help), labels).unwrap();
            registry.register(Box::new(m.clone())).unwrap();
            m
        };
        let counter = |name: &str, help: &str| {
            let m = IntCounter::new(name, help).unwrap();
            registry.register(Box::new(m.clone())).unwrap();
            m
        };
        let gauge = |name: &str, help: &str| {
            let m = IntGauge::new(name, help).unwrap();
            registry.register(Box::new(m.clone())).unwrap();
            m
        };
        let event_latency = Histogram::with_opts(
            HistogramOpts::new(
                "blackhole_edge_event_latency_seconds",
                "Seconds from ingest receiving an event to the edge writing it to a socket.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .unwrap();
        registry.register(Box::new(event_latency.clone())).unwrap();
        Self {
            connections: gauge_vec(
                "blackhole_edge_connections",
                "Open client connections by protocol and transport.",
                &["protocol", "transport"],
            ),
            connections_refused: counter_vec(
                "blackhole_edge_connections_refused_total",
                "Connections or sessions refused, by reason.",
                &["reason"],
            ),
            subscriptions: gauge("blackhole_edge_subscriptions", "Bindings held by sockets."),
            accounts_subscribed: gauge(
                "blackhole_edge_accounts_subscribed",
                "Accounts this edge is subscribed to in Redis.",
            ),
            events_received: counter(
                "blackhole_edge_events_received_total",
                "Events received from the bus.",
            ),
            events_delivered: counter(
                "blackhole_edge_events_delivered_total",
                "Event frames handed to sockets.",
            ),
            events_dropped: counter_vec(
                "blackhole_edge_events_dropped_total",
                "Events not delivered, by reason.",
                &["reason"],
            ),
            auth_failures: counter_vec(
                "blackhole_edge_auth_failures_total",
                "Refused subscriptions, by reason.",
                &["reason"],
            ),
            requests_refused: counter_vec(
                "blackhole_edge_requests_refused_total",
                "Client requests refused, by reason.",
                &["reason"],
            ),
            slow_consumer_disconnects: counter(
                "blackhole_edge_slow_consumer_disconnects_total",
                "Sockets disconnected because they could not keep up.",
            ),
            event_latency,
            redis_up: gauge(
                "blackhole_edge_redis_up",
                "1 while the Redis subscription is up.",
            ),
            events_replayed: counter(
                "blackhole_edge_events_replayed_total",
                "Events recovered from replay streams after a Redis reconnect.",
            ),
            registry,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
