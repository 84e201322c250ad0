//! Client bindings: every Kazoo binding form, validated and matched against routing keys.
//!
//! A client names what it wants with a dotted binding string in the syntax of the Kazoo
//! generation it was written for. [`Binding::parse`] validates it with Kazoo's own rules and
//! error strings ([`BindingError`]) and compiles it to an AMQP topic pattern over the
//! *client-facing* routing keys that `blackhole_bus::route` puts in every envelope. Those keys
//! never hold the account (the Redis channel already scopes each event to one account), so no
//! binding names one either: a `DB` or account word in a legacy form is ignored.
//!
//! | client binding (generation)                      | pattern over client-facing keys          | kind       |
//! |--------------------------------------------------|------------------------------------------|------------|
//! | `call.{EVENT}.{CALL_ID}` (all)                   | `call.{EVENT}.{CALL_ID}`                 | call       |
//! | `call.#` (AMQP spelling of `call.*.*`)           | `call.{EVENT}.*`, every supported EVENT  | call       |
//! | `conference.event.*` (3.x: every event)          | `conference.event.#`                     | conference |
//! | `conference.event.{CONF}` (3.x)                  | `conference.event.*.{CONF}.*`            | conference |
//! | `conference.event.{CONF}.{CALL}[.{EVENT}]` (4.x) | `conference.event.{EVENT}.{CONF}.{CALL}` | conference |
//! | `conference.event.{EVENT}.{CONF}.{CALL}` (5.x)   | `conference.event.{EVENT}.{CONF}.{CALL}` | conference |
//! | `conference.command.{CONF}` (4.x)                | `conference.command.{CONF}`              | conference |
//! | `fax.status.{FAX_ID}` (all)                      | `fax.status.{FAX_ID}`                    | fax        |
//! | `fax.object.{ACTION}` (4.x)                      | `object.{ACTION}.fax.*`                  | object     |
//! | `object.{ACTION}.{TYPE}`, `object.#` (4.x)       | `object.{ACTION}.{TYPE}.*`               | object     |
//! | `{ACTION}.{DB}.{TYPE}[.{ID}]` (3.x)              | `object.{ACTION}.{TYPE}.{ID}`            | object     |
//!
//! (3.x documents: `doc_edited.*.user.*`; `ACTION` is `doc_created`, `doc_edited` or
//! `doc_deleted`.)
//!
//! Invariants the hub relies on:
//! - a binding matches events of exactly one [`EventKind`] ([`Binding::kind`]);
//! - [`Binding::matches`] never allocates and runs in O(key words × pattern words);
//! - `call` wildcards stand for the call events Kazoo serves ([`CALL_EVENTS`]), never for every
//!   event ingest might carry on `callevt`;
//! - a wildcard in the last (id) position matches one *or more* words, because ingest keeps an id
//!   that Kazoo left unencoded whole, dots included;
//! - an id the client gives literally matches the id as Kazoo encodes it in routing keys
//!   (`.` → `%2E`, `@` → `%40`, …), as `blackhole_bus::route::encode_word` encodes it, and as
//!   given, so raw SIP call-ids and ids copied from a `routing_key` both work.
//!
//! Also here: the event name each client generation expects ([`legacy_event_name`] for
//! socket.io clients of Kazoo 3.x, [`json_event_name`] for the Kazoo 4.x JSON protocol).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use blackhole_bus::EventKind;
use blackhole_bus::route::encode_word;

/// Longest binding accepted, in bytes. Kazoo had no limit; ours bounds parse work and the size
/// of error strings that echo the binding back.
pub const MAX_BINDING_LEN: usize = 256;

/// Most words (dot-separated) a binding may have; the longest real form has 5.
pub const MAX_BINDING_WORDS: usize = 16;

