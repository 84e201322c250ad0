//! Conference, fax and document events flow through every protocol with the binding forms each
//! client generation documents, and only to their own account.

use std::time::Duration;

use blackhole_tests::clients::{SioClient, WsClient};
use blackhole_tests::kazoo::SAMPLE_ACCOUNT;
use blackhole_tests::stack::{OTHER_ACCOUNT, Stack};
use serde_json::{Value, json};

const CONF: &str = "5edbfdd3b825314a71b0a05957392edb";
const ACCOUNT_DB: &str = "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419";

/// Kazoo's conference, fax and document events for `account`, as (exchange, key, body).
fn events(account: &str, db: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "conference",
            format!("conference.event.add-member.{account}.{CONF}.934800819"),
            json!({"Event-Category": "conference", "Event-Name": "event", "Event": "add-member",
                   "Conference-ID": CONF, "Call-ID": "934800819", "Account-ID": account}),
        ),
        (
            "faxes",
            format!("fax.status.{account}.201711-2a7e6d"),
            json!({"Event-Category": "fax", "Event-Name": "status", "Job-ID": "201711-2a7e6d",
                   "Status": "Sending page 2", "Account-ID": account}),
        ),
        (
            "configuration",
            format!("doc_created.{db}.user.699ed7e3d583e2577ac017c575f87262"),
            json!({"Event-Category": "configuration", "Event-Name": "doc_created", "Type": "user",
                   "ID": "699ed7e3d583e2577ac017c575f87262", "Database": db, "Account-ID": account}),
        ),
        (
            "configuration",
            format!("doc_edited.{db}.user.699ed7e3d583e2577ac017c575f87262"),
            json!({"Event-Category": "configuration", "Event-Name": "doc_edited", "Type": "user",
                   "ID": "699ed7e3d583e2577ac017c575f87262", "Database": db, "Account-ID": account}),
        ),
    ]
}

async fn publish_all(stack: &Stack) {
    // The other account's events go first: a leak would arrive before the expected events.
    let other_db = "account%2Fc0%2Ffe%2Fe00c0ffee00c0ffee00c0ffee00";
    for (exchange, key, body) in events(OTHER_ACCOUNT, other_db)
        .into_iter()
        .chain(events(SAMPLE_ACCOUNT, ACCOUNT_DB))
    {
        stack
            .kazoo
            .publish(exchange, &key, &serde_json::to_vec(&body).unwrap())
            .await;
    }
}

