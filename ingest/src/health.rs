//! What `/readyz` reports: ingest is ready while every zone is registered as a consumer (active
//! or standing by), Redis answers, and it is not draining.

use std::sync::atomic::{AtomicBool, Ordering};

use blackhole_ops::admin::Readiness;

use crate::metrics::Metrics;

/// Shared, lock-free health flags, mirrored into gauges.
pub(crate) struct Health {
    zones_consuming: Vec<AtomicBool>,
    redis_up: AtomicBool,
    draining: AtomicBool,
    metrics: Metrics,
}

impl Health {
    pub(crate) fn new(zones: usize, metrics: Metrics) -> Self {
        for zone in 0..zones {
            let label = zone.to_string();
            metrics.amqp_connected.with_label_values(&[&label]).set(0);
            metrics.amqp_consuming.with_label_values(&[&label]).set(0);
        }
        Self {
            zones_consuming: (0..zones).map(|_| AtomicBool::new(false)).collect(),
            redis_up: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            metrics,
        }
    }

    pub(crate) fn set_connected(&self, zone: usize, connected: bool) {
        self.metrics
            .amqp_connected
            .with_label_values(&[&zone.to_string()])
            .set(i64::from(connected));
    }

    pub(crate) fn set_consuming(&self, zone: usize, consuming: bool) {
        self.zones_consuming[zone].store(consuming, Ordering::Relaxed);
        self.metrics
            .amqp_consuming
            .with_label_values(&[&zone.to_string()])
            .set(i64::from(consuming));
    }

    pub(crate) fn set_redis_up(&self, up: bool) {
        self.redis_up.store(up, Ordering::Relaxed);
        self.metrics.redis_up.set(i64::from(up));
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

impl Readiness for Health {
    fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining".into());
        }
        if !self.redis_up.load(Ordering::Relaxed) {
            return Err("Redis unreachable".into());
        }
        let idle: Vec<String> = self
            .zones_consuming
            .iter()
            .enumerate()
            .filter(|(_, consuming)| !consuming.load(Ordering::Relaxed))
            .map(|(zone, _)| zone.to_string())
            .collect();
        if !idle.is_empty() {
            return Err(format!(
                "not consuming from AMQP zone(s) {}",
                idle.join(", ")
            ));
        }
        Ok(())
    }
}
