//! Redis channel and stream names, hash-tagged on the account id.
//!
//! Every name carries `{<account_id>}` so that in a Redis Cluster an account's channel, stream and
//! any future per-account key hash to the same slot: ingest's publish script touches them together,
//! and an edge's sharded subscription for an account lands on the node that holds its stream.

use crate::AccountId;

/// The names Blackhole uses in one Redis deployment, under a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: String,
}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}

impl Keyspace {
    /// The prefix used unless configured otherwise.
    pub const DEFAULT_PREFIX: &'static str = "blackhole";

    /// A keyspace under `prefix`, which lets several deployments share one Redis.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix of every name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The pub/sub channel on which an account's events are published.
    pub fn channel(&self, account: &AccountId) -> String {
        format!("{}:{{{}}}:events", self.prefix, account)
    }

    /// The capped stream that keeps an account's recent events for replay.
    pub fn stream(&self, account: &AccountId) -> String {
        format!("{}:{{{}}}:stream", self.prefix, account)
    }

    /// A `PSUBSCRIBE` pattern matching every account's channel (super-admin subscriptions).
    pub fn all_channels_pattern(&self) -> String {
        format!("{}:{{*}}:events", self.prefix)
    }

    /// The account a channel name belongs to, if it is one of this keyspace's channels.
    pub fn account_of_channel(&self, channel: &str) -> Option<AccountId> {
        let inner = channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":{")?
            .strip_suffix("}:events")?;
        AccountId::parse(inner).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("4b8c6fec4b2597882c0390202d195419").unwrap()
    }

    #[test]
    fn names_share_the_account_hash_tag() {
        let ks = Keyspace::default();
        let a = account();
        assert_eq!(
            ks.channel(&a),
            "blackhole:{4b8c6fec4b2597882c0390202d195419}:events"
        );
        assert_eq!(
            ks.stream(&a),
            "blackhole:{4b8c6fec4b2597882c0390202d195419}:stream"
        );
        let tag = |name: &str| {
            let open = name.find('{').unwrap();
            let close = name.find('}').unwrap();
            name[open + 1..close].to_owned()
        };
        assert_eq!(tag(&ks.channel(&a)), tag(&ks.stream(&a)));
    }

    #[test]
    fn channel_names_round_trip() {
        let ks = Keyspace::new("bh-test");
        let a = account();
        assert_eq!(ks.account_of_channel(&ks.channel(&a)), Some(a.clone()));
        assert_eq!(ks.account_of_channel(&ks.stream(&a)), None);
        assert_eq!(
            Keyspace::default().account_of_channel(&ks.channel(&a)),
            None
        );
    }
}
