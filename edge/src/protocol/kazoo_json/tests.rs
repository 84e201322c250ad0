use std::borrow::Cow;
use std::collections::HashMap;

use blackhole_bus::{AccountId, EventKind, EventMeta};
use serde_json::json;
use serde_json::value::RawValue;

use super::*;

const EXAMPLES: &str = include_str!("../../../../testdata/kazoo/v4_protocol_examples.json");
const ACCOUNT: &str = "4b8c6fec4b2597882c0390202d195419";
const ACCOUNT_DB: &str = "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419";
const CALL_ID: &str = "at6dmu4ffk97vnlp6qfq";

/// (event, captured AMQP payload, the Gen 2 envelope derived from it).
const CALL_SAMPLES: [(&str, &str, &str); 3] = [
    (
        "CHANNEL_CREATE",
        include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_CREATE.json"),
        include_str!("../../../../testdata/kazoo/v4_ws_event_CHANNEL_CREATE.DERIVED.json"),
    ),
    (
        "CHANNEL_ANSWER",
        include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_ANSWER.json"),
        include_str!("../../../../testdata/kazoo/v4_ws_event_CHANNEL_ANSWER.DERIVED.json"),
    ),
    (
        "CHANNEL_DESTROY",
        include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_DESTROY.json"),
        include_str!("../../../../testdata/kazoo/v4_ws_event_CHANNEL_DESTROY.DERIVED.json"),
    ),
];

/// The members of a JSON object as their raw text, so that member order survives.
fn raw_members(text: &str) -> HashMap<String, &RawValue> {
    serde_json::from_str(text).unwrap()
}

fn example(name: &str) -> &'static str {
    raw_members(EXAMPLES)[name].get()
}

fn client_examples() -> Vec<&'static str> {
    let members = raw_members(EXAMPLES).into_iter();
    let clients = members.filter(|(name, _)| name.starts_with("client_"));
    clients.map(|(_, raw)| raw.get()).collect()
}

fn parse(text: impl AsRef<[u8]>) -> Value {
    serde_json::from_slice(text.as_ref()).unwrap()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// Drops the whitespace between tokens: the samples are pretty-printed, our frames compact.
fn compact(raw: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in raw.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c.is_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    out
}

fn decode(text: &str) -> Result<Request, DecodeError> {
    decode_request_with(text, || "generated".to_owned())
}

fn data_of(text: &str) -> RequestData {
    decode(text).unwrap().data
}

/// The keys of an event of `ACCOUNT`: `[event name, routing key, source key]`.
fn keys<'a>(kind: EventKind, [name, key, source]: [&'a str; 3]) -> EventKeys<'a> {
    let (event_name, routing_key, source_key) = (name, key, source);
    EventKeys {
        account_id: ACCOUNT,
        kind,
        event_name,
        routing_key,
        source_key,
    }
}

// --- requests ---------------------------------------------------------------------------------

