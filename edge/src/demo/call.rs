//! One simulated call: who is on it, and its whole timeline of channel events, planned the
//! moment it arrives.
//!
//! Planning everything up front keeps each call's lifecycle valid by construction (and easy to
//! check): the generator only has to emit each planned event once its time has come.
//!
//! Only the customer's leg (the carrier leg, Kazoo's `inbound` for calls in and `outbound` for
//! calls out) is simulated; the agent's device leg appears only as `Other-Leg-Call-ID`, so a
//! wallboard counting `CHANNEL_CREATE`s counts calls rather than legs.

use std::collections::VecDeque;

use super::directory::{self, Profile};

/// A channel event, in the order a call goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Create,
    Answer,
    Bridge,
    Hold,
    Unhold,
    Destroy,
}

impl Phase {
    pub(super) fn event_name(self) -> &'static str {
        match self {
            Self::Create => "CHANNEL_CREATE",
            Self::Answer => "CHANNEL_ANSWER",
            Self::Bridge => "CHANNEL_BRIDGE",
            Self::Hold => "CHANNEL_HOLD",
            Self::Unhold => "CHANNEL_UNHOLD",
            Self::Destroy => "CHANNEL_DESTROY",
        }
    }
}

/// Kazoo's `Call-Direction`, relative to the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Inbound,
    Outbound,
}

/// How a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hangup {
    NormalClearing,
    OriginatorCancel,
    NoAnswer,
    UserBusy,
}

impl Hangup {
    pub(super) fn cause(self) -> &'static str {
        match self {
            Self::NormalClearing => "NORMAL_CLEARING",
            Self::OriginatorCancel => "ORIGINATOR_CANCEL",
            Self::NoAnswer => "NO_ANSWER",
            Self::UserBusy => "USER_BUSY",
        }
    }

    /// The SIP status that ended the leg, as ecallmgr reports it.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::NormalClearing => "sip:200",
            Self::OriginatorCancel => "sip:487",
            Self::NoAnswer => "sip:480",
            Self::UserBusy => "sip:486",
        }
    }
}

/// What to plan. The first two calls of every account are scripted, so that someone opening
/// the wallboard sees a call ring, get answered, go on hold and another one get abandoned within
/// seconds, whatever the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    /// Answered quickly, put on hold shortly after.
    Showcase,
    /// The caller gives up after a few seconds of ringing.
    Abandoned,
    Random,
}

/// Times are simulated seconds since the generator started.
#[derive(Debug)]
pub(super) struct Call {
    /// Index into `PROFILES`.
    pub(super) account: usize,
    pub(super) id: String,
    /// The agent's device leg, bridged to this one.
    pub(super) other_leg: String,
    pub(super) direction: Direction,
    /// The customer.
    pub(super) remote_name: String,
    pub(super) remote_number: String,
    /// The line dialled (inbound) or used as caller id (outbound).
    pub(super) line: usize,
    /// The agent who answers or dials; `None` for an inbound call nobody answered.
    pub(super) agent: Option<usize>,
    pub(super) media_server: usize,
    pub(super) carrier_ip: String,
    pub(super) from_tag: String,
    pub(super) fetch_id: String,
    pub(super) interaction_tag: String,
    pub(super) hangup: Hangup,
    pub(super) created: f64,
    pub(super) answered: Option<f64>,
    pub(super) bridged: Option<f64>,
    /// Events still to emit, in time order.
    pub(super) timeline: VecDeque<(f64, Phase)>,
}

/// The shape of a call's life, before ids and people are attached.
enum Outcome {
    Answered {
        ring: f64,
        talk: f64,
        /// Seconds after the answer the hold starts, and how long it lasts.
        hold: Option<(f64, f64)>,
    },
    Unanswered {
        ring: f64,
        hangup: Hangup,
    },
}

