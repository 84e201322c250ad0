//! Socket.IO protocol v4 (under EIO3) and v5 (under EIO4) packets: the strings carried inside
//! Engine.IO message packets, plus the server's canned replies and the fan-out event frame.
//!
//! Layering: `decode` and `encode` work on the Socket.IO packet alone (`2["subscribe",{}]`), as
//! `engineio::Payload::Text` carries it. The server-side builders (the reply helpers and the
//! fan-out [`event_frame`]) return the whole Engine.IO message instead (`42[…]`, the `4`
//! included), so what they build is already a WebSocket text frame or a polling record.
//!
//! Invariants: `decode` never panics and validates payload shapes as the v5 client parser does
//! (a packet the official client would reject must not be accepted from it either); encoders
//! write namespaces other than `/` as `<nsp>,`.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;

use super::engineio::EioVersion;

/// The root namespace, joined implicitly by EIO3 clients.
pub const ROOT_NSP: &str = "/";

/// Most attachments one binary packet may announce. Blackhole's clients send JSON; the cap
/// only bounds what a hostile client can make the session wait for.
pub const MAX_ATTACHMENTS: usize = 16;

/// Event names the client library uses for itself; emitting one kills a v5 client with a
/// parse error, so receiving one is a protocol violation too.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The Socket.IO protocol revision, fixed by the Engine.IO one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SioVersion {
    /// Protocol 4 (Socket.IO 1.x/2.x, EIO3): implicit root connect, string errors.
    V4,
    /// Protocol 5 (Socket.IO 3.x/4.x, EIO4): explicit connect with `sid`, object errors.
    V5,
}

impl From<EioVersion> for SioVersion {
    fn from(version: EioVersion) -> Self {
        match version {
            EioVersion::V3 => Self::V4,
            EioVersion::V4 => Self::V5,
        }
    }
}

/// The type digit that starts every Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    /// `ERROR` in protocol 4.
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl PacketType {
    /// Maps the digit's value.
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The ASCII digit written on the wire.
    pub const fn as_char(self) -> char {
        (b'0' + self as u8) as char
    }

    /// Whether the packet announces `<n>-` binary attachments.
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// One Socket.IO packet. `nsp` is `/` for the root namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    Connect {
        nsp: String,
        /// EIO3 clients append the `query` option to the namespace (`/admin?token=abc`); it
        /// is split off here, raw (still percent-encoded), as handshake data.
        query: Option<String>,
        /// v5 `auth` object (C→S) or `{"sid":…}` (S→C). Always an object when present.
        data: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        /// Present when the client wants an ack; ids start at 0.
        id: Option<u64>,
        /// The event name (string or number) followed by its arguments; never empty.
        data: Vec<Value>,
    },
    Ack {
        nsp: String,
        id: u64,
        data: Vec<Value>,
    },
    ConnectError {
        nsp: String,
        /// A string (protocol 4) or `{"message":…,"data":…}` (protocol 5).
        data: Value,
    },
    BinaryEvent {
        nsp: String,
        id: Option<u64>,
        /// How many Engine.IO binary messages follow, each replacing a placeholder.
        attachments: usize,
        data: Vec<Value>,
    },
    BinaryAck {
        nsp: String,
        id: u64,
        attachments: usize,
        data: Vec<Value>,
    },
}

