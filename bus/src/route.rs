//! Where a Kazoo AMQP message goes: its account, and the routing key clients bind to.
//!
//! Kazoo publishes each family of events on its own exchange, with the account sometimes in the
//! routing key, sometimes only in the payload. [`Source`] names the families Blackhole knows;
//! [`route`] reads one message and returns its [`Route`], or why it cannot be routed.
//!
//! Client-facing routing keys never contain the account (the Redis channel already scopes the
//! event to it) and follow the binding forms of Kazoo's Blackhole:
//!
//! | exchange        | Kazoo routing key                                     | client-facing key                                |
//! |-----------------|-------------------------------------------------------|--------------------------------------------------|
//! | `callevt`       | `call.{EVENT}.{CALL_ID}`                              | `call.{EVENT}.{CALL_ID}`                         |
//! | `conference`    | `conference.event.{EVENT}.{ACCOUNT}.{CONF_ID}.{CALL_ID}` | `conference.event.{EVENT}.{CONF_ID}.{CALL_ID}` |
//! | `conference`    | `conference.event.{CONF_ID}` (3.x participants)       | `conference.event.{EVENT}.{CONF_ID}._`           |
//! | `conference`    | `conference.command.{CONF_ID}`                        | `conference.command.{CONF_ID}`                   |
//! | `faxes`         | `fax.status.{ACCOUNT}.{FAX_ID}`                       | `fax.status.{FAX_ID}`                            |
//! | `configuration` | `{ACTION}.{ACCOUNT_DB}.{TYPE}.{ID}`                   | `object.{ACTION}.{TYPE}.{ID}`                    |
//!
//! Words taken from a payload rather than from Kazoo's key are AMQP-encoded as Kazoo encodes
//! them (`.` → `%2E`, `*` → `%2A`, `#` → `%23`), so a call id never splits into two words.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::AccountId;

/// The family of a Kazoo event, as carried in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Call progress (`callevt` exchange).
    Call,
    /// Conference events and commands (`conference` exchange).
    Conference,
    /// Fax status (`faxes` exchange).
    Fax,
    /// Document changes (`configuration` exchange).
    Object,
    /// Any other exchange; the account comes from the payload.
    Other,
}

impl EventKind {
    /// The lower-case name used in the envelope and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Conference => "conference",
            Self::Fax => "fax",
            Self::Object => "object",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the messages of one exchange are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Kazoo's `callevt` exchange.
    Call,
    /// Kazoo's `conference` exchange.
    Conference,
    /// Kazoo's `faxes` exchange.
    Fax,
    /// Kazoo's `configuration` exchange (document changes).
    Configuration,
    /// Any other exchange: the account is read from the payload and the key is kept as is.
    Other,
}

impl Source {
    /// The source that reads messages of the exchange `name`.
    pub fn for_exchange(name: &str) -> Self {
        match name {
            "callevt" => Self::Call,
            "conference" => Self::Conference,
            "faxes" => Self::Fax,
            "configuration" => Self::Configuration,
            _ => Self::Other,
        }
    }

    /// The kind of the events this source produces.
    pub fn kind(self) -> EventKind {
        match self {
            Self::Call => EventKind::Call,
            Self::Conference => EventKind::Conference,
            Self::Fax => EventKind::Fax,
            Self::Configuration => EventKind::Object,
            Self::Other => EventKind::Other,
        }
    }
}

/// Where one event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The account whose channel the event is published on.
    pub account_id: AccountId,
    /// The family of the event.
    pub kind: EventKind,
    /// Kazoo's `Event-Name`, or the event word of the routing key when the payload lacks one.
    pub event_name: String,
    /// The client-facing routing key (see the module documentation).
    pub routing_key: String,
}

/// Why a message cannot be routed. Each variant is a metric label ([`RouteError::reason`]).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The body is not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The body is JSON, but not an object of Kazoo headers.
    #[error("body is not a JSON object of Kazoo headers: {0}")]
    NotObject(serde_json::Error),
    /// Neither the routing key nor the payload names a valid account.
    #[error("no account id in the routing key, Account-ID or Custom-Channel-Vars.Account-ID")]
    NoAccount,
    /// A document change in a database that belongs to no account (`system_config`, …).
    #[error("document database {0:?} belongs to no account")]
    NotAccountDatabase(String),
    /// The routing key does not have the shape Kazoo gives this exchange's keys.
    #[error("routing key {0:?} does not have the shape of this exchange's keys")]
    MalformedKey(String),
}

impl RouteError {
    /// A short, stable name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not_json",
            Self::NotObject(_) => "not_object",
            Self::NoAccount => "no_account",
            Self::NotAccountDatabase(_) => "not_account_db",
            Self::MalformedKey(_) => "malformed_key",
        }
    }
}

/// The Kazoo headers routing looks at; every other field is skipped (but still checked to be
/// valid JSON, so a truncated body is refused here rather than by a client).
#[derive(Deserialize)]
struct Headers<'a> {
    #[serde(rename = "Event-Name", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "Account-ID", borrow, default)]
    account_id: Option<Cow<'a, str>>,
    #[serde(rename = "Custom-Channel-Vars", borrow, default)]
    channel_vars: Option<ChannelVars<'a>>,
    #[serde(rename = "Call-ID", borrow, default)]
    call_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChannelVars<'a> {
    #[serde(rename = "Account-ID", borrow, default)]
    account_id: Option<Cow<'a, str>>,
}

