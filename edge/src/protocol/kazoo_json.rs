//! The Kazoo 4.x JSON websocket protocol: requests, replies and event envelopes.
//!
//! This is Blackhole's "Gen 2" protocol, the one Monster UI speaks. Every frame is one JSON
//! object. The shapes below follow Kazoo 4.3 (`blackhole_socket_handler`, `bh_context`,
//! `bh_events`, `blackhole_data_emitter`):
//!
//! ```text
//! C→S {"action":"subscribe","auth_token":T,"request_id":R,"name":N,"metadata":M,
//!      "data":{"account_id":A,"binding":B}}
//! S→C {"action":"reply","request_id":R,"status":"success"|"error","data":{…}}
//! S→C {"action":"event","subscribed_key":B,"subscription_key":K,"name":N,"routing_key":RK,
//!      "data":{…}}
//! ```
//!
//! Event frames are built in two steps, so the hot path never serializes `data` twice.
//! [`normalize_data`] runs once per event and produces Kazoo's public, normalized `data`.
//! [`event_frame`] or [`event_frame_for`] then wraps those bytes once per matching subscription.
//!
//! Where this module departs from Kazoo, and why:
//! - Kazoo's handling of JSON it could not read was accidental. `kz_json:decode/1` turned it
//!   into `{}`, so the frame acted as a `noop`. But its error log crashed the socket when the
//!   syntax error was near either end of the frame. [`decode_request`] returns a [`DecodeError`]
//!   instead, with any `request_id` it could salvage, so the caller can reply and keep the socket.
//! - Event `data` keys come out sorted rather than in payload order (see [`normalize_data`]).
//! - Requests and their fields have size caps (`MAX_*`); Kazoo had none.
//! - Key normalization lowercases ASCII only. Kazoo also lowercased the bytes 0xC0–0xDE one by
//!   one, which breaks UTF-8 lead bytes, so a non-ASCII key is kept as it came.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;

use super::socketio::push_json_str;

mod event;

pub use event::{
    EventKeys, NormalizeError, PRIVATE_HEADERS, event_frame, event_frame_for, event_routing_key,
    normalize_data, normalize_key, subscription_key,
};

/// Largest request frame accepted, in bytes. A real request is well under 4 KiB (a JWT plus a
/// binding); the cap bounds the work a hostile frame can cause.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;
/// Longest `request_id`. It is echoed in every reply, so it must not be allowed to amplify.
pub const MAX_REQUEST_ID_LEN: usize = 256;
/// Longest `name` (a label shown by socket introspection).
pub const MAX_NAME_LEN: usize = 256;
/// Longest `auth_token`. Kazoo echoes a bad token in `failed to authenticate token <TOKEN>`.
pub const MAX_AUTH_TOKEN_LEN: usize = 8 * 1024;
/// Most entries in a 5.x `data.bindings` list.
pub const MAX_BINDINGS: usize = 64;

// --- requests ---------------------------------------------------------------------------------

/// One decoded client request. Every field is read from the top level, as
/// `bh_context:from_json/2` reads it. The README's `data.name` is ignored there.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: Action,
    /// The client's id, or a fresh one (Kazoo: `rand_hex(16)`) when it gave none.
    pub request_id: String,
    /// Whether `request_id` was generated here rather than sent by the client.
    pub request_id_generated: bool,
    pub auth_token: Option<String>,
    pub name: Option<String>,
    /// Any JSON value except `null`, kept as sent.
    pub metadata: Option<Value>,
    pub data: RequestData,
}

/// The request's `action`, matched case-sensitively as Kazoo routes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Subscribe,
    Unsubscribe,
    Ping,
    /// Missing, empty, or not a scalar. Kazoo used `"noop"`, and so does an explicit `"noop"`.
    Noop,
    /// Any other action. Kazoo authenticates it, then replies success with `{}`.
    Other(String),
}

