//! Engine.IO v3 and v4 packets, WebSocket frames and polling payloads: bytes in, packets out.
//!
//! Invariants: nothing here does I/O or panics on peer input; every length read from the wire
//! is checked against the body before slicing; v3 text lengths count UTF-16 code units (what
//! JavaScript's `String.length` counts), v3 binary-payload lengths count bytes.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::socketio::push_json_str;

/// Clients encode with padding, but Node's `Buffer.from(s, "base64")` accepts it missing, so
/// the peers we must interoperate with do too.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// More digits than any body the transports accept (maxPayload is megabytes), few enough that
/// the value cannot overflow even a 32-bit `usize`.
const MAX_LENGTH_DIGITS: usize = 9;

/// Record separator of v4 polling payloads.
const RECORD_SEPARATOR: u8 = 0x1e;

/// The Engine.IO protocol revision, from the `EIO` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EioVersion {
    /// `EIO=3`: Socket.IO 1.x/2.x clients; the client pings.
    V3,
    /// `EIO=4`: Socket.IO 3.x/4.x clients; the server pings.
    V4,
}

impl EioVersion {
    /// Parses the `EIO` query value. Anything but `3` or `4` is a 400 (the v4 test suite
    /// expects that even for a missing value, unlike Node which defaults to 3).
    pub fn from_query(value: &str) -> Result<Self, EioError> {
        match value {
            "3" => Ok(Self::V3),
            "4" => Ok(Self::V4),
            _ => Err(EioError::UnsupportedVersion),
        }
    }

    /// The `EIO` query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V3 => "3",
            Self::V4 => "4",
        }
    }
}

/// An Engine.IO transport, from the `transport` query parameter and in the open packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    Websocket,
}

impl Transport {
    /// Parses the `transport` query value.
    pub fn from_query(value: &str) -> Result<Self, EioError> {
        match value {
            "polling" => Ok(Self::Polling),
            "websocket" => Ok(Self::Websocket),
            _ => Err(EioError::UnknownTransport),
        }
    }

    /// The `transport` query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Websocket => "websocket",
        }
    }
}

/// The type digit that starts every Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Open = 0,
    Close = 1,
    Ping = 2,
    Pong = 3,
    Message = 4,
    Upgrade = 5,
    Noop = 6,
}

impl PacketType {
    /// Maps a type number (the digit's value, or the v3 binary type byte).
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Open,
            1 => Self::Close,
            2 => Self::Ping,
            3 => Self::Pong,
            4 => Self::Message,
            5 => Self::Upgrade,
            6 => Self::Noop,
            _ => return None,
        })
    }

    /// Maps the ASCII digit that starts a text packet.
    pub const fn from_digit(digit: u8) -> Option<Self> {
        match digit.checked_sub(b'0') {
            Some(n) => Self::from_u8(n),
            None => None,
        }
    }

    /// The ASCII digit written on the wire.
    pub const fn as_char(self) -> char {
        (b'0' + self as u8) as char
    }
}

/// The data of a message packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A Socket.IO packet string such as `2["subscribe",{}]` (`42[…]` once framed).
    Text(String),
    /// A binary attachment, without any Engine.IO framing.
    Binary(Bytes),
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Sent once by the server to open a session.
    Open(OpenPacket),
    Close,
    /// Optional data; the upgrade probe is `Ping(Some("probe"))`.
    Ping(Option<String>),
    Pong(Option<String>),
    Message(Payload),
    Upgrade,
    Noop,
}

