use super::*;

const ACCOUNT: &str = "4b8c6fec4b2597882c0390202d195419";
const OTHER: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
const CREATE: &[u8] = include_bytes!("../../../testdata/kazoo/amqp_call_CHANNEL_CREATE.json");
const ANSWER: &[u8] = include_bytes!("../../../testdata/kazoo/amqp_call_CHANNEL_ANSWER.json");
const DESTROY: &[u8] = include_bytes!("../../../testdata/kazoo/amqp_call_CHANNEL_DESTROY.json");

fn ok(source: Source, key: &str, body: &[u8]) -> Route {
    route(source, key, body).unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn call_samples_route_to_their_account_with_kazoo_keys() {
    for (body, event) in [
        (CREATE, "CHANNEL_CREATE"),
        (ANSWER, "CHANNEL_ANSWER"),
        (DESTROY, "CHANNEL_DESTROY"),
    ] {
        let key = format!("call.{event}.at6dmu4ffk97vnlp6qfq");
        let route = ok(Source::Call, &key, body);
        assert_eq!(route.account_id.as_str(), ACCOUNT);
        assert_eq!(route.kind, EventKind::Call);
        assert_eq!(route.event_name, event);
        assert_eq!(route.routing_key, key);
    }
}

#[test]
fn call_account_comes_from_account_id_before_channel_vars() {
    let body = format!(
        r#"{{"Event-Name":"CHANNEL_CREATE","Account-ID":"{OTHER}","Custom-Channel-Vars":{{"Account-ID":"{ACCOUNT}"}}}}"#
    );
    assert_eq!(
        ok(Source::Call, "call.CHANNEL_CREATE.x", body.as_bytes())
            .account_id
            .as_str(),
        OTHER
    );
}

#[test]
fn call_account_falls_back_to_channel_vars_when_account_id_is_invalid() {
    let body = format!(
        r#"{{"Event-Name":"CHANNEL_CREATE","Account-ID":"undefined","Custom-Channel-Vars":{{"Account-ID":"{ACCOUNT}"}}}}"#
    );
    assert_eq!(
        ok(Source::Call, "call.CHANNEL_CREATE.x", body.as_bytes())
            .account_id
            .as_str(),
        ACCOUNT
    );
}

#[test]
fn call_without_any_account_is_refused() {
    let err = route(
        Source::Call,
        "call.CHANNEL_CREATE.x",
        br#"{"Event-Name":"CHANNEL_CREATE"}"#,
    )
    .unwrap_err();
    assert!(matches!(err, RouteError::NoAccount));
    assert_eq!(err.reason(), "no_account");
}

#[test]
fn call_key_without_call_id_uses_the_encoded_payload_call_id() {
    let body = format!(
        r#"{{"Event-Name":"CHANNEL_HOLD","Call-ID":"abc.def@host","Account-ID":"{ACCOUNT}"}}"#
    );
    assert_eq!(
        ok(Source::Call, "call.CHANNEL_HOLD", body.as_bytes()).routing_key,
        "call.CHANNEL_HOLD.abc%2Edef@host"
    );
}

#[test]
fn event_name_falls_back_to_the_key() {
    let body = format!(r#"{{"Account-ID":"{ACCOUNT}"}}"#);
    assert_eq!(
        ok(Source::Call, "call.PARK_PARKED.x", body.as_bytes()).event_name,
        "PARK_PARKED"
    );
}

#[test]
fn bodies_that_are_not_json_objects_are_refused_with_their_reason() {
    let cases: [(&[u8], &str); 5] = [
        (b"not json at all", "not_json"),
        (b"{\"Account-ID\": \"4b8c", "not_json"),
        (b"", "not_json"),
        (b"[1,2,3]", "not_object"),
        (b"\"a string\"", "not_object"),
    ];
    for (body, reason) in cases {
        let err = route(Source::Call, "call.CHANNEL_CREATE.x", body).unwrap_err();
        assert_eq!(
            err.reason(),
            reason,
            "{:?}: {err}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn conference_event_account_comes_from_the_key() {
    let key =
        format!("conference.event.add-member.{ACCOUNT}.5edbfdd3b825314a71b0a05957392edb.934800819");
    let route = ok(
        Source::Conference,
        &key,
        br#"{"Event-Name":"conference_event","Event":"add-member"}"#,
    );
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.kind, EventKind::Conference);
    assert_eq!(route.event_name, "conference_event");
    assert_eq!(
        route.routing_key,
        "conference.event.add-member.5edbfdd3b825314a71b0a05957392edb.934800819"
    );
}

#[test]
fn conference_key_account_wins_over_payload_account() {
    let key = format!("conference.event.add-member.{ACCOUNT}.conf.call");
    let body = format!(r#"{{"Event-Name":"conference_event","Account-ID":"{OTHER}"}}"#);
    assert_eq!(
        ok(Source::Conference, &key, body.as_bytes())
            .account_id
            .as_str(),
        ACCOUNT
    );
}

#[test]
fn legacy_participants_event_routes_by_payload_account() {
    let body = format!(
        r#"{{"Event-Name":"participants_event","Conference-ID":"conf1","Account-ID":"{ACCOUNT}","Participants":[]}}"#
    );
    let route = ok(
        Source::Conference,
        "conference.event.conf1",
        body.as_bytes(),
    );
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.event_name, "participants_event");
    assert_eq!(
        route.routing_key,
        "conference.event.participants_event.conf1._"
    );
}

#[test]
fn conference_command_needs_a_payload_account() {
    let err = route(
        Source::Conference,
        "conference.command.conf1",
        br#"{"Application-Name":"kick"}"#,
    )
    .unwrap_err();
    assert!(matches!(err, RouteError::NoAccount));
    let body = format!(r#"{{"Application-Name":"kick","Account-ID":"{ACCOUNT}"}}"#);
    let route = ok(
        Source::Conference,
        "conference.command.conf1",
        body.as_bytes(),
    );
    assert_eq!(route.routing_key, "conference.command.conf1");
}

#[test]
fn fax_status_account_comes_from_the_key() {
    let key = format!("fax.status.{ACCOUNT}.201711-2a7e6d");
    let route = ok(
        Source::Fax,
        &key,
        br#"{"Event-Name":"status","Job-ID":"201711-2a7e6d"}"#,
    );
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.kind, EventKind::Fax);
    assert_eq!(route.event_name, "status");
    assert_eq!(route.routing_key, "fax.status.201711-2a7e6d");
}

#[test]
fn legacy_fax_status_routes_by_payload_account() {
    let body = format!(r#"{{"Event-Name":"status","Account-ID":"{ACCOUNT}"}}"#);
    let route = ok(Source::Fax, "fax.status.201711-2a7e6d", body.as_bytes());
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.routing_key, "fax.status.201711-2a7e6d");
}

#[test]
fn document_changes_route_by_their_database() {
    let key = "doc_created.account%2F4b%2F8c%2F6fec4b2597882c0390202d195419.user.699ed7e3d583e2577ac017c575f87262";
    let route = ok(
        Source::Configuration,
        key,
        br#"{"Event-Name":"doc_created","Type":"user"}"#,
    );
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.kind, EventKind::Object);
    assert_eq!(route.event_name, "doc_created");
    assert_eq!(
        route.routing_key,
        "object.doc_created.user.699ed7e3d583e2577ac017c575f87262"
    );
}

#[test]
fn document_changes_in_monthly_databases_route_to_the_account() {
    let key =
        "doc_edited.account%2F4b%2F8c%2F6fec4b2597882c0390202d195419-202611.mailbox_message.m1";
    let route = ok(Source::Configuration, key, b"{}");
    assert_eq!(route.account_id.as_str(), ACCOUNT);
    assert_eq!(route.event_name, "doc_edited");
    assert_eq!(route.routing_key, "object.doc_edited.mailbox_message.m1");
}

#[test]
fn document_changes_outside_account_databases_are_refused() {
    let err = route(
        Source::Configuration,
        "doc_edited.system_config.config.blackhole",
        b"{}",
    )
    .unwrap_err();
    assert_eq!(err.reason(), "not_account_db");
}

#[test]
fn keys_of_the_wrong_shape_are_refused() {
    let body = format!(r#"{{"Account-ID":"{ACCOUNT}"}}"#);
    for (source, key) in [
        (Source::Call, "channel.CHANNEL_CREATE.x"),
        (Source::Call, "call"),
        (Source::Fax, "fax.object.doc_created"),
        (Source::Configuration, "doc_created.db"),
    ] {
        let err = route(source, key, body.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), "malformed_key", "{key}");
    }
}

#[test]
fn other_exchanges_route_by_payload_and_keep_their_key() {
    let body = format!(r#"{{"Event-Name":"call_stat","Account-ID":"{ACCOUNT}"}}"#);
    let route = ok(
        Source::for_exchange("acdc_stats"),
        "acdc_stats.call.waiting.x",
        body.as_bytes(),
    );
    assert_eq!(route.kind, EventKind::Other);
    assert_eq!(route.routing_key, "acdc_stats.call.waiting.x");
    assert_eq!(route.event_name, "call_stat");
}

#[test]
fn exchanges_map_to_sources() {
    assert_eq!(Source::for_exchange("callevt"), Source::Call);
    assert_eq!(Source::for_exchange("conference"), Source::Conference);
    assert_eq!(Source::for_exchange("faxes"), Source::Fax);
    assert_eq!(Source::for_exchange("configuration"), Source::Configuration);
}

#[test]
fn encode_word_keeps_words_whole() {
    assert_eq!(encode_word("plain-id@host"), "plain-id@host");
    assert_eq!(encode_word("a.b*c#d%e"), "a%2Eb%2Ac%23d%25e");
}