impl Packet {
    /// The packet's type digit.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect { .. } => PacketType::Connect,
            Self::Disconnect { .. } => PacketType::Disconnect,
            Self::Event { .. } => PacketType::Event,
            Self::Ack { .. } => PacketType::Ack,
            Self::ConnectError { .. } => PacketType::ConnectError,
            Self::BinaryEvent { .. } => PacketType::BinaryEvent,
            Self::BinaryAck { .. } => PacketType::BinaryAck,
        }
    }

    /// The namespace, without any query.
    pub fn nsp(&self) -> &str {
        match self {
            Self::Connect { nsp, .. }
            | Self::Disconnect { nsp }
            | Self::Event { nsp, .. }
            | Self::Ack { nsp, .. }
            | Self::ConnectError { nsp, .. }
            | Self::BinaryEvent { nsp, .. }
            | Self::BinaryAck { nsp, .. } => nsp,
        }
    }

    /// The event name of an event whose name is a string.
    pub fn event_name(&self) -> Option<&str> {
        match self {
            Self::Event { data, .. } | Self::BinaryEvent { data, .. } => data.first()?.as_str(),
            _ => None,
        }
    }

    /// The ack id, if the packet carries one.
    pub const fn ack_id(&self) -> Option<u64> {
        match self {
            Self::Event { id, .. } | Self::BinaryEvent { id, .. } => *id,
            Self::Ack { id, .. } | Self::BinaryAck { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Decodes `<type>[<attachments>-][<nsp>,][<ackId>][<JSON>]`.
pub fn decode(input: &str) -> Result<Packet, SioError> {
    let bytes = input.as_bytes();
    let first = *bytes.first().ok_or(SioError::Empty)?;
    let kind = first
        .checked_sub(b'0')
        .and_then(PacketType::from_u8)
        .ok_or(SioError::UnknownPacketType(first))?;
    // Every delimiter below is ASCII, so each `pos` is a char boundary of `input`.
    let mut pos = 1;

    let attachments = if kind.is_binary() {
        let digits = leading_digits(&bytes[pos..]);
        if digits.is_empty() || bytes.get(pos + digits.len()) != Some(&b'-') {
            return Err(SioError::InvalidAttachments);
        }
        let n = parse_decimal(digits)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= MAX_ATTACHMENTS)
            .ok_or(SioError::TooManyAttachments {
                max: MAX_ATTACHMENTS,
            })?;
        pos += digits.len() + 1;
        n
    } else {
        0
    };

    // The namespace runs to the next comma, or to the end when the comma is missing (`0/x`).
    let mut nsp = ROOT_NSP;
    if bytes.get(pos) == Some(&b'/') {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |i| pos + i);
        nsp = &input[pos..end];
        pos = (end + 1).min(bytes.len());
    }

    let digits = leading_digits(&bytes[pos..]);
    let id = if digits.is_empty() {
        None
    } else {
        Some(parse_decimal(digits).ok_or(SioError::AckIdOverflow)?)
    };
    pos += digits.len();

    let payload = &input[pos..];
    let data: Option<Value> = if payload.is_empty() {
        None
    } else {
        Some(serde_json::from_str(payload).map_err(|_| SioError::InvalidJson)?)
    };

    build(kind, nsp, id, attachments, data)
}

/// Checks the pieces against the packet type, as the v5 parser's `isPayloadValid` does.
fn build(
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
    attachments: usize,
    data: Option<Value>,
) -> Result<Packet, SioError> {
    let invalid = || SioError::InvalidPayload(kind);
    if id.is_some()
        && matches!(
            kind,
            PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError
        )
    {
        return Err(SioError::UnexpectedAckId(kind));
    }
    let ack_id = || id.ok_or(SioError::MissingAckId(kind));
    let nsp_owned = nsp.to_owned();
    Ok(match kind {
        PacketType::Connect => {
            // Only CONNECT carries the EIO3 query: the client library appends it there alone.
            let (path, query) = match nsp.split_once('?') {
                Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
                None => (nsp_owned, None),
            };
            if data.as_ref().is_some_and(|d| !d.is_object()) {
                return Err(invalid());
            }
            Packet::Connect {
                nsp: path,
                query,
                data,
            }
        }
        PacketType::Disconnect => {
            if data.is_some() {
                return Err(invalid());
            }
            Packet::Disconnect { nsp: nsp_owned }
        }
        PacketType::ConnectError => match data {
            Some(data @ (Value::String(_) | Value::Object(_))) => Packet::ConnectError {
                nsp: nsp_owned,
                data,
            },
            _ => return Err(invalid()),
        },
        PacketType::Event | PacketType::BinaryEvent => {
            let Some(Value::Array(data)) = data else {
                return Err(invalid());
            };
            match data.first() {
                Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    return Err(SioError::ReservedEventName);
                }
                Some(Value::String(_) | Value::Number(_)) => {}
                _ => return Err(invalid()),
            }
            if kind == PacketType::Event {
                Packet::Event {
                    nsp: nsp_owned,
                    id,
                    data,
                }
            } else {
                Packet::BinaryEvent {
                    nsp: nsp_owned,
                    id,
                    attachments,
                    data,
                }
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            // Node's parser lets an ack without arguments through; it means "no arguments".
            let data = match data {
                None => Vec::new(),
                Some(Value::Array(data)) => data,
                Some(_) => return Err(invalid()),
            };
            if kind == PacketType::Ack {
                Packet::Ack {
                    nsp: nsp_owned,
                    id: ack_id()?,
                    data,
                }
            } else {
                Packet::BinaryAck {
                    nsp: nsp_owned,
                    id: ack_id()?,
                    attachments,
                    data,
                }
            }
        }
    })
}

fn leading_digits(bytes: &[u8]) -> &[u8] {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    &bytes[..len]
}

/// Parses ASCII digits; `None` on `u64` overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Encodes a packet. Payloads are written as given; validation is the decoder's job.
pub fn encode(packet: &Packet) -> String {
    let mut out = String::new();
    out.push(packet.packet_type().as_char());
    if let Packet::BinaryEvent { attachments, .. } | Packet::BinaryAck { attachments, .. } = packet
    {
        let _ = write!(out, "{attachments}-");
    }
    let query = match packet {
        Packet::Connect { query, .. } => query.as_deref(),
        _ => None,
    };
    push_nsp(&mut out, packet.nsp(), query);
    if let Some(id) = packet.ack_id() {
        let _ = write!(out, "{id}");
    }
    match packet {
        Packet::Connect {
            data: Some(data), ..
        }
        | Packet::ConnectError { data, .. } => {
            let _ = write!(out, "{data}");
        }
        Packet::Event { data, .. }
        | Packet::Ack { data, .. }
        | Packet::BinaryEvent { data, .. }
        | Packet::BinaryAck { data, .. } => push_array(&mut out, data),
        Packet::Connect { data: None, .. } | Packet::Disconnect { .. } => {}
    }
    out
}

fn push_nsp(out: &mut String, nsp: &str, query: Option<&str>) {
    if nsp.is_empty() || (nsp == ROOT_NSP && query.is_none()) {
        return;
    }
    out.push_str(nsp);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out.push(',');
}

fn push_array(out: &mut String, values: &[Value]) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // `Value`'s Display is compact JSON, and writing into a String cannot fail.
        let _ = write!(out, "{value}");
    }
    out.push(']');
}

