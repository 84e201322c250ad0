//! End to end: Kazoo events published to a real RabbitMQ reach a real Redis through the real
//! `blackhole-ingest` binary.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use blackhole_tests::ingest::{ChannelWatcher, IngestProcess, read_stream, seq_of};
use blackhole_tests::kazoo::{
    KazooPublisher, SAMPLE_ACCOUNT, call_samples, numbered_call_event, queue_depth,
};
use blackhole_tests::servers::{RabbitVhost, RedisServer, wait_until};

const READY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn call_samples_reach_their_account_channel_in_order_and_byte_identical() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    ingest.wait_ready(READY).await;
    let mut watcher = ChannelWatcher::subscribe(&redis.url(), SAMPLE_ACCOUNT).await;

    let kazoo = KazooPublisher::connect(&vhost.url()).await;
    let samples = call_samples();
    for (key, body) in &samples {
        kazoo.publish("callevt", key, body).await;
    }

    let received = watcher.take(3, Duration::from_secs(10)).await;
    assert_eq!(
        received.len(),
        3,
        "ingest output:\n{}",
        ingest.process.logs()
    );
    for (envelope, (key, body)) in received.iter().zip(&samples) {
        assert_eq!(
            envelope.payload.as_ref(),
            body.as_slice(),
            "payload of {key} changed"
        );
        assert_eq!(envelope.meta.account_id.as_str(), SAMPLE_ACCOUNT);
        assert_eq!(&envelope.meta.routing_key, key);
        assert_eq!(&envelope.meta.source_key, key);
        assert_eq!(envelope.meta.exchange, "callevt");
        assert_eq!(
            Some(envelope.meta.event_name.as_str()),
            key.split('.').nth(1)
        );
    }
    assert!(
        received.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets grow"
    );

    // The replay stream holds the same envelopes.
    let stream = read_stream(&redis.url(), SAMPLE_ACCOUNT).await;
    assert_eq!(stream, received);
    assert_eq!(
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")]
            )
            .await,
        3.0
    );
}

#[tokio::test]
async fn refused_messages_are_counted_and_acked_and_the_next_event_still_arrives() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    ingest.wait_ready(READY).await;
    let mut watcher = ChannelWatcher::subscribe(&redis.url(), SAMPLE_ACCOUNT).await;
    let kazoo = KazooPublisher::connect(&vhost.url()).await;

    kazoo
        .publish(
            "callevt",
            "call.CHANNEL_CREATE.orphan",
            br#"{"Event-Name":"CHANNEL_CREATE","Call-ID":"orphan"}"#,
        )
        .await;
    kazoo
        .publish(
            "callevt",
            "call.CHANNEL_CREATE.garbage",
            b"this is not JSON",
        )
        .await;
    let mut huge = br#"{"Event-Name":"CHANNEL_CREATE","Custom-Channel-Vars":{"Account-ID":"4b8c6fec4b2597882c0390202d195419"},"Pad":""#.to_vec();
    huge.resize(5 * 1024 * 1024, b'x');
    huge.extend_from_slice(b"\"}");
    kazoo
        .publish("callevt", "call.CHANNEL_CREATE.huge", &huge)
        .await;
    let (key, body) = &call_samples()[0];
    kazoo.publish("callevt", key, body).await;

    let good = watcher.next(Duration::from_secs(10)).await;
    let good = good
        .unwrap_or_else(|| panic!("good event lost; ingest output:\n{}", ingest.process.logs()));
    assert_eq!(good.payload.as_ref(), body.as_slice());
    assert!(
        watcher.next(Duration::from_millis(500)).await.is_none(),
        "only the good event is published"
    );

    for outcome in ["no_account", "not_json", "oversized"] {
        assert_eq!(
            ingest
                .metric("blackhole_ingest_messages_total", &[("outcome", outcome)])
                .await,
            1.0,
            "{outcome}"
        );
    }
    let logs = ingest.process.logs();
    for reason in [
        r#"reason="no_account""#,
        r#"reason="not_json""#,
        r#"reason="oversized""#,
    ] {
        assert_eq!(
            logs.matches(reason).count(),
            1,
            "{reason} logged once:\n{logs}"
        );
    }
    // Acked, not redelivered: after a while the counts have not grown.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "not_json")]
            )
            .await,
        1.0
    );
    assert_eq!(
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")]
            )
            .await,
        1.0
    );
    assert_eq!(
        queue_depth(&vhost.url(), "blackhole.ingest").await,
        0,
        "nothing left in the queue"
    );
}

