//! Engine.IO polling payloads: the bodies of polling GETs, built by [`PayloadEncoder`], and of
//! polling POSTs, read by [`decode_payload`], in the v3 text, v3 binary and v4 formats.
//!
//! Invariants: as in the parent module; every record length is checked against the body before
//! slicing, and v3 text lengths count UTF-16 code units.

use crate::protocol::utf16;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

use super::{EioError, EioVersion, Packet, Payload, SharedMessage, decode_binary_frame};

/// More digits than any body the transports accept (maxPayload is megabytes), few enough that
/// the value cannot overflow even a 32-bit `usize`.
const MAX_LENGTH_DIGITS: usize = 9;

/// Record separator of v4 polling payloads.
const RECORD_SEPARATOR: u8 = 0x1e;

/// The Content-Type of a polling body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `text/plain; charset=UTF-8`: every v4 body and v3 text payloads.
    TextPlain,
    /// `application/octet-stream`: v3 binary payloads (XHR2 clients).
    OctetStream,
}

impl ContentType {
    /// Classifies a request's Content-Type header. The engine.io 3 client switches to
    /// arraybuffer only on this exact string, so anything else is text.
    pub fn from_header(value: &str) -> Self {
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/octet-stream") {
            Self::OctetStream
        } else {
            Self::TextPlain
        }
    }

    /// The header value to send.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TextPlain => "text/plain; charset=UTF-8",
            Self::OctetStream => "application/octet-stream",
        }
    }
}

/// One queued record of a payload under construction.
#[derive(Debug, Clone)]
enum Record {
    /// A packet in text form and its UTF-16 length.
    Text(Bytes, usize),
    /// A binary message's data, without type byte.
    Binary(Bytes),
}

/// Builds one polling response body. Records are kept as shared `Bytes` until `finish`, which
/// picks the v3 format (binary only if the session supports it and a binary record is present)
/// and allocates the body once.
#[derive(Debug, Clone)]
pub struct PayloadEncoder {
    version: EioVersion,
    supports_binary: bool,
    records: Vec<Record>,
}

impl PayloadEncoder {
    /// `supports_binary` is false when the v3 handshake had `b64=1`; v4 ignores it.
    pub fn new(version: EioVersion, supports_binary: bool) -> Self {
        Self {
            version,
            supports_binary,
            records: Vec::new(),
        }
    }

    /// Appends a packet.
    pub fn push(&mut self, packet: &Packet) {
        let record = match packet {
            Packet::Message(Payload::Binary(data)) => Record::Binary(data.clone()),
            _ => {
                let text = packet.encode(self.version);
                let utf16_len = text.encode_utf16().count();
                Record::Text(Bytes::from(text), utf16_len)
            }
        };
        self.records.push(record);
    }

    /// Appends a shared fan-out message without copying or re-measuring it.
    pub fn push_shared(&mut self, message: &SharedMessage) {
        let record = Record::Text(message.packet.clone(), message.utf16_len);
        self.records.push(record);
    }

    /// The number of packets queued so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no packet has been queued.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The response body and its Content-Type.
    pub fn finish(self) -> (Bytes, ContentType) {
        let has_binary = self.records.iter().any(|r| matches!(r, Record::Binary(_)));
        match self.version {
            EioVersion::V4 => (self.finish_v4(), ContentType::TextPlain),
            EioVersion::V3 if self.supports_binary && has_binary => {
                (self.finish_v3_binary(), ContentType::OctetStream)
            }
            EioVersion::V3 => (self.finish_v3_text(), ContentType::TextPlain),
        }
    }

    fn finish_v4(self) -> Bytes {
        // The common GET carries one event: hand back the shared buffer itself.
        if let [Record::Text(text, _)] = self.records.as_slice() {
            return text.clone();
        }
        let mut out = Vec::with_capacity(self.estimated_len());
        for (i, record) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(RECORD_SEPARATOR);
            }
            match record {
                Record::Text(text, _) => out.extend_from_slice(text),
                Record::Binary(data) => {
                    out.push(b'b');
                    push_base64(&mut out, data);
                }
            }
        }
        Bytes::from(out)
    }

    fn finish_v3_text(self) -> Bytes {
        if self.records.is_empty() {
            // engine.io 3 writes an empty payload as an empty record.
            return Bytes::from_static(b"0:");
        }
        let mut out = Vec::with_capacity(self.estimated_len());
        for record in &self.records {
            match record {
                Record::Text(text, utf16_len) => {
                    push_decimal(&mut out, *utf16_len);
                    out.push(b':');
                    out.extend_from_slice(text);
                }
                Record::Binary(data) => {
                    // `b4` + base64 is ASCII, so its UTF-16 length is its byte length.
                    push_decimal(&mut out, 2 + data.len().div_ceil(3) * 4);
                    out.extend_from_slice(b":b4");
                    push_base64(&mut out, data);
                }
            }
        }
        Bytes::from(out)
    }

    fn finish_v3_binary(self) -> Bytes {
        let mut out = Vec::with_capacity(self.estimated_len());
        for record in &self.records {
            let (kind, len, prefix, data): (u8, usize, &[u8], &[u8]) = match record {
                Record::Text(text, _) => (0, text.len(), &[], text),
                Record::Binary(data) => (1, data.len() + 1, &[4], data),
            };
            out.push(kind);
            // Digits as byte values 0-9, not ASCII: that is the format, odd as it is.
            let start = out.len();
            push_decimal(&mut out, len);
            out[start..].iter_mut().for_each(|digit| *digit -= b'0');
            out.push(0xff);
            out.extend_from_slice(prefix);
            out.extend_from_slice(data);
        }
        Bytes::from(out)
    }

    /// Room for every record and its framing, so `finish` allocates once.
    fn estimated_len(&self) -> usize {
        let record_len = |r: &Record| match r {
            Record::Text(text, _) => text.len() + 12,
            Record::Binary(data) => data.len().div_ceil(3) * 4 + 14,
        };
        self.records.iter().map(record_len).sum()
    }
}

