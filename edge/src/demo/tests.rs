use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackhole_bus::route::{EventKind, Source, encode_word, route};
use serde_json::Value;

use super::payload::{GREGORIAN_OFFSET, gregorian_seconds};
use super::*;

const T0_UNIX: u64 = 1_750_000_000;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_UNIX)
}

/// One emitted event, routed and parsed, with the step (seconds after t0) that produced it.
struct Seen {
    step: f64,
    event: DemoEvent,
    json: Value,
}

impl Seen {
    fn str(&self, key: &str) -> &str {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {}", self.json))
    }

    fn ccv(&self, key: &str) -> Option<&str> {
        self.json["Custom-Channel-Vars"][key].as_str()
    }

    fn name(&self) -> &str {
        self.str("Event-Name")
    }

    fn seconds(&self, key: &str) -> u64 {
        self.str(key).parse().unwrap()
    }

    fn timestamp(&self) -> u64 {
        self.json["Timestamp"].as_u64().unwrap()
    }
}

/// Drives a generator with a synthetic clock ticking every `tick` for `seconds` of wall time.
fn run_with(mut generator: Generator, seconds: f64, tick: Duration) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut elapsed = Duration::ZERO;
    while elapsed.as_secs_f64() <= seconds {
        for event in generator.step(t0() + elapsed) {
            let json = serde_json::from_slice(&event.payload).expect("payload is JSON");
            seen.push(Seen {
                step: elapsed.as_secs_f64(),
                event,
                json,
            });
        }
        elapsed += tick;
    }
    seen
}

fn run(seed: u64, seconds: f64) -> Vec<Seen> {
    run_with(Generator::new(seed), seconds, TICK)
}

fn by_call(seen: &[Seen]) -> BTreeMap<String, Vec<&Seen>> {
    let mut calls: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    for s in seen {
        calls
            .entry(s.str("Call-ID").to_owned())
            .or_default()
            .push(s);
    }
    calls
}

fn account_index(s: &Seen) -> usize {
    let id = s.ccv("Account-ID").unwrap();
    PROFILES.iter().position(|p| p.id == id).unwrap()
}

#[test]
fn accounts_are_fixed_valid_and_distinct() {
    let accounts = demo_accounts();
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts[0].id.as_str(), "cea599337b69fb3eee2e4fbe58318e1a");
    assert_eq!(accounts[0].name, "Acme Support");
    assert_eq!(accounts[0].token, "demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT");
    let ids: HashSet<_> = accounts.iter().map(|a| a.id.clone()).collect();
    let tokens: HashSet<_> = accounts.iter().map(|a| a.token.clone()).collect();
    assert_eq!((ids.len(), tokens.len()), (3, 3));
    for account in &accounts {
        assert_eq!(AccountId::parse(account.id.as_str()).unwrap(), account.id);
        assert!(account.token.starts_with("demo_") && account.token.len() == 37);
    }
}

#[test]
fn every_event_routes_to_its_account_with_its_event_name() {
    let accounts = demo_accounts();
    for seed in 0..4 {
        let seen = run(seed, 900.0);
        assert!(seen.len() > 300, "only {} events", seen.len());
        for s in &seen {
            let e = &s.event;
            assert_eq!(e.exchange, "callevt");
            let source = Source::for_exchange(e.exchange);
            assert_eq!(source, Source::Call);
            let routed = route(source, &e.routing_key, &e.payload).expect("demo events route");
            assert_eq!(routed.kind, EventKind::Call);
            assert_eq!(routed.routing_key, e.routing_key);
            assert_eq!(routed.event_name, s.name());
            assert_eq!(
                e.routing_key,
                format!("call.{}.{}", s.name(), encode_word(s.str("Call-ID")))
            );
            let account = &accounts[account_index(s)];
            assert_eq!(routed.account_id, account.id);
            assert_eq!(s.ccv("Account-Name"), Some(account.name.as_str()));
        }
    }
}

#[test]
fn call_ids_with_dots_stay_one_routing_key_word() {
    let seen = run(1, 300.0);
    let dotted = seen
        .iter()
        .find(|s| s.str("Call-ID").contains('.'))
        .expect("carrier call ids carry an IP address");
    assert!(dotted.event.routing_key.contains("%2E"));
    assert_eq!(dotted.event.routing_key.split('.').count(), 3);
}