/// Call events Kazoo's `bh_call` serves (4.3's nine, plus the recording events the 3.x docs
/// show as `call.RECORD_STOP.*`). A `*` event means these, not every `callevt` event.
#[rustfmt::skip]
pub const CALL_EVENTS: &[&str] = &[
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY", "CHANNEL_HOLD", "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE", "PARK_PARKED", "PARK_RETRIEVED", "PARK_ABANDONED",
    "RECORD_START", "RECORD_STOP",
];

/// Conference event words: Kazoo's default `publish_conference_event` list first, then
/// FreeSWITCH actions an operator may add to that list, then the 3.x `participants_event`
/// (ingest files 3.x participant lists under that event word).
#[rustfmt::skip]
pub const CONFERENCE_EVENTS: &[&str] = &[
    // Kazoo's defaults.
    "conference-create", "conference-destroy", "lock", "unlock", "add-member", "del-member",
    "stop-talking", "start-talking", "mute-member", "unmute-member", "deaf-member",
    "undeaf-member",
    // Other FreeSWITCH conference actions.
    "kick-member", "hup-member", "energy-level-member", "volume-in-member", "volume-out-member",
    "floor-change", "video-floor-change", "play-file", "play-file-done", "play-file-member",
    "play-file-member-done", "start-recording", "stop-recording", "pause-recording",
    "resume-recording",
    // Kazoo 3.x.
    "participants_event",
];

/// Document actions (`kapi_conf`'s `DOC_ACTIONS`).
pub const DOC_ACTIONS: &[&str] = &["doc_created", "doc_edited", "doc_deleted"];

/// Document types clients may bind to (`doc_types.hrl`'s `DOC_TYPES`, Kazoo 4.3).
#[rustfmt::skip]
pub const DOC_TYPES: &[&str] = &[
    "account", "callflow", "device", "faxbox", "media", "user", "vmbox", "fax",
    "mailbox_message", "call_recording",
];

/// Why a binding was refused. `Display` is the exact string Kazoo put in `data.errors` (clients
/// match on it); [`BindingError::reason`] is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// No module serves the binding's first word.
    #[error("no available subscriptions to requested binding")]
    NoSubscriptions,
    /// A known module, but an event (or `action.type` for documents) it does not serve.
    #[error("event {0} not supported")]
    EventNotSupported(String),
    /// A known module, but the wrong number or kind of words; `keys` are the words after the
    /// module's, joined with `", "` as Kazoo's `kz_binary:join/1` does.
    #[error("invalid format for {module} subscription : {keys}")]
    InvalidFormat {
        /// The module: `call`, `conference`, `fax` or `object`.
        module: &'static str,
        /// The client's words after the module word.
        keys: String,
    },
    /// A conference binding with `*` where the conference id goes.
    #[error("ConferenceId required")]
    ConferenceIdRequired,
    /// A 4.x conference binding naming an unknown conference event.
    #[error("Unsupported conference event {0}")]
    UnsupportedConferenceEvent(String),
    /// Longer than [`MAX_BINDING_LEN`] bytes or [`MAX_BINDING_WORDS`] words (no Kazoo string
    /// exists: Kazoo had no limit).
    #[error("binding too long (at most 256 bytes and 16 words)")]
    TooLong,
}

impl BindingError {
    /// A short, stable name for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoSubscriptions => "unknown_binding",
            Self::EventNotSupported(_) => "unsupported_event",
            Self::InvalidFormat { .. } => "invalid_format",
            Self::ConferenceIdRequired => "conference_id_required",
            Self::UnsupportedConferenceEvent(_) => "unsupported_conference_event",
            Self::TooLong => "too_long",
        }
    }
}

/// One client binding: the client's string, the kind of events it can match, and the compiled
/// pattern over client-facing routing keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Binding {
    /// Exactly as the client sent it: echoed as `subscribed_key` and in `subscribed` lists, and
    /// how unsubscribe finds it.
    raw: Box<str>,
    kind: EventKind,
    pattern: Box<[Word]>,
}

