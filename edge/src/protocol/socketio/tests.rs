use serde_json::json;

use super::*;
use crate::protocol::engineio::{self, SharedMessage};

/// Decodes a wire-form Engine.IO message (`42[…]`) the way the transports do: Engine.IO first,
/// then Socket.IO.
fn wire(message: &str) -> Result<Packet, SioError> {
    match engineio::Packet::decode(EioVersion::V4, message) {
        Ok(engineio::Packet::Message(engineio::Payload::Text(text))) => decode(&text),
        other => panic!("{message:?} is not a text message: {other:?}"),
    }
}

/// Wraps a Socket.IO packet string in its Engine.IO message, as it appears on the wire.
fn on_wire(socketio_packet: String) -> String {
    engineio::Packet::text(socketio_packet).encode(EioVersion::V4)
}

fn root() -> String {
    ROOT_NSP.to_owned()
}

// --- connect ----------------------------------------------------------------------------------

#[test]
fn eio3_namespace_query_is_split_off_and_exposed() {
    assert_eq!(
        wire("40/admin?token=abc,"),
        Ok(Packet::Connect {
            nsp: "/admin".into(),
            query: Some("token=abc".into()),
            data: None
        })
    );
    assert_eq!(connect_reply_v4("/admin"), "40/admin,");
}

#[test]
fn eio3_implicit_root_connect_is_bare() {
    assert_eq!(connect_reply_v4(ROOT_NSP), "40");
}

#[test]
fn namespace_may_run_to_the_end_without_comma() {
    assert_eq!(
        wire("40/random"),
        Ok(Packet::Connect {
            nsp: "/random".into(),
            query: None,
            data: None
        })
    );
    assert_eq!(
        wire("41/admin"),
        Ok(Packet::Disconnect {
            nsp: "/admin".into()
        })
    );
}

