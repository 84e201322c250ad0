//! Demo mode traffic: realistic synthetic Kazoo call events for a few accounts.
//!
//! `--demo` runs the edge without Redis or RabbitMQ, and this module is its only source of
//! events. A [`Generator`] simulates the phones of three [`DemoAccount`]s (a call center, a small
//! office and a reseller's sub-account), keeping a handful of calls up on each, and renders every
//! channel event as ecallmgr publishes it on Kazoo's `callevt` exchange: a
//! `call.<EVENT>.<call-id>` routing key and the JSON body. Feeding each [`DemoEvent`] to
//! [`blackhole_bus::route::route`] therefore routes it exactly as ingest routes the real thing.
//!
//! Each call lives one of these lifecycles, with consistent `Timestamp`s (Gregorian seconds)
//! and `Duration-Seconds` = `Ringing-Seconds` + `Billing-Seconds` at the end:
//!
//! - `CHANNEL_CREATE` → `CHANNEL_ANSWER` → `CHANNEL_BRIDGE` → (`CHANNEL_HOLD` →
//!   `CHANNEL_UNHOLD`) → `CHANNEL_DESTROY` with `NORMAL_CLEARING`, after 20 s to 5 min of talk;
//! - `CHANNEL_CREATE` → `CHANNEL_DESTROY` with `ORIGINATOR_CANCEL` (abandoned), `NO_ANSWER`
//!   (missed) or, for calls out, `USER_BUSY`.
//!
//! Only the customer's leg is published (see the `call` submodule): `Call-Direction` is
//! `inbound` for customers calling in and `outbound` for agents calling out. Before an agent
//! answers an inbound call its `Callee-ID-*` name the line dialled and its `Custom-Channel-Vars`
//! carry no `Owner-ID`/`Username`; from `CHANNEL_ANSWER` on they name the agent.
//! `Other-Leg-Call-ID` appears once the call is bridged (from the start for calls out).
//!
//! Time zero is the first [`Generator::step`]. Whatever the seed, at speed 1 every account has
//! a call ringing within 2 s, answered within 6 s, abandoned within 14 s and put on hold within
//! 20 s, so someone trying the demo sees every state at once. A pause of more than
//! [`MAX_CATCH_UP`] between two steps (a suspended laptop) is skipped rather than replayed, so
//! waking up never floods clients with stale calls.
//!
//! The accounts' ids and tokens are fixed so that documentation and tests can quote them; they
//! are published in this repository and must never be accepted outside `--demo`.

use std::time::{Duration, SystemTime};

use blackhole_bus::AccountId;
use blackhole_bus::route::encode_word;
use bytes::Bytes;

use self::call::{Call, Phase, Script, exponential, uniform};
use self::directory::PROFILES;
use self::payload::{Clock, MEDIA_SERVER_COUNT};

mod call;
mod directory;
mod payload;

/// The Kazoo exchange every demo event is published on.
pub const EXCHANGE: &str = "callevt";

/// How often to call [`Generator::step`]: events are stamped with their planned time whatever
/// the tick, so this only bounds how late they are delivered.
pub const TICK: Duration = Duration::from_millis(250);

/// The longest stretch of wall-clock time one [`Generator::step`] simulates; any longer pause
/// since the previous step is skipped.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(60);

/// A demo account, with the token that authenticates for it in `--demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub id: AccountId,
    /// Kazoo's account name, as carried in `Custom-Channel-Vars.Account-Name`.
    pub name: String,
    /// Demo-only: published in this repository.
    pub token: String,
}

/// The demo accounts, always in this order:
///
/// - Acme Support, a US call center (six agents, 3–6 calls up): id
///   `cea599337b69fb3eee2e4fbe58318e1a`, token `demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT`;
/// - Northwind Dental, a UK practice (three phones, 2–4 calls): id
///   `a90860ec1aff3d26177fbe6afc64e268`, token `demo_o9koomdGuGD7WEU0rKHHu0gKl7hqb9i1`;
/// - Globex Logistics, an Australian sub-account of the reseller "Initech Telecom" (four agents,
///   2–5 calls, many calls out): id `3791caa59f9df613c84e1007e680fe71`, token
///   `demo_iaVnqYicZm4fiRK9bZ2wvTh7ov2pBRlf`.
pub fn demo_accounts() -> Vec<DemoAccount> {
    PROFILES
        .iter()
        .map(|profile| DemoAccount {
            id: profile.account_id(),
            name: profile.name.to_owned(),
            token: profile.token.to_owned(),
        })
        .collect()
}

/// One message as Kazoo would have published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoEvent {
    /// Always [`EXCHANGE`].
    pub exchange: &'static str,
    /// `call.<EVENT>.<call-id>`, the call id encoded as Kazoo encodes routing-key words.
    pub routing_key: String,
    /// The JSON body.
    pub payload: Bytes,
}

/// Simulates the demo accounts' calls. Deterministic: the same seed and the same sequence of
/// `now`s give the same events, byte for byte.
#[derive(Debug)]
pub struct Generator {
    rng: fastrand::Rng,
    speed: f64,
    /// Set by the first step; its origin moves forward when a pause is skipped.
    clock: Option<Clock>,
    /// Wall-clock time simulated so far, measured from the clock's origin.
    reached: Duration,
    /// One per account, in `PROFILES` order.
    desks: Vec<Desk>,
    /// Calls not yet destroyed, oldest first.
    calls: Vec<Call>,
    /// Msg-IDs are microsecond timestamps, bumped when two events share one so they stay unique.
    last_msg_id: u64,
}