impl Binding {
    /// Parses a client binding of any generation (see the module documentation).
    pub fn parse(raw: &str) -> Result<Self, BindingError> {
        let word_count = raw.bytes().filter(|&b| b == b'.').count() + 1;
        if raw.len() > MAX_BINDING_LEN || word_count > MAX_BINDING_WORDS {
            return Err(BindingError::TooLong);
        }
        let words: Vec<&str> = raw.split('.').collect();
        let (kind, pattern) = match words.as_slice() {
            ["call", keys @ ..] => call(keys)?,
            ["conference", keys @ ..] => conference(keys)?,
            ["fax", keys @ ..] => fax(keys)?,
            ["object", keys @ ..] => object(keys)?,
            [
                action @ ("doc_created" | "doc_edited" | "doc_deleted"),
                keys @ ..,
            ] => legacy_object(action, keys)?,
            _ => return Err(BindingError::NoSubscriptions),
        };
        Ok(Self {
            raw: raw.into(),
            kind,
            pattern: pattern.into_boxed_slice(),
        })
    }

    /// The binding exactly as the client sent it (Kazoo's `subscribed_key`).
    pub fn client_key(&self) -> &str {
        &self.raw
    }

    /// The only kind of event this binding can match.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Whether an event of `kind` with the client-facing `routing_key` is wanted.
    pub fn matches(&self, kind: EventKind, routing_key: &str) -> bool {
        kind == self.kind && topic_matches(&self.pattern, routing_key)
    }
}

impl FromStr for Binding {
    type Err = BindingError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One word of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Word {
    /// Exactly this word.
    Lit(Box<str>),
    /// Any of these spellings of one client-given id.
    OneOf(Box<[Box<str>]>),
    /// Any word of a fixed set (a `*` that Kazoo limits to what it serves).
    Known(&'static [&'static str]),
    /// Exactly one word.
    Star,
    /// Zero or more words.
    Hash,
}

impl Word {
    fn lit(word: &str) -> Self {
        Self::Lit(word.into())
    }

    /// Whether this word matches `word`; `Hash` is handled by [`topic_matches`].
    fn accepts(&self, word: &str) -> bool {
        match self {
            Self::Lit(lit) => **lit == *word,
            Self::OneOf(lits) => lits.iter().any(|lit| **lit == *word),
            Self::Known(set) => set.contains(&word),
            Self::Star | Self::Hash => true,
        }
    }
}

/// AMQP topic matching: `*` is one word, `#` zero or more. Words are matched left to right and
/// only the most recent `#` is ever widened (the classic glob algorithm): widening an earlier `#`
/// can never succeed where widening the later one failed, so there is no exponential
/// backtracking, and no allocation: key words are byte offsets into `key`.
fn topic_matches(pattern: &[Word], key: &str) -> bool {
    let mut p = 0;
    // Offset of the next key word; `None` once the key is used up. An empty key has no words.
    let mut next = (!key.is_empty()).then_some(0);
    // After the last `#`: the pattern index to resume at and the key offset that `#` reaches.
    let mut widen: Option<(usize, usize)> = None;
    while let Some(at) = next {
        let (word, after) = key_word(key, at);
        match pattern.get(p) {
            Some(Word::Hash) => {
                widen = Some((p + 1, at));
                p += 1;
                continue;
            }
            Some(w) if w.accepts(word) => {
                p += 1;
                next = after;
                continue;
            }
            _ => {}
        }
        let Some((resume, reach)) = widen else {
            return false;
        };
        // Let the last `#` swallow one more key word and retry what follows it.
        let (_, past) = key_word(key, reach);
        p = resume;
        next = past;
        widen = past.map(|past| (resume, past));
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|w| *w == Word::Hash)
}

/// The key word starting at byte `at` and the offset of the word after it, if any.
fn key_word(key: &str, at: usize) -> (&str, Option<usize>) {
    let rest = key.get(at..).unwrap_or_default();
    match rest.find('.') {
        Some(dot) => (&rest[..dot], Some(at + dot + 1)),
        None => (rest, None),
    }
}

