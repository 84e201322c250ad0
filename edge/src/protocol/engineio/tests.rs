use super::*;

const V3: EioVersion = EioVersion::V3;
const V4: EioVersion = EioVersion::V4;

/// §7 B: the `café 🎉` event, 49 UTF-16 units, 48 chars, 52 bytes.
const UNICODE_EVENT: &str = r#"42["CHANNEL_CREATE",{"id":"42","name":"café 🎉"}]"#;
const BINARY_EVENT: &str = r#"451-["upload",{"_placeholder":true,"num":0}]"#;

fn open(upgrades: Vec<Transport>) -> OpenPacket {
    OpenPacket {
        sid: "Xq3Ba9c2LwT0pQe1AAAB".into(),
        upgrades,
        ping_interval_ms: 25_000,
        ping_timeout_ms: 20_000,
        max_payload: 1_000_000,
    }
}

fn decode(version: EioVersion, ct: ContentType, body: &[u8]) -> Result<Vec<Packet>, EioError> {
    decode_payload(version, ct, &Bytes::copy_from_slice(body), 64)
}

fn decode_text(version: EioVersion, body: &str) -> Result<Vec<Packet>, EioError> {
    decode(version, ContentType::TextPlain, body.as_bytes())
}

fn encode(
    version: EioVersion,
    supports_binary: bool,
    packets: &[Packet],
) -> (Vec<u8>, ContentType) {
    let (body, ct) = encode_payload(version, supports_binary, packets);
    (body.to_vec(), ct)
}

fn xhr2_binary_payload() -> Vec<u8> {
    let mut body = vec![0x00, 0x04, 0x04, 0xff];
    body.extend_from_slice(BINARY_EVENT.as_bytes());
    body.extend_from_slice(&[0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04]);
    body
}

// --- versions, transports, content types ------------------------------------------------------

#[test]
fn eio_version_accepts_only_3_and_4() {
    assert_eq!(EioVersion::from_query("3"), Ok(V3));
    assert_eq!(EioVersion::from_query("4"), Ok(V4));
    for bad in ["", "abc", "5", "2", " 4", "04"] {
        assert_eq!(
            EioVersion::from_query(bad),
            Err(EioError::UnsupportedVersion),
            "{bad:?}"
        );
    }
    assert_eq!(V3.as_str(), "3");
}

#[test]
fn transport_accepts_polling_and_websocket_only() {
    assert_eq!(Transport::from_query("polling"), Ok(Transport::Polling));
    assert_eq!(Transport::from_query("websocket"), Ok(Transport::Websocket));
    assert_eq!(
        Transport::from_query("abc"),
        Err(EioError::UnknownTransport)
    );
}

#[test]
fn content_type_is_binary_only_for_octet_stream() {
    assert_eq!(
        ContentType::from_header("application/octet-stream"),
        ContentType::OctetStream
    );
    assert_eq!(
        ContentType::from_header("Application/Octet-Stream; x=y"),
        ContentType::OctetStream
    );
    assert_eq!(
        ContentType::from_header("text/plain;charset=UTF-8"),
        ContentType::TextPlain
    );
    assert_eq!(ContentType::from_header(""), ContentType::TextPlain);
    assert_eq!(ContentType::TextPlain.as_str(), "text/plain; charset=UTF-8");
}

// --- open packet ------------------------------------------------------------------------------

#[test]
fn v3_handshake_body_is_open_packet_then_implicit_connect() {
    let packets = [
        Packet::Open(open(vec![Transport::Websocket])),
        Packet::text("0"),
    ];
    let (body, ct) = encode(V3, true, &packets);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"97:0{"sid":"Xq3Ba9c2LwT0pQe1AAAB","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}2:40"#
    );
    assert_eq!(ct, ContentType::TextPlain);
}

