//! The Redis script that appends one event to its account's stream and publishes it.
//!
//! Doing both in one script makes them atomic and lets the published envelope carry the stream
//! id Redis chose as its offset. All keys it touches share the account's hash tag, so the script
//! is valid on a Redis Cluster, where it publishes with `SPUBLISH` on the account's shard.

use bytes::Bytes;

use crate::envelope::{self, Envelope, EnvelopeError, Offset};

/// Stream entry field holding the header prefix ([`crate::envelope::EventMeta::encode_prefix`]).
pub const FIELD_HEADER: &str = "h";
/// Stream entry field holding the event JSON.
pub const FIELD_PAYLOAD: &str = "p";

/// `KEYS[1]` stream, `KEYS[2]` channel; `ARGV[1]` header prefix, `ARGV[2]` payload,
/// `ARGV[3]` approximate max stream length, `ARGV[4]` oldest stream id to keep (retention),
/// `ARGV[5]` stream time-to-live in milliseconds, `ARGV[6]` `PUBLISH` or `SPUBLISH`.
/// Returns the new entry's id, which is the event's offset.
pub const APPEND_AND_PUBLISH: &str = r#"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'h', ARGV[1], 'p', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call(ARGV[6], KEYS[2], ARGV[1] .. ',"offset":"' .. id .. '"}\n' .. ARGV[2])
return id
"#;

/// One entry of an `XRANGE` reply on a replay stream: its id and its field/value pairs.
pub type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// Rebuilds the envelope of an `XRANGE` entry; `None` if it lacks a field of the script's.
pub fn envelope_from_xrange(entry: &StreamEntry) -> Option<Result<Envelope, EnvelopeError>> {
    let (id, fields) = entry;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    };
    Some(envelope_from_stream_entry(
        id,
        field(FIELD_HEADER)?,
        field(FIELD_PAYLOAD)?,
    ))
}

/// Rebuilds the envelope of a stream entry, identical to the one that was published.
pub fn envelope_from_stream_entry(
    id: &str,
    header_prefix: &[u8],
    payload: &[u8],
) -> Result<Envelope, EnvelopeError> {
    let offset: Offset = id.parse()?;
    Envelope::decode(Bytes::from(envelope::assemble(
        header_prefix,
        offset,
        payload,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountId, EventKind, envelope::EventMeta};

    #[test]
    fn script_builds_the_same_wire_form_as_assemble() {
        // The script's concatenation and `assemble` must agree byte for byte; both are spelled
        // out here so that changing one without the other fails.
        assert!(
            APPEND_AND_PUBLISH.contains(r#"ARGV[1] .. ',"offset":"' .. id .. '"}\n' .. ARGV[2]"#)
        );
        let meta = EventMeta {
            account_id: AccountId::parse("4b8c6fec4b2597882c0390202d195419").unwrap(),
            kind: EventKind::Fax,
            event_name: "status".into(),
            routing_key: "fax.status.f1".into(),
            source_key: "fax.status.4b8c6fec4b2597882c0390202d195419.f1".into(),
            exchange: "faxes".into(),
            ingested_at_ms: 42,
        };
        let prefix = meta.encode_prefix();
        let mut expected = prefix.clone();
        expected.extend_from_slice(br#","offset":"42-7"}"#);
        expected.push(b'\n');
        expected.extend_from_slice(b"{\"a\":1}");
        assert_eq!(
            envelope::assemble(&prefix, Offset { ms: 42, seq: 7 }, b"{\"a\":1}"),
            expected
        );
        let rebuilt = envelope_from_stream_entry("42-7", &prefix, b"{\"a\":1}").unwrap();
        assert_eq!(rebuilt.meta, meta);
        assert_eq!(rebuilt.offset, Offset { ms: 42, seq: 7 });
    }
}
