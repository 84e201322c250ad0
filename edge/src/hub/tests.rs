use std::sync::Mutex;

use blackhole_bus::EventKind;
use blackhole_bus::envelope::{EventMeta, Offset};
use bytes::Bytes;

use super::*;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(String, Vec<String>)>>,
}

impl Subscriber for Recorder {
    fn deliver(&self, event: &Arc<HubEvent>, bindings: &[&Binding]) {
        self.got.lock().unwrap().push((
            event.envelope.meta.routing_key.clone(),
            bindings.iter().map(|b| b.client_key().to_owned()).collect(),
        ));
    }
}

fn event(account: &str, key: &str) -> Arc<HubEvent> {
    Arc::new(HubEvent::new(Envelope {
        meta: EventMeta {
            account_id: AccountId::parse(account).unwrap(),
            kind: EventKind::Call,
            event_name: key.split('.').nth(1).unwrap().to_owned(),
            routing_key: key.to_owned(),
            source_key: key.to_owned(),
            exchange: "callevt".into(),
            ingested_at_ms: 0,
        },
        offset: Offset { ms: 1, seq: 0 },
        payload: Bytes::from_static(b"{}"),
    }))
}

fn scope(account: &str) -> Scope {
    Scope::Account(AccountId::parse(account).unwrap())
}

fn hub() -> (Hub, mpsc::UnboundedReceiver<Demand>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Hub::new(tx, Metrics::new()), rx)
}

fn bindings(raw: &[&str]) -> Vec<Binding> {
    raw.iter().map(|b| Binding::parse(b).unwrap()).collect()
}

#[test]
fn events_reach_only_their_accounts_matching_sockets() {
    let (hub, _demand) = hub();
    let on_a = Arc::new(Recorder::default());
    let on_b = Arc::new(Recorder::default());
    let a: Arc<dyn Subscriber> = on_a.clone();
    let b: Arc<dyn Subscriber> = on_b.clone();
    hub.set(&scope(A), 1, &a, bindings(&["call.CHANNEL_CREATE.*"]));
    hub.set(&scope(B), 2, &b, bindings(&["call.*.*"]));

    assert_eq!(hub.publish(event(A, "call.CHANNEL_CREATE.x")), 1);
    assert_eq!(hub.publish(event(A, "call.CHANNEL_ANSWER.x")), 0);
    assert_eq!(hub.publish(event(B, "call.CHANNEL_ANSWER.y")), 1);

    assert_eq!(
        *on_a.got.lock().unwrap(),
        vec![(
            "call.CHANNEL_CREATE.x".to_owned(),
            vec!["call.CHANNEL_CREATE.*".to_owned()]
        )]
    );
    assert_eq!(
        *on_b.got.lock().unwrap(),
        vec![(
            "call.CHANNEL_ANSWER.y".to_owned(),
            vec!["call.*.*".to_owned()]
        )]
    );
}

#[test]
fn a_socket_gets_one_delivery_naming_every_matching_binding() {
    let (hub, _demand) = hub();
    let rec = Arc::new(Recorder::default());
    let sub: Arc<dyn Subscriber> = rec.clone();
    hub.set(
        &scope(A),
        1,
        &sub,
        bindings(&["call.*.*", "call.CHANNEL_CREATE.*"]),
    );
    hub.publish(event(A, "call.CHANNEL_CREATE.x"));
    let got = rec.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, vec!["call.*.*", "call.CHANNEL_CREATE.*"]);
}

#[test]
fn demand_follows_the_first_and_last_socket_of_an_account() {
    let (hub, mut demand) = hub();
    let sub: Arc<dyn Subscriber> = Arc::new(Recorder::default());
    hub.set(&scope(A), 1, &sub, bindings(&["call.*.*"]));
    hub.set(&scope(A), 2, &sub, bindings(&["call.*.*"]));
    hub.set(&scope(A), 1, &sub, bindings(&["call.CHANNEL_CREATE.*"]));
    hub.set(&scope(A), 1, &sub, Vec::new());
    hub.set(&scope(A), 2, &sub, Vec::new());
    hub.set(&scope(A), 2, &sub, Vec::new());
    let mut seen = Vec::new();
    while let Ok(d) = demand.try_recv() {
        seen.push(d);
    }
    assert_eq!(
        seen,
        vec![Demand::Subscribe(scope(A)), Demand::Unsubscribe(scope(A))]
    );
    assert!(hub.demanded().is_empty());
}

#[test]
fn wildcard_subscribers_see_every_account() {
    let (hub, mut demand) = hub();
    let rec = Arc::new(Recorder::default());
    let sub: Arc<dyn Subscriber> = rec.clone();
    hub.set(&Scope::All, 9, &sub, bindings(&["call.*.*"]));
    assert_eq!(demand.try_recv().unwrap(), Demand::Subscribe(Scope::All));
    hub.publish(event(A, "call.CHANNEL_CREATE.x"));
    hub.publish(event(B, "call.CHANNEL_CREATE.y"));
    assert_eq!(rec.got.lock().unwrap().len(), 2);
}

#[test]
fn encodings_are_computed_once_per_format() {
    let e = event(A, "call.CHANNEL_CREATE.x");
    let calls = std::sync::atomic::AtomicUsize::new(0);
    for _ in 0..3 {
        let bytes = e.encoded(WireFormat::SocketIo, |_| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Bytes::from_static(b"x")
        });
        assert_eq!(bytes, "x");
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
}