#[test]
fn v4_open_packet_has_exactly_the_reference_keys_in_order() {
    let encoded = Packet::Open(open(vec![Transport::Websocket])).encode(V4);
    assert_eq!(
        encoded,
        r#"0{"sid":"Xq3Ba9c2LwT0pQe1AAAB","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
    );
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&encoded[1..]).unwrap();
    let mut keys: Vec<_> = json.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
}

#[test]
fn websocket_only_open_packet_offers_no_upgrades() {
    let encoded = open(vec![]).encode(V4);
    assert!(encoded.contains(r#""upgrades":[],"#), "{encoded}");
}

#[test]
fn open_packet_sid_is_json_escaped() {
    let mut packet = open(vec![]);
    packet.sid = "a\"b\\c\u{1}".into();
    let json: serde_json::Value = serde_json::from_str(&packet.encode(V3)).unwrap();
    assert_eq!(json["sid"], "a\"b\\c\u{1}");
}

#[test]
fn open_packet_round_trips_through_decode() {
    let packet = Packet::Open(open(vec![Transport::Websocket]));
    assert_eq!(Packet::decode(V4, &packet.encode(V4)), Ok(packet));
    assert_eq!(Packet::decode(V4, "0{"), Err(EioError::InvalidOpenPacket));
}

// --- single packets and WebSocket frames ------------------------------------------------------

#[test]
fn upgrade_probe_sequence_decodes_and_encodes() {
    let probe = decode_text_frame(V3, "2probe").unwrap();
    assert!(probe.is_probe());
    assert_eq!(
        encode_frame(V3, &Packet::Pong(Some("probe".into()))),
        WsFrame::Text(Bytes::from_static(b"3probe"))
    );
    // The parked GET is answered with a noop while the upgrade is in flight.
    assert_eq!(encode(V3, true, &[Packet::Noop]).0, b"1:6");
    assert_eq!(decode_text_frame(V4, "5"), Ok(Packet::Upgrade));
}

#[test]
fn packets_with_ignored_data_decode_to_their_type() {
    assert_eq!(Packet::decode(V4, "1"), Ok(Packet::Close));
    assert_eq!(Packet::decode(V4, "6"), Ok(Packet::Noop));
    assert_eq!(Packet::decode(V4, "2"), Ok(Packet::Ping(None)));
    assert_eq!(Packet::decode(V4, "4"), Ok(Packet::text("")));
}

#[test]
fn unknown_or_empty_text_packets_are_rejected() {
    assert_eq!(decode_text_frame(V4, ""), Err(EioError::EmptyPacket));
    assert_eq!(
        decode_text_frame(V4, "7"),
        Err(EioError::UnknownPacketType(b'7'))
    );
    assert_eq!(
        decode_text_frame(V3, "x1"),
        Err(EioError::UnknownPacketType(b'x'))
    );
}

#[test]
fn v3_websocket_binary_frames_carry_the_message_type_byte() {
    let packet = Packet::binary(vec![1, 2, 3, 4]);
    assert_eq!(
        encode_frame(V3, &packet),
        WsFrame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4]))
    );
    assert_eq!(
        decode_binary_frame(V3, Bytes::from_static(&[4, 1, 2, 3, 4])),
        Ok(packet)
    );
    assert_eq!(
        decode_binary_frame(V3, Bytes::from_static(&[4, 1, 2, 3])),
        Ok(Packet::binary(vec![1, 2, 3]))
    );
}

#[test]
fn v3_websocket_binary_frames_without_message_type_are_rejected() {
    assert_eq!(
        decode_binary_frame(V3, Bytes::new()),
        Err(EioError::EmptyPacket)
    );
    assert_eq!(
        decode_binary_frame(V3, Bytes::from_static(&[1, 2, 3])),
        Err(EioError::UnexpectedBinaryType(1))
    );
}

