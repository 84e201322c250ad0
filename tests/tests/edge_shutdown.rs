//! SIGTERM on the edge: `/readyz` fails at once, sockets are closed at a paced rate over the
//! drain window (so clients reconnect elsewhere without a stampede), then the process exits 0.

use std::time::{Duration, Instant};

use blackhole_tests::clients::SioClient;
use blackhole_tests::edge::EdgeProcess;
use blackhole_tests::servers::{http_get, wait_until};
use serde_json::json;

#[tokio::test]
async fn sigterm_fails_readiness_then_drains_sockets_over_the_window_and_exits_zero() {
    let mut edge = EdgeProcess::spawn(None, None, &["--demo", "--drain-secs", "3"]);
    edge.wait_ready(Duration::from_secs(20)).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = SioClient::connect(&edge.url(), "4", "websocket", None);
        client.connected().await;
        let reply = client
            .subscribe(json!({"account_id": "cea599337b69fb3eee2e4fbe58318e1a",
                              "auth_token": "demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT", "binding": "call.*.*"}))
            .await;
        assert_eq!(reply["status"], "success");
        clients.push(client);
    }

    let pid = edge.process.id().expect("running");
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let not_ready = wait_until(Duration::from_secs(1), || async {
        matches!(http_get(edge.admin, "/readyz").await, Some((503, _)))
    })
    .await;
    assert!(not_ready, "/readyz fails as soon as draining starts");

    // When each client saw its socket close, by the clients' own clock (reading them one after
    // the other here would hide the spacing).
    let mut closed_at = Vec::new();
    for client in &mut clients {
        let line = client
            .wait_for(Duration::from_secs(10), |v| v["type"] == "disconnect")
            .await;
        let line = line.expect("every socket is closed by the drain");
        closed_at.push(
            line["at"]
                .as_u64()
                .expect("the client stamps its disconnect"),
        );
    }
    closed_at.sort();
    let spread = Duration::from_millis(closed_at[closed_at.len() - 1] - closed_at[0]);
    assert!(
        spread >= Duration::from_millis(1500),
        "closes are paced over the 3 s window, not all at once: {closed_at:?}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
    let status = edge.process.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    assert!(edge.process.logs().contains("blackhole-edge stopped"));
}
