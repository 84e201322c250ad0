//! The envelope: what ingest publishes on an account's Redis channel and keeps in its stream.
//!
//! Wire form, one Redis message per Kazoo event:
//!
//! ```text
//! {"v":1,"account_id":"…","kind":"call","event_name":"CHANNEL_CREATE","routing_key":"call.CHANNEL_CREATE.abc","source_key":"call.CHANNEL_CREATE.abc","exchange":"callevt","ingested_at_ms":1700000000000,"offset":"1700000000000-0"}\n
//! <the event JSON, byte for byte as Kazoo sent it>
//! ```
//!
//! The header is one line of compact JSON (it never contains a raw newline), so a reader splits at
//! the first `\n` and takes the rest as the event untouched: edges never re-serialize Kazoo's
//! payload, and anyone can read the channel with `redis-cli SUBSCRIBE`. `offset` is last so that
//! the publish script can append it to a prefix that ingest built ([`EventMeta::encode_prefix`]):
//! the offset is the id Redis gave the event in the account's stream, known only inside Redis.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{AccountId, EventKind, Route};

/// The envelope format version this crate writes and reads.
pub const VERSION: u8 = 1;

/// Everything ingest knows about an event before Redis gives it an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// The account the event belongs to; it is published on this account's channel only.
    pub account_id: AccountId,
    /// Which family of Kazoo events this is.
    pub kind: EventKind,
    /// Kazoo's `Event-Name` (`CHANNEL_CREATE`, `doc_created`, …).
    pub event_name: String,
    /// The client-facing routing key, without the account (`call.CHANNEL_CREATE.<call-id>`).
    pub routing_key: String,
    /// The AMQP routing key Kazoo published the event with.
    pub source_key: String,
    /// The AMQP exchange the event came from.
    pub exchange: String,
    /// When ingest received the event, in milliseconds since the Unix epoch.
    pub ingested_at_ms: u64,
}

/// The position of an event in its account's stream: the Redis stream entry id `ms-seq`.
///
/// Offsets of one account only grow, so an edge (or a reconnecting client) can ask for the events
/// after the last one it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset {
    /// Milliseconds part of the stream id.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

/// A decoded envelope. `payload` shares the buffer it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What ingest attached to the event.
    pub meta: EventMeta,
    /// The event's position in its account's stream.
    pub offset: Offset,
    /// The event JSON exactly as Kazoo sent it.
    pub payload: Bytes,
}

/// The header line as it appears on the wire; also used to read it back.
#[derive(Serialize, Deserialize)]
struct WireHeader<'a> {
    v: u8,
    #[serde(borrow)]
    account_id: Cow<'a, str>,
    kind: EventKind,
    // Borrowed unless the JSON string holds escapes, which Kazoo's names and keys do not.
    #[serde(borrow)]
    event_name: Cow<'a, str>,
    #[serde(borrow)]
    routing_key: Cow<'a, str>,
    #[serde(borrow)]
    source_key: Cow<'a, str>,
    #[serde(borrow)]
    exchange: Cow<'a, str>,
    ingested_at_ms: u64,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    offset: Option<Cow<'a, str>>,
}

/// Why bytes are not a valid envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// There is no newline separating the header from the event.
    #[error("envelope has no header line")]
    MissingHeader,
    /// The header line is not the expected JSON object.
    #[error("envelope header is invalid: {0}")]
    InvalidHeader(#[from] serde_json::Error),
    /// The header names a format version this build does not know.
    #[error("envelope version {0} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    /// The header lacks the offset that Redis should have added.
    #[error("envelope header has no offset")]
    MissingOffset,
    /// The offset is not a Redis stream id.
    #[error("envelope offset {0:?} is not a stream id")]
    InvalidOffset(String),
    /// The account id in the header is malformed.
    #[error("envelope account id is invalid")]
    InvalidAccount,
}

impl EventMeta {
    /// The metadata of an event routed by [`crate::route::route`], received now.
    pub fn from_route(route: Route, exchange: &str, source_key: &str, ingested_at_ms: u64) -> Self {
        Self {
            account_id: route.account_id,
            kind: route.kind,
            event_name: route.event_name,
            routing_key: route.routing_key,
            source_key: source_key.to_owned(),
            exchange: exchange.to_owned(),
            ingested_at_ms,
        }
    }

    /// The header line up to, and without, its offset and closing brace.
    ///
    /// The publish script completes it with `,"offset":"<id>"}` followed by `\n` and the
    /// payload; [`assemble`] does the same outside Redis.
    pub fn encode_prefix(&self) -> Vec<u8> {
        let mut prefix = serde_json::to_vec(&WireHeader {
            v: VERSION,
            account_id: Cow::Borrowed(self.account_id.as_str()),
            kind: self.kind,
            event_name: Cow::Borrowed(&self.event_name),
            routing_key: Cow::Borrowed(&self.routing_key),
            source_key: Cow::Borrowed(&self.source_key),
            exchange: Cow::Borrowed(&self.exchange),
            ingested_at_ms: self.ingested_at_ms,
            offset: None,
        })
        .expect("serializing strings and integers cannot fail");
        debug_assert_eq!(prefix.last(), Some(&b'}'));
        prefix.pop();
        prefix
    }
}

