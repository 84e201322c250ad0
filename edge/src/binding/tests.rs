use super::*;

use EventKind::{Call, Conference, Fax, Object, Other};

fn parse(raw: &str) -> Binding {
    Binding::parse(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
}

/// Asserts which (kind, key) pairs `raw` matches and which it does not.
fn check(raw: &str, yes: &[(EventKind, &str)], no: &[(EventKind, &str)]) {
    let binding = parse(raw);
    for (kind, key) in yes {
        assert!(
            binding.matches(*kind, key),
            "{raw} should match {kind} {key}"
        );
    }
    for (kind, key) in no {
        assert!(
            !binding.matches(*kind, key),
            "{raw} should not match {kind} {key}"
        );
    }
}

/// A pattern from AMQP topic words, to test the matcher on its own.
fn compile(words: &[&str]) -> Vec<Word> {
    words
        .iter()
        .map(|w| match *w {
            "*" => Word::Star,
            "#" => Word::Hash,
            lit => Word::lit(lit),
        })
        .collect()
}

fn topic(pattern: &str) -> Vec<Word> {
    compile(&pattern.split('.').collect::<Vec<_>>())
}

fn topic_match(pattern: &str, key: &str) -> bool {
    topic_matches(&topic(pattern), key)
}

const CONF: &str = "5edbfdd3b825314a71b0a05957392edb";

// ---- the bindings of the original Blackhole docs ----

#[test]
fn docs_call_bindings_match_their_event_only() {
    for event in [
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_DESTROY",
        "RECORD_STOP",
    ] {
        let raw = format!("call.{event}.*");
        let other = if event == "CHANNEL_ANSWER" {
            "CHANNEL_CREATE"
        } else {
            "CHANNEL_ANSWER"
        };
        check(
            &raw,
            &[
                (Call, &format!("call.{event}.abc")),
                (Call, &format!("call.{event}.at6dmu4ffk97vnlp6qfq")),
            ],
            &[
                (Call, &format!("call.{other}.abc")),
                (Conference, &format!("call.{event}.abc")),
                (Call, &format!("call.{event}")),
            ],
        );
    }
}

#[test]
fn docs_conference_event_star_matches_every_conference_event_and_nothing_else() {
    check(
        "conference.event.*",
        &[
            (
                Conference,
                &format!("conference.event.add-member.{CONF}.934800819"),
            ),
            (
                Conference,
                &format!("conference.event.participants_event.{CONF}._"),
            ),
            (Conference, "conference.event.conference-destroy.c1.x"),
        ],
        &[
            (Call, "call.CHANNEL_CREATE.abc"),
            (Call, "conference.event.add-member.c1.x"),
            (Conference, "conference.command.c1"),
        ],
    );
}

#[test]
fn docs_fax_status_star_matches_every_fax_status() {
    check(
        "fax.status.*",
        &[(Fax, "fax.status.201711-2a7e6d"), (Fax, "fax.status.a.b")],
        &[(Object, "fax.status.201711-2a7e6d"), (Fax, "fax.start.x")],
    );
}

#[test]
fn docs_legacy_document_bindings_match_their_type_only() {
    check(
        "doc_edited.*.user.*",
        &[(Object, "object.doc_edited.user.123")],
        &[
            (Object, "object.doc_edited.device.1"),
            (Object, "object.doc_created.user.123"),
            (Call, "object.doc_edited.user.123"),
        ],
    );
    check(
        "doc_created.*.user.*",
        &[(
            Object,
            "object.doc_created.user.699ed7e3d583e2577ac017c575f87262",
        )],
        &[(Object, "object.doc_edited.user.1")],
    );
    check(
        "doc_deleted.account%2F4b%2F8c%2F6fec4b2597882c0390202d195419.vmbox",
        &[(Object, "object.doc_deleted.vmbox.v1")],
        &[(Object, "object.doc_deleted.user.v1")],
    );
    check(
        "doc_edited.*.user.u1",
        &[(Object, "object.doc_edited.user.u1")],
        &[(Object, "object.doc_edited.user.u2")],
    );
}

// ---- the forms of kazoo-blackhole.md §5 ----

#[test]
fn every_call_event_is_bindable_and_star_means_all_of_them() {
    let all = parse("call.*.*");
    for event in CALL_EVENTS {
        let key = format!("call.{event}.abc");
        check(&format!("call.{event}.*"), &[(Call, &key)], &[]);
        check(
            &format!("call.{event}.abc"),
            &[(Call, &key)],
            &[(Call, &format!("call.{event}.abd"))],
        );
        assert!(all.matches(Call, &key), "call.*.* vs {key}");
    }
    // Kazoo never served other callevt events to Blackhole clients.
    assert!(!all.matches(Call, "call.CHANNEL_EXECUTE_COMPLETE.abc"));
    assert!(!all.matches(Conference, "call.CHANNEL_CREATE.abc"));
    check(
        "call.*.abc",
        &[
            (Call, "call.CHANNEL_CREATE.abc"),
            (Call, "call.PARK_PARKED.abc"),
        ],
        &[(Call, "call.CHANNEL_CREATE.abd")],
    );
}

#[test]
fn call_hash_means_every_call_event() {
    let hash = parse("call.#");
    assert_eq!(hash.kind(), Call);
    assert!(hash.matches(Call, "call.CHANNEL_DESTROY.x"));
    assert!(!hash.matches(Call, "call.CHANNEL_EXECUTE.x"));
    check(
        "call.CHANNEL_CREATE.#",
        &[(Call, "call.CHANNEL_CREATE.x")],
        &[(Call, "call.CHANNEL_ANSWER.x")],
    );
}

#[test]
fn raw_call_ids_match_the_encoded_keys() {
    let raw = "call.CHANNEL_CREATE.abc.def@10.0.0.1";
    // As Kazoo encodes call ids in callevt keys, and as ingest encodes ids it takes from payloads.
    check(
        raw,
        &[
            (Call, "call.CHANNEL_CREATE.abc%2Edef%4010%2E0%2E0%2E1"),
            (Call, "call.CHANNEL_CREATE.abc%2Edef@10%2E0%2E0%2E1"),
        ],
        &[
            (Call, "call.CHANNEL_CREATE.abc"),
            (Call, "call.CHANNEL_CREATE.abc%2Edef"),
        ],
    );
    check(
        "call.CHANNEL_DESTROY.a b@host",
        &[
            (Call, "call.CHANNEL_DESTROY.a+b%40host"),
            (Call, "call.CHANNEL_DESTROY.a b@host"),
        ],
        &[],
    );
    // An id copied from a routing key is taken as given.
    check(
        "call.*.abc%2Edef%40host",
        &[(Call, "call.CHANNEL_ANSWER.abc%2Edef%40host")],
        &[],
    );
}

#[test]
fn conference_forms_of_every_generation() {
    let add = format!("conference.event.add-member.{CONF}.call1");
    let talk = format!("conference.event.start-talking.{CONF}.call2");
    let legacy = format!("conference.event.participants_event.{CONF}._");
    let elsewhere = "conference.event.add-member.other.call1";
    // 3.x: one conference.
    check(
        &format!("conference.event.{CONF}"),
        &[
            (Conference, &add),
            (Conference, &talk),
            (Conference, &legacy),
        ],
        &[(Conference, elsewhere)],
    );
    // 4.x: conference and call, every event.
    check(
        &format!("conference.event.{CONF}.*"),
        &[
            (Conference, &add),
            (Conference, &talk),
            (Conference, &legacy),
        ],
        &[(Conference, elsewhere)],
    );
    check(
        &format!("conference.event.{CONF}.call1"),
        &[(Conference, &add)],
        &[(Conference, &talk)],
    );
    // 4.3: conference, call and event.
    check(
        &format!("conference.event.{CONF}.*.add-member"),
        &[(Conference, &add)],
        &[(Conference, &talk), (Conference, elsewhere)],
    );
    check(
        &format!("conference.event.{CONF}.*.*"),
        &[(Conference, &add), (Conference, &talk)],
        &[(Conference, elsewhere)],
    );
    // 5.x: event, conference and call.
    check(
        &format!("conference.event.add-member.{CONF}.*"),
        &[(Conference, &add)],
        &[(Conference, &talk)],
    );
    check(
        &format!("conference.event.*.{CONF}.*"),
        &[(Conference, &add), (Conference, &talk)],
        &[(Conference, elsewhere)],
    );
    check(
        &format!("conference.event.start-talking.{CONF}.call2"),
        &[(Conference, &talk)],
        &[(Conference, &add)],
    );
    // Commands.
    check(
        &format!("conference.command.{CONF}"),
        &[(Conference, &format!("conference.command.{CONF}"))],
        &[(Conference, "conference.command.other"), (Conference, &add)],
    );
}

#[test]
fn fax_forms() {
    check(
        "fax.status.f1",
        &[(Fax, "fax.status.f1")],
        &[(Fax, "fax.status.f2")],
    );
    check(
        "fax.object.doc_created",
        &[(Object, "object.doc_created.fax.201711-2a7e6d")],
        &[
            (Object, "object.doc_edited.fax.1"),
            (Object, "object.doc_created.user.1"),
            (Fax, "object.doc_created.fax.1"),
        ],
    );
    assert_eq!(parse("fax.object.doc_deleted").kind(), Object);
    assert_eq!(parse("fax.status.*").kind(), Fax);
}

#[test]
fn object_forms() {
    for action in DOC_ACTIONS {
        for doc_type in DOC_TYPES {
            let key = format!("object.{action}.{doc_type}.id1");
            check(
                &format!("object.{action}.{doc_type}"),
                &[(Object, &key)],
                &[(Object, &format!("object.{action}.other.id1"))],
            );
            check("object.*.*", &[(Object, &key)], &[]);
            check("object.#", &[(Object, &key)], &[]);
            check(&format!("object.*.{doc_type}"), &[(Object, &key)], &[]);
            check(&format!("object.{action}.*"), &[(Object, &key)], &[]);
        }
    }
    check(
        "object.*.*",
        &[],
        &[(Call, "object.doc_created.user.1"), (Fax, "fax.status.1")],
    );
    check(
        "object.doc_edited.user",
        &[],
        &[(Object, "object.doc_created.user.1")],
    );
}

// ---- errors: Kazoo's exact strings ----

#[test]
fn refusals_carry_kazoo_error_strings() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "",
            "no available subscriptions to requested binding",
            "unknown_binding",
        ),
        (
            "channel.CHANNEL_CREATE.*",
            "no available subscriptions to requested binding",
            "unknown_binding",
        ),
        (
            "presence.update.x",
            "no available subscriptions to requested binding",
            "unknown_binding",
        ),
        (
            "doc_updated.*.user.*",
            "no available subscriptions to requested binding",
            "unknown_binding",
        ),
        (
            "call.CHANNEL_FOO.*",
            "event CHANNEL_FOO not supported",
            "unsupported_event",
        ),
        ("call.#.*", "event # not supported", "unsupported_event"),
        (
            "call.*",
            "invalid format for call subscription : *",
            "invalid_format",
        ),
        (
            "call",
            "invalid format for call subscription : ",
            "invalid_format",
        ),
        (
            "call.*.*.*",
            "invalid format for call subscription : *, *, *",
            "invalid_format",
        ),
        (
            "call.CHANNEL_CREATE.a..b",
            "invalid format for call subscription : CHANNEL_CREATE, a, , b",
            "invalid_format",
        ),
        (
            "conference.command.*",
            "ConferenceId required",
            "conference_id_required",
        ),
        (
            "conference.event.*.*",
            "ConferenceId required",
            "conference_id_required",
        ),
        (
            "conference.event.*.*.*",
            "ConferenceId required",
            "conference_id_required",
        ),
        (
            "conference.event.add-member.*.*",
            "ConferenceId required",
            "conference_id_required",
        ),
        (
            "conference.event.c1.*.explode",
            "Unsupported conference event explode",
            "unsupported_conference_event",
        ),
        (
            "conference.event",
            "invalid format for conference subscription : event",
            "invalid_format",
        ),
        (
            "conference.foo.c1",
            "invalid format for conference subscription : foo, c1",
            "invalid_format",
        ),
        (
            "conference.event.a.b.c.d",
            "invalid format for conference subscription : event, a, b, c, d",
            "invalid_format",
        ),
        (
            "fax.status",
            "invalid format for fax subscription : status",
            "invalid_format",
        ),
        (
            "fax.status.a.b",
            "invalid format for fax subscription : status, a, b",
            "invalid_format",
        ),
        (
            "fax.object.doc_updated",
            "event doc_updated not supported",
            "unsupported_event",
        ),
        (
            "object.doc_created",
            "invalid format for object subscription : doc_created",
            "invalid_format",
        ),
        (
            "object.doc_created.widget",
            "event doc_created.widget not supported",
            "unsupported_event",
        ),
        (
            "object.doc_updated.*",
            "event doc_updated.* not supported",
            "unsupported_event",
        ),
        (
            "object.*.widget",
            "event *.widget not supported",
            "unsupported_event",
        ),
        (
            "doc_edited.*.widget.*",
            "event doc_edited.widget not supported",
            "unsupported_event",
        ),
        (
            "doc_edited.user",
            "invalid format for object subscription : user",
            "invalid_format",
        ),
    ];
    for (raw, message, reason) in cases {
        let err = Binding::parse(raw).expect_err(raw);
        assert_eq!(err.to_string(), *message, "{raw:?}");
        assert_eq!(err.reason(), *reason, "{raw:?}");
    }
}