impl Packet {
    /// The packet's type digit.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Open(_) => PacketType::Open,
            Self::Close => PacketType::Close,
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::Message(_) => PacketType::Message,
            Self::Upgrade => PacketType::Upgrade,
            Self::Noop => PacketType::Noop,
        }
    }

    /// A text message packet.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Message(Payload::Text(text.into()))
    }

    /// A binary message packet.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Message(Payload::Binary(data.into()))
    }

    /// Whether this is the `2probe` that opens a WebSocket upgrade.
    pub fn is_probe(&self) -> bool {
        matches!(self, Self::Ping(Some(data)) if data == "probe")
    }

    /// Decodes one packet in its text form: a WebSocket text frame or one record of a polling
    /// payload. Binary data in text form is `b4<base64>` (v3) or `b<base64>` (v4).
    pub fn decode(version: EioVersion, text: &str) -> Result<Self, EioError> {
        let bytes = text.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(EioError::EmptyPacket);
        };
        if first == b'b' {
            let base64 = match version {
                // A v3 `b` is followed by the type digit; only messages carry binary data.
                EioVersion::V3 => match bytes.get(1) {
                    Some(b'4') => &bytes[2..],
                    Some(&other) => return Err(EioError::UnexpectedBinaryType(other)),
                    None => return Err(EioError::EmptyPacket),
                },
                EioVersion::V4 => &bytes[1..],
            };
            let data = BASE64_LENIENT
                .decode(base64)
                .map_err(|_| EioError::InvalidBase64)?;
            return Ok(Self::binary(data));
        }
        let kind = PacketType::from_digit(first).ok_or(EioError::UnknownPacketType(first))?;
        // The type digit is ASCII, so index 1 is a char boundary.
        let data = &text[1..];
        let optional = || (!data.is_empty()).then(|| data.to_owned());
        Ok(match kind {
            PacketType::Open => {
                Self::Open(serde_json::from_str(data).map_err(|_| EioError::InvalidOpenPacket)?)
            }
            PacketType::Close => Self::Close,
            PacketType::Ping => Self::Ping(optional()),
            PacketType::Pong => Self::Pong(optional()),
            PacketType::Message => Self::text(data),
            PacketType::Upgrade => Self::Upgrade,
            PacketType::Noop => Self::Noop,
        })
    }

    /// Encodes the packet in its text form (binary data as base64, as a `b64=1` client or a
    /// v4 polling payload needs it).
    pub fn encode(&self, version: EioVersion) -> String {
        let mut out = String::new();
        if let Self::Message(Payload::Binary(data)) = self {
            out.push_str(match version {
                EioVersion::V3 => "b4",
                EioVersion::V4 => "b",
            });
            STANDARD.encode_string(data, &mut out);
            return out;
        }
        out.push(self.packet_type().as_char());
        match self {
            Self::Open(open) => out.push_str(&open.encode(version)),
            Self::Ping(Some(data)) | Self::Pong(Some(data)) => out.push_str(data),
            Self::Message(Payload::Text(text)) => out.push_str(text),
            _ => {}
        }
        out
    }
}

/// The handshake data of the open packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket {
    /// The Engine.IO session id.
    pub sid: String,
    /// `[Websocket]` on a polling handshake, empty on a WebSocket-only session.
    pub upgrades: Vec<Transport>,
    #[serde(rename = "pingInterval")]
    pub ping_interval_ms: u64,
    #[serde(rename = "pingTimeout")]
    pub ping_timeout_ms: u64,
    /// The largest POST body in bytes. Sent to v4 clients only (v3 clients ignore it); a
    /// decoded v3 open packet carries 0.
    #[serde(default)]
    pub max_payload: u64,
}

impl OpenPacket {
    /// The JSON of the open packet, without the `0` type digit, keys in the reference order:
    /// `sid, upgrades, pingInterval, pingTimeout` and, for v4, `maxPayload`. Written by hand so
    /// that order is fixed here rather than by a serializer's field order.
    pub fn encode(&self, version: EioVersion) -> String {
        let upgrades: Vec<String> = self
            .upgrades
            .iter()
            .map(|t| format!("\"{}\"", t.as_str()))
            .collect();
        let mut out = String::from("{\"sid\":");
        push_json_str(&mut out, &self.sid);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            ",\"upgrades\":[{}],\"pingInterval\":{},\"pingTimeout\":{}",
            upgrades.join(","),
            self.ping_interval_ms,
            self.ping_timeout_ms
        );
        if version == EioVersion::V4 {
            let _ = write!(out, ",\"maxPayload\":{}", self.max_payload);
        }
        out.push('}');
        out
    }
}

/// One WebSocket data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame; always valid UTF-8.
    Text(Bytes),
    Binary(Bytes),
}

/// Decodes a WebSocket text frame.
pub fn decode_text_frame(version: EioVersion, text: &str) -> Result<Packet, EioError> {
    Packet::decode(version, text)
}

/// Decodes a WebSocket binary frame: v3 frames start with the type byte `0x04`, v4 frames are
/// the raw attachment.
pub fn decode_binary_frame(version: EioVersion, frame: Bytes) -> Result<Packet, EioError> {
    match version {
        EioVersion::V3 => match frame.first() {
            Some(&4) => Ok(Packet::binary(frame.slice(1..))),
            Some(&other) => Err(EioError::UnexpectedBinaryType(other)),
            None => Err(EioError::EmptyPacket),
        },
        EioVersion::V4 => Ok(Packet::binary(frame)),
    }
}