#[tokio::test]
async fn a_redis_outage_loses_nothing_and_keeps_order() {
    let mut redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &["--stream-max-len", "100000"]);
    ingest.wait_ready(READY).await;
    let kazoo = KazooPublisher::connect(&vhost.url()).await;

    // Two accounts interleaved, so batches span accounts.
    let other = "c0ffee00c0ffee00c0ffee00c0ffee00";
    let events: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|seq| {
            let account = if seq % 2 == 0 { SAMPLE_ACCOUNT } else { other };
            numbered_call_event(account, "CHANNEL_CREATE", seq)
        })
        .collect();

    redis.stop().await;
    kazoo.publish_all("callevt", &events).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let not_ready = matches!(
        blackhole_tests::servers::http_get(ingest.admin, "/readyz").await,
        Some((503, _))
    );
    assert!(not_ready, "/readyz must fail while Redis is down");
    assert_eq!(
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")]
            )
            .await,
        0.0
    );
    redis.start().await;

    let all_published = wait_until(Duration::from_secs(60), || async {
        ingest
            .metric(
                "blackhole_ingest_messages_total",
                &[("outcome", "published")],
            )
            .await
            >= 1000.0
    })
    .await;
    assert!(all_published, "ingest output:\n{}", ingest.process.logs());

    for (account, parity) in [(SAMPLE_ACCOUNT, 0), (other, 1)] {
        let seqs: Vec<u64> = read_stream(&redis.url(), account)
            .await
            .iter()
            .map(seq_of)
            .collect();
        let expected: Vec<u64> = (0..1000).filter(|s| s % 2 == parity).collect();
        assert_eq!(
            seqs, expected,
            "account {account}: every event, once, in order"
        );
    }
    ingest.wait_ready(READY).await;
}

#[tokio::test]
async fn a_standby_replica_takes_over_after_the_active_one_is_killed() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let first = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    first.wait_ready(READY).await;
    let second = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    second.wait_ready(READY).await;
    let kazoo = KazooPublisher::connect(&vhost.url()).await;

    let before: Vec<_> = (0..200)
        .map(|s| numbered_call_event(SAMPLE_ACCOUNT, "CHANNEL_CREATE", s))
        .collect();
    kazoo.publish_all("callevt", &before).await;
    let published = |p: &IngestProcess| {
        let admin = p.admin;
        async move {
            let (_, body) = blackhole_tests::servers::http_get(admin, "/metrics")
                .await
                .unwrap_or_default();
            blackhole_tests::servers::metric_value(
                &body,
                "blackhole_ingest_messages_total",
                &[("outcome", "published")],
            )
            .unwrap_or(0.0)
        }
    };
    assert!(
        wait_until(Duration::from_secs(20), || async {
            published(&first).await + published(&second).await >= 200.0
        })
        .await,
        "first 200 events not published"
    );
    let (first_count, second_count) = (published(&first).await, published(&second).await);
    assert!(
        (first_count == 200.0 && second_count == 0.0)
            || (first_count == 0.0 && second_count == 200.0),
        "exactly one replica consumes: {first_count} vs {second_count}"
    );
    let (mut active, standby) = if first_count > 0.0 {
        (first, second)
    } else {
        (second, first)
    };

    active.process.kill().await;
    let killed_at = Instant::now();
    let after: Vec<_> = (200..400)
        .map(|s| numbered_call_event(SAMPLE_ACCOUNT, "CHANNEL_CREATE", s))
        .collect();
    kazoo.publish_all("callevt", &after).await;
    let took_over = wait_until(Duration::from_secs(30), || async {
        published(&standby).await >= 200.0
    })
    .await;
    assert!(
        took_over,
        "standby did not take over; its output:\n{}",
        standby.process.logs()
    );
    println!(
        "standby published the next 200 events {:?} after the kill",
        killed_at.elapsed()
    );

    let seqs: BTreeSet<u64> = read_stream(&redis.url(), SAMPLE_ACCOUNT)
        .await
        .iter()
        .map(seq_of)
        .collect();
    assert_eq!(
        seqs,
        (0..400).collect::<BTreeSet<u64>>(),
        "no event lost across the failover"
    );
}

#[tokio::test]
async fn sigterm_stops_consuming_fails_readiness_and_exits_zero() {
    let redis = RedisServer::start_new().await;
    let vhost = RabbitVhost::create().await;
    let mut ingest = IngestProcess::spawn(&vhost.url(), &redis.url(), &[]);
    ingest.wait_ready(READY).await;
    let status = ingest.process.terminate().await;
    assert!(
        status.success(),
        "exit status {status:?}; output:\n{}",
        ingest.process.logs()
    );
    assert!(ingest.process.logs().contains("blackhole-ingest stopped"));
}