/// A parsed binding before it is boxed.
type Compiled = (EventKind, Vec<Word>);

fn is_wildcard(word: &str) -> bool {
    word == "*" || word == "#"
}

fn invalid(module: &'static str, keys: &[&str]) -> BindingError {
    BindingError::InvalidFormat {
        module,
        keys: keys.join(", "),
    }
}

/// Appends the pattern for a client-given id (call, conference, fax or document id).
/// A wildcard in the last position matches one or more words (ingest keeps an unencoded id
/// whole); elsewhere it is one word, since every key of a kind has the same number of words.
fn push_id(pattern: &mut Vec<Word>, id: &str, last: bool) {
    if is_wildcard(id) {
        pattern.push(Word::Star);
        if last {
            pattern.push(Word::Hash);
        }
        return;
    }
    let mut spellings: Vec<Box<str>> = Vec::with_capacity(3);
    // As given: Kazoo bound a one-word id verbatim, so an id copied from a routing key works.
    if !id.contains('.') {
        spellings.push(id.into());
    }
    for spelling in [kazoo_encode(id), encode_word(id).into_owned()] {
        if !spellings.iter().any(|s| **s == *spelling) {
            spellings.push(spelling.into());
        }
    }
    pattern.push(match spellings.len() {
        1 => Word::Lit(spellings.remove(0)),
        _ => Word::OneOf(spellings.into_boxed_slice()),
    });
}