#[test]
fn oversized_bindings_are_refused() {
    let long = format!("call.CHANNEL_CREATE.{}", "a".repeat(MAX_BINDING_LEN));
    let deep = format!(
        "call.CHANNEL_CREATE.{}",
        ["a"; MAX_BINDING_WORDS - 1].join(".")
    );
    for raw in [long, deep] {
        let err = Binding::parse(&raw).unwrap_err();
        assert_eq!(err, BindingError::TooLong);
        assert_eq!(err.reason(), "too_long");
    }
    // Sixteen words is still a (dotted) call id.
    parse(&format!(
        "call.CHANNEL_CREATE.{}",
        ["a"; MAX_BINDING_WORDS - 2].join(".")
    ));
}

#[test]
fn odd_input_never_panics() {
    for raw in [
        ".",
        "..",
        "call.",
        "call..",
        ".call.*.*",
        "é.ü",
        "call.CHANNEL_CREATE.é.ü",
        "object..",
        "doc_edited...",
        "conference.event...",
        "\u{0}",
        "fax..",
    ] {
        let _ = Binding::parse(raw);
    }
    check(
        "call.CHANNEL_CREATE.é",
        &[
            (Call, "call.CHANNEL_CREATE.%C3%A9"),
            (Call, "call.CHANNEL_CREATE.é"),
        ],
        &[],
    );
}