/// The Engine.IO message `42["<name>",<payload>]` (event on `/`, `4` included), built around an
/// already-serialized payload so a fan-out encodes each event once; wrap it with
/// `engineio::SharedMessage::from_encoded`. `payload_json` must be one valid JSON value; it is
/// not checked, as it comes from our own bus, not from a client.
pub fn event_frame(name: &str, payload_json: &[u8]) -> Bytes {
    build_event_frame(name, payload_json, None)
}

/// `42["<name>",<payload>,"<offset>"]` (`4` included): the event plus the connection-state
/// recovery offset, which the v5 client records as its last position.
pub fn event_frame_with_offset(name: &str, payload_json: &[u8], offset: &str) -> Bytes {
    build_event_frame(name, payload_json, Some(offset))
}

fn build_event_frame(name: &str, payload_json: &[u8], offset: Option<&str>) -> Bytes {
    let extra = offset.map_or(0, |o| o.len() + 3);
    let mut out = Vec::with_capacity(name.len() + payload_json.len() + extra + 8);
    out.extend_from_slice(b"42[");
    escape_json_str(name, |part| out.extend_from_slice(part.as_bytes()));
    out.push(b',');
    out.extend_from_slice(payload_json);
    if let Some(offset) = offset {
        out.push(b',');
        escape_json_str(offset, |part| out.extend_from_slice(part.as_bytes()));
    }
    out.push(b']');
    Bytes::from(out)
}

