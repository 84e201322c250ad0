//! The JSON body ecallmgr would publish on `callevt` for one channel event of a simulated call,
//! shaped like the captured Kazoo payloads: Header-Case keys, Gregorian timestamps, durations as
//! strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::call::{Call, Direction, Phase};
use super::directory::Profile;

/// Seconds from 0000-01-01 (Erlang's calendar, which Kazoo timestamps count from) to 1970-01-01.
pub(super) const GREGORIAN_OFFSET: u64 = 62_167_219_200;

struct MediaServer {
    host: &'static str,
    ip: &'static str,
    ecallmgr: &'static str,
}

const MEDIA_SERVERS: [MediaServer; 2] = [
    MediaServer {
        host: "fs1.demo.example.net",
        ip: "198.51.100.21",
        ecallmgr: "ecallmgr@kz1.demo.example.net",
    },
    MediaServer {
        host: "fs2.demo.example.net",
        ip: "198.51.100.22",
        ecallmgr: "ecallmgr@kz2.demo.example.net",
    },
];

pub(super) const MEDIA_SERVER_COUNT: usize = MEDIA_SERVERS.len();

/// Maps the generator's simulated seconds onto wall-clock time. Simulated time runs `speed`
/// times faster, so a sped-up demo has shorter calls whose timestamps and durations still agree.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) origin: SystemTime,
    pub(super) speed: f64,
}

impl Clock {
    pub(super) fn at(&self, sim: f64) -> SystemTime {
        self.origin + Duration::from_secs_f64((sim / self.speed).max(0.0))
    }

    /// Whole wall-clock seconds between two simulated instants.
    fn seconds_between(&self, from: f64, to: f64) -> u64 {
        ((to - from) / self.speed).max(0.0) as u64
    }
}

pub(super) fn unix_micros(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

pub(super) fn gregorian_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + GREGORIAN_OFFSET
}

/// The body of `phase` of `call`, happening at simulated time `sim`.
pub(super) fn body(
    profile: &Profile,
    call: &Call,
    phase: Phase,
    sim: f64,
    clock: &Clock,
    msg_id: u64,
) -> Vec<u8> {
    let media = &MEDIA_SERVERS[call.media_server];
    let answered = call.answered.is_some_and(|t| t <= sim);
    let bridged = call.direction == Direction::Outbound || call.bridged.is_some_and(|t| t <= sim);
    let agent = call.agent.map(|i| &profile.agents[i]);
    let line = &profile.lines[call.line];
    let main_line = &profile.lines[0];

    let mut event = Map::new();
    let (from, to, presence) = match call.direction {
        Direction::Inbound => {
            // Until an agent picks up, the callee is the line dialled; from then on, the agent.
            let (callee_name, callee_number) = match agent {
                Some(agent) if answered => (agent.name, agent.ext),
                _ => (line.name, line.number),
            };
            put(&mut event, "Caller-ID-Name", call.remote_name.as_str());
            put(&mut event, "Caller-ID-Number", call.remote_number.as_str());
            put(&mut event, "Callee-ID-Name", callee_name);
            put(&mut event, "Callee-ID-Number", callee_number);
            let mut headers = Map::new();
            put(&mut headers, "X-AUTH-IP", call.carrier_ip.as_str());
            put(&mut event, "Custom-SIP-Headers", headers);
            (
                format!("{}@{}", call.remote_number, call.carrier_ip),
                format!("{}@{}", line.number, media.ip),
                format!("{}@{}", line.number, profile.realm),
            )
        }
        Direction::Outbound => {
            put(&mut event, "Caller-ID-Name", profile.name);
            put(&mut event, "Caller-ID-Number", main_line.number);
            put(&mut event, "Callee-ID-Name", call.remote_name.as_str());
            put(&mut event, "Callee-ID-Number", call.remote_number.as_str());
            let ext = agent.map_or(main_line.number, |a| a.ext);
            (
                format!("{}@{}", main_line.number, profile.realm),
                format!("{}@{}", call.remote_number, call.carrier_ip),
                format!("{ext}@{}", profile.realm),
            )
        }
    };
    put(&mut event, "App-Name", "ecallmgr");
    put(&mut event, "App-Version", "4.3.142");
    put(
        &mut event,
        "Call-Direction",
        match call.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        },
    );
    put(&mut event, "Call-ID", call.id.as_str());
    put(
        &mut event,
        "Custom-Channel-Vars",
        channel_vars(profile, call, clock, answered),
    );
    let disposition = match (phase, answered) {
        (Phase::Create, _) => "DELAYED NEGOTIATION",
        (_, true) => "ANSWER",
        (_, false) => "EARLY MEDIA",
    };
    put(&mut event, "Disposition", disposition);
    put(&mut event, "Event-Category", "call_event");
    put(&mut event, "Event-Name", phase.event_name());
    put(&mut event, "From", from.as_str());
    put(&mut event, "From-Tag", call.from_tag.as_str());
    put(&mut event, "From-Uri", from);
    put(&mut event, "Media-Server", media.host);
    put(&mut event, "Msg-ID", msg_id.to_string());
    put(&mut event, "Node", media.ecallmgr);
    put(&mut event, "Presence-ID", presence);
    put(&mut event, "Request", to.as_str());
    put(&mut event, "Switch-Hostname", media.host);
    put(
        &mut event,
        "Switch-Nodename",
        format!("freeswitch@{}", media.host),
    );
    put(&mut event, "Switch-URI", format!("sip:{}:5060", media.ip));
    put(
        &mut event,
        "Switch-URL",
        format!("sip:mod_sofia@{}:5060", media.ip),
    );
    put(&mut event, "Timestamp", gregorian_seconds(clock.at(sim)));
    put(&mut event, "To", to.as_str());
    put(&mut event, "To-Uri", to);
    if bridged {
        put(&mut event, "Other-Leg-Call-ID", call.other_leg.as_str());
    }

    match phase {
        Phase::Bridge => bridge_headers(&mut event, profile, call),
        Phase::Destroy => {
            let duration = clock.seconds_between(call.created, sim);
            let ringing = call.answered.map_or(duration, |answer| {
                clock.seconds_between(call.created, answer).min(duration)
            });
            put(&mut event, "Hangup-Cause", call.hangup.cause());
            put(&mut event, "Hangup-Code", call.hangup.code());
            put(&mut event, "Duration-Seconds", duration.to_string());
            put(&mut event, "Ringing-Seconds", ringing.to_string());
            put(
                &mut event,
                "Billing-Seconds",
                (duration - ringing).to_string(),
            );
        }
        _ => {}
    }
    serde_json::to_vec(&Value::Object(event)).expect("a JSON map always serializes")
}