/// The arrival process and agents of one account. Times are simulated seconds.
#[derive(Debug)]
struct Desk {
    next_arrival: f64,
    started: u32,
    /// When each agent is next free.
    busy: Vec<f64>,
}

impl Generator {
    /// A generator running in real time.
    pub fn new(seed: u64) -> Self {
        Self::with_speed(seed, 1.0)
    }

    /// A generator whose calls run `speed` times faster than real time: rings, talk times and
    /// gaps between calls all shrink, while timestamps stay on the wall clock.
    ///
    /// # Panics
    ///
    /// If `speed` is not a positive, finite number.
    pub fn with_speed(seed: u64, speed: f64) -> Self {
        assert!(
            speed.is_finite() && speed > 0.0,
            "demo speed must be positive and finite, got {speed}"
        );
        let mut rng = fastrand::Rng::with_seed(seed);
        let desks = PROFILES
            .iter()
            .enumerate()
            .map(|(i, profile)| Desk {
                // Staggered so that the accounts' first calls do not ring in the same tick.
                next_arrival: 0.3 + 0.5 * i as f64 + uniform(&mut rng, 0.0, 0.7),
                started: 0,
                busy: vec![0.0; profile.agents.len()],
            })
            .collect();
        Self {
            rng,
            speed,
            clock: None,
            reached: Duration::ZERO,
            desks,
            calls: Vec::new(),
            last_msg_id: 0,
        }
    }

    /// How many times faster than real time calls run.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Advances the simulation to `now` and returns the events that happened since the previous
    /// step, oldest first. The first call only starts the clock. A `now` earlier than the
    /// previous one returns nothing.
    pub fn step(&mut self, now: SystemTime) -> Vec<DemoEvent> {
        let clock = self.clock.get_or_insert(Clock {
            origin: now,
            speed: self.speed,
        });
        let Ok(mut elapsed) = now.duration_since(clock.origin) else {
            return Vec::new();
        };
        if let Some(skipped) = elapsed.checked_sub(self.reached + MAX_CATCH_UP) {
            // Calls in progress resume where they were; only their durations miss the pause.
            clock.origin += skipped;
            elapsed -= skipped;
        }
        let clock = *clock;
        self.reached = self.reached.max(elapsed);
        let horizon = elapsed.as_secs_f64() * self.speed;
        let mut events = Vec::new();
        loop {
            let next_event = self
                .calls
                .iter()
                .enumerate()
                .filter_map(|(i, call)| Some((i, call.timeline.front()?.0)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let next_arrival = self
                .desks
                .iter()
                .enumerate()
                .map(|(i, desk)| (i, desk.next_arrival))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match (next_event, next_arrival) {
                // On a tie the event goes first, so a call hung up at that instant no longer
                // counts against the account's limit when the next one arrives.
                (Some((call, at)), arrival)
                    if at <= horizon && arrival.is_none_or(|(_, next)| at <= next) =>
                {
                    events.push(self.emit(call, &clock));
                }
                (_, Some((desk, at))) if at <= horizon => self.arrive(desk, at),
                _ => break,
            }
        }
        events
    }

    /// Emits the next planned event of `self.calls[index]`.
    fn emit(&mut self, index: usize, clock: &Clock) -> DemoEvent {
        let call = &mut self.calls[index];
        let (at, phase) = call
            .timeline
            .pop_front()
            .expect("only calls with planned events are emitted");
        let msg_id = payload::unix_micros(clock.at(at)).max(self.last_msg_id + 1);
        self.last_msg_id = msg_id;
        let call = &self.calls[index];
        let body = payload::body(&PROFILES[call.account], call, phase, at, clock, msg_id);
        let routing_key = format!("call.{}.{}", phase.event_name(), encode_word(&call.id));
        if phase == Phase::Destroy {
            let call = self.calls.remove(index);
            self.refill(call.account, at);
        }
        DemoEvent {
            exchange: EXCHANGE,
            routing_key,
            payload: Bytes::from(body),
        }
    }

    /// Starts a call on account `index` at `at`, unless it already has as many as it can take,
    /// and schedules the next arrival.
    fn arrive(&mut self, index: usize, at: f64) {
        let profile = &PROFILES[index];
        let active = self.active_calls(index);
        let desk = &mut self.desks[index];
        if active >= profile.max_active {
            desk.next_arrival = at + uniform(&mut self.rng, 4.0, 10.0);
            return;
        }
        let script = match desk.started {
            0 => Script::Showcase,
            1 => Script::Abandoned,
            _ => Script::Random,
        };
        let call = call::plan(
            &mut self.rng,
            index,
            profile,
            &mut desk.busy,
            at,
            script,
            MEDIA_SERVER_COUNT,
        );
        self.calls.push(call);
        desk.started += 1;
        let gap = match desk.started {
            1 => uniform(&mut self.rng, 1.0, 2.5),
            _ if active + 1 < profile.min_active => uniform(&mut self.rng, 1.5, 5.0),
            _ => exponential(&mut self.rng, profile.mean_gap).clamp(2.0, 4.0 * profile.mean_gap),
        };
        desk.next_arrival = at + gap;
    }

    /// After a hangup, brings the next arrival forward if the account is now too quiet.
    fn refill(&mut self, index: usize, at: f64) {
        if self.active_calls(index) >= PROFILES[index].min_active {
            return;
        }
        let soon = at + uniform(&mut self.rng, 1.5, 5.0);
        let desk = &mut self.desks[index];
        desk.next_arrival = desk.next_arrival.min(soon);
    }

    fn active_calls(&self, account: usize) -> usize {
        self.calls.iter().filter(|c| c.account == account).count()
    }
}

#[cfg(test)]
mod tests;