#[test]
fn v4_websocket_binary_frames_are_raw_bytes() {
    for data in [&[1u8, 2, 3][..], &[4, 5, 6]] {
        let packet = Packet::binary(data.to_vec());
        assert_eq!(
            encode_frame(V4, &packet),
            WsFrame::Binary(Bytes::copy_from_slice(data))
        );
        assert_eq!(
            decode_binary_frame(V4, Bytes::copy_from_slice(data)),
            Ok(packet)
        );
    }
    assert_eq!(
        decode_binary_frame(V4, Bytes::new()),
        Ok(Packet::binary(Bytes::new()))
    );
}

#[test]
fn base64_text_frames_decode_to_binary_messages() {
    let expected = Ok(Packet::binary(vec![1, 2, 3, 4]));
    assert_eq!(decode_text_frame(V3, "b4AQIDBA=="), expected);
    assert_eq!(decode_text_frame(V4, "bAQIDBA=="), expected);
    // Node's decoder accepts missing padding, so clients may rely on it.
    assert_eq!(decode_text_frame(V4, "bAQIDBA"), expected);
}

#[test]
fn bad_base64_is_rejected() {
    assert_eq!(decode_text_frame(V4, "b!!!!"), Err(EioError::InvalidBase64));
    assert_eq!(decode_text_frame(V4, "bA"), Err(EioError::InvalidBase64));
    assert_eq!(
        decode_text_frame(V3, "b4AQI*"),
        Err(EioError::InvalidBase64)
    );
    assert_eq!(
        decode_text_frame(V3, "b3AQID"),
        Err(EioError::UnexpectedBinaryType(b'3'))
    );
    assert_eq!(decode_text_frame(V3, "b"), Err(EioError::EmptyPacket));
}

// --- v3 text payloads -------------------------------------------------------------------------

#[test]
fn v3_ping_post_and_pong_get() {
    assert_eq!(decode_text(V3, "1:2"), Ok(vec![Packet::Ping(None)]));
    assert_eq!(encode(V3, true, &[Packet::Pong(None)]).0, b"1:3");
}

#[test]
fn v3_text_length_counts_utf16_code_units() {
    assert_eq!(utf16_len(UNICODE_EVENT.as_bytes()), Ok(49));
    assert_eq!(UNICODE_EVENT.len(), 52);
    assert_eq!(UNICODE_EVENT.chars().count(), 48);
    let packet = Packet::text(&UNICODE_EVENT[1..]);
    let (body, _) = encode(V3, true, std::slice::from_ref(&packet));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!("49:{UNICODE_EVENT}")
    );
    assert_eq!(
        decode_text(V3, &format!("49:{UNICODE_EVENT}")),
        Ok(vec![packet])
    );
}

#[test]
fn v3_text_lengths_in_bytes_or_chars_are_rejected() {
    assert_eq!(
        decode_text(V3, &format!("52:{UNICODE_EVENT}")),
        Err(EioError::LengthExceedsBody)
    );
    // 48 units end one unit early; the leftover `]` is no length.
    assert!(decode_text(V3, &format!("48:{UNICODE_EVENT}")).is_err());
}

#[test]
fn v3_text_length_cutting_a_surrogate_pair_is_rejected() {
    assert_eq!(decode_text(V3, "3:4🎉"), Ok(vec![Packet::text("🎉")]));
    assert_eq!(decode_text(V3, "2:4🎉"), Err(EioError::SplitSurrogatePair));
}

#[test]
fn v3_base64_payload_for_b64_clients() {
    let packets = [
        Packet::text(&BINARY_EVENT[1..]),
        Packet::binary(vec![1, 2, 3, 4]),
    ];
    let wire = format!("44:{BINARY_EVENT}10:b4AQIDBA==");
    let (body, ct) = encode(V3, false, &packets);
    assert_eq!(String::from_utf8(body).unwrap(), wire);
    assert_eq!(ct, ContentType::TextPlain);
    assert_eq!(decode_text(V3, &wire), Ok(packets.to_vec()));
}

