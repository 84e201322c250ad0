//! socket.io 0.9 (protocol 1) packets and framing.
//!
//! The protocol Kazoo 3.x's Blackhole spoke: `type:id:endpoint:data` packets, the `�<len>�`
//! framing of polling bodies, JSONP wrapping, and the server's canned frames.
//!
//! Invariants: no I/O and no panics on peer input; ids are checked for `u64` overflow; frame
//! lengths count UTF-16 code units (what the client's `String.length` counts) and are checked
//! against the body before slicing. Decoding is stricter than the reference parser, an
//! unanchored regex that silently drops what it cannot parse: what the 0.9 client could never
//! send is an error here, for the session layer to judge.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;

use super::socketio::push_json_str;

mod framing;
mod jsonp;

pub use framing::{FRAME_MARK, MAX_FRAMES, decode_frames, encode_frames};
pub use jsonp::{decode_jsonp_post, is_jsonp_index, jsonp, jsonp_error};

/// Server connect for the root endpoint; the 0.9 client counts as connected only once this
/// arrives on the transport.
pub const CONNECT: &str = "1::";
/// Heartbeat, in both directions.
pub const HEARTBEAT: &str = "2::";
/// Root disconnect. Sent by the server, it suppresses the client's reconnection.
pub const DISCONNECT: &str = "0::";
/// Answer to a long-poll GET that timed out with nothing queued.
pub const NOOP: &str = "8::";
/// Reply for a transport URL whose sid is unknown: reason 1 (client not handshaken), advice
/// 0 (reconnect). The client then handshakes again.
pub const UNKNOWN_SID: &str = "7:::1+0";
/// Body of the reply to every polling POST (xhr and JSONP).
pub const POST_OK: &str = "1";

/// Longest event name accepted, in bytes. Kazoo's longest names (`doc_created_<type>`) are a
/// few dozen bytes; the cap only bounds what a hostile client can make us look up.
pub const MAX_EVENT_NAME_LEN: usize = 256;
/// Longest endpoint (namespace) accepted, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 256;

/// The type digit that starts every packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Disconnect = 0,
    Connect = 1,
    Heartbeat = 2,
    Message = 3,
    Json = 4,
    Event = 5,
    Ack = 6,
    Error = 7,
    Noop = 8,
}

impl PacketType {
    /// Maps the digit's value.
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Disconnect,
            1 => Self::Connect,
            2 => Self::Heartbeat,
            3 => Self::Message,
            4 => Self::Json,
            5 => Self::Event,
            6 => Self::Ack,
            7 => Self::Error,
            8 => Self::Noop,
            _ => return None,
        })
    }

    /// The ASCII digit written on the wire.
    pub const fn as_char(self) -> char {
        (b'0' + self as u8) as char
    }
}

/// The `id[+]` header field of a message, json message or event. Ids are per-endpoint
/// counters starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId {
    pub id: u64,
    /// `+`: the sender's callback wants arguments, so the application must answer with
    /// [`ack`]. Without it the server acks automatically ([`auto_ack`]).
    pub with_data: bool,
}

/// The reason index of an error packet, as the 0.9 client's `reasons` table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    TransportNotSupported = 0,
    ClientNotHandshaken = 1,
    Unauthorized = 2,
}

/// The advice index of an error packet; the 0.9 client knows only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAdvice {
    Reconnect = 0,
}

/// One socket.io 0.9 packet. `endpoint` is `""` for the root namespace, never `/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    Disconnect {
        endpoint: String,
    },
    Connect {
        endpoint: String,
        /// The data field, raw: the client's query string (`?token=x`) for a namespace join.
        query: Option<String>,
    },
    /// Any endpoint on a heartbeat is accepted and dropped, as the reference server does.
    Heartbeat,
    Message {
        id: Option<MessageId>,
        endpoint: String,
        data: String,
    },
    Json {
        id: Option<MessageId>,
        endpoint: String,
        data: Value,
    },
    Event {
        id: Option<MessageId>,
        endpoint: String,
        name: String,
        /// `args` as the 0.9 client sees it: missing or `null` is empty, an array is the
        /// arguments, and any other value (Kazoo 3.x's bare object) is the single argument,
        /// because the client spreads `[name].concat(args)`.
        args: Vec<Value>,
    },
    Ack {
        endpoint: String,
        ack_id: u64,
        /// `None` for a plain ack (`6:::7`), `Some` after `+` (`6:::1+[…]`).
        args: Option<Vec<Value>>,
    },
    Error {
        endpoint: String,
        reason: Option<ErrorReason>,
        advice: Option<ErrorAdvice>,
    },
    Noop,
}

