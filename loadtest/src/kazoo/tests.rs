use std::collections::BTreeSet;

use super::*;

#[test]
fn events_have_the_requested_size_and_their_accounts_id() {
    let factory = EventFactory::new(3, 1500);
    for seq in [0, 1, 2, 99_999, 12_345_678] {
        let event = factory.event(seq);
        assert_eq!(event.body.len(), 1500, "event {seq}");
        let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
        let account = body["Custom-Channel-Vars"]["Account-ID"].as_str().unwrap();
        assert_eq!(account, factory.accounts()[(seq % 3) as usize]);
        assert_eq!(body["Event-Name"], "CHANNEL_CREATE");
        let call_id = body["Call-ID"].as_str().unwrap();
        assert_eq!(event.routing_key, format!("call.CHANNEL_CREATE.{call_id}"));
        assert!(!call_id.contains('.'), "one routing key word");
    }
}

#[test]
fn small_sizes_give_the_unpadded_event() {
    let event = EventFactory::new(1, 10).event(7);
    let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
    assert_eq!(body["Custom-SIP-Headers"][PADDING_FIELD], "");
    assert!(
        (900..1500).contains(&event.body.len()),
        "{}",
        event.body.len()
    );
}

#[test]
fn accounts_are_distinct_kazoo_ids() {
    let factory = EventFactory::new(1000, 0);
    let ids: BTreeSet<&String> = factory.accounts().iter().collect();
    assert_eq!(ids.len(), 1000);
    for id in ids {
        assert!(blackhole_bus::AccountId::parse(id).is_ok(), "{id}");
        assert_eq!(id.to_ascii_lowercase(), *id);
    }
}