impl Action {
    /// The action as Kazoo names it in its `blackhole.<stage>.<action>` bindings.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Ping => "ping",
            Self::Noop => "noop",
            Self::Other(other) => other,
        }
    }

    fn from_value(value: Option<&Value>) -> Self {
        match value.and_then(scalar_text).as_deref() {
            None | Some("noop") => Self::Noop,
            Some("subscribe") => Self::Subscribe,
            Some("unsubscribe") => Self::Unsubscribe,
            Some("ping") => Self::Ping,
            Some(other) => Self::Other(other.to_owned()),
        }
    }
}

/// What the request's `data` held. Only string values count: a key whose value is not a string
/// counts as missing. (Kazoo let it through validation and then crashed on it.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestData {
    pub shape: DataShape,
    pub account_id: Option<String>,
    pub binding: Option<String>,
    /// The 5.x `bindings` list. Elements that are not strings are skipped.
    pub bindings: Vec<String>,
}

/// Whether `data` was there, and whether it was a non-empty object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataShape {
    #[default]
    Absent,
    NotObject,
    Empty,
    Object,
}

/// Which rules [`RequestData::check_required_keys`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Kazoo 4.x: `account_id` and `binding` are both required.
    Kazoo4,
    /// The commercial 5.x extension: `account_id` is optional (the caller defaults it to the
    /// token's account), and a non-empty `bindings` list can stand in for `binding`.
    Kazoo5,
}

impl RequestData {
    fn from_value(value: Option<&Value>) -> Result<Self, DecodeErrorKind> {
        let shape = match value {
            None | Some(Value::Null) => DataShape::Absent,
            Some(Value::Object(map)) if map.is_empty() => DataShape::Empty,
            Some(Value::Object(_)) => DataShape::Object,
            Some(_) => DataShape::NotObject,
        };
        let Some(Value::Object(map)) = value else {
            return Ok(Self {
                shape,
                ..Self::default()
            });
        };
        let string = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        let bindings: Vec<String> = match map.get("bindings") {
            Some(Value::Array(items)) => {
                let strings = items.iter().filter_map(Value::as_str);
                if strings.clone().count() > MAX_BINDINGS {
                    return Err(DecodeErrorKind::TooManyBindings { max: MAX_BINDINGS });
                }
                strings.map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        Ok(Self {
            shape,
            account_id: string("account_id"),
            binding: string("binding"),
            bindings,
        })
    }

    /// Kazoo's `bh_events:validate/2`, which ran for `subscribe` and `unsubscribe` only. It
    /// reports the first problem with Kazoo's exact error.
    pub fn check_required_keys(&self, dialect: Dialect) -> Result<(), KazooError> {
        if self.shape != DataShape::Object {
            return Err(KazooError::MissingDataObject);
        }
        let mut missing = Vec::new();
        if self.account_id.is_none() && dialect == Dialect::Kazoo4 {
            missing.push("account_id");
        }
        if self.binding.is_none() && (dialect == Dialect::Kazoo4 || self.bindings.is_empty()) {
            missing.push("binding");
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(KazooError::MissingKeys(missing)),
        }
    }

    /// The bindings the request names: `binding` if present, else the 5.x `bindings` list. When
    /// both are present `binding` wins, as it did in Kazoo 4.0-dev.
    pub fn requested_bindings(&self) -> Vec<&str> {
        match &self.binding {
            Some(binding) => vec![binding.as_str()],
            None => self.bindings.iter().map(String::as_str).collect(),
        }
    }
}

/// A frame that is not a usable request. `request_id` is whatever id could be recovered, so the
/// error reply can still be correlated. When it is `None`, reply with a fresh id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub request_id: Option<String>,
}

/// Why a frame is not a usable request. `Display` is what the error reply says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("request is not valid JSON")]
    NotJson,
    #[error("request is not a JSON object")]
    NotObject,
    #[error("request is too large ({len} bytes, at most {max})")]
    TooLarge { len: usize, max: usize },
    #[error("{field} is too long (at most {max} bytes)")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("too many bindings (at most {max})")]
    TooManyBindings { max: usize },
}

