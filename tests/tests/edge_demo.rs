//! `blackhole-edge --demo` alone: no Redis, no RabbitMQ, and a stock socket.io-client 4 using a
//! printed demo token receives call events within seconds.

use std::time::Duration;

use blackhole_tests::clients::SioClient;
use blackhole_tests::servers::{ChildProcess, free_port};
use serde_json::json;

#[tokio::test]
async fn the_demo_serves_call_traffic_to_a_client_using_a_printed_token() {
    let port = free_port();
    let admin = free_port();
    let edge = ChildProcess::spawn(
        "blackhole-edge",
        &[
            "--demo".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--admin-listen".into(),
            format!("127.0.0.1:{admin}"),
        ],
        &[],
    );
    assert!(
        edge.wait_for_log("auth_token demo_", Duration::from_secs(20))
            .await,
        "demo tokens printed:\n{}",
        edge.logs()
    );
    let logs = edge.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("auth_token demo_"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let account = words[words.iter().position(|w| *w == "account_id").unwrap() + 1];
    let token = words[words.iter().position(|w| *w == "auth_token").unwrap() + 1];

    let mut client =
        SioClient::connect(&format!("http://127.0.0.1:{port}"), "4", "websocket", None);
    client.connected().await;
    let reply = client
        .subscribe(json!({"account_id": account, "auth_token": token, "binding": "call.*.*"}))
        .await;
    assert_eq!(reply["status"], "success", "{reply}");

    let mut names = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && !names.contains("CHANNEL_ANSWER") {
        if let Some(event) = client.next_event(Duration::from_secs(1)).await {
            assert_eq!(
                event["data"]["Custom-Channel-Vars"]["Account-ID"], account,
                "only the subscribed account"
            );
            names.insert(event["name"].as_str().unwrap().to_owned());
        }
    }
    assert!(names.contains("CHANNEL_CREATE"), "calls appear: {names:?}");
    assert!(
        names.contains("CHANNEL_ANSWER"),
        "calls are answered: {names:?}"
    );
}
