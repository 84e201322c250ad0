//! The demo accounts' fixed world: realms, numbers, people, and how busy each account is.
//!
//! Every phone number here is in a range regulators keep for fiction (NANP 555-01XX, Ofcom's
//! drama ranges, ACMA's fictitious ranges) and every host in a documentation domain or address
//! block, so demo traffic can be shown, logged or screenshotted without pointing at anyone real.

use blackhole_bus::AccountId;

/// One demo account's static profile; `demo_accounts()[i]` and `PROFILES[i]` describe the same
/// account.
pub(super) struct Profile {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) token: &'static str,
    pub(super) realm: &'static str,
    /// The reseller above the account; Kazoo carries it in every channel's CCVs.
    pub(super) reseller_id: &'static str,
    /// Numbers customers dial; the first is also the outbound caller id.
    pub(super) lines: &'static [Line],
    pub(super) agents: &'static [Agent],
    /// Templates of caller numbers: `#` is a random digit, spaces are dropped.
    pub(super) callers: &'static [&'static str],
    /// Share of calls an agent places rather than receives.
    pub(super) outbound_share: f64,
    /// The arrival process aims for this many simultaneous calls…
    pub(super) min_active: usize,
    /// …and never starts a call while this many are up.
    pub(super) max_active: usize,
    /// Mean seconds between arrivals while between the two bounds.
    pub(super) mean_gap: f64,
}

/// A number customers dial, and how often it is dialled relative to the account's other lines.
pub(super) struct Line {
    pub(super) name: &'static str,
    pub(super) number: &'static str,
    pub(super) weight: u32,
}

/// A user with one SIP device.
pub(super) struct Agent {
    pub(super) name: &'static str,
    pub(super) ext: &'static str,
    pub(super) username: &'static str,
}

const fn line(name: &'static str, number: &'static str, weight: u32) -> Line {
    Line {
        name,
        number,
        weight,
    }
}

const fn agent(name: &'static str, ext: &'static str, username: &'static str) -> Agent {
    Agent {
        name,
        ext,
        username,
    }
}

const US_CALLERS: &[&str] = &[
    "+1212555 01##",
    "+1312555 01##",
    "+1415555 01##",
    "+1503555 01##",
    "+1617555 01##",
    "+1720555 01##",
    "+1786555 01##",
    "+1206555 01##",
];
const UK_CALLERS: &[&str] = &[
    "+4420 7946 0###",
    "+447700 900###",
    "+44161 496 0###",
    "+44117 496 0###",
    "+44131 496 0###",
];
const AU_CALLERS: &[&str] = &[
    "+612 5550 ####",
    "+613 7010 ####",
    "+61491 570 ###",
    "+61491 571 ###",
];

pub(super) const PROFILES: [Profile; 3] = [
    Profile {
        id: "cea599337b69fb3eee2e4fbe58318e1a",
        name: "Acme Support",
        token: "demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT",
        realm: "acme-support.pbx.example.com",
        reseller_id: "4669690fd125bcff216ec7696be4f55a",
        lines: &[
            line("Support", "+14155550100", 6),
            line("Billing", "+14155550142", 3),
            line("Escalations", "+14155550199", 1),
        ],
        agents: &[
            agent("Alice Moreau", "201", "user_k2v8q1"),
            agent("Bilal Khan", "202", "user_p9d3x7"),
            agent("Chen Wei", "203", "user_m4t6z2"),
            agent("Dana Okafor", "204", "user_h8r1c5"),
            agent("Emma Lindqvist", "205", "user_w3n7b9"),
            agent("Felipe Ortega", "206", "user_f6y2j4"),
        ],
        callers: US_CALLERS,
        outbound_share: 0.15,
        min_active: 3,
        max_active: 6,
        mean_gap: 12.0,
    },
    Profile {
        id: "a90860ec1aff3d26177fbe6afc64e268",
        name: "Northwind Dental",
        token: "demo_o9koomdGuGD7WEU0rKHHu0gKl7hqb9i1",
        realm: "northwind-dental.pbx.example.com",
        reseller_id: "4669690fd125bcff216ec7696be4f55a",
        lines: &[
            line("Reception", "+442079460321", 8),
            line("Dr Patel", "+442079460388", 2),
        ],
        agents: &[
            agent("Amelia Hart", "100", "user_r5e8u3"),
            agent("Ravi Patel", "101", "user_c1q9v6"),
            agent("Hannah Lowe", "102", "user_z7g4k8"),
        ],
        callers: UK_CALLERS,
        outbound_share: 0.3,
        min_active: 2,
        max_active: 4,
        mean_gap: 22.0,
    },
    // A sub-account of a reseller ("Initech Telecom"), as most Kazoo tenants are.
    Profile {
        id: "3791caa59f9df613c84e1007e680fe71",
        name: "Globex Logistics",
        token: "demo_iaVnqYicZm4fiRK9bZ2wvTh7ov2pBRlf",
        realm: "globex.voice.initech.example.net",
        reseller_id: "33e4369c7c0b57228be8462ff5c92f11",
        lines: &[
            line("Dispatch", "+61255501234", 6),
            line("Sales", "+61255501200", 4),
        ],
        agents: &[
            agent("Liam Nguyen", "301", "user_b2s6m1"),
            agent("Priya Sharma", "302", "user_t8a3f7"),
            agent("Jack O'Brien", "303", "user_d5l9p2"),
            agent("Mei Tanaka", "304", "user_j1x4n8"),
        ],
        callers: AU_CALLERS,
        outbound_share: 0.45,
        min_active: 2,
        max_active: 5,
        mean_gap: 16.0,
    },
];