#[tokio::test]
async fn socketio_clients_get_conference_fax_and_document_events() {
    let stack = Stack::start(&[]).await;
    let mut modern = SioClient::connect(&stack.edge.url(), "4", "websocket", None);
    let mut legacy_forms = SioClient::connect(&stack.edge.url(), "2", "websocket", None);
    modern.connected().await;
    legacy_forms.connected().await;
    let reply = modern
        .subscribe(json!({"account_id": SAMPLE_ACCOUNT, "auth_token": "token-a",
                          "bindings": ["conference.event.*", "fax.status.*", "object.doc_created.user"]}))
        .await;
    assert_eq!(reply["status"], "success", "{reply}");
    let reply = legacy_forms.subscribe(json!({"account_id": SAMPLE_ACCOUNT, "auth_token": "token-a", "binding": "doc_edited.*.user.*"})).await;
    assert_eq!(reply["status"], "success", "{reply}");

    publish_all(&stack).await;
    let mut names = Vec::new();
    for _ in 0..3 {
        let event = modern
            .next_event(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("saw {:?}", modern.seen));
        assert_eq!(
            event["data"]["Account-ID"], SAMPLE_ACCOUNT,
            "only the subscribed account"
        );
        names.push(event["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["event", "status", "doc_created"]);
    let edited = legacy_forms
        .next_event(Duration::from_secs(5))
        .await
        .expect("doc_edited");
    assert_eq!(edited["name"], "doc_edited");
    assert_eq!(edited["data"]["Account-ID"], SAMPLE_ACCOUNT);
    assert!(
        modern
            .next_event(Duration::from_millis(500))
            .await
            .is_none(),
        "doc_edited does not match object.doc_created.user"
    );
}

#[tokio::test]
async fn kazoo_json_clients_get_conference_fax_and_document_events() {
    let stack = Stack::start(&[]).await;
    let mut client = WsClient::connect(&format!("ws://{}/", stack.edge.addr), &json!({}))
        .await
        .unwrap();
    for (i, binding) in [
        "conference.event.*",
        "fax.status.*",
        "object.doc_created.user",
        "doc_edited.*.user.*",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = client
            .request(json!({"action": "subscribe", "auth_token": "token-a", "request_id": format!("s{i}"),
                            "data": {"account_id": SAMPLE_ACCOUNT, "binding": binding}}))
            .await;
        assert_eq!(reply["status"], "success", "{binding}: {reply}");
    }
    publish_all(&stack).await;
    let expected = [
        ("conference.event.*", "event"),
        ("fax.status.*", "status"),
        ("object.doc_created.user", "doc_created"),
        ("doc_edited.*.user.*", "doc_edited"),
    ];
    for (binding, name) in expected {
        let event = client
            .next_message(Duration::from_secs(5), |m| m["action"] == "event")
            .await
            .unwrap_or_else(|| panic!("no event for {binding}; saw {:?}", client.seen));
        assert_eq!(event["subscribed_key"], binding);
        assert_eq!(event["name"], name, "{event}");
        assert_eq!(
            event["data"]["account_id"], SAMPLE_ACCOUNT,
            "only the subscribed account: {event}"
        );
    }
    let object = &client
        .seen
        .iter()
        .rev()
        .find(|l| l["data"]["subscribed_key"] == "object.doc_created.user")
        .unwrap()["data"];
    assert_eq!(
        object["routing_key"],
        format!("doc_created.{ACCOUNT_DB}.user.699ed7e3d583e2577ac017c575f87262")
    );
    assert_eq!(object["data"]["type"], "user");
}

#[tokio::test]
async fn socketio_09_clients_get_documents_named_as_kazoo_3_named_them() {
    let stack = Stack::start(&[]).await;
    let base = format!("http://{}/socket.io/1", stack.edge.addr);
    let handshake = http(&format!("{base}/?t=1"), None).await;
    let sid = handshake.split(':').next().unwrap().to_owned();
    let poll = format!("{base}/xhr-polling/{sid}");
    assert_eq!(http(&format!("{poll}?t=2"), None).await, "1::");
    let subscribe = format!(
        r#"5:::{{"name":"subscribe","args":[{{"account_id":"{SAMPLE_ACCOUNT}","auth_token":"token-a","binding":"doc_edited.*.user.*"}}]}}"#
    );
    assert_eq!(http(&format!("{poll}?t=3"), Some(&subscribe)).await, "1");
    stack.wait_for_subscriptions(1).await;
    publish_all(&stack).await;
    let body = http(&format!("{poll}?t=4"), None).await;
    assert!(
        body.starts_with(r#"5:::{"name":"doc_edited_user","args":{"#),
        "{body}"
    );
    assert!(
        body.contains(SAMPLE_ACCOUNT) && !body.contains(OTHER_ACCOUNT),
        "{body}"
    );
}

/// A minimal HTTP/1.1 request over a fresh connection: GET, or POST with `body`.
async fn http(url: &str, body: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = match body {
        Some(body) => format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    };
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("response")
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn socketio_09_clients_that_reconnect_with_a_new_handshake_get_events_again() {
    let stack = Stack::start(&[]).await;
    let base = format!("http://{}/socket.io/1", stack.edge.addr);
    let subscribe = format!(
        r#"5:::{{"name":"subscribe","args":[{{"account_id":"{SAMPLE_ACCOUNT}","auth_token":"token-a","binding":"fax.status.*"}}]}}"#
    );
    for round in 0..2 {
        let handshake = http(&format!("{base}/?t={round}"), None).await;
        let poll = format!(
            "{base}/xhr-polling/{}",
            handshake.split(':').next().unwrap()
        );
        assert_eq!(http(&format!("{poll}?t=a"), None).await, "1::");
        assert_eq!(http(&format!("{poll}?t=b"), Some(&subscribe)).await, "1");
        stack.wait_for_subscriptions(1).await;
        let (exchange, key, body) = events(SAMPLE_ACCOUNT, ACCOUNT_DB).remove(1);
        stack
            .kazoo
            .publish(exchange, &key, &serde_json::to_vec(&body).unwrap())
            .await;
        let got = http(&format!("{poll}?t=c"), None).await;
        assert!(
            got.starts_with(r#"5:::{"name":"fax.status","args":{"#),
            "round {round}: {got}"
        );
        // The client goes away (`?disconnect`), as a page reload or a network drop would do.
        assert_eq!(http(&format!("{poll}?disconnect"), None).await, "1");
        let gone = blackhole_tests::servers::wait_until(Duration::from_secs(5), || async {
            stack.edge.metric("blackhole_edge_subscriptions", &[]).await == 0.0
        })
        .await;
        assert!(gone, "the old session's bindings are released");
    }
}
