//! The event side of the Kazoo 4.x JSON protocol: Kazoo's normalized `data`, computed once per
//! event, and the `event` envelope that wraps it once per matching subscription, with the
//! `subscription_key` and `routing_key` Kazoo would have written.
//!
//! Where this departs from Kazoo (sorted `data` keys, ASCII-only key lowercasing) is listed in
//! the parent module's documentation.

use std::borrow::Cow;

use blackhole_bus::{EventKind, EventMeta};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::binding::{CONFERENCE_EVENTS, json_event_name};
use crate::protocol::socketio::push_json_str;

/// Top-level AMQP headers that `kz_api:public_fields/1` deletes before an event reaches a client.
/// This is `OPTIONAL_DEFAULT_HEADERS` (4.3) without `Account-ID` and `Call-ID`, plus
/// `Deliver-To-PID`, which master adds. Only exact top-level keys are removed: a nested `Node`,
/// or a top-level `node`, reaches the client.
#[rustfmt::skip]
pub const PRIVATE_HEADERS: &[&str] = &[
    "Access-Group", "Defer-Response", "Destination-Server", "Geo-Location", "System-Log-ID",
    "Node", "Server-Queue-ID", "Raw-Headers", "Server-ID", "Request-From-PID", "Reply-To-PID",
    "AMQP-Broker", "AMQP-Broker-Zone", "Deliver-To-PID",
];

// --- events: data -----------------------------------------------------------------------------

/// Why an event payload cannot be normalized.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("event payload is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("event payload is not a JSON object")]
    NotObject,
}

/// Kazoo's event `data`: `kz_json:normalize_jobj(kz_api:public_fields(Payload))`, computed once
/// per event.
///
/// - [`PRIVATE_HEADERS`] are dropped, at the top level only, before keys are normalized.
/// - Every object key, at any depth, is ASCII-lowercased, with `-` replaced by `_`.
/// - `null` members of objects are dropped. `null` elements of arrays are kept.
///
/// Kazoo wrote members in payload order. Here they come out sorted (serde_json's map), which is
/// deterministic and means the same to a JSON client. For the same reason, when two keys
/// normalize alike (`Call-ID`, `call_id`), the one that sorts last wins, where Kazoo kept the
/// one that came last. Numbers are re-encoded by serde_json: an integer beyond 64 bits becomes
/// a float, which jiffy kept exact. Kazoo headers carry no such numbers.
pub fn normalize_data(payload_json: &[u8]) -> Result<Bytes, NormalizeError> {
    let mut top = match serde_json::from_slice(payload_json) {
        Ok(Value::Object(top)) => top,
        Ok(_) => return Err(NormalizeError::NotObject),
        Err(e) => return Err(NormalizeError::NotJson(e)),
    };
    for header in PRIVATE_HEADERS {
        top.remove(*header);
    }
    serde_json::to_vec(&normalize_object(top))
        .map(Bytes::from)
        .map_err(NormalizeError::NotJson)
}

/// One key as `kz_json:normalize_key/1` writes it, ASCII only (see the module documentation).
pub fn normalize_key(key: &str) -> Cow<'_, str> {
    if !key.bytes().any(|b| b == b'-' || b.is_ascii_uppercase()) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(key.to_ascii_lowercase().replace('-', "_"))
}

// The parser's recursion limit (128) bounds the depth of both recursions below.
fn normalize_object(object: Map<String, Value>) -> Map<String, Value> {
    object
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (normalize_key(&key).into_owned(), normalize_value(value)))
        .collect()
}

fn normalize_value(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(normalize_object(object)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_value).collect()),
        scalar => scalar,
    }
}

// --- events: envelope -------------------------------------------------------------------------