impl DecodeError {
    fn new(kind: DecodeErrorKind, request_id: Option<String>) -> Self {
        Self { kind, request_id }
    }
}

impl DecodeErrorKind {
    /// A short, stable name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::NotObject => "not_object",
            Self::TooLarge { .. } => "too_large",
            Self::FieldTooLong { .. } => "field_too_long",
            Self::TooManyBindings { .. } => "too_many_bindings",
        }
    }
}

/// Decodes a request frame. A missing `request_id` gets a random one ([`random_request_id`]).
pub fn decode_request(text: &str) -> Result<Request, DecodeError> {
    decode_request_with(text, random_request_id)
}

/// [`decode_request`], with `new_request_id` supplying the id when the client sent none.
pub fn decode_request_with(
    text: &str,
    new_request_id: impl FnOnce() -> String,
) -> Result<Request, DecodeError> {
    let broken = |kind| DecodeError::new(kind, salvage_request_id(text));
    if text.len() > MAX_REQUEST_LEN {
        let (len, max) = (text.len(), MAX_REQUEST_LEN);
        return Err(broken(DecodeErrorKind::TooLarge { len, max }));
    }
    let obj = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => return Err(broken(DecodeErrorKind::NotObject)),
        Err(_) => return Err(broken(DecodeErrorKind::NotJson)),
    };
    let too_long = |field, max| DecodeErrorKind::FieldTooLong { field, max };
    // `request_id` is checked first so that every later error can carry it.
    let request_id = obj.get("request_id").and_then(scalar_text);
    if request_id.as_ref().map_or(0, String::len) > MAX_REQUEST_ID_LEN {
        let kind = too_long("request_id", MAX_REQUEST_ID_LEN);
        return Err(DecodeError::new(kind, None));
    }
    let fail = |kind| DecodeError::new(kind, request_id.clone());
    let capped = |field: &'static str, max: usize| match obj.get(field).and_then(scalar_text) {
        Some(text) if text.len() > max => Err(fail(too_long(field, max))),
        other => Ok(other),
    };
    let auth_token = capped("auth_token", MAX_AUTH_TOKEN_LEN)?;
    let name = capped("name", MAX_NAME_LEN)?;
    let data = RequestData::from_value(obj.get("data")).map_err(fail)?;
    let request_id_generated = request_id.is_none();
    Ok(Request {
        action: Action::from_value(obj.get("action")),
        request_id: request_id.unwrap_or_else(new_request_id),
        request_id_generated,
        auth_token,
        name,
        metadata: obj.get("metadata").filter(|v| !v.is_null()).cloned(),
        data,
    })
}