// ---- the binding itself ----

#[test]
fn binding_keeps_the_client_string() {
    let raw = "call.CHANNEL_CREATE.abc.def";
    let binding: Binding = raw.parse().unwrap();
    assert_eq!(binding.client_key(), raw);
    assert_eq!(binding.to_string(), raw);
    assert_eq!(binding, parse(raw));
}

#[test]
fn kinds() {
    for (raw, kind) in [
        ("call.*.*", Call),
        ("conference.event.*", Conference),
        ("conference.command.c1", Conference),
        ("fax.status.*", Fax),
        ("fax.object.*", Object),
        ("object.*.*", Object),
        ("doc_created.*.user.*", Object),
    ] {
        assert_eq!(parse(raw).kind(), kind, "{raw}");
    }
}

#[test]
fn no_binding_matches_another_kind() {
    let samples = [
        (Call, "call.CHANNEL_CREATE.abc"),
        (Conference, "conference.event.add-member.c.x"),
        (Conference, "conference.command.c"),
        (Fax, "fax.status.f"),
        (Object, "object.doc_created.user.u"),
        (Other, "acdc_stats.call.waiting.x"),
    ];
    for raw in [
        "call.*.*",
        "conference.event.*",
        "conference.command.c",
        "fax.status.*",
        "object.*.*",
        "fax.object.*",
    ] {
        let binding = parse(raw);
        for (kind, key) in samples {
            for other in [Call, Conference, Fax, Object, Other] {
                if other != kind {
                    assert!(!binding.matches(other, key), "{raw} matched {other} {key}");
                }
            }
        }
    }
}