/// Checks one call's events, in emission order, and returns whether it has ended.
fn check_lifecycle(events: &[&Seen], speed: f64) -> bool {
    let id = events[0].str("Call-ID");
    let names: Vec<&str> = events.iter().map(|s| s.name()).collect();
    assert_eq!(names[0], "CHANNEL_CREATE", "{id}: {names:?}");
    let (mut answered, mut bridged, mut held, mut ended) = (false, false, false, false);
    for (i, s) in events.iter().enumerate().skip(1) {
        assert!(!ended, "{id}: event after CHANNEL_DESTROY: {names:?}");
        assert!(
            s.timestamp() >= events[i - 1].timestamp(),
            "{id}: time ran back"
        );
        assert!(s.step >= events[i - 1].step);
        assert_eq!(s.str("Call-Direction"), events[0].str("Call-Direction"));
        assert_eq!(account_index(s), account_index(events[0]));
        match s.name() {
            "CHANNEL_CREATE" => panic!("{id}: created twice: {names:?}"),
            "CHANNEL_ANSWER" => {
                assert!(!answered, "{id}: answered twice");
                answered = true;
            }
            "CHANNEL_BRIDGE" => {
                assert!(answered && !bridged, "{id}: {names:?}");
                assert!(s.json["Other-Leg-Call-ID"].is_string());
                bridged = true;
            }
            "CHANNEL_HOLD" => {
                assert!(bridged && !held, "{id}: {names:?}");
                held = true;
            }
            "CHANNEL_UNHOLD" => {
                assert!(held, "{id}: {names:?}");
                held = false;
            }
            "CHANNEL_DESTROY" => {
                assert!(!held, "{id}: hung up on hold: {names:?}");
                let answer = events.iter().find(|e| e.name() == "CHANNEL_ANSWER");
                check_destroy(s, events[0], answer.copied(), speed);
                ended = true;
            }
            other => panic!("{id}: unexpected {other}"),
        }
    }
    ended
}

fn check_destroy(destroy: &Seen, create: &Seen, answer: Option<&Seen>, speed: f64) {
    let duration = destroy.seconds("Duration-Seconds");
    let billing = destroy.seconds("Billing-Seconds");
    let ringing = destroy.seconds("Ringing-Seconds");
    assert!(billing <= duration);
    assert_eq!(ringing + billing, duration, "{}", destroy.json);
    assert!(duration.abs_diff(destroy.timestamp() - create.timestamp()) <= 1);
    let cause = destroy.str("Hangup-Cause");
    match answer {
        Some(answer) => {
            assert_eq!(cause, "NORMAL_CLEARING");
            assert_eq!(destroy.str("Hangup-Code"), "sip:200");
            assert!(billing.abs_diff(destroy.timestamp() - answer.timestamp()) <= 1);
            // Talk times are 6 s to 5 min of simulated time; Billing-Seconds are whole seconds.
            let talk = ((6.0 / speed).floor() as u64).saturating_sub(1)
                ..=(300.0 / speed).ceil() as u64 + 1;
            assert!(talk.contains(&billing), "talk time {billing}");
        }
        None => {
            assert!(["ORIGINATOR_CANCEL", "NO_ANSWER", "USER_BUSY"].contains(&cause));
            assert_eq!(billing, 0);
        }
    }
}

#[test]
fn every_call_lives_a_valid_lifecycle() {
    for seed in 0..4 {
        let seen = run(seed, 1800.0);
        let calls = by_call(&seen);
        let ended = calls.values().filter(|c| check_lifecycle(c, 1.0)).count();
        assert!(ended > 100, "seed {seed}: only {ended} calls ended");
        let msg_ids: HashSet<&str> = seen.iter().map(|s| s.str("Msg-ID")).collect();
        assert_eq!(msg_ids.len(), seen.len(), "Msg-IDs are unique");
        let causes: HashSet<&str> = seen
            .iter()
            .filter(|s| s.name() == "CHANNEL_DESTROY")
            .map(|s| s.str("Hangup-Cause"))
            .collect();
        assert_eq!(causes.len(), 4, "seed {seed}: {causes:?}");
        let directions: HashSet<&str> = seen.iter().map(|s| s.str("Call-Direction")).collect();
        assert_eq!(directions.len(), 2);
    }
}