impl Packet {
    /// The packet's type digit.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Disconnect { .. } => PacketType::Disconnect,
            Self::Connect { .. } => PacketType::Connect,
            Self::Heartbeat => PacketType::Heartbeat,
            Self::Message { .. } => PacketType::Message,
            Self::Json { .. } => PacketType::Json,
            Self::Event { .. } => PacketType::Event,
            Self::Ack { .. } => PacketType::Ack,
            Self::Error { .. } => PacketType::Error,
            Self::Noop => PacketType::Noop,
        }
    }

    /// The endpoint; `""` for the root and for heartbeats and noops.
    pub fn endpoint(&self) -> &str {
        match self {
            Self::Disconnect { endpoint }
            | Self::Connect { endpoint, .. }
            | Self::Message { endpoint, .. }
            | Self::Json { endpoint, .. }
            | Self::Event { endpoint, .. }
            | Self::Ack { endpoint, .. }
            | Self::Error { endpoint, .. } => endpoint,
            Self::Heartbeat | Self::Noop => "",
        }
    }

    /// The message id of a message, json message or event.
    pub const fn id(&self) -> Option<MessageId> {
        match self {
            Self::Message { id, .. } | Self::Json { id, .. } | Self::Event { id, .. } => *id,
            _ => None,
        }
    }
}

/// Decodes one packet: `type ":" [id ["+"]] ":" [endpoint] [":" data]`.
pub fn decode(input: &str) -> Result<Packet, Sio09Error> {
    use PacketType as T;
    let bytes = input.as_bytes();
    let &first = bytes.first().ok_or(Sio09Error::Empty)?;
    let kind = first
        .checked_sub(b'0')
        .and_then(PacketType::from_u8)
        .ok_or(Sio09Error::UnknownPacketType(first))?;
    if bytes.get(1) != Some(&b':') {
        return Err(Sio09Error::MissingSeparator);
    }
    // Bytes 0 and 1 are ASCII, so index 2 is a char boundary.
    let (id_field, rest) = input[2..]
        .split_once(':')
        .ok_or(Sio09Error::MissingSeparator)?;
    let id = parse_message_id(id_field)?;
    // The endpoint cannot hold a colon; the data is everything after it, colons included.
    let (endpoint, data) = match rest.split_once(':') {
        Some((endpoint, data)) => (endpoint, Some(data)),
        None => (rest, None),
    };
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(Sio09Error::EndpointTooLong {
            max: MAX_ENDPOINT_LEN,
        });
    }
    if id.is_some() && !matches!(kind, T::Message | T::Json | T::Event) {
        return Err(Sio09Error::UnexpectedId(kind));
    }
    let data_present = data.is_some_and(|d| !d.is_empty());
    if data_present && matches!(kind, T::Disconnect | T::Heartbeat | T::Noop) {
        return Err(Sio09Error::UnexpectedData(kind));
    }
    let endpoint = endpoint.to_owned();
    let data = data.unwrap_or("");
    Ok(match kind {
        T::Disconnect => Packet::Disconnect { endpoint },
        T::Connect => Packet::Connect {
            endpoint,
            query: data_present.then(|| data.to_owned()),
        },
        T::Heartbeat => Packet::Heartbeat,
        T::Noop => Packet::Noop,
        T::Message => Packet::Message {
            id,
            endpoint,
            data: data.to_owned(),
        },
        T::Json => Packet::Json {
            id,
            endpoint,
            data: serde_json::from_str(data).map_err(|_| Sio09Error::InvalidJson)?,
        },
        T::Event => decode_event(id, endpoint, data)?,
        T::Ack => decode_ack(endpoint, data)?,
        T::Error => decode_error(endpoint, data)?,
    })
}

fn parse_message_id(field: &str) -> Result<Option<MessageId>, Sio09Error> {
    if field.is_empty() {
        return Ok(None);
    }
    let (digits, with_data) = match field.strip_suffix('+') {
        Some(digits) => (digits, true),
        None => (field, false),
    };
    let id = parse_decimal(digits)?;
    Ok(Some(MessageId { id, with_data }))
}

/// Parses a non-empty run of ASCII digits.
fn parse_decimal(digits: &str) -> Result<u64, Sio09Error> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Sio09Error::InvalidId);
    }
    digits
        .bytes()
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(Sio09Error::IdOverflow)
}