// ---- topic semantics ----

#[test]
fn star_is_exactly_one_word() {
    assert!(topic_match("a.*.c", "a.b.c"));
    assert!(!topic_match("a.*.c", "a.c"));
    assert!(!topic_match("a.*.c", "a.b.b.c"));
    assert!(topic_match("*", "a"));
    assert!(!topic_match("*", ""));
    assert!(topic_match("a.*", "a."));
}

#[test]
fn hash_is_zero_or_more_words() {
    assert!(topic_match("a.#", "a"));
    assert!(topic_match("a.#", "a.b.c"));
    assert!(topic_match("#", ""));
    assert!(topic_match("#", "a.b"));
    assert!(topic_match("a.#.c", "a.c"));
    assert!(topic_match("a.#.c", "a.b.b.c"));
    assert!(!topic_match("a.#.c", "a.b.b.d"));
    assert!(topic_match("#.c", "c.c.c"));
    assert!(!topic_match("#.c", "c.c.d"));
    assert!(topic_match("a.*.#", "a.b"));
    assert!(!topic_match("a.*.#", "a"));
}

#[test]
fn many_hashes_match_without_blowing_up() {
    assert!(topic_match("#.#.#.#", "a.b"));
    assert!(topic_match("#.a.#.b.#", "x.a.y.b"));
    assert!(topic_match("#.*.#.*.#", "a.b"));
    assert!(!topic_match("#.*.#.*.#", "a"));
    // Exponential for naive backtracking: 2^40 ways to place 20 `#` over 40 words.
    let pattern = format!("{}.b", ["#.a"; 20].join("."));
    let key = ["a"; 400].join(".");
    assert!(!topic_match(&pattern, &key));
    assert!(topic_match(&pattern, &format!("{key}.b")));
}

