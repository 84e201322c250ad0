//! Owns how an ingest benchmark result is shown: a table for people and a JSON document for
//! machines (`--json-out`), both from the same numbers.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::baseline::BaselineResult;
use crate::ingest_run::IngestResult;
use crate::procfs::Machine;

/// One run of `blackhole-loadtest ingest`.
pub(crate) struct IngestReport {
    pub(crate) events: u64,
    pub(crate) accounts: usize,
    /// Mean body size of the events actually sent.
    pub(crate) payload_bytes: usize,
    pub(crate) prefetch: u16,
    pub(crate) machine: Machine,
    pub(crate) baseline: BaselineResult,
    pub(crate) ingest: IngestResult,
}

/// Where a phase's CPU time went. `other` is what the machine spent on processes that are not
/// part of the benchmark: on a quiet machine close to 0, and the measure of how far to trust a
/// run on a busy one.
struct CpuBreakdown {
    consumer: f64,
    broker: Option<f64>,
    redis: Option<f64>,
    subscriber: Option<f64>,
    machine: f64,
}

impl CpuBreakdown {
    fn other(&self) -> Option<f64> {
        let ours = self.consumer
            + self.broker?
            + self.redis.unwrap_or(0.0)
            + self.subscriber.unwrap_or(0.0);
        Some((self.machine - ours).max(0.0))
    }

    fn json(&self) -> Value {
        json!({
            "consumer": round3(self.consumer),
            "rabbitmq": self.broker.map(round3),
            "redis": self.redis.map(round3),
            "subscriber": self.subscriber.map(round3),
            "other": self.other().map(round3),
            "machine": round3(self.machine),
        })
    }
}

impl IngestReport {
    /// Ingest's steady rate as a fraction of the bare consumer's.
    pub(crate) fn ratio(&self) -> f64 {
        self.ingest.events_per_s() / self.baseline.msgs_per_s()
    }

    fn baseline_cpu(&self) -> CpuBreakdown {
        let cpu = &self.baseline.cpu;
        CpuBreakdown {
            consumer: cpu.own,
            broker: cpu.broker,
            redis: None,
            subscriber: None,
            machine: cpu.machine,
        }
    }

    fn ingest_cpu(&self) -> CpuBreakdown {
        let i = &self.ingest;
        CpuBreakdown {
            consumer: i.process.cpu_seconds,
            broker: i.cpu.broker,
            redis: Some(i.redis_cpu_seconds),
            subscriber: Some(i.cpu.own),
            machine: i.cpu.machine,
        }
    }

    pub(crate) fn json(&self) -> Value {
        let b = &self.baseline;
        let i = &self.ingest;
        let us_per_event = |seconds: f64| seconds * 1e6 / i.events as f64;
        json!({
            "scenario": "ingest",
            "events": self.events,
            "accounts": self.accounts,
            "payload_bytes": self.payload_bytes,
            "prefetch": self.prefetch,
            "machine": {
                "cpus": self.machine.cpus,
                "cpu_model": self.machine.cpu_model,
                "memory_kib": self.machine.memory_kib,
                "kernel": self.machine.kernel,
                "load_average_at_start": self.machine.load_average,
            },
            "baseline": {
                "msgs_per_s": round(b.msgs_per_s()),
                "consume_seconds": round3(b.consume.as_secs_f64()),
                "messages": b.messages,
                "prepublish_seconds": round3(b.publish.as_secs_f64()),
                "cpu_seconds_by_process": self.baseline_cpu().json(),
            },
            "ingest": {
                "events_per_s": round(i.events_per_s()),
                "events_per_s_from_spawn": round(i.events_per_s_from_spawn()),
                "seconds_from_spawn": round3(i.from_spawn.as_secs_f64()),
                "startup_seconds": round3(i.startup.as_secs_f64()),
                "last_received_seconds": i.last_received.map(|d| round3(d.as_secs_f64())),
                "prepublish_seconds": round3(i.publish.as_secs_f64()),
                "subscriber_received": i.subscriber_received,
                "rss_peak_kib": i.process.peak_rss_kib,
                "rss_end_kib": i.process.rss_kib,
                "cpu_seconds": round3(i.process.cpu_seconds),
                "cpu_us_per_event": round3(us_per_event(i.process.cpu_seconds)),
                "redis_cpu_us_per_event": round3(us_per_event(i.redis_cpu_seconds)),
                "redis_commands": i.redis_commands.iter().map(|c| (c.command.clone(), json!({
                    "calls": c.calls,
                    "usec_per_call": c.usec_per_call,
                }))).collect::<serde_json::Map<_, _>>(),
                "cpu_seconds_by_process": self.ingest_cpu().json(),
                "mean_batch_events": i.mean_batch_events.map(round3),
                "mean_batch_publish_ms": i.mean_batch_publish_seconds.map(|s| round3(s * 1e3)),
                "redis_errors": i.redis_errors,
                "refused": i.refused,
                "warnings_logged": i.warnings_logged,
                "exit_status": i.exit_status,
            },
            "ratio": round3(self.ratio()),
        })
    }