#[test]
fn v3_empty_payload_is_an_empty_record() {
    assert_eq!(encode(V3, true, &[]).0, b"0:");
    assert_eq!(decode_text(V3, "0:"), Ok(vec![]));
}

#[test]
fn v3_multi_packet_post_decodes_in_order() {
    assert_eq!(
        decode_text(V3, "2:411:1"),
        Ok(vec![Packet::text("1"), Packet::Close])
    );
}

#[test]
fn v3_malformed_text_lengths_are_rejected() {
    let cases = [
        ("", EioError::EmptyPayload),
        ("5:4ab", EioError::LengthExceedsBody),
        ("99999999999999999999:4", EioError::InvalidLength),
        ("18446744073709551616:4", EioError::InvalidLength),
        (":4", EioError::InvalidLength),
        ("1x:4", EioError::InvalidLength),
        ("-1:4", EioError::InvalidLength),
        ("12", EioError::InvalidLength),
        ("1:21", EioError::InvalidLength),
        ("1:7", EioError::UnknownPacketType(b'7')),
        ("10:b4!!!!!!!!", EioError::InvalidBase64),
    ];
    for (body, error) in cases {
        assert_eq!(decode_text(V3, body), Err(error), "{body:?}");
    }
}

#[test]
fn non_utf8_text_payloads_are_rejected() {
    assert_eq!(
        decode(V3, ContentType::TextPlain, b"2:4\xff"),
        Err(EioError::InvalidUtf8)
    );
    assert_eq!(
        decode(V4, ContentType::TextPlain, b"4\xc3"),
        Err(EioError::InvalidUtf8)
    );
    assert_eq!(utf16_len(b"\xf0\x9f"), Err(EioError::InvalidUtf8));
}

// --- v3 binary payloads -----------------------------------------------------------------------

#[test]
fn v3_xhr2_binary_payload_matches_reference_bytes() {
    let expected = xhr2_binary_payload();
    assert_eq!(expected.len(), 56);
    let packets = [
        Packet::text(&BINARY_EVENT[1..]),
        Packet::binary(vec![1, 2, 3, 4]),
    ];
    assert_eq!(
        encode(V3, true, &packets),
        (expected.clone(), ContentType::OctetStream)
    );
    assert_eq!(
        decode(V3, ContentType::OctetStream, &expected),
        Ok(packets.to_vec())
    );
}

#[test]
fn v3_binary_payload_string_lengths_count_utf8_bytes() {
    let packets = [Packet::text(&UNICODE_EVENT[1..]), Packet::binary(vec![9])];
    let (body, _) = encode(V3, true, &packets);
    assert_eq!(&body[..4], &[0, 5, 2, 0xff]);
    assert_eq!(
        decode(V3, ContentType::OctetStream, &body),
        Ok(packets.to_vec())
    );
}

#[test]
fn v3_text_only_payload_stays_text_for_binary_capable_clients() {
    let (body, ct) = encode(V3, true, &[Packet::text("2[\"a\"]")]);
    assert_eq!(
        (body.as_slice(), ct),
        (&b"7:42[\"a\"]"[..], ContentType::TextPlain)
    );
}

#[test]
fn v3_malformed_binary_payloads_are_rejected() {
    let cases: [(&[u8], EioError); 9] = [
        (&[2, 1, 0xff, b'2'], EioError::InvalidRecordKind(2)),
        (&[0, 5, 0xff, b'4'], EioError::LengthExceedsBody),
        (&[0, 1], EioError::InvalidLength),
        (&[0, 0xff], EioError::InvalidLength),
        (&[0, 1, 2, 0x0a, 0xff, b'2'], EioError::InvalidLength),
        (
            &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff],
            EioError::InvalidLength,
        ),
        (&[0, 2, 0xff, b'4', 0xc3], EioError::InvalidUtf8),
        (&[1, 0, 0xff], EioError::EmptyPacket),
        (&[1, 2, 0xff, 3, 1], EioError::UnexpectedBinaryType(3)),
    ];
    for (body, error) in cases {
        assert_eq!(
            decode(V3, ContentType::OctetStream, body),
            Err(error),
            "{body:?}"
        );
    }
}