/// Builds the wire form from a header prefix, an offset and the payload, exactly as the publish
/// script does inside Redis.
pub fn assemble(prefix: &[u8], offset: Offset, payload: &[u8]) -> Vec<u8> {
    let offset = offset.to_string();
    let mut out = Vec::with_capacity(prefix.len() + offset.len() + payload.len() + 16);
    out.extend_from_slice(prefix);
    out.extend_from_slice(b",\"offset\":\"");
    out.extend_from_slice(offset.as_bytes());
    out.extend_from_slice(b"\"}\n");
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Encodes this envelope in its wire form.
    pub fn encode(&self) -> Vec<u8> {
        assemble(&self.meta.encode_prefix(), self.offset, &self.payload)
    }

    /// Decodes a message read from an account channel. The payload is a slice of `bytes`.
    pub fn decode(bytes: Bytes) -> Result<Self, EnvelopeError> {
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(EnvelopeError::MissingHeader)?;
        let header: WireHeader<'_> = serde_json::from_slice(&bytes[..newline])?;
        let offset = header
            .offset
            .as_deref()
            .ok_or(EnvelopeError::MissingOffset)?
            .parse()?;
        let meta = header.into_meta()?;
        Ok(Self {
            meta,
            offset,
            payload: bytes.slice(newline + 1..),
        })
    }
}

impl WireHeader<'_> {
    fn into_meta(self) -> Result<EventMeta, EnvelopeError> {
        if self.v != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.v));
        }
        Ok(EventMeta {
            account_id: AccountId::parse(&self.account_id)
                .map_err(|_| EnvelopeError::InvalidAccount)?,
            kind: self.kind,
            event_name: self.event_name.into_owned(),
            routing_key: self.routing_key.into_owned(),
            source_key: self.source_key.into_owned(),
            exchange: self.exchange.into_owned(),
            ingested_at_ms: self.ingested_at_ms,
        })
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for Offset {
    type Err = EnvelopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || EnvelopeError::InvalidOffset(s.to_owned());
        let (ms, seq) = s.split_once('-').ok_or_else(invalid)?;
        Ok(Self {
            ms: ms.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EventMeta {
        EventMeta {
            account_id: AccountId::parse("4b8c6fec4b2597882c0390202d195419").unwrap(),
            kind: EventKind::Call,
            event_name: "CHANNEL_CREATE".into(),
            routing_key: "call.CHANNEL_CREATE.at6dmu4ffk97vnlp6qfq".into(),
            source_key: "call.CHANNEL_CREATE.at6dmu4ffk97vnlp6qfq".into(),
            exchange: "callevt".into(),
            ingested_at_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn round_trips_with_the_payload_untouched() {
        let payload =
            Bytes::from_static(b"{\n  \"Event-Name\": \"CHANNEL_CREATE\",\n  \"x\": 1\n}\n");
        let envelope = Envelope {
            meta: meta(),
            offset: Offset {
                ms: 1_700_000_000_124,
                seq: 3,
            },
            payload: payload.clone(),
        };
        let wire = envelope.encode();
        let decoded = Envelope::decode(Bytes::from(wire)).unwrap();
        assert_eq!(decoded, envelope);
        assert_eq!(decoded.payload, payload);
    }

    #[test]
    fn wire_header_is_one_line_with_offset_last() {
        let wire = assemble(&meta().encode_prefix(), Offset { ms: 5, seq: 0 }, b"{}");
        let text = String::from_utf8(wire).unwrap();
        let (header, payload) = text.split_once('\n').unwrap();
        assert!(header.ends_with(r#","offset":"5-0"}"#), "{header}");
        assert!(header.starts_with(r#"{"v":1,"account_id":"4b8c6fec4b2597882c0390202d195419","#));
        assert_eq!(payload, "{}");
    }

    #[test]
    fn names_with_quotes_and_newlines_stay_on_one_line() {
        let mut m = meta();
        m.routing_key = "call.X.\"evil\"\nkey".into();
        let wire = assemble(&m.encode_prefix(), Offset { ms: 1, seq: 1 }, b"{}");
        let decoded = Envelope::decode(Bytes::from(wire)).unwrap();
        assert_eq!(decoded.meta.routing_key, m.routing_key);
    }

    #[test]
    fn rejects_malformed_envelopes() {
        type Expect = fn(&EnvelopeError) -> bool;
        let cases: [(&[u8], Expect); 5] = [
            (b"no newline", |e| matches!(e, EnvelopeError::MissingHeader)),
            (b"not json\n{}", |e| matches!(e, EnvelopeError::InvalidHeader(_))),
            (
                br#"{"v":9,"account_id":"4b8c6fec4b2597882c0390202d195419","kind":"call","event_name":"E","routing_key":"k","source_key":"k","exchange":"x","ingested_at_ms":1,"offset":"1-0"}
{}"#,
                |e| matches!(e, EnvelopeError::UnsupportedVersion(9)),
            ),
            (
                br#"{"v":1,"account_id":"4b8c6fec4b2597882c0390202d195419","kind":"call","event_name":"E","routing_key":"k","source_key":"k","exchange":"x","ingested_at_ms":1}
{}"#,
                |e| matches!(e, EnvelopeError::MissingOffset),
            ),
            (
                br#"{"v":1,"account_id":"nope","kind":"call","event_name":"E","routing_key":"k","source_key":"k","exchange":"x","ingested_at_ms":1,"offset":"1-0"}
{}"#,
                |e| matches!(e, EnvelopeError::InvalidAccount),
            ),
        ];
        for (bytes, expected) in cases {
            let err = Envelope::decode(Bytes::from_static(bytes)).unwrap_err();
            assert!(
                expected(&err),
                "{err:?} for {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn offsets_order_by_time_then_sequence() {
        let a: Offset = "1700000000000-1".parse().unwrap();
        let b: Offset = "1700000000001-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-1");
        assert!("17-x".parse::<Offset>().is_err());
        assert!("17".parse::<Offset>().is_err());
    }
}