#[test]
fn every_example_request_decodes() {
    let expected = [
        ("client_subscribe", "subscribe", "b2f0c1d4"),
        ("client_subscribe_with_name_metadata", "subscribe", "r2"),
        ("client_unsubscribe", "unsubscribe", "c9"),
        ("client_ping", "ping", "p1"),
        ("client_unknown_action", "frobnicate", "u1"),
    ];
    assert_eq!(client_examples().len(), expected.len());
    for (name, action, request_id) in expected {
        let request = decode(example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = (request.action.as_str(), request.request_id.as_str());
        assert_eq!(got, (action, request_id), "{name}");
        assert!(!request.request_id_generated, "{name}");
        assert_eq!(request.auth_token.as_deref(), Some("{JWT}"), "{name}");
    }
    let unknown = decode(example("client_unknown_action")).unwrap();
    assert_eq!(unknown.action, Action::Other("frobnicate".into()));
}

#[test]
fn subscribe_examples_decode_field_by_field() {
    let request = decode(example("client_subscribe")).unwrap();
    let data = RequestData {
        shape: DataShape::Object,
        account_id: Some(ACCOUNT.into()),
        binding: Some("call.CHANNEL_CREATE.*".into()),
        bindings: vec![],
    };
    assert_eq!((request.name, request.metadata), (None, None));
    assert_eq!(request.data, data);
    assert_eq!(data.check_required_keys(Dialect::Kazoo4), Ok(()));
    assert_eq!(data.requested_bindings(), ["call.CHANNEL_CREATE.*"]);

    // `name` and `metadata` are read from the top level, as `bh_context:from_json/2` reads them.
    let request = decode(example("client_subscribe_with_name_metadata")).unwrap();
    assert_eq!(request.name.as_deref(), Some("My new socket"));
    assert_eq!(request.metadata, Some(json!({"test": "test"})));
    let (account, binding) = (request.data.account_id, request.data.binding);
    assert_eq!(account.as_deref(), Some("{ACCOUNT_ID}"));
    assert_eq!(binding.as_deref(), Some("object.doc_edited.user"));
    let nested = decode(r#"{"data":{"name":"n","metadata":{},"binding":"b"}}"#).unwrap();
    assert_eq!((nested.name, nested.metadata), (None, None));

    let unsubscribe = data_of(example("client_unsubscribe")).binding;
    assert_eq!(unsubscribe.as_deref(), Some("call.CHANNEL_CREATE.*"));
    assert_eq!(data_of(example("client_ping")).shape, DataShape::Absent);
}

#[test]
fn action_defaults_to_noop_and_matches_case_sensitively() {
    let other = |action: &str| Action::Other(action.into());
    for (json, action) in [
        ("{}", Action::Noop),
        (r#"{"action":""}"#, Action::Noop),
        (r#"{"action":null}"#, Action::Noop),
        (r#"{"action":{"a":1}}"#, Action::Noop),
        (r#"{"action":"noop"}"#, Action::Noop),
        (r#"{"action":"ping"}"#, Action::Ping),
        (r#"{"action":"Ping"}"#, other("Ping")),
        (r#"{"action":7}"#, other("7")),
    ] {
        assert_eq!(decode(json).unwrap().action, action, "{json}");
    }
    assert_eq!(Action::Noop.as_str(), "noop");
}

#[test]
fn request_id_is_read_as_kazoo_reads_it_or_generated() {
    for (json, id, generated) in [
        ("{}", "generated", true),
        (r#"{"request_id":""}"#, "generated", true),
        (r#"{"request_id":[1]}"#, "generated", true),
        (r#"{"request_id":42}"#, "42", false),
        (r#"{"request_id":"a b"}"#, "a b", false),
    ] {
        let request = decode(json).unwrap();
        let got = (request.request_id.as_str(), request.request_id_generated);
        assert_eq!(got, (id, generated), "{json}");
    }
    let random = decode_request("{}").unwrap().request_id;
    assert_eq!(random.len(), 32);
    assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(random, random_request_id());
}

#[test]
fn data_shapes_give_kazoos_validation_errors() {
    let missing = |keys: &[&'static str]| Err(KazooError::MissingKeys(keys.to_vec()));
    let no_data = Err(KazooError::MissingDataObject);
    // A non-string value counts as missing; Kazoo let it through, then crashed on it.
    let number = r#"{"data":{"account_id":"a","binding":7}}"#;
    for (json, expected) in [
        ("{}", no_data.clone()),
        (r#"{"data":null}"#, no_data.clone()),
        (r#"{"data":{}}"#, no_data.clone()),
        (r#"{"data":"x"}"#, no_data),
        (r#"{"data":{"x":1}}"#, missing(&["account_id", "binding"])),
        (r#"{"data":{"account_id":"a"}}"#, missing(&["binding"])),
        (r#"{"data":{"binding":"b"}}"#, missing(&["account_id"])),
        (number, missing(&["binding"])),
        (r#"{"data":{"account_id":"a","binding":"b"}}"#, Ok(())),
    ] {
        let got = data_of(json).check_required_keys(Dialect::Kazoo4);
        assert_eq!(got, expected, "{json}");
    }
    assert_eq!(data_of(r#"{"data":[1]}"#).shape, DataShape::NotObject);
    assert_eq!(data_of(r#"{"data":{}}"#).shape, DataShape::Empty);
}

#[test]
fn kazoo5_dialect_accepts_bindings_without_account() {
    let data = data_of(r#"{"data":{"bindings":["a.b.c",1,"d.e.f"]}}"#);
    assert_eq!(data.bindings, ["a.b.c", "d.e.f"]);
    assert_eq!(data.requested_bindings(), ["a.b.c", "d.e.f"]);
    assert_eq!(data.check_required_keys(Dialect::Kazoo5), Ok(()));
    let both = KazooError::MissingKeys(vec!["account_id", "binding"]);
    assert_eq!(data.check_required_keys(Dialect::Kazoo4), Err(both));

    let data = data_of(r#"{"data":{"binding":"x","bindings":["y"]}}"#);
    assert_eq!(data.requested_bindings(), ["x"]);
    let data = data_of(r#"{"data":{"account_id":"a"}}"#);
    let binding = KazooError::MissingKeys(vec!["binding"]);
    assert_eq!(data.check_required_keys(Dialect::Kazoo5), Err(binding));
}

// --- malformed requests -----------------------------------------------------------------------

#[test]
fn malformed_requests_are_errors_with_salvaged_ids() {
    use DecodeErrorKind::{NotJson, NotObject};
    for (text, kind, request_id) in [
        ("not json", NotJson, None),
        ("", NotJson, None),
        (r#"{"action":"ping"} trailing"#, NotJson, None),
        ("[1,2]", NotObject, None),
        (r#""subscribe""#, NotObject, None),
        ("null", NotObject, None),
        (r#"{"request_id" : "abc","data":{"#, NotJson, Some("abc")),
        (r#"[{"request_id":"r1"}]"#, NotObject, Some("r1")),
        (r#"{"request_id":7,"#, NotJson, None),
        (r#"{"request_id":"unterminated"#, NotJson, None),
    ] {
        let expected = DecodeError::new(kind, request_id.map(str::to_owned));
        assert_eq!(decode(text).unwrap_err(), expected, "{text}");
    }
    let message = decode("x").unwrap_err().to_string();
    assert_eq!(message, "request is not valid JSON");
    assert_eq!(decode("[]").unwrap_err().kind.reason(), "not_object");
}

#[test]
fn oversized_requests_and_fields_are_refused() {
    let field = |field, max| DecodeErrorKind::FieldTooLong { field, max };
    let pad = "x".repeat(MAX_REQUEST_LEN);
    let e = decode(&format!(r#"{{"request_id":"big","pad":"{pad}"}}"#)).unwrap_err();
    assert_eq!(e.kind.reason(), "too_large");
    assert_eq!(e.request_id.as_deref(), Some("big"));

    let id = "i".repeat(MAX_REQUEST_ID_LEN);
    assert!(decode(&format!(r#"{{"request_id":"{id}"}}"#)).is_ok());
    let e = decode(&format!(r#"{{"request_id":"{id}i"}}"#)).unwrap_err();
    let kind = field("request_id", MAX_REQUEST_ID_LEN);
    assert_eq!(e, DecodeError::new(kind, None));
    assert_eq!(e.to_string(), "request_id is too long (at most 256 bytes)");

    let name = "n".repeat(MAX_NAME_LEN + 1);
    let e = decode(&format!(r#"{{"request_id":"r","name":"{name}"}}"#)).unwrap_err();
    let kind = field("name", MAX_NAME_LEN);
    assert_eq!(e, DecodeError::new(kind, Some("r".into())));

    let token = "t".repeat(MAX_AUTH_TOKEN_LEN + 1);
    let e = decode(&format!(r#"{{"auth_token":"{token}"}}"#)).unwrap_err();
    assert_eq!(e.kind, field("auth_token", MAX_AUTH_TOKEN_LEN));

    let many: Vec<String> = (0..=MAX_BINDINGS).map(|i| format!("call.X.{i}")).collect();
    let e = decode(&json!({"request_id": "m", "data": {"bindings": many}}).to_string());
    let kind = DecodeErrorKind::TooManyBindings { max: MAX_BINDINGS };
    assert_eq!(e.unwrap_err(), DecodeError::new(kind, Some("m".into())));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(r#"{{"metadata":{}}}"#, "[".repeat(30_000));
    assert_eq!(decode(&deep).unwrap_err().kind, DecodeErrorKind::NotJson);
    let closed = format!("{{\"m\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert_eq!(decode(&closed).unwrap_err().kind, DecodeErrorKind::NotJson);
}

#[test]
fn mangled_requests_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x6b617a6f);
    let seeds = client_examples();
    let pieces: Vec<&str> = r#"{ } [ ] " : , \ null é \u0000 1e999"#.split(' ').collect();
    for _ in 0..3000 {
        let mut text: Vec<char> = seeds[rng.usize(..seeds.len())].chars().collect();
        for _ in 0..rng.usize(1..4) {
            let at = rng.usize(..=text.len());
            let piece = pieces[rng.usize(..pieces.len())];
            match rng.u8(..3) {
                0 => text.truncate(at),
                1 => text.splice(at..at, piece.chars()).for_each(drop),
                _ if at < text.len() => drop(text.remove(at)),
                _ => {}
            }
        }
        let text: String = text.into_iter().collect();
        if let Ok(request) = decode(&text) {
            let _ = request.data.check_required_keys(Dialect::Kazoo4);
        }
        let _ = normalize_data(text.as_bytes());
    }
}

// --- replies ----------------------------------------------------------------------------------

#[test]
fn success_replies_match_the_examples_byte_for_byte() {
    let sample = |name| compact(example(&format!("server_reply_{name}")));
    let (binding, none): (&[&str], &[&str]) = (&["call.CHANNEL_CREATE.*"], &[]);
    let subscribed = reply_subscribed("b2f0c1d4", binding);
    assert_eq!(subscribed, sample("subscribe_success"));
    let unsubscribed = reply_unsubscribed("c9", binding, none);
    assert_eq!(unsubscribed, sample("unsubscribe_success"));
    assert_eq!(reply_pong("p1"), sample("pong"));
    assert_eq!(reply_empty("u1"), sample("unknown_action"));
    let pong = reply_success("p1", &json!({"response": "pong"}));
    assert_eq!(pong, reply_pong("p1"));
    assert_eq!(reply_success("u1", &json!({})), reply_empty("u1"));
}

#[test]
fn error_replies_match_the_examples_byte_for_byte() {
    let examples: Vec<&RawValue> =
        serde_json::from_str(example("server_reply_error_examples")).unwrap();
    assert_eq!(examples.len(), 12);
    for raw in examples {
        let value = parse(raw.get());
        let id = value["request_id"].as_str().unwrap();
        let message = value["data"]["errors"][0].as_str().unwrap();
        assert_eq!(reply_error(id, &[message]), compact(raw.get()), "{id}");
    }
}

#[test]
fn protocol_errors_spell_kazoos_strings() {
    let missing = |keys: &[&'static str]| KazooError::MissingKeys(keys.to_vec()).to_string();
    let data = KazooError::MissingDataObject.to_string();
    assert_eq!(data, "missing required keys in data object");
    assert_eq!(missing(&["binding"]), "missing required keys : binding");
    let both = missing(&["account_id", "binding"]);
    assert_eq!(both, "missing required keys : account_id, binding");
    let rate = KazooError::RateLimited("10.1.2.3:53211".into()).to_string();
    assert_eq!(rate, "rate limiting threshold hit for 10.1.2.3:53211!");
}

#[test]
fn replies_escape_client_strings_and_take_extension_shapes() {
    let reply = parse(reply_error("id\"\n", &["a\\b".to_owned(), "c".to_owned()]));
    let expected = json!({"action": "reply", "request_id": "id\"\n", "status": "error",
                          "data": {"errors": ["a\\b", "c"]}});
    assert_eq!(reply, expected);

    let key = format!("call.{ACCOUNT}.CHANNEL_CREATE.*");
    let ext = reply_subscribed_ext("r", &["call.*.*"], &[&key]);
    let data = format!(r#"{{"subscribed":["call.*.*"],"subscriptions":["{key}"]}}"#);
    assert_eq!(ext, reply_success_raw("r", &data));
    let raw = reply_success_raw("r", r#"{"z":1,"a":2}"#);
    let expected = r#"{"action":"reply","request_id":"r","status":"success","data":{"z":1,"a":2}}"#;
    assert_eq!(raw, expected);
}

// --- event data -------------------------------------------------------------------------------

#[test]
fn call_payloads_normalize_to_the_derived_data() {
    for (event, amqp, derived) in CALL_SAMPLES {
        let node = &parse(amqp)["Node"];
        assert!(node.is_string(), "{event}: the sample exercises removal");
        let data = normalize_data(amqp.as_bytes()).unwrap();
        let expected = raw_members(derived)["data"].get();
        assert_eq!(parse(&data), parse(expected), "{event}");
        // Our keys come out sorted, and the samples' are sorted too: so byte for byte as well.
        assert_eq!(text(&data), compact(expected), "{event}");
    }
}

/// `payload => normalized data`, one case a line; `#` starts a comment line.
const NORMALIZATION_CASES: &str = r#"
{"A-B":{"C-D":null,"E":[null,{"F-G":1,"H":null}]},"Z":null} => {"a_b":{"e":[null,{"f_g":1}]}}
# Private headers go, at the top level only; the public ones stay.
{"Node":"x","node":"y","Custom":{"Node":"n","Server-ID":"s"},"Server-ID":"q"} => {"custom":{"node":"n","server_id":"s"},"node":"y"}
{"Account-ID":"a","Call-ID":"c","Msg-ID":"m","App-Name":"n","App-Version":"v"} => {"account_id":"a","app_name":"n","app_version":"v","call_id":"c","msg_id":"m"}
{"Event-Category":"c","Event-Name":"n","System-Log-ID":"l","Raw-Headers":"r"} => {"event_category":"c","event_name":"n"}
# Colliding keys: the one that sorts last wins, whatever the payload order.
{"Call-ID":"a","X":1,"call_id":"b"} => {"call_id":"b","x":1}
{"call_id":"b","Call-ID":"a"} => {"call_id":"b"}
{"A":{},"B":[],"C":""} => {"a":{},"b":[],"c":""}
{"F":1.5,"N":-3,"E":1e3,"T":true} => {"e":1000.0,"f":1.5,"n":-3,"t":true}
{"Ünï-Key":"\u00e9\"\u0001"} => {"Ünï_key":"é\"\u0001"}
{"A":[[{"B-C":null}]]} => {"a":[[{}]]}
"#;

#[test]
fn normalization_follows_kazoo_rules() {
    let lines = NORMALIZATION_CASES.lines();
    for case in lines.filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (payload, expected) = case.split_once(" => ").unwrap();
        let data = normalize_data(payload.as_bytes()).unwrap();
        assert_eq!(text(&data), expected, "{payload}");
    }
    let every = PRIVATE_HEADERS
        .iter()
        .map(|h| ((*h).to_owned(), json!("x")));
    let every = Value::Object(every.collect()).to_string();
    assert_eq!(text(&normalize_data(every.as_bytes()).unwrap()), "{}");
    assert_eq!(normalize_key("Custom-SIP-Headers"), "custom_sip_headers");
    assert!(matches!(normalize_key("already_normal"), Cow::Borrowed(_)));
}

#[test]
fn bad_payloads_are_errors() {
    let deep = format!("{{\"a\":{}", "{\"b\":".repeat(50_000));
    let utf8 = b"{\"a\":\"\xff\"}";
    for payload in [&b"not json"[..], b"", b"{} {}", utf8, deep.as_bytes()] {
        let result = normalize_data(payload);
        assert!(matches!(result, Err(NormalizeError::NotJson(_))));
    }
    for payload in [&b"[1]"[..], b"\"s\"", b"null", b"42"] {
        let result = normalize_data(payload);
        assert!(matches!(result, Err(NormalizeError::NotObject)));
    }
}

// --- event envelopes --------------------------------------------------------------------------

#[test]
fn call_envelopes_equal_the_derived_envelopes() {
    for (event, amqp, derived) in CALL_SAMPLES {
        let routing_key = format!("call.{event}.{CALL_ID}");
        let meta = EventMeta {
            account_id: AccountId::parse(ACCOUNT).unwrap(),
            kind: EventKind::Call,
            event_name: event.into(),
            routing_key: routing_key.clone(),
            source_key: routing_key,
            exchange: "callevt".into(),
            ingested_at_ms: 0,
        };
        let expected = parse(derived);
        let binding = expected["subscribed_key"].as_str().unwrap();
        let data = normalize_data(amqp.as_bytes()).unwrap();
        let frame = event_frame_for(ACCOUNT, binding, &EventKeys::from(&meta), &data);
        // Every member, data included, and in Kazoo's member order.
        assert_eq!(parse(&frame), expected, "{event}");
        assert_eq!(text(&frame), compact(derived), "{event}");
    }
}

#[test]
fn wildcard_call_bindings_name_the_matching_event_key() {
    let key = format!("call.CHANNEL_ANSWER.{CALL_ID}");
    let keys = keys(EventKind::Call, ["CHANNEL_ANSWER", &key, &key]);
    let sub = |account, binding: &str| subscription_key(account, binding, &keys);
    let (a, one_call) = (ACCOUNT, format!("call.*.{CALL_ID}"));
    let every = format!("call.{a}.CHANNEL_ANSWER.*");
    assert_eq!(sub(a, "call.*.*"), every);
    assert_eq!(sub(a, "call.#"), every);
    let this_call = format!("call.{a}.CHANNEL_ANSWER.{CALL_ID}");
    assert_eq!(sub(a, &one_call), this_call);
    // A superduper admin's `*` stays in the subscription key, not in the routing key.
    assert_eq!(sub("*", "call.CHANNEL_ANSWER.*"), "call.*.CHANNEL_ANSWER.*");
    assert_eq!(event_routing_key(&keys), this_call);
}

#[test]
fn object_event_example_is_reproduced() {
    let expected = parse(example("server_event_object_doc_created_user_CONSTRUCTED"));
    let payload = json!({
        "Account-ID": ACCOUNT, "App-Name": "crossbar", "App-Version": "4.3.0",
        "Database": ACCOUNT_DB, "Date-Created": 63610891956_u64, "Date-Modified": 63610891956_u64,
        "Doc": null, "Event-Category": "configuration", "Event-Name": "doc_created",
        "ID": "699ed7e3d583e2577ac017c575f87262", "Is-Soft-Deleted": false,
        "Msg-ID": "0f3e5c1a9d2b4e77", "Node": "crossbar@host", "Origin-Cache": null,
        "Rev": "1-7f0c2b0e4c1b6d2a", "Server-ID": "", "Type": "user", "Version": 1
    });
    let data = normalize_data(payload.to_string().as_bytes()).unwrap();
    assert_eq!(parse(&data), expected["data"]);

    let id = "699ed7e3d583e2577ac017c575f87262";
    let key = format!("object.doc_created.user.{id}");
    let source = format!("doc_created.{ACCOUNT_DB}.user.{id}");
    let keys = keys(EventKind::Object, ["doc_created", &key, &source]);
    let frame = event_frame_for(ACCOUNT, "object.doc_created.user", &keys, &data);
    let mut frame = parse(frame);
    frame["_note"] = expected["_note"].clone();
    assert_eq!(frame, expected);
    // pqc_blackhole's binding: Kazoo kept the `*` action in the key.
    let key = subscription_key(ACCOUNT, "object.*.user", &keys);
    assert_eq!(key, format!("*.{ACCOUNT_DB}.user.*"));
}

#[test]
fn fax_event_example_is_reproduced() {
    let expected = parse(example("server_event_fax_status_CONSTRUCTED"));
    let payload = json!({
        "Account-ID": ACCOUNT, "Job-ID": "201711-2a7e6d", "Fax-State": "send",
        "Direction": "outgoing", "Page": 2, "Status": "Sending page 2", "FaxBox-ID": "...",
        "Event-Category": "fax", "Event-Name": "status", "App-Name": "fax",
        "App-Version": "4.0.0", "Msg-ID": "...", "Server-ID": "amqp://q", "Node": "fax@host",
        "Fax-Info": null
    });
    let data = normalize_data(payload.to_string().as_bytes()).unwrap();
    assert_eq!(parse(&data), expected["data"]);

    let source = format!("fax.status.{ACCOUNT}.201711-2a7e6d");
    let keys = keys(
        EventKind::Fax,
        ["status", "fax.status.201711-2a7e6d", &source],
    );
    let mut frame = parse(event_frame_for(ACCOUNT, "fax.status.*", &keys, &data));
    frame["_note"] = expected["_note"].clone();
    assert_eq!(frame, expected);
}

/// `binding event => subscription key`, one case a line, for the events of the test below.
/// `{A}` is the account, `{DB}` its database, `{MODB}` its November 2017 MODB.
const SUBSCRIPTION_CASES: &str = "
conference.event.c1.* conf => conference.event.*.{A}.c1.*
conference.event.c1.*.add-member conf => conference.event.add-member.{A}.c1.*
conference.event.add-member.c1.* conf => conference.event.add-member.{A}.c1.*
conference.event.*.c1.* conf => conference.event.*.{A}.c1.*
conference.event.c1 conf => conference.event.*.{A}.c1.*
conference.command.c1 conf => conference.command.c1
fax.object.doc_created doc => doc_created.{MODB}.fax.*
object.*.* doc => *.{MODB}.*.*
object.# doc => *.{MODB}.*.*
doc_created.*.fax.* doc => doc_created.{MODB}.fax.*
doc_created.*.fax doc => doc_created.{MODB}.fax.*
object.doc_created.user odd => doc_created.{DB}.user.*
anything.at.all other => anything.at.all
";

#[test]
fn subscription_keys_of_other_binding_forms() {
    let modb = format!("{ACCOUNT_DB}-201711");
    let conf_source = "conference.event.add-member.acct.c1.x";
    let conf_key = "conference.event.add-member.c1.x";
    let conf = keys(EventKind::Conference, ["add-member", conf_key, conf_source]);
    let doc_source = format!("doc_created.{modb}.fax.f1");
    let doc_key = "object.doc_created.fax.f1";
    let doc = keys(EventKind::Object, ["doc_created", doc_key, &doc_source]);
    let events = HashMap::from([
        ("conf", conf),
        ("doc", doc),
        (
            "odd",
            EventKeys {
                source_key: "unexpected",
                ..doc
            },
        ),
        (
            "other",
            EventKeys {
                kind: EventKind::Other,
                ..doc
            },
        ),
    ]);
    for case in SUBSCRIPTION_CASES.lines().filter(|l| !l.is_empty()) {
        let (binding_event, expected) = case.split_once(" => ").unwrap();
        let (binding, event) = binding_event.split_once(' ').unwrap();
        let expected = expected.replace("{A}", ACCOUNT).replace("{MODB}", &modb);
        let expected = expected.replace("{DB}", ACCOUNT_DB);
        let got = subscription_key(ACCOUNT, binding, &events[event]);
        assert_eq!(got, expected, "{binding}");
    }
    assert_eq!(event_routing_key(&conf), conf_source);
    assert_eq!(event_routing_key(&doc), doc_source);
}

#[test]
fn event_frame_escapes_keys_and_keeps_data_verbatim() {
    let frame = event_frame("a\"b", "k", "n", "r\\", br#"{"z":1,"a":2}"#);
    let expected = r#"{"action":"event","subscribed_key":"a\"b","subscription_key":"k","name":"n","routing_key":"r\\","data":{"z":1,"a":2}}"#;
    assert_eq!(text(&frame), expected);
}