    pub(crate) fn table(&self) -> String {
        let b = &self.baseline;
        let i = &self.ingest;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ingest benchmark: {} events, {} accounts, {}-byte payloads, prefetch {}",
            self.events, self.accounts, self.payload_bytes, self.prefetch
        );
        let _ = writeln!(
            out,
            "machine: {} CPUs ({}), {:.1} GiB RAM, Linux {}, load average {:.2} at start",
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.memory_kib as f64 / 1024.0 / 1024.0,
            self.machine.kernel,
            self.machine.load_average
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<34} {:>12} {:>10}", "", "msgs/s", "seconds");
        let rates = [
            (
                "baseline (bare lapin consumer)",
                b.msgs_per_s(),
                b.consume.as_secs_f64(),
            ),
            (
                "ingest (steady state)",
                i.events_per_s(),
                i.from_spawn.saturating_sub(i.startup).as_secs_f64(),
            ),
            (
                "ingest (from process start)",
                i.events_per_s_from_spawn(),
                i.from_spawn.as_secs_f64(),
            ),
        ];
        for (label, rate, seconds) in rates {
            let _ = writeln!(out, "{label:<34} {rate:>12.0} {seconds:>10.2}");
        }
        let _ = writeln!(
            out,
            "{:<34} {:>12.3}",
            "ratio ingest / baseline",
            self.ratio()
        );

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<34} {:>12} {:>10}",
            "CPU seconds", "baseline", "ingest"
        );
        let (bc, ic) = (self.baseline_cpu(), self.ingest_cpu());
        let cell = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let cpu_rows = [
            (
                "consumer (lapin / blackhole-ingest)",
                Some(bc.consumer),
                Some(ic.consumer),
            ),
            ("RabbitMQ", bc.broker, ic.broker),
            ("Redis", bc.redis, ic.redis),
            ("PSUBSCRIBE subscriber", bc.subscriber, ic.subscriber),
            ("other processes", bc.other(), ic.other()),
            ("machine", Some(bc.machine), Some(ic.machine)),
        ];
        for (label, baseline, ingest) in cpu_rows {
            let _ = writeln!(
                out,
                "{label:<34} {:>12} {:>10}",
                cell(baseline),
                cell(ingest)
            );
        }

        let _ = writeln!(out);
        let per_event = |seconds: f64| seconds * 1e6 / i.events as f64;
        let rows = [
            (
                "ingest peak RSS (VmHWM)",
                format!("{:.1} MiB", i.process.peak_rss_kib as f64 / 1024.0),
            ),
            (
                "ingest / Redis CPU per event",
                format!(
                    "{:.1} us / {:.1} us",
                    per_event(i.process.cpu_seconds),
                    per_event(i.redis_cpu_seconds)
                ),
            ),
            (
                "Redis usec per call",
                i.redis_commands
                    .iter()
                    .map(|c| format!("{} {:.2}", c.command, c.usec_per_call))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "mean batch / publish time",
                format!(
                    "{} events / {} ms",
                    i.mean_batch_events
                        .map_or_else(|| "?".to_owned(), |v| format!("{v:.1}")),
                    i.mean_batch_publish_seconds
                        .map_or_else(|| "?".to_owned(), |v| format!("{:.2}", v * 1e3))
                ),
            ),
            (
                "received by PSUBSCRIBE",
                format!("{} of {}", i.subscriber_received, i.events),
            ),
            (
                "refused / Redis errors / warnings",
                format!("{} / {} / {}", i.refused, i.redis_errors, i.warnings_logged),
            ),
            ("ingest exit", i.exit_status.clone()),
        ];
        for (label, value) in rows {
            let _ = writeln!(out, "{label:<34} {value}");
        }
        out
    }
}

fn round(x: f64) -> f64 {
    x.round()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
