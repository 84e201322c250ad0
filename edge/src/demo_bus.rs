//! The demo's in-process bus: synthetic Kazoo traffic ([`crate::demo::Generator`]) routed exactly
//! as ingest routes it, with per-account offsets as Redis would give them, fed straight to the
//! hub. Demand changes need no action: every demo account is always available.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use blackhole_bus::envelope::{EventMeta, Offset};
use blackhole_bus::{AccountId, Envelope, Source, route};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::demo::{Generator, TICK};
use crate::hub::{Demand, Hub, HubEvent};

/// Generates demo events until `shutdown`.
pub(crate) async fn run(
    hub: Arc<Hub>,
    mut demand: mpsc::UnboundedReceiver<Demand>,
    shutdown: CancellationToken,
) {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    let mut generator = Generator::new(seed);
    let mut offsets: HashMap<AccountId, Offset> = HashMap::new();
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
            // Nothing to subscribe to; just keep the channel drained.
            d = demand.recv() => { if d.is_none() { return } continue; }
        }
        let now = SystemTime::now();
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        for event in generator.step(now) {
            let routed = match route::route(
                Source::for_exchange(event.exchange),
                &event.routing_key,
                &event.payload,
            ) {
                Ok(routed) => routed,
                Err(e) => {
                    tracing::error!(error = %e, routing_key = %event.routing_key, "the demo generated an unroutable event");
                    continue;
                }
            };
            let meta = EventMeta::from_route(routed, event.exchange, &event.routing_key, now_ms);
            let offset = next_offset(
                offsets
                    .entry(meta.account_id.clone())
                    .or_insert(Offset { ms: 0, seq: 0 }),
                now_ms,
            );
            hub.publish(Arc::new(HubEvent::new(Envelope {
                meta,
                offset,
                payload: event.payload,
            })));
        }
    }
}

/// The next stream-like offset after `last`: `now-0`, or `last.ms-(seq+1)` within the same ms.
fn next_offset(last: &mut Offset, now_ms: u64) -> Offset {
    *last = if now_ms > last.ms {
        Offset { ms: now_ms, seq: 0 }
    } else {
        Offset {
            ms: last.ms,
            seq: last.seq + 1,
        }
    };
    *last
}