// ---- event names per client generation ----

#[test]
fn legacy_names_are_kazoo_3x_socketio_event_names() {
    let cases = [
        (
            Call,
            "CHANNEL_CREATE",
            "call.CHANNEL_CREATE.abc",
            "CHANNEL_CREATE",
        ),
        (Call, "", "call.CHANNEL_ANSWER.abc", "CHANNEL_ANSWER"),
        (
            Conference,
            "participants_event",
            "conference.event.participants_event.c1._",
            "participants_event",
        ),
        (
            Conference,
            "",
            "conference.event.add-member.c1.x",
            "add-member",
        ),
        (Conference, "", "conference.command.c1", "command"),
        (Fax, "status", "fax.status.f1", "fax.status"),
        (
            Object,
            "doc_edited",
            "object.doc_edited.user.123",
            "doc_edited_user",
        ),
        (
            Object,
            "doc_created",
            "object.doc_created.mailbox_message.m1",
            "doc_created_mailbox_message",
        ),
        (Other, "call_stat", "acdc_stats.call.waiting.x", "call_stat"),
    ];
    for (kind, name, key, expected) in cases {
        assert_eq!(legacy_event_name(kind, name, key), expected, "{kind} {key}");
    }
}

#[test]
fn json_names_are_kazoo_4x_envelope_names() {
    let cases = [
        (
            Call,
            "CHANNEL_DESTROY",
            "call.CHANNEL_DESTROY.abc",
            "CHANNEL_DESTROY",
        ),
        (Call, "", "call.PARK_PARKED.abc", "PARK_PARKED"),
        (
            Conference,
            "conference_event",
            "conference.event.add-member.c1.x",
            "event",
        ),
        (Conference, "command", "conference.command.c1", "command"),
        (Fax, "status", "fax.status.f1", "status"),
        (
            Object,
            "doc_created",
            "object.doc_created.user.1",
            "doc_created",
        ),
        (Object, "", "object.doc_deleted.fax.1", "doc_deleted"),
        (Other, "call_stat", "acdc_stats.call.waiting.x", "call_stat"),
    ];
    for (kind, name, key, expected) in cases {
        assert_eq!(json_event_name(kind, name, key), expected, "{kind} {key}");
    }
}

/// The definition of topic matching, written naively (exponential, fine for tiny inputs).
fn reference(pattern: &[&str], key: &[&str]) -> bool {
    match (pattern.split_first(), key.split_first()) {
        (None, None) => true,
        (Some((&"#", rest)), _) => {
            reference(rest, key) || (!key.is_empty() && reference(pattern, &key[1..]))
        }
        (Some((p, prest)), Some((k, krest))) => (*p == "*" || p == k) && reference(prest, krest),
        _ => false,
    }
}

#[test]
fn matcher_agrees_with_the_definition_on_every_small_case() {
    // Every pattern of up to 5 words over {a, b, *, #} against every key of up to 5 words over
    // {a, b}.
    fn all(alphabet: &[&'static str], max: usize) -> Vec<Vec<&'static str>> {
        let mut out = vec![vec![]];
        let mut frontier = vec![vec![]];
        for _ in 0..max {
            let mut grown = Vec::new();
            for seq in &frontier {
                for w in alphabet {
                    let mut s: Vec<&'static str> = seq.clone();
                    s.push(w);
                    grown.push(s);
                }
            }
            out.extend(grown.iter().cloned());
            frontier = grown;
        }
        out
    }
    let keys = all(&["a", "b"], 5);
    for pattern in all(&["a", "b", "*", "#"], 5) {
        let compiled = compile(&pattern);
        for key in &keys {
            let joined = key.join(".");
            assert_eq!(
                topic_matches(&compiled, &joined),
                reference(&pattern, key),
                "{} vs {joined:?}",
                pattern.join(".")
            );
        }
    }
}
