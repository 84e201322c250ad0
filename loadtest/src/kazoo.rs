//! Owns the benchmark's traffic: Kazoo `CHANNEL_CREATE` events shaped like the real ones
//! (`testdata/kazoo/amqp_call_CHANNEL_CREATE.json`, compact as Kazoo sends them), spread
//! round-robin over a set of accounts and padded to an exact body size.

use serde_json::json;

/// The exchange Kazoo publishes call events to.
pub(crate) const CALL_EXCHANGE: &str = "callevt";
/// The binding ingest is given in the benchmark, and the routing key shape it matches.
pub(crate) const CALL_BINDING: &str = "call.CHANNEL_CREATE.*";

/// A field of a real event's `Custom-SIP-Headers` object that is stretched to reach the
/// requested size; ingest passes it through like any other.
const PADDING_FIELD: &str = "X-Bench-Padding";

/// One AMQP message: routing key and body.
pub(crate) struct Event {
    pub(crate) routing_key: String,
    pub(crate) body: Vec<u8>,
}

/// Builds event `seq` of a run on demand, so that a run of any length needs no memory for its
/// events.
pub(crate) struct EventFactory {
    accounts: Vec<String>,
    payload_bytes: usize,
}

impl EventFactory {
    /// Events for `accounts` accounts whose bodies are `payload_bytes` long, or as short as the
    /// unpadded event (about 1.1 KB) if that is less.
    pub(crate) fn new(accounts: usize, payload_bytes: usize) -> Self {
        Self {
            accounts: (0..accounts as u64).map(account_id).collect(),
            payload_bytes,
        }
    }

    #[cfg(test)]
    pub(crate) fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Event `seq`; its account is `seq % accounts`, so every account gets its share in order.
    pub(crate) fn event(&self, seq: u64) -> Event {
        let account_index = (seq % self.accounts.len() as u64) as usize;
        let account = &self.accounts[account_index];
        let call_id = format!("bench{seq:015}");
        let realm = format!("acct{account_index:05}.bench.example");
        let user = format!("user_{:010x}", mix(seq));
        let body = json!({
            "App-Name": "ecallmgr",
            "App-Version": "4.3.0",
            "Call-Direction": "inbound",
            "Call-ID": call_id,
            "Caller-ID-Name": user,
            "Caller-ID-Number": user,
            "Custom-Channel-Vars": {
                "Account-ID": account,
                "Account-Name": format!("acct{account_index:05}"),
                "Account-Realm": realm,
                "Authorizing-ID": format!("{:016x}{:016x}", mix(seq ^ 1), mix(seq ^ 2)),
                "Authorizing-Type": "device",
                "Owner-ID": format!("{:016x}{:016x}", mix(seq ^ 3), mix(seq ^ 4)),
                "Realm": realm,
                "Register-Overwrite-Notify": "false",
                "Suppress-Unregister-Notifications": "false",
                "Username": user,
            },
            "Custom-SIP-Headers": {
                "X-AUTH-IP": "192.168.25.203",
                PADDING_FIELD: "",
            },
            "Disposition": "DELAYED NEGOTIATION",
            "Event-Category": "call_event",
            "Event-Name": "CHANNEL_CREATE",
            "From": format!("356@{realm}"),
            "From-Tag": format!("{:010x}", mix(seq ^ 5)),
            "From-Uri": format!("{user}@{realm}"),
            "Media-Server": "fs1.bench.example",
            "Msg-ID": format!("{:016}", 1_443_672_756_993_309 + seq),
            "Node": "ecallmgr@apps1.bench.example",
            "Presence-ID": format!("356@{realm}"),
            "Request": format!("*97@{realm}"),
            "Switch-URI": "sip:192.168.25.216:11000",
            "Switch-URL": "sip:mod_sofia@192.168.25.216:11000",
            "Timestamp": 63_610_891_956 + seq,
            "To": format!("*97@{realm}"),
            "To-Uri": format!("*97@{realm}"),
        });
        let mut text = body.to_string();
        let empty = format!("\"{PADDING_FIELD}\":\"\"");
        if let Some(missing) = self.payload_bytes.checked_sub(text.len()) {
            let padded = format!("\"{PADDING_FIELD}\":\"{}\"", "x".repeat(missing));
            text = text.replacen(&empty, &padded, 1);
        }
        Event {
            routing_key: format!("call.CHANNEL_CREATE.{call_id}"),
            body: text.into_bytes(),
        }
    }
}

/// A Kazoo-shaped account id (32 lower-case hex digits), distinct for each index.
fn account_id(index: u64) -> String {
    format!("{:016x}{:016x}", mix(index), mix(!index))
}

/// splitmix64: cheap, deterministic, well spread; ids and names only need to look varied.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
