//! Kazoo 4.x drop-in: a `ws` client following Monster UI's flow over the Kazoo JSON protocol,
//! checked frame by frame against Kazoo's own envelopes, and every error string of Kazoo's
//! Blackhole produced by the input that causes it.

use std::time::Duration;

use blackhole_tests::clients::WsClient;
use blackhole_tests::kazoo::{SAMPLE_ACCOUNT, call_samples, sample};
use blackhole_tests::stack::{OTHER_ACCOUNT, Stack};
use serde_json::{Value, json};

fn ws_url(stack: &Stack) -> String {
    format!("ws://{}/", stack.edge.addr)
}

fn derived(event: &str) -> Value {
    serde_json::from_slice(&sample(&format!("v4_ws_event_{event}.DERIVED.json"))).unwrap()
}

fn subscribe(id: &str, token: Option<&str>, data: Value) -> Value {
    let mut request = json!({"action": "subscribe", "request_id": id, "data": data});
    if let Some(token) = token {
        request["auth_token"] = json!(token);
    }
    request
}

#[tokio::test]
async fn monster_ui_flow_gets_kazoo_replies_and_events_field_by_field() {
    let stack = Stack::start(&[]).await;
    let mut client = WsClient::connect(&ws_url(&stack), &json!({}))
        .await
        .expect("websocket opens");

    let reply = client
        .request(subscribe(
            "r1",
            Some("token-a"),
            json!({"account_id": SAMPLE_ACCOUNT, "binding": "call.CHANNEL_CREATE.*"}),
        ))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "r1", "status": "success", "data": {"subscribed": ["call.CHANNEL_CREATE.*"]}})
    );
    // Authentication is sticky: later requests carry no token.
    for (id, binding) in [
        ("r2", "call.CHANNEL_ANSWER.*"),
        ("r3", "call.CHANNEL_DESTROY.*"),
    ] {
        let reply = client
            .request(subscribe(
                id,
                None,
                json!({"account_id": SAMPLE_ACCOUNT, "binding": binding}),
            ))
            .await;
        assert_eq!(reply["status"], "success", "{reply}");
    }
    let reply = client
        .request(json!({"action": "ping", "request_id": "p1"}))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "p1", "status": "success", "data": {"response": "pong"}})
    );

    for (key, body) in call_samples() {
        stack.kazoo.publish("callevt", &key, &body).await;
    }
    for name in ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY"] {
        let event = client
            .next_message(Duration::from_secs(5), |m| {
                m["action"] == "event" && m["name"] == name
            })
            .await
            .unwrap_or_else(|| panic!("no {name} event; saw {:?}", client.seen));
        let expected = derived(name);
        for field in [
            "action",
            "subscribed_key",
            "subscription_key",
            "name",
            "routing_key",
        ] {
            assert_eq!(event[field], expected[field], "{name}: {field}");
        }
        let (data, expected_data) = (
            event["data"].as_object().unwrap(),
            expected["data"].as_object().unwrap(),
        );
        for (key, value) in expected_data {
            assert_eq!(data.get(key), Some(value), "{name}: data.{key}");
        }
        assert_eq!(
            data.len(),
            expected_data.len(),
            "{name}: no other data fields"
        );
    }

    let reply = client
        .request(json!({"action": "unsubscribe", "request_id": "u1", "data": {"account_id": SAMPLE_ACCOUNT, "binding": "call.CHANNEL_CREATE.*"}}))
        .await;
    assert_eq!(reply["status"], "success");
    assert_eq!(
        reply["data"]["unsubscribed"],
        json!(["call.CHANNEL_CREATE.*"])
    );
    let mut remaining: Vec<String> =
        serde_json::from_value(reply["data"]["subscribed"].clone()).unwrap();
    remaining.sort();
    assert_eq!(
        remaining,
        ["call.CHANNEL_ANSWER.*", "call.CHANNEL_DESTROY.*"]
    );
    client.close().await;
}

