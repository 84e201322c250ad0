use serde_json::json;

use super::*;

const FRAME_CREATE: &str =
    include_str!("../../../../testdata/kazoo/v3_socketio_frame_CHANNEL_CREATE.txt");
const FRAME_ANSWER: &str =
    include_str!("../../../../testdata/kazoo/v3_socketio_frame_CHANNEL_ANSWER.txt");
const FRAME_DESTROY: &str =
    include_str!("../../../../testdata/kazoo/v3_socketio_frame_CHANNEL_DESTROY.txt");
const AMQP_CREATE: &str = include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_CREATE.json");
const AMQP_ANSWER: &str = include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_ANSWER.json");
const AMQP_DESTROY: &str =
    include_str!("../../../../testdata/kazoo/amqp_call_CHANNEL_DESTROY.json");

/// The §7 A framed vector: `�3�2::�67�5:::{…"café 🎉"…}`.
const FRAMED: &str = "\u{fffd}3\u{fffd}2::\u{fffd}67\u{fffd}5:::{\"name\":\"CHANNEL_CREATE\",\"args\":[{\"id\":\"42\",\"name\":\"café 🎉\"}]}";

fn ev(id: Option<MessageId>, endpoint: &str, name: &str, args: Vec<Value>) -> Packet {
    Packet::Event {
        id,
        endpoint: endpoint.into(),
        name: name.into(),
        args,
    }
}

const fn mid(id: u64, with_data: bool) -> Option<MessageId> {
    Some(MessageId { id, with_data })
}

