//! One AMQP message → the event ingest publishes, or the reason it is refused. No I/O.

use blackhole_bus::envelope::EventMeta;
use blackhole_bus::route::{self, RouteError};
use blackhole_bus::{AccountId, Source};
use bytes::Bytes;

/// An event ready for the publish script.
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    /// The account whose channel and stream receive the event.
    pub(crate) account: AccountId,
    /// The envelope header, completed with the offset inside Redis.
    pub(crate) header_prefix: Vec<u8>,
    /// Kazoo's payload, untouched.
    pub(crate) payload: Bytes,
}

/// Why a message is not published. It is counted, logged once and settled, never retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rejection {
    /// The body exceeds `--max-event-bytes`.
    #[error("body of {size} bytes exceeds the {limit}-byte limit")]
    Oversized { size: usize, limit: usize },
    /// The message cannot be routed to an account.
    #[error(transparent)]
    Unroutable(#[from] RouteError),
}

impl Rejection {
    /// The metric label of this rejection.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "oversized",
            Self::Unroutable(e) => e.reason(),
        }
    }
}

/// Turns one delivery into a publishable event.
pub(crate) fn prepare(
    exchange: &str,
    routing_key: &str,
    body: Bytes,
    max_event_bytes: usize,
    now_ms: u64,
) -> Result<PreparedEvent, Rejection> {
    if body.len() > max_event_bytes {
        return Err(Rejection::Oversized {
            size: body.len(),
            limit: max_event_bytes,
        });
    }
    let source = Source::for_exchange(exchange);
    let route = route::route(source, routing_key, &body)?;
    let meta = EventMeta::from_route(route, exchange, routing_key, now_ms);
    Ok(PreparedEvent {
        header_prefix: meta.encode_prefix(),
        account: meta.account_id,
        payload: body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blackhole_bus::Envelope;
    use blackhole_bus::envelope::{Offset, assemble};

    const CREATE: &[u8] = include_bytes!("../../testdata/kazoo/amqp_call_CHANNEL_CREATE.json");

    #[test]
    fn prepares_a_call_event_whose_envelope_keeps_the_payload() {
        let key = "call.CHANNEL_CREATE.at6dmu4ffk97vnlp6qfq";
        let event = prepare("callevt", key, Bytes::from_static(CREATE), 1 << 20, 7).unwrap();
        assert_eq!(event.account.as_str(), "4b8c6fec4b2597882c0390202d195419");
        let wire = assemble(
            &event.header_prefix,
            Offset { ms: 8, seq: 0 },
            &event.payload,
        );
        let envelope = Envelope::decode(Bytes::from(wire)).unwrap();
        assert_eq!(envelope.payload, CREATE);
        assert_eq!(envelope.meta.routing_key, key);
        assert_eq!(envelope.meta.source_key, key);
        assert_eq!(envelope.meta.exchange, "callevt");
        assert_eq!(envelope.meta.event_name, "CHANNEL_CREATE");
        assert_eq!(envelope.meta.ingested_at_ms, 7);
    }

    #[test]
    fn refuses_oversized_bodies_before_parsing_them() {
        let err = prepare("callevt", "call.X.y", Bytes::from(vec![b'x'; 11]), 10, 0).unwrap_err();
        assert_eq!(err.reason(), "oversized");
        assert!(err.to_string().contains("11 bytes"));
    }

    #[test]
    fn refuses_unroutable_bodies_with_their_reason() {
        let err = prepare("callevt", "call.X.y", Bytes::from_static(b"nope"), 10, 0).unwrap_err();
        assert_eq!(err.reason(), "not_json");
        let err = prepare("callevt", "call.X.y", Bytes::from_static(b"{}"), 10, 0).unwrap_err();
        assert_eq!(err.reason(), "no_account");
    }
}