fn decode_event(id: Option<MessageId>, endpoint: String, data: &str) -> Result<Packet, Sio09Error> {
    // Through `Value`, not a derived struct: serde would also accept `["name"]` for one.
    let Ok(Value::Object(mut body)) = serde_json::from_str(data) else {
        return Err(Sio09Error::InvalidEvent);
    };
    let Some(Value::String(name)) = body.remove("name") else {
        return Err(Sio09Error::InvalidEvent);
    };
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(Sio09Error::EventNameTooLong {
            max: MAX_EVENT_NAME_LEN,
        });
    }
    let args = match body.remove("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(args)) => args,
        Some(single) => vec![single],
    };
    Ok(Packet::Event {
        id,
        endpoint,
        name,
        args,
    })
}

/// `<ackId>` or `<ackId>+<JSON array>`.
fn decode_ack(endpoint: String, data: &str) -> Result<Packet, Sio09Error> {
    let digits_len = data.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return Err(Sio09Error::InvalidAck);
    }
    // Digits are ASCII, so `digits_len` is a char boundary.
    let (digits, rest) = data.split_at(digits_len);
    let ack_id = parse_decimal(digits)?;
    let args = match rest.strip_prefix('+') {
        None if rest.is_empty() => None,
        None => return Err(Sio09Error::InvalidAck),
        // The reference parser reads a bare `+` as "no arguments".
        Some("") => Some(Vec::new()),
        Some(json) => Some(serde_json::from_str(json).map_err(|_| Sio09Error::InvalidAck)?),
    };
    Ok(Packet::Ack {
        endpoint,
        ack_id,
        args,
    })
}

/// `[reason]["+" advice]`, both single-digit table indices.
fn decode_error(endpoint: String, data: &str) -> Result<Packet, Sio09Error> {
    let (reason, advice) = data.split_once('+').unwrap_or((data, ""));
    let reason = match reason {
        "" => None,
        "0" => Some(ErrorReason::TransportNotSupported),
        "1" => Some(ErrorReason::ClientNotHandshaken),
        "2" => Some(ErrorReason::Unauthorized),
        _ => return Err(Sio09Error::InvalidError),
    };
    let advice = match advice {
        "" => None,
        "0" => Some(ErrorAdvice::Reconnect),
        _ => return Err(Sio09Error::InvalidError),
    };
    Ok(Packet::Error {
        endpoint,
        reason,
        advice,
    })
}

/// Encodes a packet the way the 0.9 reference encoder does: the data field is left out when
/// there is nothing to carry, and an event without arguments has no `args` key. Fields are
/// written as given; validation is the decoder's job.
pub fn encode(packet: &Packet) -> String {
    let mut out = String::new();
    out.push(packet.packet_type().as_char());
    out.push(':');
    if let Some(MessageId { id, with_data }) = packet.id() {
        let _ = write!(out, "{id}");
        if with_data {
            out.push('+');
        }
    }
    out.push(':');
    out.push_str(packet.endpoint());
    match packet {
        Packet::Connect {
            query: Some(text), ..
        }
        | Packet::Message { data: text, .. }
            if !text.is_empty() =>
        {
            out.push(':');
            out.push_str(text);
        }
        Packet::Json { data, .. } => {
            // `Value`'s Display is compact JSON, and writing into a String cannot fail.
            let _ = write!(out, ":{data}");
        }
        Packet::Event { name, args, .. } => {
            out.push_str(":{\"name\":");
            push_json_str(&mut out, name);
            if !args.is_empty() {
                out.push_str(",\"args\":");
                push_array(&mut out, args);
            }
            out.push('}');
        }
        Packet::Ack { ack_id, args, .. } => {
            let _ = write!(out, ":{ack_id}");
            if let Some(args) = args {
                out.push('+');
                push_array(&mut out, args);
            }
        }
        Packet::Error { reason, advice, .. } if reason.is_some() || advice.is_some() => {
            out.push(':');
            if let Some(reason) = reason {
                let _ = write!(out, "{}", *reason as u8);
            }
            if let Some(advice) = advice {
                let _ = write!(out, "+{}", *advice as u8);
            }
        }
        _ => {}
    }
    out
}

fn push_array(out: &mut String, values: &[Value]) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{value}");
    }
    out.push(']');
}