/// Plans a call arriving at `now` on `account`. `busy[i]` is when agent `i` is next free; the
/// agent who takes the call is booked until it ends, so nobody is on two calls at once.
pub(super) fn plan(
    rng: &mut fastrand::Rng,
    account: usize,
    profile: &Profile,
    busy: &mut [f64],
    now: f64,
    script: Script,
    media_servers: usize,
) -> Call {
    let wants_outbound = script == Script::Random && rng.f64() < profile.outbound_share;
    let dialer = wants_outbound.then(|| free_agent(rng, busy, now)).flatten();
    let (direction, mut outcome, mut agent) = match dialer {
        Some(agent) => (Direction::Outbound, outbound_outcome(rng), Some(agent)),
        None => (Direction::Inbound, inbound_outcome(rng, script), None),
    };
    if direction == Direction::Inbound
        && let Outcome::Answered { ring, .. } = outcome
    {
        agent = free_agent(rng, busy, now + ring);
        if agent.is_none() {
            // Every agent is on a call: the caller hears ringback until giving up.
            outcome = Outcome::Unanswered {
                ring: uniform(rng, 10.0, 25.0),
                hangup: Hangup::OriginatorCancel,
            };
        }
    }

    let mut timeline = VecDeque::from([(now, Phase::Create)]);
    let (hangup, answered, bridged, end) = match outcome {
        Outcome::Answered { ring, talk, hold } => {
            let answer = now + ring;
            let bridge = answer + uniform(rng, 0.1, 0.6);
            timeline.push_back((answer, Phase::Answer));
            timeline.push_back((bridge, Phase::Bridge));
            if let Some((start, length)) = hold {
                timeline.push_back((answer + start, Phase::Hold));
                timeline.push_back((answer + start + length, Phase::Unhold));
            }
            (
                Hangup::NormalClearing,
                Some(answer),
                Some(bridge),
                answer + talk,
            )
        }
        Outcome::Unanswered { ring, hangup } => (hangup, None, None, now + ring),
    };
    timeline.push_back((end, Phase::Destroy));
    if let Some(agent) = agent {
        busy[agent] = end;
    }

    let remote_number = directory::phone_number(rng, profile);
    let remote_name = match direction {
        Direction::Inbound => directory::caller_name(rng, &remote_number),
        Direction::Outbound => directory::contact_name(rng, &remote_number),
    };
    let carrier_ip = format!("203.0.113.{}", rng.u8(10..60));
    let id = match direction {
        // Carrier SBCs mint ids like `459843351_117288744@203.0.113.7`: the dots make the demo
        // exercise the routing-key encoding of call ids.
        Direction::Inbound => format!(
            "{}_{}@{carrier_ip}",
            rng.u32(100_000_000..1_000_000_000),
            rng.u32(100_000_000..1_000_000_000)
        ),
        Direction::Outbound => uuid(rng),
    };
    Call {
        account,
        id,
        other_leg: uuid(rng),
        direction,
        remote_name,
        remote_number,
        line: profile.pick_line(rng),
        agent,
        media_server: rng.usize(..media_servers),
        carrier_ip,
        from_tag: lower_alnum(rng, 10),
        fetch_id: uuid(rng),
        interaction_tag: format!("{:08x}", rng.u32(..)),
        hangup,
        created: now,
        answered,
        bridged,
        timeline,
    }
}

fn inbound_outcome(rng: &mut fastrand::Rng, script: Script) -> Outcome {
    match script {
        Script::Showcase => Outcome::Answered {
            ring: uniform(rng, 2.0, 4.0),
            talk: uniform(rng, 35.0, 70.0),
            hold: Some((uniform(rng, 6.0, 10.0), uniform(rng, 6.0, 12.0))),
        },
        Script::Abandoned => Outcome::Unanswered {
            ring: uniform(rng, 6.0, 9.0),
            hangup: Hangup::OriginatorCancel,
        },
        Script::Random => match rng.f64() {
            r if r < 0.12 => Outcome::Unanswered {
                ring: uniform(rng, 4.0, 25.0),
                hangup: Hangup::OriginatorCancel,
            },
            // The ring group's timeout, before the callflow gives up on the agents.
            r if r < 0.18 => Outcome::Unanswered {
                ring: uniform(rng, 20.0, 30.0),
                hangup: Hangup::NoAnswer,
            },
            _ => {
                let ring = uniform(rng, 2.0, 12.0);
                answered(rng, ring, 0.3)
            }
        },
    }
}

fn outbound_outcome(rng: &mut fastrand::Rng) -> Outcome {
    match rng.f64() {
        r if r < 0.18 => Outcome::Unanswered {
            ring: uniform(rng, 25.0, 32.0),
            hangup: Hangup::NoAnswer,
        },
        r if r < 0.30 => Outcome::Unanswered {
            ring: uniform(rng, 1.0, 3.0),
            hangup: Hangup::UserBusy,
        },
        _ => {
            let ring = uniform(rng, 4.0, 15.0);
            answered(rng, ring, 0.2)
        }
    }
}

/// An answered call: a quarter are quick (a wrong number, a one-line question: 6 to 18 s), the
/// rest talk 20 s to 5 min, most around a minute; with `hold_odds` one hold somewhere in the
/// middle that ends a few seconds before the hangup. The quick ones also let a person watching
/// the demo see calls end within seconds of starting.
fn answered(rng: &mut fastrand::Rng, ring: f64, hold_odds: f64) -> Outcome {
    let talk = if rng.f64() < 0.25 {
        uniform(rng, 6.0, 18.0)
    } else {
        (20.0 + exponential(rng, 60.0)).min(300.0)
    };
    let hold = (rng.f64() < hold_odds)
        .then(|| {
            let start = talk * uniform(rng, 0.2, 0.5);
            let length = uniform(rng, 8.0, 40.0).min(talk - start - 3.0);
            (length >= 3.0).then_some((start, length))
        })
        .flatten();
    Outcome::Answered { ring, talk, hold }
}

/// A random agent free at `at`, if any.
fn free_agent(rng: &mut fastrand::Rng, busy: &[f64], at: f64) -> Option<usize> {
    let free: Vec<usize> = (0..busy.len()).filter(|&i| busy[i] <= at).collect();
    (!free.is_empty()).then(|| free[rng.usize(..free.len())])
}

pub(super) fn uniform(rng: &mut fastrand::Rng, low: f64, high: f64) -> f64 {
    low + rng.f64() * (high - low)
}

pub(super) fn exponential(rng: &mut fastrand::Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.f64()).ln()
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    let (a, b) = (rng.u64(..), rng.u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn lower_alnum(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = rng.alphanumeric();
            c.to_ascii_lowercase()
        })
        .collect()
}