/// The protocol 5 CONNECT reply: `40{"sid":"…"}`, plus `"pid"` when state recovery is on.
pub fn connect_reply_v5(nsp: &str, sid: &str, pid: Option<&str>) -> String {
    let mut out = String::from("40");
    push_nsp(&mut out, nsp, None);
    out.push_str("{\"sid\":");
    push_json_str(&mut out, sid);
    if let Some(pid) = pid {
        out.push_str(",\"pid\":");
        push_json_str(&mut out, pid);
    }
    out.push('}');
    out
}

/// The protocol 4 CONNECT reply, without payload: the implicit `40` sent right after the open
/// packet, or the `40/admin,` echo of a namespace join.
pub fn connect_reply_v4(nsp: &str) -> String {
    let mut out = String::from("40");
    push_nsp(&mut out, nsp, None);
    out
}

/// A refusal: `44/admin,"<message>"` for protocol 4 (which has no `data`), and
/// `44/admin,{"message":"…","data":…}` for protocol 5.
pub fn connect_error(
    version: SioVersion,
    nsp: &str,
    message: &str,
    data: Option<&Value>,
) -> String {
    let mut out = String::from("44");
    push_nsp(&mut out, nsp, None);
    match version {
        SioVersion::V4 => push_json_str(&mut out, message),
        SioVersion::V5 => {
            out.push_str("{\"message\":");
            push_json_str(&mut out, message);
            if let Some(data) = data {
                let _ = write!(out, ",\"data\":{data}");
            }
            out.push('}');
        }
    }
    out
}

/// The reply to a CONNECT for a namespace the server does not have.
pub fn invalid_namespace(version: SioVersion, nsp: &str) -> String {
    connect_error(version, nsp, "Invalid namespace", None)
}

/// `43<id>[…]`: answers an event that asked for an ack.
pub fn ack(nsp: &str, id: u64, data: &[Value]) -> String {
    let mut out = String::from("43");
    push_nsp(&mut out, nsp, None);
    let _ = write!(out, "{id}");
    push_array(&mut out, data);
    out
}

/// `41` / `41/admin,`: the server leaves a namespace; the client will not reconnect it.
pub fn disconnect(nsp: &str) -> String {
    let mut out = String::from("41");
    push_nsp(&mut out, nsp, None);
    out
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    escape_json_str(s, |part| out.push_str(part));
}

/// Emits `s` as a JSON string literal, quotes included, in pieces. Infallible, unlike going
/// through a serializer, and usable for both `String` and byte buffers.
fn escape_json_str(s: &str, mut emit: impl FnMut(&str)) {
    const HEX: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f",
    ];
    emit("\"");
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every escaped byte is ASCII, so these indices are char boundaries.
        emit(&s[plain_from..i]);
        if escape.is_empty() {
            emit("\\u00");
            emit(HEX[usize::from(b >> 4)]);
            emit(HEX[usize::from(b & 0xf)]);
        } else {
            emit(escape);
        }
        plain_from = i + 1;
    }
    emit(&s[plain_from..]);
    emit("\"");
}

/// Why a Socket.IO packet was rejected. Every variant is the peer's fault, and the official
/// clients answer each one by closing the connection with "parse error".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SioError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type byte {0:#04x}")]
    UnknownPacketType(u8),
    #[error("binary packet without a valid `<n>-` attachment count")]
    InvalidAttachments,
    #[error("binary packet announces more than {max} attachments")]
    TooManyAttachments { max: usize },
    #[error("ack id does not fit in 64 bits")]
    AckIdOverflow,
    #[error("{0:?} packet carries an ack id")]
    UnexpectedAckId(PacketType),
    #[error("{0:?} packet has no ack id")]
    MissingAckId(PacketType),
    #[error("payload is not valid JSON")]
    InvalidJson,
    #[error("payload shape is invalid for a {0:?} packet")]
    InvalidPayload(PacketType),
    #[error("event name is reserved")]
    ReservedEventName,
}

#[cfg(test)]
mod tests;