#[test]
fn sixty_seconds_show_every_state_on_every_account() {
    for seed in 0..25 {
        let seen = run(seed, 60.0);
        let mut names: Vec<HashSet<&str>> = vec![HashSet::new(); PROFILES.len()];
        for s in &seen {
            names[account_index(s)].insert(s.name());
        }
        for (account, names) in names.iter().enumerate() {
            for wanted in [
                "CHANNEL_CREATE",
                "CHANNEL_ANSWER",
                "CHANNEL_BRIDGE",
                "CHANNEL_HOLD",
                "CHANNEL_UNHOLD",
                "CHANNEL_DESTROY",
            ] {
                assert!(
                    names.contains(wanted),
                    "seed {seed}, account {account}: {wanted}"
                );
            }
        }
    }
}

#[test]
fn something_happens_within_seconds_of_start() {
    for seed in 0..50 {
        let seen = run(seed, 25.0);
        for account in 0..PROFILES.len() {
            let first = |name: &str| {
                seen.iter()
                    .find(|s| account_index(s) == account && s.name() == name)
                    .map_or(f64::INFINITY, |s| s.step)
            };
            let tick = TICK.as_secs_f64();
            assert!(first("CHANNEL_CREATE") <= 2.0 + tick, "seed {seed}");
            assert!(first("CHANNEL_ANSWER") <= 6.0 + tick, "seed {seed}");
            assert!(first("CHANNEL_DESTROY") <= 14.0 + tick, "seed {seed}");
            assert!(first("CHANNEL_HOLD") <= 20.0 + tick, "seed {seed}");
        }
    }
}

#[test]
fn each_account_keeps_a_handful_of_calls_up() {
    let seen = run(11, 3600.0);
    let mut active: Vec<HashSet<&str>> = vec![HashSet::new(); PROFILES.len()];
    let mut samples: Vec<Vec<usize>> = vec![Vec::new(); PROFILES.len()];
    let mut last_step = 0.0;
    for s in &seen {
        if s.step > last_step && s.step > 120.0 {
            for (account, calls) in active.iter().enumerate() {
                samples[account].push(calls.len());
            }
        }
        last_step = s.step;
        let calls = &mut active[account_index(s)];
        match s.name() {
            "CHANNEL_CREATE" => assert!(calls.insert(s.str("Call-ID"))),
            "CHANNEL_DESTROY" => assert!(calls.remove(s.str("Call-ID"))),
            _ => {}
        }
    }
    for (account, samples) in samples.iter().enumerate() {
        let max = samples.iter().copied().max().unwrap();
        let mean = samples.iter().sum::<usize>() as f64 / samples.len() as f64;
        assert!(
            max <= PROFILES[account].max_active,
            "account {account}: {max}"
        );
        assert!(
            (1.8..=6.0).contains(&mean),
            "account {account}: mean {mean}"
        );
    }
}

#[test]
fn same_seed_same_events() {
    let a = run(7, 300.0);
    let b = run(7, 300.0);
    let c = run(8, 300.0);
    let events = |seen: &[Seen]| seen.iter().map(|s| s.event.clone()).collect::<Vec<_>>();
    assert_eq!(events(&a), events(&b));
    assert_ne!(events(&a), events(&c));
    // The tick only decides when events are delivered, not what they are.
    let coarse = run_with(Generator::new(7), 300.0, Duration::from_secs(5));
    assert_eq!(events(&a)[..100], events(&coarse)[..100]);
}