const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Aisha", "Noah", "Sofia", "Lucas", "Yuki", "Omar", "Grace", "Mateo", "Zara",
    "Ethan", "Ingrid", "Kwame", "Lena", "Diego", "Nadia", "Oliver", "Chloe", "Tariq",
];
const LAST_NAMES: &[&str] = &[
    "Garcia", "Smith", "Rahman", "Johnson", "Rossi", "Silva", "Sato", "Haddad", "Kim", "Lopez",
    "Ahmed", "Brown", "Larsen", "Mensah", "Fischer", "Torres", "Petrova", "Walsh", "Dubois",
    "Nakamura",
];

/// How a caller's name reaches the switch: a contact name, a carrier's CNAM dip (upper case,
/// last name first), or nothing at all, in which case Kazoo shows the number.
pub(super) fn caller_name(rng: &mut fastrand::Rng, number: &str) -> String {
    let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
    match rng.u8(0..10) {
        0..=5 => format!("{first} {last}"),
        6..=7 => format!("{} {}", last.to_uppercase(), first.to_uppercase()),
        8 => "WIRELESS CALLER".to_owned(),
        _ => number.to_owned(),
    }
}

/// Who an agent dials: someone in the phone book, or just a number.
pub(super) fn contact_name(rng: &mut fastrand::Rng, number: &str) -> String {
    if rng.bool() {
        let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
        format!("{first} {last}")
    } else {
        number.to_owned()
    }
}

/// A caller's number, never one of the account's own lines (which share the fictional ranges).
pub(super) fn phone_number(rng: &mut fastrand::Rng, profile: &Profile) -> String {
    loop {
        let template = profile.callers[rng.usize(..profile.callers.len())];
        let number: String = template
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| if c == '#' { rng.digit(10) } else { c })
            .collect();
        if profile.lines.iter().all(|line| line.number != number) {
            return number;
        }
    }
}

impl Profile {
    pub(super) fn account_id(&self) -> AccountId {
        AccountId::parse(self.id).expect("demo account ids are 32 hex characters")
    }

    pub(super) fn pick_line(&self, rng: &mut fastrand::Rng) -> usize {
        let total: u32 = self.lines.iter().map(|l| l.weight).sum();
        let mut ticket = rng.u32(..total);
        for (i, line) in self.lines.iter().enumerate() {
            if ticket < line.weight {
                return i;
            }
            ticket -= line.weight;
        }
        0
    }

    /// A stable document id for one of the account's objects (`kind` "user", "device", …),
    /// derived rather than listed so that the table above stays readable.
    pub(super) fn object_id(&self, kind: &str, index: usize) -> String {
        let mut state = fnv1a(self.id.as_bytes()) ^ fnv1a(kind.as_bytes()) ^ index as u64;
        let hi = splitmix(&mut state);
        let lo = splitmix(&mut state);
        format!("{hi:016x}{lo:016x}")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