// --- v4 payloads ------------------------------------------------------------------------------

#[test]
fn v4_text_payload_round_trips() {
    let wire = "4test1\x1e4test2";
    let packets = decode_text(V4, wire).unwrap();
    assert_eq!(packets, [Packet::text("test1"), Packet::text("test2")]);
    assert_eq!(
        encode(V4, true, &packets),
        (wire.as_bytes().to_vec(), ContentType::TextPlain)
    );
}

#[test]
fn v4_binary_payload_record_is_b_plus_base64() {
    let wire = "4hello\x1ebAQIDBA==";
    let packets = [Packet::text("hello"), Packet::binary(vec![1, 2, 3, 4])];
    assert_eq!(decode_text(V4, wire), Ok(packets.to_vec()));
    // v4 payloads stay text even for binary-capable clients.
    assert_eq!(
        encode(V4, true, &packets),
        (wire.as_bytes().to_vec(), ContentType::TextPlain)
    );
}

#[test]
fn v4_binary_event_attachments_travel_as_base64_records() {
    let event = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let wire = format!("4{event}\x1ebAQID\x1ebBAUG");
    let packets = [
        Packet::text(event),
        Packet::binary(vec![1, 2, 3]),
        Packet::binary(vec![4, 5, 6]),
    ];
    assert_eq!(decode_text(V4, &wire), Ok(packets.to_vec()));
    assert_eq!(encode(V4, true, &packets).0, wire.as_bytes());
}

#[test]
fn v4_heartbeat_and_close_payloads() {
    assert_eq!(encode(V4, true, &[Packet::Ping(None)]).0, b"2");
    assert_eq!(decode_text(V4, "3"), Ok(vec![Packet::Pong(None)]));
    assert_eq!(decode_text(V4, "1"), Ok(vec![Packet::Close]));
    assert_eq!(encode(V4, true, &[Packet::Noop]).0, b"6");
}

#[test]
fn v4_malformed_payloads_are_rejected() {
    assert_eq!(decode_text(V4, ""), Err(EioError::EmptyPayload));
    assert_eq!(decode_text(V4, "4a\x1e"), Err(EioError::EmptyPacket));
    assert_eq!(decode_text(V4, "\x1e4a"), Err(EioError::EmptyPacket));
    assert_eq!(
        decode_text(V4, "4a\x1e9x"),
        Err(EioError::UnknownPacketType(b'9'))
    );
    assert_eq!(decode_text(V4, "4a\x1eb!!"), Err(EioError::InvalidBase64));
}

#[test]
fn payloads_with_too_many_packets_are_rejected() {
    let too_many = Err(EioError::TooManyPackets { max: 2 });
    let v4 = Bytes::from_static(b"6\x1e6\x1e6");
    assert_eq!(decode_payload(V4, ContentType::TextPlain, &v4, 2), too_many);
    let v3 = Bytes::from_static(b"1:61:61:6");
    assert_eq!(decode_payload(V3, ContentType::TextPlain, &v3, 2), too_many);
    let v3_binary = Bytes::from_static(&[0, 1, 0xff, b'6', 0, 1, 0xff, b'6', 0, 1, 0xff, b'6']);
    assert_eq!(
        decode_payload(V3, ContentType::OctetStream, &v3_binary, 2),
        too_many
    );
    assert_eq!(
        decode_payload(V4, ContentType::TextPlain, &v4, 3).map(|p| p.len()),
        Ok(3)
    );
}

// --- shared fan-out messages ------------------------------------------------------------------