/// The fan-out frame `5:::{"name":"<name>","args":<args>}`, built around Kazoo's event JSON
/// object, inserted as is so a fan-out serializes each event once. Kazoo 3.x sent `args` as
/// this bare object rather than an array, and kazoo-popup reads it with `args.toObject()`.
/// `args_json_object` must be one JSON object; it comes from our bus, not from a client.
pub fn event_frame(name: &str, args_json_object: &[u8]) -> Bytes {
    let mut head = String::with_capacity(name.len() + args_json_object.len() + 24);
    head.push_str("5:::{\"name\":");
    push_json_str(&mut head, name);
    head.push_str(",\"args\":");
    let mut out = head.into_bytes();
    out.extend_from_slice(args_json_object);
    out.push(b'}');
    Bytes::from(out)
}

/// A small server event in Kazoo's shape, `args` as given (an object for `auth_failure` and
/// `error`): `5:::{"name":"auth_failure","args":{"message":…,"cause":…}}`.
pub fn event(name: &str, args: &Value) -> String {
    let mut out = String::from("5:::{\"name\":");
    push_json_str(&mut out, name);
    let _ = write!(out, ",\"args\":{args}}}");
    out
}

/// The handshake response body `<sid>:<heartbeat>:<close>:<transports>`, e.g. Kazoo's
/// `<sid>:30:30:websocket,xhr-polling`. The sid must hold no `:` or `/`; it is ours.
pub fn handshake_body(
    sid: &str,
    heartbeat_secs: u64,
    close_secs: u64,
    transports: &[&str],
) -> String {
    let transports = transports.join(",");
    format!("{sid}:{heartbeat_secs}:{close_secs}:{transports}")
}

/// The connect packet for `endpoint`: `1::` for the root, `1::/chat` to echo a namespace join.
pub fn connect(endpoint: &str) -> String {
    format!("1::{endpoint}")
}

/// The disconnect packet for `endpoint`: `0::` or `0::/chat`.
pub fn disconnect(endpoint: &str) -> String {
    format!("0::{endpoint}")
}

/// Refuses a namespace join: `7::/chat:2` (reason unauthorized, no advice).
pub fn namespace_refused(endpoint: &str) -> String {
    format!("7::{endpoint}:{}", ErrorReason::Unauthorized as u8)
}

/// Answers an id carrying `+`: `6:::<id>+[<args>]`. With no arguments it writes the plain
/// `6:::<id>`, as the reference server does; the client calls back with no arguments either way.
pub fn ack(endpoint: &str, id: u64, args: &[Value]) -> String {
    let mut out = format!("6::{endpoint}:{id}");
    if !args.is_empty() {
        out.push('+');
        push_array(&mut out, args);
    }
    out
}

/// The automatic ack the server owes for a message, json message or event whose id has no
/// `+` (`3:7::hi` → `6:::7`). `None` when the packet needs no ack, or needs one from the
/// application.
pub fn auto_ack(packet: &Packet) -> Option<String> {
    match packet.id() {
        Some(MessageId {
            id,
            with_data: false,
        }) => Some(ack(packet.endpoint(), id, &[])),
        _ => None,
    }
}

/// Why a socket.io 0.9 input was rejected. Every variant is the peer's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Sio09Error {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type byte {0:#04x}")]
    UnknownPacketType(u8),
    #[error("packet does not start with `<type>:<id>:`")]
    MissingSeparator,
    #[error("message id is not decimal digits with an optional `+`")]
    InvalidId,
    #[error("id does not fit in 64 bits")]
    IdOverflow,
    #[error("{0:?} packet carries a message id")]
    UnexpectedId(PacketType),
    #[error("{0:?} packet carries data")]
    UnexpectedData(PacketType),
    #[error("endpoint is longer than {max} bytes")]
    EndpointTooLong { max: usize },
    #[error("json message data is not valid JSON")]
    InvalidJson,
    #[error("event data is not {{\"name\":<string>,\"args\":…}}")]
    InvalidEvent,
    #[error("event name is longer than {max} bytes")]
    EventNameTooLong { max: usize },
    #[error("ack data is not `<id>` or `<id>+<JSON array>`")]
    InvalidAck,
    #[error("error data is not `[reason][+advice]` with known indices")]
    InvalidError,
    #[error("frame length is missing, zero, not decimal or too long")]
    InvalidFrameLength,
    #[error("frame length runs past the end of the body")]
    FrameExceedsBody,
    #[error("frame length cuts a UTF-16 surrogate pair")]
    SplitSurrogatePair,
    #[error("data after a frame does not start a new frame")]
    TrailingData,
    #[error("body has more than {max} frames")]
    TooManyFrames { max: usize },
    #[error("JSONP POST body has no `d` field")]
    MissingFormField,
    #[error("JSONP POST `d` field is not a form-encoded UTF-8 JSON string")]
    InvalidJsonpData,
}

#[cfg(test)]
mod tests;