#[test]
fn speed_shortens_calls_but_keeps_the_story() {
    let real = run(3, 120.0);
    let fast = run_with(Generator::with_speed(3, 10.0), 12.0, TICK / 10);
    let story = |seen: &[Seen]| {
        seen.iter()
            .map(|s| (s.name().to_owned(), s.str("Call-ID").to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(story(&real), story(&fast));
    for s in &fast {
        let unix = s.timestamp() - GREGORIAN_OFFSET;
        assert!((T0_UNIX..=T0_UNIX + 12).contains(&unix));
        if s.name() == "CHANNEL_DESTROY" {
            assert!(s.seconds("Duration-Seconds") <= 31);
        }
    }
    let calls = by_call(&fast);
    assert!(calls.values().filter(|c| check_lifecycle(c, 10.0)).count() > 5);
}

#[test]
fn payloads_have_the_shape_of_kazoo_call_events() {
    let seen = run(5, 600.0);
    let first = T0_UNIX + GREGORIAN_OFFSET;
    for s in &seen {
        let json = s.json.as_object().unwrap();
        for key in [
            "App-Name",
            "App-Version",
            "Call-Direction",
            "Call-ID",
            "Caller-ID-Name",
            "Caller-ID-Number",
            "Callee-ID-Name",
            "Callee-ID-Number",
            "Disposition",
            "From",
            "To",
            "Request",
            "Presence-ID",
            "Media-Server",
            "Node",
            "Switch-Hostname",
            "Switch-Nodename",
            "Switch-URI",
            "Switch-URL",
        ] {
            assert!(!s.str(key).is_empty(), "{key}");
        }
        assert_eq!(s.str("Event-Category"), "call_event");
        assert!(s.str("Msg-ID").bytes().all(|b| b.is_ascii_digit()));
        assert!((first..=first + 600).contains(&s.timestamp()));
        for key in json
            .keys()
            .chain(json["Custom-Channel-Vars"].as_object().unwrap().keys())
        {
            let header_case = key
                .split('-')
                .all(|w| w.starts_with(|c: char| c.is_ascii_uppercase()));
            assert!(header_case, "{key}");
        }
        for key in [
            "Account-Realm",
            "Authorizing-ID",
            "Authorizing-Type",
            "Realm",
        ] {
            assert!(s.ccv(key).is_some(), "{key}");
        }
        let inbound = s.str("Call-Direction") == "inbound";
        let remote = if inbound {
            "Caller-ID-Number"
        } else {
            "Callee-ID-Number"
        };
        let number = s.str(remote);
        assert!(number.starts_with('+') && number[1..].bytes().all(|b| b.is_ascii_digit()));
        let agent_known = !inbound || !matches!(s.name(), "CHANNEL_CREATE" | "CHANNEL_DESTROY");
        if agent_known {
            assert!(s.ccv("Owner-ID").is_some() && s.ccv("Username").is_some());
        }
        if s.name() == "CHANNEL_DESTROY" {
            assert!(s.str("Hangup-Code").starts_with("sip:"));
        }
    }
}

#[test]
fn a_clock_running_backwards_emits_nothing_twice() {
    let mut generator = Generator::new(2);
    assert!(generator.step(t0()).is_empty());
    let before = generator.step(t0() + Duration::from_secs(30));
    assert!(!before.is_empty());
    assert!(generator.step(t0() + Duration::from_secs(10)).is_empty());
    assert!(generator.step(t0() + Duration::from_secs(30)).is_empty());
    let after = generator.step(t0() + Duration::from_secs(90));
    let keys: HashMap<_, _> = before.iter().map(|e| (&e.payload, ())).collect();
    assert!(after.iter().all(|e| !keys.contains_key(&e.payload)));
}

#[test]
#[should_panic(expected = "demo speed")]
fn speed_must_be_positive() {
    let _ = Generator::with_speed(0, 0.0);
}

#[test]
fn a_long_pause_is_skipped_not_replayed() {
    let mut generator = Generator::new(4);
    generator.step(t0());
    let before = generator.step(t0() + Duration::from_secs(30)).len();
    let wake = t0() + Duration::from_secs(3 * 3600);
    let burst = generator.step(wake);
    assert!(
        burst.len() <= 3 * before.max(20),
        "{} events at once",
        burst.len()
    );
    let resumed = generator.step(wake + Duration::from_secs(5));
    let floor = gregorian_seconds(wake - MAX_CATCH_UP);
    let ceiling = gregorian_seconds(wake + Duration::from_secs(5));
    for event in burst.iter().chain(&resumed) {
        let json: Value = serde_json::from_slice(&event.payload).unwrap();
        let timestamp = json["Timestamp"].as_u64().unwrap();
        assert!((floor..=ceiling).contains(&timestamp));
    }
}