#[test]
fn shared_message_frames_without_reencoding() {
    let encoded = Bytes::from_static(UNICODE_EVENT.as_bytes());
    let shared = SharedMessage::from_encoded(encoded.clone()).unwrap();
    // Zero-copy: the frame is the very buffer the fan-out built.
    assert_eq!(shared.as_bytes().as_ptr(), encoded.as_ptr());
    assert_eq!(shared.ws_frame(), WsFrame::Text(encoded));

    let mut v3 = PayloadEncoder::new(V3, true);
    v3.push_shared(&shared);
    v3.push(&Packet::Noop);
    assert_eq!(v3.len(), 2);
    let (body, ct) = v3.finish();
    assert_eq!(body, format!("49:{UNICODE_EVENT}1:6").as_bytes());
    assert_eq!(ct, ContentType::TextPlain);

    let mut single = PayloadEncoder::new(V4, true);
    single.push_shared(&shared);
    assert_eq!(single.finish().0.as_ptr(), shared.as_bytes().as_ptr());

    let mut v4 = PayloadEncoder::new(V4, true);
    v4.push_shared(&shared);
    v4.push_shared(&shared);
    assert_eq!(
        v4.finish().0,
        format!("{UNICODE_EVENT}\x1e{UNICODE_EVENT}").as_bytes()
    );
}

#[test]
fn shared_message_from_socketio_packet_prepends_message_type() {
    let shared = SharedMessage::message(&UNICODE_EVENT.as_bytes()[1..]).unwrap();
    assert_eq!(
        shared,
        SharedMessage::from_encoded(Bytes::from_static(UNICODE_EVENT.as_bytes())).unwrap()
    );
}

#[test]
fn shared_message_in_v3_binary_payload_counts_bytes() {
    let shared = SharedMessage::from_encoded(Bytes::from_static(b"42[\"a\"]")).unwrap();
    let mut encoder = PayloadEncoder::new(V3, true);
    encoder.push_shared(&shared);
    encoder.push(&Packet::binary(vec![7]));
    let (body, ct) = encoder.finish();
    assert_eq!(ct, ContentType::OctetStream);
    assert_eq!(&body[..], b"\x00\x07\xff42[\"a\"]\x01\x02\xff\x04\x07");
}

#[test]
fn shared_message_rejects_non_packets() {
    assert_eq!(
        SharedMessage::from_encoded(Bytes::new()),
        Err(EioError::EmptyPacket)
    );
    assert_eq!(
        SharedMessage::from_encoded(Bytes::from_static(b"x")),
        Err(EioError::UnknownPacketType(b'x'))
    );
    assert_eq!(SharedMessage::message(b"2\xff"), Err(EioError::InvalidUtf8));
}

// --- robustness -------------------------------------------------------------------------------

#[test]
fn arbitrary_and_truncated_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut samples: Vec<Vec<u8>> = vec![
        xhr2_binary_payload(),
        format!("49:{UNICODE_EVENT}").into_bytes(),
        format!("44:{BINARY_EVENT}10:b4AQIDBA==").into_bytes(),
        b"4hello\x1ebAQIDBA==".to_vec(),
    ];
    for sample in samples.clone() {
        samples.extend((0..sample.len()).map(|cut| sample[..cut].to_vec()));
    }
    let alphabet = b"0123456789:b4\x1e\xff\x00\x01\x04=A/\xc3\xa9\xf0\x9f\x8e\x89";
    for _ in 0..20_000 {
        let len = rng.usize(0..24);
        samples.push(
            (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect(),
        );
    }
    for sample in &samples {
        let body = Bytes::copy_from_slice(sample);
        for version in [V3, V4] {
            for ct in [ContentType::TextPlain, ContentType::OctetStream] {
                let _ = decode_payload(version, ct, &body, 8);
            }
            let _ = decode_binary_frame(version, body.clone());
            if let Ok(text) = std::str::from_utf8(sample) {
                let _ = decode_text_frame(version, text);
            }
        }
        let _ = SharedMessage::from_encoded(body);
    }
}
