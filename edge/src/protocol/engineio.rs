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

mod payload;

pub use payload::{ContentType, PayloadEncoder, decode_payload, encode_payload};

/// Clients encode with padding, but Node's `Buffer.from(s, "base64")` accepts it missing, so
/// the peers we must interoperate with do too.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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