/// `{"action":"event","subscribed_key":…,"subscription_key":…,"name":…,"routing_key":…,
/// "data":<normalized_data>}`, with the members in Kazoo's order. `normalized_data` is inserted
/// verbatim: it must be the output of [`normalize_data`].
pub fn event_frame(
    subscribed_key: &str,
    subscription_key: &str,
    name: &str,
    routing_key: &str,
    normalized_data: &[u8],
) -> Bytes {
    let keys = subscribed_key.len() + subscription_key.len() + name.len() + routing_key.len();
    let mut out = String::with_capacity(keys + normalized_data.len() + 112);
    out.push_str("{\"action\":\"event\",\"subscribed_key\":");
    push_json_str(&mut out, subscribed_key);
    out.push_str(",\"subscription_key\":");
    push_json_str(&mut out, subscription_key);
    out.push_str(",\"name\":");
    push_json_str(&mut out, name);
    out.push_str(",\"routing_key\":");
    push_json_str(&mut out, routing_key);
    out.push_str(",\"data\":");
    let mut out = out.into_bytes();
    out.extend_from_slice(normalized_data);
    out.push(b'}');
    Bytes::from(out)
}

/// The envelope fields of one event that the envelope keys depend on. It borrows from an
/// [`EventMeta`], or from test values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKeys<'a> {
    /// The event's own account.
    pub account_id: &'a str,
    pub kind: EventKind,
    pub event_name: &'a str,
    /// The client-facing key, without the account (`call.CHANNEL_CREATE.<call-id>`).
    pub routing_key: &'a str,
    /// The AMQP routing key Kazoo published the event with.
    pub source_key: &'a str,
}

impl<'a> From<&'a EventMeta> for EventKeys<'a> {
    fn from(meta: &'a EventMeta) -> Self {
        Self {
            account_id: meta.account_id.as_str(),
            kind: meta.kind,
            event_name: &meta.event_name,
            routing_key: &meta.routing_key,
            source_key: &meta.source_key,
        }
    }
}

/// The whole event frame for one subscription: [`event_frame`], with the key fields computed
/// by [`subscription_key`], [`event_routing_key`] and `binding::json_event_name`.
/// `subscribed_account` is the subscription's `data.account_id` (`*` for a wildcard).
/// `binding` is the client's binding, echoed as `subscribed_key`.
pub fn event_frame_for(
    subscribed_account: &str,
    binding: &str,
    event: &EventKeys<'_>,
    normalized_data: &[u8],
) -> Bytes {
    let name = json_event_name(event.kind, event.event_name, event.routing_key);
    event_frame(
        binding,
        &subscription_key(subscribed_account, binding, event),
        &name,
        &event_routing_key(event),
        normalized_data,
    )
}

/// The event's `routing_key`. For calls, Kazoo rebuilt it from the hook as
/// `call.<event account>.<EVENT>.<encoded call-id>`, which is the client-facing key with the
/// account inserted. For every other kind it is the AMQP key as Kazoo published it.
pub fn event_routing_key<'a>(event: &EventKeys<'a>) -> Cow<'a, str> {
    match (event.kind, event.routing_key.strip_prefix("call.")) {
        (EventKind::Call, Some(rest)) => Cow::Owned(format!("call.{}.{rest}", event.account_id)),
        _ => Cow::Borrowed(event.source_key),
    }
}

