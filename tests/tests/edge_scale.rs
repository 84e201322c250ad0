//! End to end at scale: 1,000 sockets over two edges and ten accounts each receive exactly their
//! own account's events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use blackhole_tests::clients::ManyClients;
use blackhole_tests::edge::EdgeProcess;
use blackhole_tests::ingest::IngestProcess;
use blackhole_tests::kazoo::{KazooPublisher, numbered_call_event};
use blackhole_tests::servers::{RabbitVhost, RedisServer, wait_until};
use serde_json::{Value, json};

const SOCKETS: usize = 1_000;
const ACCOUNTS: usize = 10;
const EVENTS_PER_ACCOUNT: u64 = 5;

fn account(i: usize) -> String {
    format!("{:032x}", 0xacc0_0000_u64 + i as u64)
}

#[tokio::test]
async fn a_thousand_sockets_over_two_edges_each_receive_exactly_their_accounts_events() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let tokens: BTreeMap<String, Value> = (0..ACCOUNTS)
        .map(|i| (format!("token-{i}"), json!({"account_id": account(i)})))
        .collect();
    let tokens = json!({ "tokens": tokens });
    let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    let edges = [
        EdgeProcess::spawn(Some(&redis.url()), Some(&tokens), &[]),
        EdgeProcess::spawn(Some(&redis.url()), Some(&tokens), &[]),
    ];
    ingest.wait_ready(Duration::from_secs(30)).await;
    for edge in &edges {
        edge.wait_ready(Duration::from_secs(30)).await;
    }

    let sockets: Vec<(String, String)> = (0..SOCKETS)
        .map(|i| (account(i % ACCOUNTS), format!("token-{}", i % ACCOUNTS)))
        .collect();
    let urls: Vec<String> = edges.iter().map(EdgeProcess::url).collect();
    let clients = ManyClients::connect(&urls, &sockets, "call.*.*").await;

    let kazoo = KazooPublisher::connect(&vhost.url()).await;
    let mut seq = 0;
    let mut messages = Vec::new();
    for _ in 0..EVENTS_PER_ACCOUNT {
        for i in 0..ACCOUNTS {
            messages.push(numbered_call_event(&account(i), "CHANNEL_CREATE", seq));
            seq += 1;
        }
    }
    kazoo.publish_all("callevt", &messages).await;
    let expected_deliveries = (SOCKETS as u64 * EVENTS_PER_ACCOUNT) as f64;
    let delivered = wait_until(Duration::from_secs(30), || async {
        let mut total = 0.0;
        for edge in &edges {
            total += edge
                .metric("blackhole_edge_events_delivered_total", &[])
                .await;
        }
        total >= expected_deliveries
    })
    .await;
    assert!(delivered, "not every delivery happened within 30 s");
    tokio::time::sleep(Duration::from_millis(500)).await;

    for (e, edge) in edges.iter().enumerate() {
        // Sockets go round-robin over the edges, so each edge serves only some accounts.
        let wanted: BTreeSet<&String> = sockets
            .iter()
            .enumerate()
            .filter(|(i, _)| i % edges.len() == e)
            .map(|(_, (a, _))| a)
            .collect();
        assert_eq!(
            edge.metric("blackhole_edge_accounts_subscribed", &[]).await,
            wanted.len() as f64,
            "edge {e} subscribes in Redis only to its own sockets' accounts"
        );
    }
    let report = clients.report().await;
    assert_eq!(report.len(), SOCKETS);
    for (i, socket) in report.iter().enumerate() {
        let acct = account(i % ACCOUNTS);
        assert_eq!(socket["account"], acct.as_str());
        assert_eq!(
            socket["foreign"], 0,
            "socket {i} saw another account's event"
        );
        let ids: BTreeSet<String> = socket["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = (0..seq)
            .filter(|s| (*s as usize) % ACCOUNTS == i % ACCOUNTS)
            .map(|s| format!("call-{s}"))
            .collect();
        assert_eq!(
            ids, expected,
            "socket {i} receives exactly its account's {EVENTS_PER_ACCOUNT} events"
        );
        assert_eq!(
            socket["events"].as_array().unwrap().len(),
            EVENTS_PER_ACCOUNT as usize,
            "no duplicates on socket {i}"
        );
    }
}