/// Encodes a packet as one WebSocket frame; binary messages go out as binary frames (the
/// WebSocket transport always supports binary, even for `b64=1` sessions).
pub fn encode_frame(version: EioVersion, packet: &Packet) -> WsFrame {
    match packet {
        Packet::Message(Payload::Binary(data)) => WsFrame::Binary(match version {
            EioVersion::V3 => {
                let mut framed = Vec::with_capacity(data.len() + 1);
                framed.push(4);
                framed.extend_from_slice(data);
                Bytes::from(framed)
            }
            EioVersion::V4 => data.clone(),
        }),
        _ => WsFrame::Text(Bytes::from(packet.encode(version))),
    }
}

/// An Engine.IO text packet encoded once and shared, reference-counted, by every recipient of
/// a fan-out. It is the WebSocket text frame of both versions and the v4 polling record; the
/// v3 polling record only adds a `<len>:` prefix, whose length is measured here once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMessage {
    /// The packet text, type digit included; valid UTF-8.
    packet: Bytes,
    /// The UTF-16 length of `packet`, for v3 polling records.
    utf16_len: usize,
}

impl SharedMessage {
    /// Wraps an already-encoded Engine.IO packet text without copying it, typically the
    /// `42["CHANNEL_CREATE",{…}]` of [`socketio::event_frame`](super::socketio::event_frame).
    pub fn from_encoded(packet: Bytes) -> Result<Self, EioError> {
        let first = *packet.first().ok_or(EioError::EmptyPacket)?;
        PacketType::from_digit(first).ok_or(EioError::UnknownPacketType(first))?;
        let utf16_len = utf16_len(&packet)?;
        Ok(Self { packet, utf16_len })
    }

    /// Frames a Socket.IO packet string (`2[…]`) as a message packet, copying it once.
    pub fn message(socketio_packet: &[u8]) -> Result<Self, EioError> {
        let mut packet = Vec::with_capacity(socketio_packet.len() + 1);
        packet.push(b'4');
        packet.extend_from_slice(socketio_packet);
        Self::from_encoded(Bytes::from(packet))
    }

    /// The packet text, type digit included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.packet
    }

    /// The WebSocket text frame (identical for v3 and v4).
    pub fn ws_frame(&self) -> WsFrame {
        WsFrame::Text(self.packet.clone())
    }
}

/// The UTF-16 length of UTF-8 text, as JavaScript's `String.length` counts it.
pub fn utf16_len(utf8: &[u8]) -> Result<usize, EioError> {
    let text = std::str::from_utf8(utf8).map_err(|_| EioError::InvalidUtf8)?;
    // On valid UTF-8, every char contributes one non-continuation byte, and only the 4-byte
    // forms (lead byte 0xF0..) lie outside the BMP and take a surrogate pair.
    Ok(text
        .bytes()
        .map(|b| match b {
            0x80..=0xbf => 0,
            0xf0.. => 2,
            _ => 1,
        })
        .sum())
}

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
    // A UTF-16 unit never takes less than one UTF-8 byte, so this bounds the walk below.
    if units > text.len() {
        return Err(EioError::LengthExceedsBody);
    }
    let mut count = 0;
    for (index, c) in text.char_indices() {
        if count == units {
            return Ok(text.split_at(index));
        }
        count += c.len_utf16();
        if count > units {
            return Err(EioError::SplitSurrogatePair);
        }
    }
    if count == units {
        Ok((text, ""))
    } else {
        Err(EioError::LengthExceedsBody)
    }
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

/// Why an Engine.IO input was rejected. Every variant is the peer's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EioError {
    #[error("unsupported Engine.IO version")]
    UnsupportedVersion,
    #[error("unknown transport")]
    UnknownTransport,
    #[error("empty packet")]
    EmptyPacket,
    #[error("unknown packet type byte {0:#04x}")]
    UnknownPacketType(u8),
    #[error("binary data with packet type byte {0:#04x}; only messages carry binary data")]
    UnexpectedBinaryType(u8),
    #[error("invalid open packet JSON")]
    InvalidOpenPacket,
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    #[error("empty payload")]
    EmptyPayload,
    #[error("payload record length is missing, not decimal or too long")]
    InvalidLength,
    #[error("payload record length runs past the end of the body")]
    LengthExceedsBody,
    #[error("payload record length cuts a UTF-16 surrogate pair")]
    SplitSurrogatePair,
    #[error("binary payload record kind {0:#04x} is neither 0 (text) nor 1 (binary)")]
    InvalidRecordKind(u8),
    #[error("payload has more than {max} packets")]
    TooManyPackets { max: usize },
}

#[cfg(test)]
mod tests;