#[test]
fn v5_root_connect_with_and_without_auth() {
    assert_eq!(
        wire("40"),
        Ok(Packet::Connect {
            nsp: root(),
            query: None,
            data: None
        })
    );
    assert_eq!(
        wire(r#"40{"token":"abc123"}"#),
        Ok(Packet::Connect {
            nsp: root(),
            query: None,
            data: Some(json!({"token":"abc123"}))
        })
    );
}

#[test]
fn v5_connect_reply_carries_only_sid() {
    let reply = connect_reply_v5(ROOT_NSP, "Fh3kq0xNQjXbT7pLAAAC", None);
    assert_eq!(reply, r#"40{"sid":"Fh3kq0xNQjXbT7pLAAAC"}"#);
    let Ok(Packet::Connect {
        data: Some(data), ..
    }) = wire(&reply)
    else {
        panic!("{reply}");
    };
    assert_eq!(data, json!({"sid":"Fh3kq0xNQjXbT7pLAAAC"}));
}

#[test]
fn v5_custom_namespace_connect_and_reply() {
    assert_eq!(
        wire(r#"40/custom,{"token":"abc"}"#),
        Ok(Packet::Connect {
            nsp: "/custom".into(),
            query: None,
            data: Some(json!({"token":"abc"}))
        })
    );
    assert_eq!(
        connect_reply_v5("/custom", "S1", None),
        r#"40/custom,{"sid":"S1"}"#
    );
}

#[test]
fn recovery_connect_carries_pid_and_offset_and_reply_echoes_pid() {
    assert_eq!(
        wire(r#"40{"pid":"Yd5","offset":"OxAbC12"}"#),
        Ok(Packet::Connect {
            nsp: root(),
            query: None,
            data: Some(json!({"pid":"Yd5","offset":"OxAbC12"}))
        })
    );
    assert_eq!(
        connect_reply_v5(ROOT_NSP, "Fh3", Some("Yd5")),
        r#"40{"sid":"Fh3","pid":"Yd5"}"#
    );
}

// --- connect errors ---------------------------------------------------------------------------

#[test]
fn unknown_namespace_is_refused_per_protocol_version() {
    assert_eq!(
        invalid_namespace(SioVersion::V5, "/random"),
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    assert_eq!(
        invalid_namespace(SioVersion::V4, "/random"),
        r#"44/random,"Invalid namespace""#
    );
}

#[test]
fn v4_refusal_is_a_json_string() {
    let refusal = connect_error(SioVersion::V4, "/admin", "Not authorized", None);
    assert_eq!(refusal, r#"44/admin,"Not authorized""#);
    assert_eq!(
        wire(&refusal),
        Ok(Packet::ConnectError {
            nsp: "/admin".into(),
            data: json!("Not authorized")
        })
    );
    assert_eq!(
        connect_error(SioVersion::V4, ROOT_NSP, "x", None),
        r#"44"x""#
    );
}

#[test]
fn v5_refusal_is_an_object_with_optional_data() {
    let data = json!({"code":"E_AUTH"});
    assert_eq!(
        connect_error(SioVersion::V5, ROOT_NSP, "Not authorized", Some(&data)),
        r#"44{"message":"Not authorized","data":{"code":"E_AUTH"}}"#
    );
    assert_eq!(
        connect_error(SioVersion::V5, ROOT_NSP, "Not authorized", None),
        r#"44{"message":"Not authorized"}"#
    );
}

// --- events and acks --------------------------------------------------------------------------

#[test]
fn event_decodes_and_reemits() {
    let Ok(Packet::Event {
        nsp,
        id: None,
        data,
    }) = wire(r#"42["message",1,"2",{"3":[true]}]"#)
    else {
        panic!("not an event without ack");
    };
    assert_eq!(nsp, ROOT_NSP);
    assert_eq!(
        data,
        [json!("message"), json!(1), json!("2"), json!({"3":[true]})]
    );
    let mut back = data;
    back[0] = json!("message-back");
    let reply = Packet::Event {
        nsp: root(),
        id: None,
        data: back,
    };
    assert_eq!(
        on_wire(encode(&reply)),
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
}

#[test]
fn event_with_ack_id_is_answered_with_ack() {
    let packet = wire(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#).unwrap();
    assert_eq!(packet.ack_id(), Some(456));
    assert_eq!(packet.event_name(), Some("message-with-ack"));
    let Packet::Event { data, .. } = packet else {
        panic!("not an event")
    };
    assert_eq!(
        ack(ROOT_NSP, 456, &data[1..]),
        r#"43456[1,"2",{"3":[false]}]"#
    );
}

#[test]
fn ack_id_zero_is_valid() {
    let packet = wire(r#"420["subscribe",{"channel":"general"}]"#).unwrap();
    assert_eq!(packet.ack_id(), Some(0));
    assert_eq!(
        ack(ROOT_NSP, 0, &[json!({"ok":true})]),
        r#"430[{"ok":true}]"#
    );
    assert_eq!(
        wire(r#"430[{"ok":true}]"#),
        Ok(Packet::Ack {
            nsp: root(),
            id: 0,
            data: vec![json!({"ok":true})]
        })
    );
}

#[test]
fn event_names_may_be_numbers() {
    assert_eq!(
        wire("42[1]").map(|p| p.event_name().map(str::to_owned)),
        Ok(None)
    );
}

#[test]
fn event_on_namespace_with_ack() {
    assert_eq!(
        wire(r#"42/admin,7["x"]"#),
        Ok(Packet::Event {
            nsp: "/admin".into(),
            id: Some(7),
            data: vec![json!("x")]
        })
    );
}

#[test]
fn event_payloads_of_the_wrong_shape_are_rejected() {
    let invalid = Err(SioError::InvalidPayload(PacketType::Event));
    for message in [
        "42{}", "42", "42[]", "42[{}]", "42[null]", r#"42"x""#, "421",
    ] {
        assert_eq!(wire(message), invalid, "{message}");
    }
}

#[test]
fn reserved_event_names_are_rejected() {
    for name in RESERVED_EVENTS {
        assert_eq!(
            wire(&format!(r#"42["{name}"]"#)),
            Err(SioError::ReservedEventName)
        );
    }
    assert!(wire(r#"42["Connect"]"#).is_ok());
}

#[test]
fn ack_without_arguments_is_empty() {
    assert_eq!(
        wire("431"),
        Ok(Packet::Ack {
            nsp: root(),
            id: 1,
            data: vec![]
        })
    );
    assert_eq!(wire("43[]"), Err(SioError::MissingAckId(PacketType::Ack)));
    assert_eq!(
        wire("431{}"),
        Err(SioError::InvalidPayload(PacketType::Ack))
    );
}

#[test]
fn ack_id_overflowing_u64_is_rejected() {
    assert_eq!(
        wire(r#"4218446744073709551615["x"]"#).map(|p| p.ack_id()),
        Ok(Some(u64::MAX))
    );
    assert_eq!(
        wire(r#"4218446744073709551616["x"]"#),
        Err(SioError::AckIdOverflow)
    );
    assert_eq!(
        wire(&format!("43{}[]", "9".repeat(400))),
        Err(SioError::AckIdOverflow)
    );
}

// --- binary -----------------------------------------------------------------------------------

#[test]
fn binary_event_announces_its_attachments() {
    assert_eq!(
        wire(r#"451-["upload",{"_placeholder":true,"num":0}]"#),
        Ok(Packet::BinaryEvent {
            nsp: root(),
            id: None,
            attachments: 1,
            data: vec![json!("upload"), json!({"_placeholder":true,"num":0})],
        })
    );
    let two = r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let packet = wire(two).unwrap();
    assert!(matches!(packet, Packet::BinaryEvent { attachments: 2, .. }));
    assert_eq!(on_wire(encode(&packet)), two);
}

#[test]
fn binary_ack_with_namespace_round_trips() {
    let message = r#"461-/admin,3[{"_placeholder":true,"num":0}]"#;
    let packet = wire(message).unwrap();
    assert_eq!(
        packet,
        Packet::BinaryAck {
            nsp: "/admin".into(),
            id: 3,
            attachments: 1,
            data: vec![json!({"_placeholder":true,"num":0})],
        }
    );
    assert_eq!(on_wire(encode(&packet)), message);
}

#[test]
fn malformed_attachment_counts_are_rejected() {
    assert_eq!(wire(r#"45-["a"]"#), Err(SioError::InvalidAttachments));
    assert_eq!(wire(r#"451["a"]"#), Err(SioError::InvalidAttachments));
    assert_eq!(wire("451"), Err(SioError::InvalidAttachments));
    let too_many = Err(SioError::TooManyAttachments {
        max: MAX_ATTACHMENTS,
    });
    assert_eq!(
        wire(&format!(r#"45{}-["a"]"#, MAX_ATTACHMENTS + 1)),
        too_many
    );
    assert_eq!(wire(r#"4599999999999999999999999-["a"]"#), too_many);
}

// --- disconnect and other shapes --------------------------------------------------------------

#[test]
fn disconnect_encodes_and_decodes() {
    assert_eq!(disconnect(ROOT_NSP), "41");
    assert_eq!(disconnect("/admin"), "41/admin,");
    assert_eq!(wire("41"), Ok(Packet::Disconnect { nsp: root() }));
    assert_eq!(
        wire("41/admin,"),
        Ok(Packet::Disconnect {
            nsp: "/admin".into()
        })
    );
}

#[test]
fn payload_shapes_are_validated_per_type() {
    let cases = [
        ("41{}", SioError::InvalidPayload(PacketType::Disconnect)),
        ("40[]", SioError::InvalidPayload(PacketType::Connect)),
        (r#"40"x""#, SioError::InvalidPayload(PacketType::Connect)),
        ("44", SioError::InvalidPayload(PacketType::ConnectError)),
        ("44[1]", SioError::InvalidPayload(PacketType::ConnectError)),
        ("401", SioError::UnexpectedAckId(PacketType::Connect)),
        ("411", SioError::UnexpectedAckId(PacketType::Disconnect)),
    ];
    for (message, error) in cases {
        assert_eq!(wire(message), Err(error), "{message}");
    }
}

#[test]
fn garbage_is_rejected() {
    assert_eq!(wire("4abc"), Err(SioError::UnknownPacketType(b'a')));
    assert_eq!(wire("4"), Err(SioError::Empty));
    assert_eq!(wire("47"), Err(SioError::UnknownPacketType(b'7')));
    assert_eq!(wire(r#"42["a""#), Err(SioError::InvalidJson));
    assert_eq!(wire(r#"42["a"]x"#), Err(SioError::InvalidJson));
    assert_eq!(wire("40/admin?x,{bad"), Err(SioError::InvalidJson));
}

#[test]
fn every_variant_round_trips_through_encode() {
    let packets = [
        Packet::Connect {
            nsp: "/a".into(),
            query: Some("t=1".into()),
            data: None,
        },
        Packet::Connect {
            nsp: root(),
            query: None,
            data: Some(json!({"token":"é"})),
        },
        Packet::Disconnect { nsp: "/a".into() },
        Packet::Event {
            nsp: root(),
            id: Some(0),
            data: vec![json!("x"), json!(null)],
        },
        Packet::Ack {
            nsp: "/a".into(),
            id: 9,
            data: vec![],
        },
        Packet::ConnectError {
            nsp: root(),
            data: json!({"message":"no"}),
        },
        Packet::BinaryEvent {
            nsp: "/a".into(),
            id: None,
            attachments: 2,
            data: vec![json!(1)],
        },
        Packet::BinaryAck {
            nsp: root(),
            id: 1,
            attachments: 0,
            data: vec![json!([])],
        },
    ];
    for packet in packets {
        assert_eq!(
            decode(&encode(&packet)),
            Ok(packet.clone()),
            "{}",
            encode(&packet)
        );
    }
    let query = Packet::Connect {
        nsp: "/admin".into(),
        query: Some("token=abc".into()),
        data: None,
    };
    assert_eq!(encode(&query), "0/admin?token=abc,");
}

#[test]
fn protocol_version_follows_engineio_version() {
    assert_eq!(SioVersion::from(EioVersion::V3), SioVersion::V4);
    assert_eq!(SioVersion::from(EioVersion::V4), SioVersion::V5);
}

// --- fan-out frames ---------------------------------------------------------------------------

#[test]
fn event_frame_wraps_payload_without_reserializing() {
    let payload = r#"{"id":"42","name":"café 🎉"}"#.as_bytes();
    let frame = event_frame("CHANNEL_CREATE", payload);
    assert_eq!(
        &frame[..],
        r#"42["CHANNEL_CREATE",{"id":"42","name":"café 🎉"}]"#.as_bytes()
    );
    // The same bytes become the EIO3 record with its UTF-16 length.
    let shared = SharedMessage::from_encoded(frame).unwrap();
    let mut encoder = engineio::PayloadEncoder::new(EioVersion::V3, true);
    encoder.push_shared(&shared);
    assert_eq!(
        &encoder.finish().0[..],
        r#"49:42["CHANNEL_CREATE",{"id":"42","name":"café 🎉"}]"#.as_bytes()
    );
}

#[test]
fn event_frame_with_offset_appends_the_offset_argument() {
    let frame = event_frame_with_offset("CHANNEL_CREATE", br#"{"id":"43"}"#, "OxAbC12");
    assert_eq!(&frame[..], br#"42["CHANNEL_CREATE",{"id":"43"},"OxAbC12"]"#);
    let text = std::str::from_utf8(&frame).unwrap();
    assert_eq!(wire(text).unwrap().event_name(), Some("CHANNEL_CREATE"));
}

#[test]
fn event_frame_escapes_the_name() {
    let name = "we\"ird\\name\n\u{0}é";
    let frame = event_frame(name, b"null");
    let packet = wire(std::str::from_utf8(&frame).unwrap()).unwrap();
    assert_eq!(packet.event_name(), Some(name));
}

#[test]
fn json_strings_escape_quotes_backslashes_and_controls() {
    let mut out = String::new();
    push_json_str(&mut out, "a\"\\\n\r\t\u{8}\u{c}\u{1f}é🎉");
    assert_eq!(out, r#""a\"\\\n\r\t\b\f\u001fé🎉""#);
    assert_eq!(
        serde_json::from_str::<String>(&out).unwrap(),
        "a\"\\\n\r\t\u{8}\u{c}\u{1f}é🎉"
    );
}

#[test]
fn arbitrary_and_truncated_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0xfeed);
    let valid = [
        r#"2456["message-with-ack",1,"2",{"3":[false]}]"#,
        r#"52-/admin,7["message",{"_placeholder":true,"num":0}]"#,
        r#"0/admin?token=abc,{"a":"é🎉"}"#,
        r#"4/random,{"message":"Invalid namespace"}"#,
    ];
    let mut samples: Vec<String> = Vec::new();
    for message in valid {
        samples.extend(message.char_indices().map(|(i, _)| message[..i].to_owned()));
    }
    let alphabet: Vec<char> = "0123456789-/,?[]{}\"\\:é🎉abn ".chars().collect();
    for _ in 0..20_000 {
        let len = rng.usize(0..20);
        samples.push(
            (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect(),
        );
    }
    for sample in &samples {
        if let Ok(packet) = decode(sample) {
            // Whatever decodes must re-encode into something that decodes the same.
            assert_eq!(decode(&encode(&packet)), Ok(packet), "{sample:?}");
        }
    }
}