/// Encodes packets as one polling response body.
pub fn encode_payload(
    version: EioVersion,
    supports_binary: bool,
    packets: &[Packet],
) -> (Bytes, ContentType) {
    let mut encoder = PayloadEncoder::new(version, supports_binary);
    packets.iter().for_each(|p| encoder.push(p));
    encoder.finish()
}

/// Decodes a polling POST body of at most `max_packets` packets. `content_type` matters only
/// for v3, where `OctetStream` selects the binary payload format.
pub fn decode_payload(
    version: EioVersion,
    content_type: ContentType,
    body: &Bytes,
    max_packets: usize,
) -> Result<Vec<Packet>, EioError> {
    if body.is_empty() {
        return Err(EioError::EmptyPayload);
    }
    let mut packets = Vec::new();
    let mut push = |packet: Packet| {
        if packets.len() >= max_packets {
            return Err(EioError::TooManyPackets { max: max_packets });
        }
        packets.push(packet);
        Ok(())
    };
    match (version, content_type) {
        (EioVersion::V3, ContentType::OctetStream) => decode_v3_binary(body, &mut push)?,
        (EioVersion::V3, ContentType::TextPlain) => decode_v3_text(as_text(body)?, &mut push)?,
        (EioVersion::V4, _) => {
            for record in as_text(body)?.split(RECORD_SEPARATOR as char) {
                push(Packet::decode(EioVersion::V4, record)?)?;
            }
        }
    }
    Ok(packets)
}

type Sink<'a> = dyn FnMut(Packet) -> Result<(), EioError> + 'a;

/// `<len>:<packet>` records, `len` in UTF-16 code units.
fn decode_v3_text(mut rest: &str, push: &mut Sink<'_>) -> Result<(), EioError> {
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or(EioError::InvalidLength)?;
        let units = parse_ascii_length(&rest.as_bytes()[..colon])?;
        let (packet, tail) = split_utf16(&rest[colon + 1..], units)?;
        // engine.io skips empty records: `0:` is how it writes an empty payload.
        if !packet.is_empty() {
            push(Packet::decode(EioVersion::V3, packet)?)?;
        }
        rest = tail;
    }
    Ok(())
}

/// `<0|1><digit bytes>0xFF<packet>` records; string records count UTF-8 bytes, binary records
/// include their `0x04` type byte.
fn decode_v3_binary(body: &Bytes, push: &mut Sink<'_>) -> Result<(), EioError> {
    let mut pos = 0;
    while pos < body.len() {
        let is_text = match body[pos] {
            0 => true,
            1 => false,
            other => return Err(EioError::InvalidRecordKind(other)),
        };
        let digits_start = pos + 1;
        let terminator = body[digits_start..]
            .iter()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|&b| b == 0xff)
            .ok_or(EioError::InvalidLength)?;
        let digits = &body[digits_start..digits_start + terminator];
        if digits.is_empty() || digits.iter().any(|&d| d > 9) {
            return Err(EioError::InvalidLength);
        }
        let len = digits.iter().fold(0usize, |n, &d| n * 10 + usize::from(d));
        let start = digits_start + terminator + 1;
        if len > body.len() - start {
            return Err(EioError::LengthExceedsBody);
        }
        let record = body.slice(start..start + len);
        pos = start + len;
        if is_text {
            let text = std::str::from_utf8(&record).map_err(|_| EioError::InvalidUtf8)?;
            if !text.is_empty() {
                push(Packet::decode(EioVersion::V3, text)?)?;
            }
        } else {
            push(decode_binary_frame(EioVersion::V3, record)?)?;
        }
    }
    Ok(())
}

fn as_text(body: &Bytes) -> Result<&str, EioError> {
    std::str::from_utf8(body).map_err(|_| EioError::InvalidUtf8)
}

/// Parses the ASCII digits of a v3 text length.
fn parse_ascii_length(digits: &[u8]) -> Result<usize, EioError> {
    let valid = (1..=MAX_LENGTH_DIGITS).contains(&digits.len());
    if !valid || !digits.iter().all(u8::is_ascii_digit) {
        return Err(EioError::InvalidLength);
    }
    Ok(digits
        .iter()
        .fold(0, |n, &d| n * 10 + usize::from(d - b'0')))
}

/// Splits `text` after `units` UTF-16 code units.
fn split_utf16(text: &str, units: usize) -> Result<(&str, &str), EioError> {
    utf16::split_at_units(text, units).map_err(|e| match e {
        utf16::SplitError::ExceedsText => EioError::LengthExceedsBody,
        utf16::SplitError::SplitsSurrogatePair => EioError::SplitSurrogatePair,
    })
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    // Writing into a Vec cannot fail.
    let _ = std::io::Write::write_fmt(out, format_args!("{n}"));
}

fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    out.resize(start + data.len().div_ceil(3) * 4, 0);
    // The slice was sized to the exact padded length, so the encoder cannot run out of room.
    let _ = STANDARD.encode_slice(data, &mut out[start..]);
}
