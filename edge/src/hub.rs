//! The hub: which local sockets want which account's events, and fan-out of each event to them.
//!
//! Invariants:
//! - an event is matched only against the sockets subscribed to *its* account (or to every
//!   account, for super-admin `*` subscriptions): no event reaches another account's socket;
//! - the hub tells the bus to subscribe to an account when its first local socket wants it, and
//!   to unsubscribe after the last one leaves ([`Demand`]), in the order the changes happen;
//! - publishing never awaits and never holds a lock while calling into sockets: each account's
//!   subscribers are an immutable snapshot (`Arc`) swapped on change, so the publish path takes a
//!   shard lock only to clone that `Arc`;
//! - each event is encoded at most once per wire format ([`HubEvent::encoded`]), and the bytes are
//!   shared by every socket that receives them.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, OnceLock};

use blackhole_bus::{AccountId, Envelope};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::binding::Binding;
use crate::metrics::Metrics;

/// Identifies one client session for the life of the process.
pub type SessionId = u64;

/// The wire formats an event is encoded to, at most once each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// `42["NAME",{…}]` (Engine.IO message carrying a Socket.IO event).
    SocketIo,
    /// `5:::{"name":"NAME","args":{…}}` (socket.io 0.9).
    Legacy,
    /// The normalized `data` object of the Kazoo 4.x JSON protocol.
    KazooData,
}

const FORMATS: usize = 3;

/// One event on its way to sockets, with its encodings cached.
pub struct HubEvent {
    /// The envelope as ingest published it.
    pub envelope: Envelope,
    encodings: [OnceLock<Bytes>; FORMATS],
    /// Frames that also depend on the client's binding (Kazoo JSON's `subscribed_key`), one per
    /// distinct binding. Fan-out of one event runs on one task, so the lock is uncontended.
    per_binding: Mutex<Vec<(Box<str>, Bytes)>>,
}

impl HubEvent {
    /// Wraps a decoded envelope.
    pub fn new(envelope: Envelope) -> Self {
        Self {
            envelope,
            encodings: Default::default(),
            per_binding: Mutex::new(Vec::new()),
        }
    }

    /// The frame for sockets holding `binding`, built by `encode` the first time.
    pub fn encoded_for_binding(&self, binding: &str, encode: impl FnOnce() -> Bytes) -> Bytes {
        let mut cache = self.per_binding.lock().expect("event cache poisoned");
        if let Some((_, bytes)) = cache.iter().find(|(b, _)| &**b == binding) {
            return bytes.clone();
        }
        let bytes = encode();
        cache.push((binding.into(), bytes.clone()));
        bytes
    }

    /// The event in `format`, encoded by `encode` the first time it is asked for.
    pub fn encoded(&self, format: WireFormat, encode: impl FnOnce(&Envelope) -> Bytes) -> Bytes {
        self.encodings[format as usize]
            .get_or_init(|| encode(&self.envelope))
            .clone()
    }
}

/// A socket as the hub sees it: something that takes matched events without waiting.
pub trait Subscriber: Send + Sync {
    /// Queues `event`, which matched `bindings` of this socket. Must not block; a socket that
    /// cannot keep up handles that itself (it disconnects with a reason).
    fn deliver(&self, event: &Arc<HubEvent>, bindings: &[&Binding]);
}

/// Whose events a subscription covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One account.
    Account(AccountId),
    /// Every account (super-admin `*`).
    All,
}

/// What the bus must listen to, sent in the order the hub's demand changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Demand {
    /// Start receiving this scope's events.
    Subscribe(Scope),
    /// Stop receiving this scope's events.
    Unsubscribe(Scope),
}

struct Entry {
    session: SessionId,
    subscriber: Arc<dyn Subscriber>,
    bindings: Arc<[Binding]>,
}

type Snapshot = Arc<Vec<Entry>>;

const SHARDS: usize = 64;

/// The subscription index and fan-out.
pub struct Hub {
    shards: Box<[Mutex<HashMap<Scope, Snapshot>>]>,
    hasher: RandomState,
    /// Read by the bus task; closing it means the bus is gone and demand changes are moot.
    demand: mpsc::UnboundedSender<Demand>,
    metrics: Metrics,
}

impl Hub {
    /// A hub whose demand changes go to `demand`.
    pub fn new(demand: mpsc::UnboundedSender<Demand>, metrics: Metrics) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            demand,
            metrics,
        }
    }

    fn shard(&self, scope: &Scope) -> &Mutex<HashMap<Scope, Snapshot>> {
        &self.shards[(self.hasher.hash_one(scope) as usize) % SHARDS]
    }

    /// Sets `session`'s bindings for `scope`, replacing earlier ones; no bindings removes the
    /// session from that scope.
    pub fn set(
        &self,
        scope: &Scope,
        session: SessionId,
        subscriber: &Arc<dyn Subscriber>,
        bindings: Vec<Binding>,
    ) {
        let mut shard = self.shard(scope).lock().expect("hub shard poisoned");
        let current = shard.get(scope).cloned().unwrap_or_default();
        let mut next: Vec<Entry> = current
            .iter()
            .filter(|e| e.session != session)
            .map(|e| Entry {
                session: e.session,
                subscriber: e.subscriber.clone(),
                bindings: e.bindings.clone(),
            })
            .collect();
        if !bindings.is_empty() {
            next.push(Entry {
                session,
                subscriber: subscriber.clone(),
                bindings: bindings.into(),
            });
        }
        match (current.is_empty(), next.is_empty()) {
            (true, false) => {
                self.metrics.accounts_subscribed.inc();
                let _ = self.demand.send(Demand::Subscribe(scope.clone()));
            }
            (false, true) => {
                self.metrics.accounts_subscribed.dec();
                let _ = self.demand.send(Demand::Unsubscribe(scope.clone()));
            }
            _ => {}
        }
        match shard.entry(scope.clone()) {
            MapEntry::Occupied(mut slot) if !next.is_empty() => {
                slot.insert(Arc::new(next));
            }
            MapEntry::Occupied(slot) => {
                slot.remove();
            }
            MapEntry::Vacant(slot) if !next.is_empty() => {
                slot.insert(Arc::new(next));
            }
            MapEntry::Vacant(_) => {}
        }
    }

    /// Every scope with at least one local socket: what the bus must be subscribed to.
    pub fn demanded(&self) -> Vec<Scope> {
        self.shards
            .iter()
            .flat_map(|shard| {
                shard
                    .lock()
                    .expect("hub shard poisoned")
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Fans `event` out to the sockets whose bindings match it; returns how many got it.
    pub fn publish(&self, event: Arc<HubEvent>) -> usize {
        self.metrics.events_received.inc();
        let account = Scope::Account(event.envelope.meta.account_id.clone());
        let mut delivered = 0;
        for scope in [&account, &Scope::All] {
            let snapshot = self
                .shard(scope)
                .lock()
                .expect("hub shard poisoned")
                .get(scope)
                .cloned();
            let Some(snapshot) = snapshot else { continue };
            delivered += deliver(&snapshot, &event);
        }
        delivered
    }
}

fn deliver(entries: &[Entry], event: &Arc<HubEvent>) -> usize {
    let meta = &event.envelope.meta;
    let mut delivered = 0;
    let mut matched: Vec<&Binding> = Vec::new();
    for entry in entries {
        matched.clear();
        matched.extend(
            entry
                .bindings
                .iter()
                .filter(|b| b.matches(meta.kind, &meta.routing_key)),
        );
        if !matched.is_empty() {
            entry.subscriber.deliver(event, &matched);
            delivered += 1;
        }
    }
    delivered
}

#[cfg(test)]
mod tests;