impl Headers<'_> {
    fn parse(body: &[u8]) -> Result<Headers<'_>, RouteError> {
        serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => RouteError::NotObject(e),
            _ => RouteError::NotJson(e),
        })
    }

    /// `Account-ID`, else `Custom-Channel-Vars.Account-ID`, whichever is a valid id first.
    fn account(&self) -> Option<AccountId> {
        let top = self.account_id.as_deref();
        let ccv = self
            .channel_vars
            .as_ref()
            .and_then(|v| v.account_id.as_deref());
        [top, ccv]
            .into_iter()
            .flatten()
            .find_map(|raw| AccountId::parse(raw).ok())
    }

    fn event_name_or(&self, fallback: &str) -> String {
        match self.event_name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => fallback.to_owned(),
        }
    }
}

/// Routes one message that arrived on an exchange read by `source` with `amqp_key`.
pub fn route(source: Source, amqp_key: &str, body: &[u8]) -> Result<Route, RouteError> {
    let headers = Headers::parse(body)?;
    let words: Vec<&str> = amqp_key.split('.').collect();
    let (key_account, event_word, routing_key) = match source {
        Source::Call => call_key(&words, &headers, amqp_key)?,
        Source::Conference => conference_key(&words, &headers, amqp_key)?,
        Source::Fax => fax_key(&words, amqp_key)?,
        Source::Configuration => object_key(&words, amqp_key)?,
        Source::Other => (None, String::new(), amqp_key.to_owned()),
    };
    let account_id = key_account
        .or_else(|| headers.account())
        .ok_or(RouteError::NoAccount)?;
    Ok(Route {
        account_id,
        kind: source.kind(),
        event_name: headers.event_name_or(&event_word),
        routing_key,
    })
}

/// The pieces a source reads from a key: the account if the key holds one, the event word used
/// when the payload has no `Event-Name`, and the client-facing key.
type KeyParts = (Option<AccountId>, String, String);

/// `call.{EVENT}.{CALL_ID}`; a call id is a single encoded word, but anything after the event word
/// is kept whole so that an unencoded id still routes.
fn call_key(words: &[&str], headers: &Headers<'_>, key: &str) -> Result<KeyParts, RouteError> {
    match words {
        ["call", event, call_id @ ..] if !event.is_empty() && !call_id.is_empty() => Ok((
            None,
            (*event).to_owned(),
            format!("call.{event}.{}", call_id.join(".")),
        )),
        ["call", event] if !event.is_empty() => {
            let call_id = headers.call_id.as_deref().map(encode_word);
            let call_id = call_id.as_deref().unwrap_or("_");
            Ok((None, (*event).to_owned(), format!("call.{event}.{call_id}")))
        }
        _ => Err(RouteError::MalformedKey(key.to_owned())),
    }
}

fn conference_key(
    words: &[&str],
    headers: &Headers<'_>,
    key: &str,
) -> Result<KeyParts, RouteError> {
    match words {
        ["conference", "event", event, account, conf, call_id @ ..] if !call_id.is_empty() => Ok((
            AccountId::parse(account).ok(),
            (*event).to_owned(),
            format!("conference.event.{event}.{conf}.{}", call_id.join(".")),
        )),
        ["conference", "event", conf] => {
            let event_name = headers.event_name_or("participants_event");
            Ok((
                None,
                "participants_event".to_owned(),
                format!("conference.event.{}.{conf}._", encode_word(&event_name)),
            ))
        }
        ["conference", "command", conf, ..] => Ok((
            None,
            "command".to_owned(),
            format!("conference.command.{conf}"),
        )),
        ["conference", ..] => Ok((None, String::new(), key.to_owned())),
        _ => Err(RouteError::MalformedKey(key.to_owned())),
    }
}

fn fax_key(words: &[&str], key: &str) -> Result<KeyParts, RouteError> {
    match words {
        ["fax", "status", account, fax_id @ ..] if !fax_id.is_empty() => {
            match AccountId::parse(account) {
                Ok(account) => Ok((
                    Some(account),
                    "status".to_owned(),
                    format!("fax.status.{}", fax_id.join(".")),
                )),
                // Kazoo 3.x keyed fax status by fax id alone: the account is in the payload.
                Err(_) => Ok((None, "status".to_owned(), key.to_owned())),
            }
        }
        ["fax", "status", _fax_id] => Ok((None, "status".to_owned(), key.to_owned())),
        _ => Err(RouteError::MalformedKey(key.to_owned())),
    }
}

fn object_key(words: &[&str], key: &str) -> Result<KeyParts, RouteError> {
    match words {
        [action, db, doc_type, id @ ..] if !action.is_empty() && !doc_type.is_empty() => {
            let account = AccountId::from_database_name(db)
                .ok_or_else(|| RouteError::NotAccountDatabase((*db).to_owned()))?;
            let id = if id.is_empty() {
                "_".to_owned()
            } else {
                id.join(".")
            };
            Ok((
                Some(account),
                (*action).to_owned(),
                format!("object.{action}.{doc_type}.{id}"),
            ))
        }
        _ => Err(RouteError::MalformedKey(key.to_owned())),
    }
}

/// Encodes one routing-key word the way Kazoo does, so that it stays one word.
pub fn encode_word(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['%', '.', '*', '#']) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '*' => out.push_str("%2A"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