async fn error_of(url: &str, request: Value) -> String {
    let mut client = WsClient::connect(url, &json!({}))
        .await
        .expect("websocket opens");
    let reply = client.request(request).await;
    assert_eq!(reply["status"], "error", "{reply}");
    let error = reply["data"]["errors"][0]
        .as_str()
        .expect("an error string")
        .to_owned();
    client.close().await;
    error
}

#[tokio::test]
async fn every_kazoo_error_string_comes_from_the_input_that_causes_it() {
    let stack = Stack::start(&[]).await;
    let url = ws_url(&stack);
    let acct = |binding: &str| json!({"account_id": SAMPLE_ACCOUNT, "binding": binding});
    let cases: Vec<(Value, &str)> = vec![
        (
            subscribe("e1", None, acct("call.*.*")),
            "authentication token required",
        ),
        (
            subscribe("e2", Some("not-a-known-token"), acct("call.*.*")),
            "failed to authenticate token not-a-known-token",
        ),
        (
            subscribe("e3", Some("has a space"), acct("call.*.*")),
            "invalid authentication token format",
        ),
        (
            json!({"action": "subscribe", "request_id": "e4", "auth_token": "token-a"}),
            "missing required keys in data object",
        ),
        (
            subscribe("e5", Some("token-a"), json!({"account_id": SAMPLE_ACCOUNT})),
            "missing required keys : binding",
        ),
        (
            subscribe(
                "e6",
                Some("token-a"),
                json!({"account_id": OTHER_ACCOUNT, "binding": "call.*.*"}),
            ),
            "unauthorized account id",
        ),
        (
            subscribe(
                "e7",
                Some("token-a"),
                json!({"account_id": "*", "binding": "call.*.*"}),
            ),
            "unauthorized wildcard account id",
        ),
        (
            subscribe("e8", Some("token-a"), acct("nothing.like.this")),
            "no available subscriptions to requested binding",
        ),
        (
            subscribe("e9", Some("token-a"), acct("call.CHANNEL_FOO.*")),
            "event CHANNEL_FOO not supported",
        ),
        (
            subscribe("e10", Some("token-a"), acct("call.*")),
            "invalid format for call subscription : *",
        ),
        (
            subscribe("e11", Some("token-a"), acct("conference.command.*")),
            "ConferenceId required",
        ),
        (
            subscribe(
                "e12",
                Some("token-a"),
                acct("conference.event.conf1.call1.bogus-event"),
            ),
            "Unsupported conference event bogus-event",
        ),
    ];
    for (request, expected) in cases {
        let id = request["request_id"].clone();
        assert_eq!(error_of(&url, request).await, expected, "request {id}");
    }

    // Kazoo's bucket: 100 requests at once, then 10 per second.
    let mut client = WsClient::connect(&url, &json!({})).await.unwrap();
    let mut refused = None;
    for i in 0..130 {
        let reply = client
            .request(
                json!({"action": "ping", "request_id": format!("b{i}"), "auth_token": "token-a"}),
            )
            .await;
        if reply["status"] == "error" {
            refused = reply["data"]["errors"][0].as_str().map(str::to_owned);
            break;
        }
    }
    let refused = refused.expect("the request budget runs out");
    assert!(
        refused.starts_with("rate limiting threshold hit for 127.0.0.1:") && refused.ends_with('!'),
        "{refused}"
    );
}

#[tokio::test]
async fn subprotocols_get_400_and_the_per_ip_cap_gets_429() {
    let stack = Stack::start(&["--max-connections-per-ip", "1"]).await;
    let refused =
        WsClient::connect(&ws_url(&stack), &json!({"Sec-WebSocket-Protocol": "kazoo"})).await;
    assert_eq!(refused.err().map(|l| l["status"].clone()), Some(json!(400)));
    let _first = WsClient::connect(&ws_url(&stack), &json!({}))
        .await
        .expect("the first socket opens");
    let second = WsClient::connect(&ws_url(&stack), &json!({})).await;
    assert_eq!(second.err().map(|l| l["status"].clone()), Some(json!(429)));
}