/// The CCVs grow as the call progresses, as in Kazoo: the callflow's own variables appear once
/// it has run, and an inbound call learns its owner when an agent answers.
fn channel_vars(
    profile: &Profile,
    call: &Call,
    clock: &Clock,
    answered: bool,
) -> Map<String, Value> {
    let mut vars = Map::new();
    put(&mut vars, "Account-ID", profile.id);
    put(&mut vars, "Account-Name", profile.name);
    put(&mut vars, "Account-Realm", profile.realm);
    put(&mut vars, "Realm", profile.realm);
    put(&mut vars, "Reseller-ID", profile.reseller_id);
    let interaction = format!(
        "{}-{}",
        gregorian_seconds(clock.at(call.created)),
        call.interaction_tag
    );
    put(&mut vars, "Call-Interaction-ID", interaction);
    let owner = call
        .agent
        .filter(|_| answered || call.direction == Direction::Outbound);
    match call.direction {
        Direction::Inbound => {
            put(
                &mut vars,
                "Authorizing-ID",
                profile.object_id("resource", 0),
            );
            put(&mut vars, "Authorizing-Type", "resource");
            put(
                &mut vars,
                "Inception",
                format!("{}@{}", call.remote_number, profile.realm),
            );
        }
        Direction::Outbound => {
            let device = call.agent.unwrap_or_default();
            put(
                &mut vars,
                "Authorizing-ID",
                profile.object_id("device", device),
            );
            put(&mut vars, "Authorizing-Type", "device");
        }
    }
    if let Some(agent) = owner {
        put(&mut vars, "Owner-ID", profile.object_id("user", agent));
        put(&mut vars, "Username", profile.agents[agent].username);
    }
    if answered || call.direction == Direction::Outbound {
        let media = &MEDIA_SERVERS[call.media_server];
        put(&mut vars, "Application-Name", "callflow");
        put(
            &mut vars,
            "Application-Node",
            "kazoo_apps@apps1.demo.example.net",
        );
        // The id of the leg that started the bridge: the customer's when calling in, the
        // agent's device when calling out.
        let bridge_id = match call.direction {
            Direction::Inbound => &call.id,
            Direction::Outbound => &call.other_leg,
        };
        put(&mut vars, "Bridge-ID", bridge_id.as_str());
        put(&mut vars, "Caller-Privacy-Name", "false");
        put(&mut vars, "Caller-Privacy-Number", "false");
        put(&mut vars, "Channel-Authorized", "true");
        put(&mut vars, "Ecallmgr-Node", media.ecallmgr);
        put(&mut vars, "Fetch-ID", call.fetch_id.as_str());
        put(&mut vars, "Global-Resource", "false");
    }
    vars
}

/// Who the call was bridged to: the agent's device leg.
fn bridge_headers(event: &mut Map<String, Value>, profile: &Profile, call: &Call) {
    let agent = call.agent.map(|i| &profile.agents[i]);
    let (name, number) = agent.map_or((profile.name, profile.lines[0].number), |a| (a.name, a.ext));
    match call.direction {
        Direction::Inbound => {
            put(event, "Other-Leg-Caller-ID-Name", call.remote_name.as_str());
            put(
                event,
                "Other-Leg-Caller-ID-Number",
                call.remote_number.as_str(),
            );
            put(event, "Other-Leg-Destination-Number", number);
            put(event, "Other-Leg-Direction", "outbound");
        }
        Direction::Outbound => {
            put(event, "Other-Leg-Caller-ID-Name", name);
            put(event, "Other-Leg-Caller-ID-Number", number);
            put(
                event,
                "Other-Leg-Destination-Number",
                call.remote_number.as_str(),
            );
            put(event, "Other-Leg-Direction", "inbound");
        }
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_owned(), value.into());
}