/// 32 random hex digits, the shape of Kazoo's `kz_binary:rand_hex(16)`.
pub fn random_request_id() -> String {
    let mut id = String::with_capacity(32);
    let _ = write!(id, "{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    id
}

/// Reads a value as `kz_json:get_ne_binary_value/2` does: a non-empty string as is, and a number
/// or boolean as its text. Anything else is treated as missing.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Recovers the string after the first `"request_id":` from a frame that is not valid JSON, or
/// not an object. This is best effort: the match might be a nested key.
fn salvage_request_id(text: &str) -> Option<String> {
    const KEY: &str = "\"request_id\"";
    let after = &text[text.find(KEY)? + KEY.len()..];
    let value = after.trim_start().strip_prefix(':')?.trim_start();
    let id = String::deserialize(&mut serde_json::Deserializer::from_str(value)).ok()?;
    (!id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN).then_some(id)
}

// --- replies ----------------------------------------------------------------------------------

/// The error strings of the protocol layer itself, spelled exactly as Kazoo spelled them
/// (clients match on them). Auth and binding errors have their own modules: pass any string to
/// [`reply_error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KazooError {
    /// `data` is missing, not an object, or `{}`.
    #[error("missing required keys in data object")]
    MissingDataObject,
    /// Listed in Kazoo's order (`account_id`, `binding`) and joined as `kz_binary:join/1` joins.
    #[error("missing required keys : {}", .0.join(", "))]
    MissingKeys(Vec<&'static str>),
    /// The session's token bucket is empty. The argument is Kazoo's session id, `<ip>:<port>`.
    #[error("rate limiting threshold hit for {0}!")]
    RateLimited(String),
}

/// `{"action":"reply","request_id":R,"status":"success","data":DATA}`. `data` is serialized by
/// serde_json, which sorts object keys; use [`reply_success_raw`] when key order matters.
pub fn reply_success(request_id: &str, data: &Value) -> String {
    reply(request_id, "success", |out| {
        let _ = write!(out, "{data}");
    })
}

/// [`reply_success`] with `data_json` inserted verbatim. It must be one JSON value.
pub fn reply_success_raw(request_id: &str, data_json: &str) -> String {
    reply(request_id, "success", |out| out.push_str(data_json))
}

/// `{"action":"reply","request_id":R,"status":"error","data":{"errors":[…]}}`.
pub fn reply_error<S: AsRef<str>>(request_id: &str, errors: &[S]) -> String {
    reply(request_id, "error", |out| {
        out.push_str("{\"errors\":");
        push_str_array(out, errors);
        out.push('}');
    })
}

/// The success reply of `subscribe` (4.x): `{"subscribed":[…]}`. Kazoo listed every
/// (client binding, internal key) pair of the session, oldest first. So `call.*.*` appears once
/// per call event it covers (nine times), and `object.*.*` twice. Pass the list you mean to send.
pub fn reply_subscribed<S: AsRef<str>>(request_id: &str, subscribed: &[S]) -> String {
    reply(request_id, "success", |out| {
        out.push_str("{\"subscribed\":");
        push_str_array(out, subscribed);
        out.push('}');
    })
}

/// The 5.x extension of [`reply_subscribed`]: `{"subscribed":[…],"subscriptions":[…]}`. The open
/// source has no sample of this reply, so this code assumes `subscriptions` is a list of strings.
pub fn reply_subscribed_ext<S: AsRef<str>, T: AsRef<str>>(
    request_id: &str,
    subscribed: &[S],
    subscriptions: &[T],
) -> String {
    reply(request_id, "success", |out| {
        out.push_str("{\"subscribed\":");
        push_str_array(out, subscribed);
        out.push_str(",\"subscriptions\":");
        push_str_array(out, subscriptions);
        out.push('}');
    })
}

/// The success reply of `unsubscribe`: `{"unsubscribed":[…],"subscribed":[…remaining]}`.
pub fn reply_unsubscribed<S: AsRef<str>, T: AsRef<str>>(
    request_id: &str,
    unsubscribed: &[S],
    subscribed: &[T],
) -> String {
    reply(request_id, "success", |out| {
        out.push_str("{\"unsubscribed\":");
        push_str_array(out, unsubscribed);
        out.push_str(",\"subscribed\":");
        push_str_array(out, subscribed);
        out.push('}');
    })
}

/// The reply to `ping` when `bh_ping` is loaded: `{"response":"pong"}`.
pub fn reply_pong(request_id: &str) -> String {
    reply_success_raw(request_id, "{\"response\":\"pong\"}")
}

/// The reply to a `noop` or unknown action after authentication: `data` is `{}`.
pub fn reply_empty(request_id: &str) -> String {
    reply_success_raw(request_id, "{}")
}

fn reply(request_id: &str, status: &str, data: impl FnOnce(&mut String)) -> String {
    let mut out = String::with_capacity(64 + request_id.len());
    out.push_str("{\"action\":\"reply\",\"request_id\":");
    push_json_str(&mut out, request_id);
    out.push_str(",\"status\":");
    push_json_str(&mut out, status);
    out.push_str(",\"data\":");
    data(&mut out);
    out.push('}');
    out
}

fn push_str_array<S: AsRef<str>>(out: &mut String, items: &[S]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, item.as_ref());
    }
    out.push(']');
}

#[cfg(test)]
mod tests;