/// Kazoo's `subscription_key`: the internal, account-scoped key that the client's binding
/// subscribed to and that matched this event. `A` is `subscribed_account`. `DB` is the
/// database word of the event's AMQP key: Kazoo bound the account DB or the current MODB by
/// document type (both for `*`), and the event's DB is the one that matched.
///
/// | binding                                     | `subscription_key`                        |
/// |---------------------------------------------|-------------------------------------------|
/// | `call.{E}.{ID}`                             | `call.{A}.{E}.{ID}` (`*` as `E`: see below)|
/// | `call.#`                                    | `call.{A}.{EVENT}.*`                      |
/// | `conference.event.{C}.{CALL}[.{E}]` (4.x)   | `conference.event.{E or *}.{A}.{C}.{CALL}`|
/// | `conference.event.{E}.{C}.{CALL}` (5.x)     | `conference.event.{E}.{A}.{C}.{CALL}`     |
/// | `conference.event.{C or *}` (3.x)           | `conference.event.*.{A}.{C or *}.*`       |
/// | `conference.command.{C}`                    | the binding (Kazoo had no account here)   |
/// | `fax.status.{ID}`                           | `fax.status.{A}.{ID}`                     |
/// | `fax.object.{ACTION}`                       | `{ACTION}.{DB}.fax.*`                     |
/// | `object.{ACTION}.{TYPE}` (`object.#` = `*.*`) | `{ACTION}.{DB}.{TYPE}.*`               |
/// | `{ACTION}.{DB}.{TYPE}[.{ID}]` (3.x)         | `{ACTION}.{DB}.{TYPE}.{ID or *}`          |
/// | anything else                               | the binding                               |
///
/// For `call.*.{ID}` Kazoo bound one key per call event, so `E` is the event's own EVENT. The
/// 3.x and 5.x forms had no 4.x subscription key; theirs follow the same scheme.
pub fn subscription_key(subscribed_account: &str, binding: &str, event: &EventKeys<'_>) -> String {
    let a = subscribed_account;
    let words: Vec<&str> = binding.split('.').collect();
    let db = || event_database(event, a);
    match (event.kind, words.as_slice()) {
        (EventKind::Call, ["call", "#"]) => format!("call.{a}.{}.*", call_event_word(event)),
        (EventKind::Call, ["call", e, id @ ..]) if !id.is_empty() => {
            let e = if *e == "*" { call_event_word(event) } else { e };
            format!("call.{a}.{e}.{}", id.join("."))
        }
        (EventKind::Conference, ["conference", "event", conf]) => {
            format!("conference.event.*.{a}.{conf}.*")
        }
        (EventKind::Conference, ["conference", "event", conf, call]) => {
            format!("conference.event.*.{a}.{conf}.{call}")
        }
        (EventKind::Conference, ["conference", "event", first, second, third]) => {
            let five = *first == "*" || *first == "#" || CONFERENCE_EVENTS.contains(first);
            let (e, conf, call) = match five {
                true => (first, second, third),
                false => (third, first, second),
            };
            format!("conference.event.{e}.{a}.{conf}.{call}")
        }
        (EventKind::Fax, ["fax", "status", id @ ..]) if !id.is_empty() => {
            format!("fax.status.{a}.{}", id.join("."))
        }
        (EventKind::Object, ["object", "#"]) => format!("*.{}.*.*", db()),
        (EventKind::Object, ["object", action, doc_type]) => {
            format!("{action}.{}.{doc_type}.*", db())
        }
        (EventKind::Object, ["fax", "object", action]) => format!("{action}.{}.fax.*", db()),
        (EventKind::Object, [action, _db, doc_type, id @ ..])
            if action.starts_with("doc_") && id.len() <= 1 =>
        {
            let id = id.first().copied().unwrap_or("*");
            format!("{action}.{}.{doc_type}.{id}", db())
        }
        _ => binding.to_owned(),
    }
}

/// The EVENT word of a call event: from its client-facing key, else its `Event-Name`.
fn call_event_word<'a>(event: &EventKeys<'a>) -> &'a str {
    match event.routing_key.split('.').nth(1) {
        Some(word) if !word.is_empty() => word,
        _ => event.event_name,
    }
}

/// The database word of a document event's AMQP key (`{ACTION}.{DB}.{TYPE}.{ID}`). If the key
/// has no such word, the account DB of `account` is used instead, as Kazoo's
/// `format_account_db` encodes it (`account%2Fxx%2Fyy%2Frest`).
fn event_database(event: &EventKeys<'_>, account: &str) -> String {
    match event.source_key.split('.').collect::<Vec<_>>().as_slice() {
        [_, db, _, ..] if db.starts_with("account") => (*db).to_owned(),
        _ => match (account.get(..2), account.get(2..4), account.get(4..)) {
            (Some(a), Some(b), Some(rest)) if account.len() == 32 => {
                format!("account%2F{a}%2F{b}%2F{rest}")
            }
            _ => account.to_owned(),
        },
    }
}