/// `kz_amqp_util:encode/1`: how Kazoo encodes ids in its routing keys (form-urlencoding; only
/// ASCII letters, digits and `-~_` are kept, a space becomes `+`).
fn kazoo_encode(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(id.len() * 3);
    for &b in id.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'~' | b'_' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

/// `call.{EVENT}.{CALL_ID}`. Kazoo requires exactly three words; we also take a raw call-id
/// whose dots split it into more words (Kazoo refused those, and no key could have matched),
/// but not a tail holding wildcards or empty words, which stays Kazoo's format error.
fn call(keys: &[&str]) -> Result<Compiled, BindingError> {
    let (event, call_id) = match keys {
        // `#` already means "every event of every call"; refusing it would only surprise
        // clients that speak AMQP rather than Kazoo.
        ["#"] => ("*", Cow::Borrowed("*")),
        [event, call_id] => (*event, Cow::Borrowed(*call_id)),
        [event, tail @ ..]
            if tail.len() > 1 && tail.iter().all(|w| !w.is_empty() && !is_wildcard(w)) =>
        {
            (*event, Cow::Owned(tail.join(".")))
        }
        _ => return Err(invalid("call", keys)),
    };
    let event = match event {
        "*" => Word::Known(CALL_EVENTS),
        known if CALL_EVENTS.contains(&known) => Word::lit(known),
        other => return Err(BindingError::EventNotSupported(other.to_owned())),
    };
    let mut pattern = vec![Word::lit("call"), event];
    push_id(&mut pattern, &call_id, true);
    Ok((EventKind::Call, pattern))
}

/// Every generation's conference forms. The 4.x `{CONF}.{CALL}.{EVENT}` and 5.x
/// `{EVENT}.{CONF}.{CALL}` forms both have five words: the 5.x reading wins when the third word
/// is a known conference event or a wildcard (a 4.x conference id is neither, and a 4.x `*`
/// conference is refused either way), so `conference.event.*.{CONF}.*` is 5.x.
fn conference(keys: &[&str]) -> Result<Compiled, BindingError> {
    let mut pattern = vec![Word::lit("conference")];
    match keys {
        ["command", conf] => {
            if is_wildcard(conf) {
                return Err(BindingError::ConferenceIdRequired);
            }
            pattern.push(Word::lit("command"));
            push_id(&mut pattern, conf, true);
        }
        // 3.x: every conference event of the account (the original docs' example).
        ["event", all] if is_wildcard(all) => {
            pattern.extend([Word::lit("event"), Word::Hash]);
        }
        // 3.x: every event of one conference.
        ["event", conf] => {
            pattern.extend([Word::lit("event"), Word::Star]);
            push_id(&mut pattern, conf, false);
            push_id(&mut pattern, "*", true);
        }
        // 4.x: `{CONF}.{CALL}`, every event (4.3 required CALL to be `*`; 5.x master did not).
        ["event", conf, call] => {
            if is_wildcard(conf) {
                return Err(BindingError::ConferenceIdRequired);
            }
            pattern.extend([Word::lit("event"), Word::Star]);
            push_id(&mut pattern, conf, false);
            push_id(&mut pattern, call, true);
        }
        ["event", first, second, third] => {
            let (event, conf, call) = if is_wildcard(first) || CONFERENCE_EVENTS.contains(first) {
                (*first, *second, *third)
            } else {
                (*third, *first, *second)
            };
            if is_wildcard(conf) {
                return Err(BindingError::ConferenceIdRequired);
            }
            let event = if is_wildcard(event) {
                Word::Star
            } else if CONFERENCE_EVENTS.contains(&event) {
                Word::lit(event)
            } else {
                return Err(BindingError::UnsupportedConferenceEvent(event.to_owned()));
            };
            pattern.extend([Word::lit("event"), event]);
            push_id(&mut pattern, conf, false);
            push_id(&mut pattern, call, true);
        }
        _ => return Err(invalid("conference", keys)),
    }
    Ok((EventKind::Conference, pattern))
}

/// `fax.status.{FAX_ID}`, and `fax.object.{ACTION}`: the fax documents of the account.
fn fax(keys: &[&str]) -> Result<Compiled, BindingError> {
    match keys {
        ["status", fax_id] => {
            let mut pattern = vec![Word::lit("fax"), Word::lit("status")];
            push_id(&mut pattern, fax_id, true);
            Ok((EventKind::Fax, pattern))
        }
        ["object", action] => {
            // Kazoo accepted any action here and then bound nothing; refusing says why.
            let action = doc_action(action)
                .ok_or_else(|| BindingError::EventNotSupported((*action).to_owned()))?;
            Ok((
                EventKind::Object,
                object_pattern(action, Word::lit("fax"), "*"),
            ))
        }
        _ => Err(invalid("fax", keys)),
    }
}

/// `object.{ACTION}.{TYPE}` (4.x), and `object.#` as the AMQP spelling of `object.*.*`.
fn object(keys: &[&str]) -> Result<Compiled, BindingError> {
    let (action, doc_type) = match keys {
        ["#"] => ("*", "*"),
        [action, doc_type] => (*action, *doc_type),
        _ => return Err(invalid("object", keys)),
    };
    match (doc_action(action), doc_type_word(doc_type)) {
        (Some(action), Some(doc_type)) => {
            Ok((EventKind::Object, object_pattern(action, doc_type, "*")))
        }
        _ => Err(BindingError::EventNotSupported(format!(
            "{action}.{doc_type}"
        ))),
    }
}

/// 3.x `{ACTION}.{DB}.{TYPE}[.{ID}]`, e.g. `doc_edited.*.user.*`. The database word is ignored:
/// the subscription's account already decides whose documents match.
fn legacy_object(action: &str, keys: &[&str]) -> Result<Compiled, BindingError> {
    let (doc_type, id) = match keys {
        [_db, doc_type] => (*doc_type, "*"),
        [_db, doc_type, id] => (*doc_type, *id),
        _ => return Err(invalid("object", keys)),
    };
    let Some(type_word) = doc_type_word(doc_type) else {
        return Err(BindingError::EventNotSupported(format!(
            "{action}.{doc_type}"
        )));
    };
    Ok((
        EventKind::Object,
        object_pattern(Word::lit(action), type_word, id),
    ))
}

fn doc_action(action: &str) -> Option<Word> {
    match action {
        "*" => Some(Word::Star),
        known if DOC_ACTIONS.contains(&known) => Some(Word::lit(known)),
        _ => None,
    }
}

/// `*` means any type, as Kazoo bound `{ACTION}.{DB}.*.*` for it.
fn doc_type_word(doc_type: &str) -> Option<Word> {
    match doc_type {
        "*" => Some(Word::Star),
        known if DOC_TYPES.contains(&known) => Some(Word::lit(known)),
        _ => None,
    }
}

fn object_pattern(action: Word, doc_type: Word, id: &str) -> Vec<Word> {
    let mut pattern = vec![Word::lit("object"), action, doc_type];
    push_id(&mut pattern, id, true);
    pattern
}

/// Word `n` (0-based) of a routing key, if it has one and it is not empty.
fn key_word_at(key: &str, n: usize) -> Option<&str> {
    key.split('.').nth(n).filter(|w| !w.is_empty())
}

/// `(ACTION, TYPE)` of a document key `object.{ACTION}.{TYPE}.{ID}`.
fn doc_words(key: &str) -> Option<(&str, &str)> {
    let mut words = key.strip_prefix("object.")?.split('.');
    let action = words.next().filter(|w| !w.is_empty())?;
    let doc_type = words.next().filter(|w| !w.is_empty())?;
    Some((action, doc_type))
}

/// `event_name`, or when ingest could not name the event, the word of the key that does.
fn named<'a>(event_name: &'a str, routing_key: &'a str, word: usize) -> Cow<'a, str> {
    match event_name {
        "" => Cow::Borrowed(key_word_at(routing_key, word).unwrap_or_default()),
        name => Cow::Borrowed(name),
    }
}

/// The socket.io event name a Kazoo 3.x client listens for (Gen 1): a call's `Event-Name`
/// (`CHANNEL_CREATE`); a conference message's name (`participants_event`; Kazoo preferred
/// `Application-Name`, which ingest does not carry, so `Event-Name`); `fax.status` for every fax
/// status; `doc_<action>_<type>` for documents (`doc_edited_user`).
pub fn legacy_event_name<'a>(
    kind: EventKind,
    event_name: &'a str,
    routing_key: &'a str,
) -> Cow<'a, str> {
    match kind {
        EventKind::Call => named(event_name, routing_key, 1),
        EventKind::Conference => conference_name(event_name, routing_key),
        EventKind::Fax => Cow::Borrowed("fax.status"),
        EventKind::Object => match doc_words(routing_key) {
            Some((action, doc_type)) => Cow::Owned(format!("{action}_{doc_type}")),
            None => Cow::Borrowed(event_name),
        },
        EventKind::Other => Cow::Borrowed(event_name),
    }
}

fn conference_name<'a>(event_name: &'a str, routing_key: &'a str) -> Cow<'a, str> {
    if !event_name.is_empty() {
        return Cow::Borrowed(event_name);
    }
    if routing_key.starts_with("conference.command.") {
        Cow::Borrowed("command")
    } else {
        named(event_name, routing_key, 2)
    }
}

/// The `name` of a Kazoo 4.x JSON event envelope (Gen 2): a call's `Event-Name`; `event` for
/// conference events and `command` for conference commands; `status` for fax status; the
/// document action (`doc_created`) for documents.
pub fn json_event_name<'a>(
    kind: EventKind,
    event_name: &'a str,
    routing_key: &'a str,
) -> Cow<'a, str> {
    match kind {
        EventKind::Call => named(event_name, routing_key, 1),
        EventKind::Conference if routing_key.starts_with("conference.command.") => {
            Cow::Borrowed("command")
        }
        EventKind::Conference => Cow::Borrowed("event"),
        EventKind::Fax => Cow::Borrowed("status"),
        EventKind::Object => {
            Cow::Borrowed(doc_words(routing_key).map_or(event_name, |(action, _)| action))
        }
        EventKind::Other => Cow::Borrowed(event_name),
    }
}

#[cfg(test)]
mod tests;
