//! Kazoo 3.x drop-in: the original Blackhole docs' example page, with the unmodified
//! socket.io-client 0.9.16 in headless Chromium, receives events published to RabbitMQ.

use std::time::Duration;

use blackhole_tests::clients::ExamplePage;
use blackhole_tests::kazoo::{SAMPLE_ACCOUNT, call_samples};
use blackhole_tests::stack::Stack;
use serde_json::{Value, json};

fn participants_event() -> (String, Vec<u8>) {
    let body = json!({
        "Event-Category": "conference",
        "Event-Name": "participants_event",
        "Conference-ID": "5edbfdd3b825314a71b0a05957392edb",
        "Account-ID": SAMPLE_ACCOUNT,
        "Participants": [{"Call-ID": "934800819", "Participant-ID": 20, "Floor": false, "Mute": false}],
        "Msg-ID": "a6fbbf034b5cd3af",
        "App-Name": "ecallmgr",
        "App-Version": "3.22.0"
    });
    (
        "conference.event.5edbfdd3b825314a71b0a05957392edb".to_owned(),
        serde_json::to_vec(&body).unwrap(),
    )
}

async fn example_page_logs_every_event(transports: Option<&str>) {
    let stack = Stack::start(&[]).await;
    let mut page =
        ExamplePage::open(&stack.edge.url(), SAMPLE_ACCOUNT, "token-a", transports).await;
    stack.wait_for_subscriptions(4).await;

    for (key, body) in call_samples() {
        stack.kazoo.publish("callevt", &key, &body).await;
    }
    let (key, body) = participants_event();
    stack.kazoo.publish("conference", &key, &body).await;

    for (i, name) in ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY"]
        .into_iter()
        .enumerate()
    {
        let logged = page.wait_for_event(name, Duration::from_secs(10)).await;
        let logged = logged
            .unwrap_or_else(|| panic!("the page never logged {name}; it logged {:?}", page.logged));
        let sample: Value = serde_json::from_slice(&call_samples()[i].1).unwrap();
        assert_eq!(
            logged, sample,
            "{name} arrives as Kazoo's object, untouched"
        );
    }
    let conference = page
        .wait_for_event("participants_event", Duration::from_secs(10))
        .await;
    assert!(
        conference.is_some(),
        "the page logs the conference event; it logged {:?}",
        page.logged
    );
    page.close().await;
}

#[tokio::test]
async fn the_docs_example_page_logs_call_and_conference_events() {
    example_page_logs_every_event(None).await;
}

#[tokio::test]
async fn the_docs_example_page_works_over_xhr_polling() {
    example_page_logs_every_event(Some("xhr-polling")).await;
}