/// `^[A-Za-z0-9_-]+:\d+:\d+:[a-z-]+(,[a-z-]+)*$`, without a regex crate.
fn matches_handshake_regex(body: &str) -> bool {
    let parts: Vec<&str> = body.split(':').collect();
    let [sid, heartbeat, close, transports] = parts.as_slice() else {
        return false;
    };
    let non_empty_all = |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(ok);
    non_empty_all(sid, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && non_empty_all(heartbeat, |c| c.is_ascii_digit())
        && non_empty_all(close, |c| c.is_ascii_digit())
        && transports
            .split(',')
            .all(|t| non_empty_all(t, |c| c.is_ascii_lowercase() || c == '-'))
}

// --- §7 A vectors -----------------------------------------------------------------------------

#[test]
fn handshake_body_is_kazoos_and_matches_the_regex() {
    let body = handshake_body(
        "7b2c9f0e-1d2a-4c3b-9e8f-0a1b2c3d4ee1",
        30,
        30,
        &["websocket", "xhr-polling"],
    );
    assert_eq!(
        body,
        "7b2c9f0e-1d2a-4c3b-9e8f-0a1b2c3d4ee1:30:30:websocket,xhr-polling"
    );
    assert!(matches_handshake_regex(&body));
    assert!(matches_handshake_regex(
        "sX9kQ2mW7aB1cD3eAAAA:60:60:websocket,xhr-polling"
    ));
    assert!(!matches_handshake_regex("sid:30::websocket"));
}

#[test]
fn canned_frames() {
    assert_eq!(CONNECT, "1::");
    assert_eq!(HEARTBEAT, "2::");
    assert_eq!(DISCONNECT, "0::");
    assert_eq!(NOOP, "8::");
    assert_eq!(POST_OK, "1");
    assert_eq!(connect(""), CONNECT);
    assert_eq!(disconnect(""), DISCONNECT);
    assert_eq!(encode(&Packet::Heartbeat), HEARTBEAT);
    assert_eq!(encode(&Packet::Noop), NOOP);
    assert_eq!(decode("2::"), Ok(Packet::Heartbeat));
    assert_eq!(decode("8::"), Ok(Packet::Noop));
    assert_eq!(
        decode("1::"),
        Ok(Packet::Connect {
            endpoint: String::new(),
            query: None
        })
    );
    assert_eq!(
        decode("0::"),
        Ok(Packet::Disconnect {
            endpoint: String::new()
        })
    );
}

#[test]
fn namespace_join_is_echoed() {
    let join = decode("1::/chat").unwrap();
    assert_eq!(
        join,
        Packet::Connect {
            endpoint: "/chat".into(),
            query: None
        }
    );
    assert_eq!(connect(join.endpoint()), "1::/chat");
    assert_eq!(encode(&join), "1::/chat");
    assert_eq!(disconnect("/chat"), "0::/chat");
}

#[test]
fn namespace_event_without_args_has_empty_args() {
    assert_eq!(
        decode(r#"5::/chat:{"name":"x"}"#),
        Ok(ev(None, "/chat", "x", vec![]))
    );
}

#[test]
fn data_ack_is_answered_by_the_application() {
    let packet = decode(r#"5:1+::{"name":"subscribe","args":[{"channel":"general"}]}"#).unwrap();
    assert_eq!(
        packet,
        ev(
            mid(1, true),
            "",
            "subscribe",
            vec![json!({"channel": "general"})]
        )
    );
    assert_eq!(auto_ack(&packet), None);
    let reply = ack(packet.endpoint(), 1, &[json!({"ok": true})]);
    assert_eq!(reply, r#"6:::1+[{"ok":true}]"#);
    assert_eq!(
        decode(&reply),
        Ok(Packet::Ack {
            endpoint: String::new(),
            ack_id: 1,
            args: Some(vec![json!({"ok": true})])
        })
    );
    assert_eq!(ack("/chat", 3, &[json!(1)]), "6::/chat:3+[1]");
    assert_eq!(ack("", 4, &[]), "6:::4");
}

#[test]
fn plain_id_is_auto_acked() {
    let packet = decode("3:7::hi").unwrap();
    assert_eq!(
        packet,
        Packet::Message {
            id: mid(7, false),
            endpoint: String::new(),
            data: "hi".into()
        }
    );
    assert_eq!(auto_ack(&packet).as_deref(), Some("6:::7"));
    assert_eq!(
        decode("6:::7"),
        Ok(Packet::Ack {
            endpoint: String::new(),
            ack_id: 7,
            args: None
        })
    );
    let on_chat = decode("3:9:/chat:hi").unwrap();
    assert_eq!(auto_ack(&on_chat).as_deref(), Some("6::/chat:9"));
    assert_eq!(auto_ack(&decode("3:::hi").unwrap()), None);
}

#[test]
fn framed_vector_decodes_to_two_packets_in_utf16_units() {
    assert_eq!(
        &FRAMED.as_bytes()[..18],
        b"\xEF\xBF\xBD3\xEF\xBF\xBD2::\xEF\xBF\xBD67\xEF\xBF\xBD"
    );
    let frames = decode_frames(FRAMED).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], "2::");
    assert_eq!(frames[1].encode_utf16().count(), 67);
    assert_eq!(frames[1].len(), 70);
    assert_eq!(decode(frames[0]), Ok(Packet::Heartbeat));
    assert_eq!(
        decode(frames[1]),
        Ok(ev(
            None,
            "",
            "CHANNEL_CREATE",
            vec![json!({"id": "42", "name": "café 🎉"})]
        ))
    );
    assert_eq!(encode_frames(&frames), FRAMED);
}

#[test]
fn jsonp_connect_and_unknown_sid() {
    assert_eq!(jsonp("2", CONNECT), r#"io.j[2]("1::");"#);
    assert_eq!(UNKNOWN_SID, "7:::1+0");
    let error = Packet::Error {
        endpoint: String::new(),
        reason: Some(ErrorReason::ClientNotHandshaken),
        advice: Some(ErrorAdvice::Reconnect),
    };
    assert_eq!(decode(UNKNOWN_SID), Ok(error.clone()));
    assert_eq!(encode(&error), UNKNOWN_SID);
}

// --- Kazoo 3.x frames -------------------------------------------------------------------------

fn kazoo_pairs() -> [(&'static str, &'static str, &'static str); 3] {
    [
        ("CHANNEL_CREATE", FRAME_CREATE, AMQP_CREATE),
        ("CHANNEL_ANSWER", FRAME_ANSWER, AMQP_ANSWER),
        ("CHANNEL_DESTROY", FRAME_DESTROY, AMQP_DESTROY),
    ]
}

#[test]
fn kazoo_frames_decode_to_one_object_argument() {
    for (name, frame, amqp) in kazoo_pairs() {
        let frame = frame.trim_end();
        let amqp: Value = serde_json::from_str(amqp).unwrap();
        let Ok(Packet::Event {
            id: None,
            endpoint,
            name: decoded_name,
            args,
        }) = decode(frame)
        else {
            panic!("{name}: not an event without id");
        };
        assert_eq!(endpoint, "");
        assert_eq!(decoded_name, name);
        assert_eq!(
            args.len(),
            1,
            "{name}: the bare object is the single argument"
        );
        assert!(args[0].is_object());
        assert_eq!(args[0]["Event-Name"], name);
        assert_eq!(args[0], amqp);
        // A single packet is its own body.
        assert_eq!(decode_frames(frame).unwrap(), vec![frame]);
    }
}

#[test]
fn event_frame_reproduces_kazoo_frames() {
    for (name, frame, amqp) in kazoo_pairs() {
        let frame = frame.trim_end();
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(amqp).unwrap()).unwrap();
        let built = event_frame(name, compact.as_bytes());
        let built = std::str::from_utf8(&built).unwrap();
        assert!(built.starts_with(&format!(r#"5:::{{"name":"{name}","args":{{"#)));
        assert!(frame.starts_with(&format!(r#"5:::{{"name":"{name}","args":{{"#)));
        let parse =
            |s: &str| serde_json::from_str::<Value>(s.strip_prefix("5:::").unwrap()).unwrap();
        assert_eq!(parse(built), parse(frame), "{name}");
        // The samples are in sorted key order, which serde_json's map keeps either way
        // (sorted without `preserve_order`, insertion order with it).
        assert_eq!(built, frame, "{name}");
    }
}

#[test]
fn event_frame_escapes_the_name_and_keeps_the_payload_raw() {
    let frame = event_frame("we\"ird\\", br#"{"b":1,"a":2}"#);
    assert_eq!(
        &frame[..],
        br#"5:::{"name":"we\"ird\\","args":{"b":1,"a":2}}"#
    );
}

#[test]
fn server_error_events_have_object_args() {
    let failure = event(
        "auth_failure",
        &json!({"message": "invalid auth token", "cause": "tok"}),
    );
    assert!(failure.starts_with(r#"5:::{"name":"auth_failure","args":{"#));
    let Ok(Packet::Event { name, args, .. }) = decode(&failure) else {
        panic!("{failure:?}");
    };
    assert_eq!(name, "auth_failure");
    assert_eq!(
        args,
        vec![json!({"message": "invalid auth token", "cause": "tok"})]
    );
    assert_eq!(
        event("error", &json!({"message": "unknown error"})),
        r#"5:::{"name":"error","args":{"message":"unknown error"}}"#
    );
}

// --- grammar ----------------------------------------------------------------------------------

#[test]
fn every_packet_type_round_trips() {
    let cases = [
        "0::/chat",
        "1::/chat:?token=abc",
        "3:::hello:with:colons",
        "3::/chat",
        "4:::{\"a\":1}",
        "4:5+:/chat:[1,2]",
        "5:::{\"name\":\"subscribe\",\"args\":[{\"channel\":\"general\"}]}",
        "5:2::{\"name\":\"ping\"}",
        "6::/chat:1+[{\"ok\":true}]",
        "6:::12",
        "7::/chat:2",
        "7:::+0",
        "7::",
    ];
    for wire in cases {
        let packet = decode(wire).unwrap_or_else(|e| panic!("{wire}: {e}"));
        assert_eq!(encode(&packet), wire);
    }
    assert_eq!(namespace_refused("/chat"), "7::/chat:2");
}

#[test]
fn lenient_forms_the_reference_parser_accepts() {
    // Empty data fields and a heartbeat endpoint are dropped, as the reference does.
    assert_eq!(decode("2:::"), Ok(Packet::Heartbeat));
    assert_eq!(decode("2::/chat"), Ok(Packet::Heartbeat));
    assert_eq!(
        decode("1:::"),
        Ok(Packet::Connect {
            endpoint: String::new(),
            query: None
        })
    );
    assert_eq!(
        decode(r#"5:::{"name":"x","args":null,"extra":1}"#),
        Ok(ev(None, "", "x", vec![]))
    );
    assert_eq!(
        decode("6:::3+"),
        Ok(Packet::Ack {
            endpoint: String::new(),
            ack_id: 3,
            args: Some(vec![])
        })
    );
    assert_eq!(
        decode("7:::"),
        Ok(Packet::Error {
            endpoint: String::new(),
            reason: None,
            advice: None
        })
    );
}

#[test]
fn malformed_packets_are_errors() {
    use Sio09Error as E;
    let long_name = format!(r#"5:::{{"name":"{}"}}"#, "n".repeat(MAX_EVENT_NAME_LEN + 1));
    let long_endpoint = format!("1::/{}", "e".repeat(MAX_ENDPOINT_LEN));
    let cases: Vec<(&str, Sio09Error)> = vec![
        ("", E::Empty),
        ("x::", E::UnknownPacketType(b'x')),
        ("9::", E::UnknownPacketType(b'9')),
        ("garbage", E::UnknownPacketType(b'g')),
        ("5", E::MissingSeparator),
        ("5:", E::MissingSeparator),
        ("10::", E::MissingSeparator),
        ("5:x::{}", E::InvalidId),
        ("5:+::{}", E::InvalidId),
        ("5:1++::{}", E::InvalidId),
        ("5:18446744073709551616::{\"name\":\"x\"}", E::IdOverflow),
        ("3:99999999999999999999999999+::hi", E::IdOverflow),
        ("1:1::", E::UnexpectedId(PacketType::Connect)),
        ("6:1:::1", E::UnexpectedId(PacketType::Ack)),
        ("2:::x", E::UnexpectedData(PacketType::Heartbeat)),
        ("0:::x", E::UnexpectedData(PacketType::Disconnect)),
        ("8:::x", E::UnexpectedData(PacketType::Noop)),
        (
            &long_endpoint,
            E::EndpointTooLong {
                max: MAX_ENDPOINT_LEN,
            },
        ),
        ("4::", E::InvalidJson),
        ("4:::{bad", E::InvalidJson),
        ("5::", E::InvalidEvent),
        ("5:::", E::InvalidEvent),
        ("5:::[\"x\"]", E::InvalidEvent),
        ("5:::{\"args\":[]}", E::InvalidEvent),
        ("5:::{\"name\":1}", E::InvalidEvent),
        ("5:::{\"name\":\"x\"", E::InvalidEvent),
        (
            &long_name,
            E::EventNameTooLong {
                max: MAX_EVENT_NAME_LEN,
            },
        ),
        ("6::", E::InvalidAck),
        ("6:::x", E::InvalidAck),
        ("6:::1x", E::InvalidAck),
        ("6:::1+{}", E::InvalidAck),
        ("6:::1+[", E::InvalidAck),
        ("6:::18446744073709551616", E::IdOverflow),
        ("7:::9", E::InvalidError),
        ("7:::1+5", E::InvalidError),
        ("7:::1+0+0", E::InvalidError),
    ];
    for (input, expected) in cases {
        assert_eq!(decode(input), Err(expected), "{input:?}");
    }
    let max_id = format!("3:{}::x", u64::MAX);
    assert_eq!(decode(&max_id).unwrap().id(), mid(u64::MAX, false));
}

// --- framing ----------------------------------------------------------------------------------

#[test]
fn bare_and_empty_bodies() {
    assert_eq!(decode_frames(""), Ok(vec![]));
    assert_eq!(decode_frames("1::"), Ok(vec!["1::"]));
    assert_eq!(encode_frames::<&str>(&[]), "");
    assert_eq!(encode_frames(&["8::"]), "8::");
    assert_eq!(
        encode_frames(&[CONNECT.to_owned(), "5:::{\"name\":\"x\"}".to_owned()]),
        "\u{fffd}3\u{fffd}1::\u{fffd}16\u{fffd}5:::{\"name\":\"x\"}"
    );
}

#[test]
fn malformed_frames_are_errors() {
    use Sio09Error as E;
    let cases = [
        ("\u{fffd}", E::InvalidFrameLength),
        ("\u{fffd}3", E::InvalidFrameLength),
        ("\u{fffd}\u{fffd}2::", E::InvalidFrameLength),
        ("\u{fffd}x\u{fffd}2::", E::InvalidFrameLength),
        ("\u{fffd}-3\u{fffd}2::", E::InvalidFrameLength),
        ("\u{fffd}1234567890\u{fffd}2::", E::InvalidFrameLength),
        ("\u{fffd}0\u{fffd}", E::InvalidFrameLength),
        ("\u{fffd}4\u{fffd}2::", E::FrameExceedsBody),
        (
            "\u{fffd}3\u{fffd}2::\u{fffd}9\u{fffd}8::",
            E::FrameExceedsBody,
        ),
        // `🎉` is two UTF-16 units; one unit cuts it in half.
        ("\u{fffd}5\u{fffd}3:::🎉", E::SplitSurrogatePair),
        ("\u{fffd}3\u{fffd}2::junk", E::TrailingData),
        ("\u{fffd}3\u{fffd}2::\u{fffd}", E::InvalidFrameLength),
        ("\u{fffd}3\u{fffd}2::\u{fffd}3", E::InvalidFrameLength),
    ];
    for (input, expected) in cases {
        assert_eq!(decode_frames(input), Err(expected), "{input:?}");
    }
    // `3:::` is four units and `🎉` two more.
    assert_eq!(decode_frames("\u{fffd}6\u{fffd}3:::🎉"), Ok(vec!["3:::🎉"]));
}

#[test]
fn frame_count_is_capped() {
    let at_cap = encode_frames(&vec![HEARTBEAT; MAX_FRAMES]);
    assert_eq!(decode_frames(&at_cap).map(|f| f.len()), Ok(MAX_FRAMES));
    let over = encode_frames(&vec![HEARTBEAT; MAX_FRAMES + 1]);
    assert_eq!(
        decode_frames(&over),
        Err(Sio09Error::TooManyFrames { max: MAX_FRAMES })
    );
}

#[test]
fn no_input_panics() {
    let seeds = [
        FRAMED,
        FRAME_CREATE,
        "5:1+:/chat:{\"name\":\"x\",\"args\":[1]}",
        "6::/chat:12+[{\"a\":\"é\"}]",
        "7:::1+0",
        "3:9::hi:there",
        "\u{fffd}6\u{fffd}3:::🎉\u{fffd}3\u{fffd}2::",
    ];
    // Every char-boundary truncation, plus deterministic byte-swap mutations that stay UTF-8.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = [
        '0', '1', '5', '6', '9', ':', '+', '{', '}', '[', '"', '\u{fffd}', '🎉',
    ];
    for seed in seeds {
        for (i, _) in seed.char_indices().chain([(seed.len(), ' ')]) {
            let _ = decode(&seed[..i]);
            let _ = decode_frames(&seed[..i]);
            let _ = decode(&seed[i..]);
            let _ = decode_frames(&seed[i..]);
        }
        for _ in 0..300 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut chars: Vec<char> = seed.chars().collect();
            let at = usize::try_from(state >> 33).unwrap() % chars.len();
            chars[at] = alphabet[usize::try_from(state & 0xff).unwrap() % alphabet.len()];
            let mutated: String = chars.into_iter().collect();
            let _ = decode(&mutated);
            for frame in decode_frames(&mutated).unwrap_or_default() {
                let _ = decode(frame);
            }
        }
    }
}

// --- JSONP ------------------------------------------------------------------------------------

#[test]
fn jsonp_escapes_like_json_stringify() {
    let body = "5:::{\"name\":\"a\\b\"}\n\t\u{1}\u{fffd}é🎉";
    let wrapped = jsonp("12", body);
    let expected = format!("io.j[12]({});", serde_json::to_string(body).unwrap());
    assert_eq!(wrapped, expected);
    assert_eq!(
        wrapped,
        "io.j[12](\"5:::{\\\"name\\\":\\\"a\\\\b\\\"}\\n\\t\\u0001\u{fffd}é🎉\");"
    );
    // Raw line/paragraph separators are syntax errors in pre-ES2019 string literals.
    assert_eq!(
        jsonp("0", "a\u{2028}b\u{2029}"),
        r#"io.j[0]("a\u2028b\u2029");"#
    );
}

#[test]
fn jsonp_index_is_digits_or_zero() {
    assert!(is_jsonp_index("0"));
    assert!(is_jsonp_index("42"));
    assert!(!is_jsonp_index(""));
    assert!(!is_jsonp_index("1);alert(1"));
    assert!(!is_jsonp_index(&"9".repeat(17)));
    assert_eq!(jsonp("1);alert(1", "8::"), r#"io.j[0]("8::");"#);
    assert_eq!(
        jsonp_error("3", "handshake unauthorized"),
        r#"io.j[3](new Error("handshake unauthorized"));"#
    );
    assert_eq!(jsonp_error("x", "a\"b"), r#"io.j[0](new Error("a\"b"));"#);
}

#[test]
fn jsonp_post_bodies_decode_to_packet_text() {
    // What the 0.9.16 client's form submits for `5:::{"name":"x"}`.
    let body = b"d=%225%3A%3A%3A%7B%5C%22name%5C%22%3A%5C%22x%5C%22%7D%22";
    assert_eq!(
        decode_jsonp_post(body).as_deref(),
        Ok("5:::{\"name\":\"x\"}")
    );
    // `+` is a space; a stringified newline arrives as `\n` and comes back as a newline.
    let body = b"t=1&d=%223%3A%3A%3Aa+b%5Cnc+%C3%A9%22";
    assert_eq!(decode_jsonp_post(body).as_deref(), Ok("3:::a b\nc é"));
    // A framed payload survives whole.
    let mut form = b"d=".to_vec();
    for b in serde_json::to_string(FRAMED).unwrap().bytes() {
        form.extend_from_slice(format!("%{b:02X}").as_bytes());
    }
    let text = decode_jsonp_post(&form).unwrap();
    assert_eq!(text, FRAMED);
    assert_eq!(decode_frames(&text).map(|f| f.len()), Ok(2));
}

#[test]
fn malformed_jsonp_post_bodies_are_errors() {
    use Sio09Error as E;
    let cases: [(&[u8], Sio09Error); 8] = [
        (b"", E::MissingFormField),
        (b"5:::{}", E::MissingFormField),
        (b"dd=%22x%22", E::MissingFormField),
        (b"d=%2", E::InvalidJsonpData),
        (b"d=%zz", E::InvalidJsonpData),
        (b"d=%22%FF%22", E::InvalidJsonpData),
        (b"d=3%3A%3A%3Ahi", E::InvalidJsonpData),
        (b"d=%5B1%5D", E::InvalidJsonpData),
    ];
    for (input, expected) in cases {
        assert_eq!(decode_jsonp_post(input), Err(expected), "{input:?}");
    }
}
