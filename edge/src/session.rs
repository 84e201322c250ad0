//! One client session's protocol-independent state: its subscriptions, the token checks behind
//! them, its request budget, and the bounded outbox its transport drains.
//!
//! Invariants:
//! - a binding is held only after its token was authorized for its account; the hub is told of
//!   every change, and of nothing else, so the hub's view and the session's never diverge;
//! - delivering never blocks: a full outbox closes the session as a slow consumer (counted and
//!   logged), so one slow client never holds up the fan-out or another socket;
//! - closing is idempotent and removes every subscription from the hub at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Instant, SystemTime};

use blackhole_bus::{AccountId, Envelope};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, AuthError, Target};
use crate::binding::Binding;
use crate::config::Limits;
use crate::hub::{Hub, HubEvent, Scope, SessionId, Subscriber, WireFormat};
use crate::metrics::Metrics;
use crate::protocol::socketio;

mod request;

use request::TokenBucket;
pub use request::{RequestError, SubscriptionRequest};

/// What every session of the process shares.
pub struct Shared {
    /// The subscription index.
    pub hub: Arc<Hub>,
    /// Token checks.
    pub auth: Arc<Auth>,
    /// Per-socket limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Metrics,
    next_id: AtomicU64,
    /// Every open session, whatever its protocol, for the paced drain at shutdown.
    live: Mutex<HashMap<SessionId, Weak<Session>>>,
}

impl Shared {
    /// Bundles what sessions share.
    pub fn new(hub: Arc<Hub>, auth: Arc<Auth>, limits: Limits, metrics: Metrics) -> Self {
        Self {
            hub,
            auth,
            limits,
            metrics,
            next_id: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Every open session.
    pub fn live_sessions(&self) -> Vec<Arc<Session>> {
        self.live
            .lock()
            .expect("live sessions poisoned")
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// How a session's events are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// Socket.IO 1.x–4.x over Engine.IO: `42["NAME",{…}]`, once per event.
    SocketIo,
    /// socket.io 0.9: `5:::{"name":"NAME","args":{…}}`, once per event.
    Legacy,
    /// Kazoo 4.x JSON: an `event` envelope per matching binding.
    KazooJson,
}

/// One frame for the transport, with the event's ingest time for the latency histogram.
#[derive(Debug, Clone)]
pub struct OutFrame {
    /// The protocol packet, ready to write.
    pub bytes: Bytes,
    /// When ingest received the event (ms since the epoch), or 0 for non-event frames.
    pub ingested_at_ms: u64,
}

impl OutFrame {
    /// A frame that is not an event (replies, pings).
    pub fn control(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            ingested_at_ms: 0,
        }
    }
}

/// Why a session ended; logged, and for some reasons counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed or went away.
    ClientGone,
    /// The outbox was full: the client does not read fast enough.
    SlowConsumer,
    /// No successful subscription within the auth timeout.
    AuthTimeout,
    /// Heartbeats stopped.
    PingTimeout,
    /// The client broke the protocol.
    ProtocolError,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientGone => "client_gone",
            Self::SlowConsumer => "slow_consumer",
            Self::AuthTimeout => "auth_timeout",
            Self::PingTimeout => "ping_timeout",
            Self::ProtocolError => "protocol_error",
            Self::Shutdown => "shutdown",
        }
    }
}

struct Held {
    binding: Binding,
    expires_at: Option<SystemTime>,
}

struct State {
    subscriptions: HashMap<Scope, Vec<Held>>,
    bucket: TokenBucket,
    /// A token given at connect time (Socket.IO CONNECT `auth`), used when a request has none.
    default_token: Option<String>,
    ever_subscribed: bool,
    /// Kazoo 4.x JSON: a token was accepted on this socket (authentication is sticky).
    authenticated: bool,
}

/// One client session.
pub struct Session {
    /// Process-unique id.
    pub id: SessionId,
    /// The client's address (after PROXY protocol, when trusted).
    pub peer: SocketAddr,
    format: EventFormat,
    shared: Arc<Shared>,
    /// Drained by the session's transport; closed when the session closes.
    outbox: mpsc::Sender<OutFrame>,
    closed: CancellationToken,
    close_reason: OnceLock<CloseReason>,
    state: Mutex<State>,
    me: Weak<Session>,
}

impl Session {
    /// A new session and the receiving end of its outbox.
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        format: EventFormat,
    ) -> (Arc<Self>, mpsc::Receiver<OutFrame>) {
        let (outbox, rx) = mpsc::channel(shared.limits.outbox_frames);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let bucket = TokenBucket::new(shared.limits.rate_burst, shared.limits.rate_per_sec);
        let session = Arc::new_cyclic(|me| Self {
            id,
            peer,
            format,
            shared,
            outbox,
            closed: CancellationToken::new(),
            close_reason: OnceLock::new(),
            state: Mutex::new(State {
                subscriptions: HashMap::new(),
                bucket,
                default_token: None,
                ever_subscribed: false,
                authenticated: false,
            }),
            me: me.clone(),
        });
        session
            .shared
            .live
            .lock()
            .expect("live sessions poisoned")
            .insert(id, Arc::downgrade(&session));
        (session, rx)
    }

    /// Shared state of the process.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("session state poisoned")
    }

    /// Remembers a token to use for requests that carry none.
    pub fn set_default_token(&self, token: Option<String>) {
        self.lock().default_token = token.filter(|t| !t.is_empty());
    }

    /// Queues a control frame (reply, ping). Returns false if the session is closed or full.
    pub fn send(&self, bytes: impl Into<Bytes>) -> bool {
        self.push(OutFrame::control(bytes))
    }

    fn push(&self, frame: OutFrame) -> bool {
        match self.outbox.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.metrics.slow_consumer_disconnects.inc();
                self.shared
                    .metrics
                    .events_dropped
                    .with_label_values(&["slow_consumer"])
                    .inc();
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Resolves when the session is closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// The reason the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.get().copied()
    }

    /// Closes the session: drops every subscription and wakes its transport. Idempotent.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.set(reason).is_err() {
            return;
        }
        let held = std::mem::take(&mut self.lock().subscriptions);
        let subscriber = self.subscriber();
        let mut count = 0;
        for (scope, bindings) in held {
            count += bindings.len();
            self.shared
                .hub
                .set(&scope, self.id, &subscriber, Vec::new());
        }
        self.shared.metrics.subscriptions.sub(count as i64);
        self.shared
            .live
            .lock()
            .expect("live sessions poisoned")
            .remove(&self.id);
        self.closed.cancel();
        match reason {
            CloseReason::ClientGone | CloseReason::Shutdown => {
                tracing::debug!(session = self.id, peer = %self.peer, reason = reason.as_str(), "session closed")
            }
            _ => {
                tracing::info!(session = self.id, peer = %self.peer, reason = reason.as_str(), "session closed")
            }
        }
    }

    fn subscriber(&self) -> Arc<dyn Subscriber> {
        self.me
            .upgrade()
            .expect("a session is alive while its methods run")
    }

    /// Spends one request from the budget.
    pub fn take_request_budget(&self) -> Result<(), RequestError> {
        if self.lock().bucket.take(Instant::now()) {
            Ok(())
        } else {
            self.shared
                .metrics
                .requests_refused
                .with_label_values(&["rate_limited"])
                .inc();
            Err(RequestError::RateLimited(self.peer))
        }
    }

    /// Authorizes and adds bindings; returns every binding the session now holds for all
    /// accounts, as the client wrote them.
    pub async fn subscribe(
        &self,
        request: SubscriptionRequest,
    ) -> Result<Vec<String>, RequestError> {
        let result = self.try_subscribe(request).await;
        if let Err(e) = &result {
            match e {
                RequestError::Auth(a) => self
                    .shared
                    .metrics
                    .auth_failures
                    .with_label_values(&[a.reason()])
                    .inc(),
                other => self
                    .shared
                    .metrics
                    .requests_refused
                    .with_label_values(&[other.reason()])
                    .inc(),
            }
        }
        result
    }

    async fn try_subscribe(
        &self,
        request: SubscriptionRequest,
    ) -> Result<Vec<String>, RequestError> {
        if request.bindings.is_empty() {
            return Err(RequestError::MissingBinding);
        }
        let bindings = request
            .bindings
            .iter()
            .map(|raw| Binding::parse(raw))
            .collect::<Result<Vec<_>, _>>()?;
        let token = request
            .auth_token
            .filter(|t| !t.is_empty())
            .or_else(|| self.lock().default_token.clone())
            .ok_or(AuthError::Missing)?;
        // Not holding the state lock: this may ask Crossbar over the network.
        let grant = match request.account_id.as_deref() {
            // Kazoo 5.x: no account means the token's own.
            None | Some("") => self.shared.auth.authorize_own(&token).await?,
            Some(raw) => {
                let target = Target::parse(raw).map_err(|_| RequestError::InvalidAccount)?;
                self.shared.auth.authorize(&token, &target).await?
            }
        };
        let scope = match &grant.target {
            Target::Wildcard => Scope::All,
            Target::Account(account) => Scope::Account(account.clone()),
        };
        if self.is_closed() {
            return Ok(Vec::new());
        }
        let mut state = self.lock();
        let held_total: usize = state.subscriptions.values().map(Vec::len).sum();
        let held = state.subscriptions.entry(scope.clone()).or_default();
        let mut added = 0;
        for binding in bindings {
            if let Some(existing) = held
                .iter_mut()
                .find(|h| h.binding.client_key() == binding.client_key())
            {
                existing.expires_at = grant.expires_at;
                continue;
            }
            if held_total + added >= self.shared.limits.max_bindings_per_socket {
                drop(state);
                return Err(RequestError::TooManyBindings(
                    self.shared.limits.max_bindings_per_socket,
                ));
            }
            held.push(Held {
                binding,
                expires_at: grant.expires_at,
            });
            added += 1;
        }
        let bindings: Vec<Binding> = held.iter().map(|h| h.binding.clone()).collect();
        state.ever_subscribed = true;
        self.shared
            .hub
            .set(&scope, self.id, &self.subscriber(), bindings);
        self.shared.metrics.subscriptions.add(added as i64);
        Ok(client_keys(&state.subscriptions))
    }

    /// Removes bindings. Without an account (Kazoo 3.x) it removes them from every account;
    /// without bindings too, it removes everything. Returns (removed, still held).
    pub fn unsubscribe(&self, request: &SubscriptionRequest) -> (Vec<String>, Vec<String>) {
        let mut state = self.lock();
        let scopes: Vec<Scope> = match request.account_id.as_deref() {
            Some("*") => vec![Scope::All],
            Some(raw) => match AccountId::parse(raw) {
                Ok(account) => vec![Scope::Account(account)],
                Err(_) => Vec::new(),
            },
            None => state.subscriptions.keys().cloned().collect(),
        };
        let mut removed = Vec::new();
        for scope in scopes {
            let Some(held) = state.subscriptions.get_mut(&scope) else {
                continue;
            };
            let before = held.len();
            held.retain(|h| {
                let drop_it = request.bindings.is_empty()
                    || request.bindings.iter().any(|b| b == h.binding.client_key());
                if drop_it {
                    removed.push(h.binding.client_key().to_owned());
                }
                !drop_it
            });
            if held.len() != before {
                let bindings: Vec<Binding> = held.iter().map(|h| h.binding.clone()).collect();
                if bindings.is_empty() {
                    state.subscriptions.remove(&scope);
                }
                self.shared
                    .hub
                    .set(&scope, self.id, &self.subscriber(), bindings);
            }
        }
        self.shared.metrics.subscriptions.sub(removed.len() as i64);
        (removed, client_keys(&state.subscriptions))
    }

    /// Drops bindings whose token expired; returns them (client keys) so the client can be told.
    pub fn expire(&self, now: SystemTime) -> Vec<String> {
        let mut state = self.lock();
        let mut expired = Vec::new();
        let mut changed = Vec::new();
        for (scope, held) in state.subscriptions.iter_mut() {
            let before = held.len();
            held.retain(|h| {
                let alive = h.expires_at.is_none_or(|at| at > now);
                if !alive {
                    expired.push(h.binding.client_key().to_owned());
                }
                alive
            });
            if held.len() != before {
                changed.push((
                    scope.clone(),
                    held.iter().map(|h| h.binding.clone()).collect::<Vec<_>>(),
                ));
            }
        }
        for (scope, bindings) in changed {
            if bindings.is_empty() {
                state.subscriptions.remove(&scope);
            }
            self.shared
                .hub
                .set(&scope, self.id, &self.subscriber(), bindings);
        }
        self.shared.metrics.subscriptions.sub(expired.len() as i64);
        expired
    }

    /// The earliest token expiry among held bindings.
    pub fn next_expiry(&self) -> Option<SystemTime> {
        self.lock()
            .subscriptions
            .values()
            .flatten()
            .filter_map(|h| h.expires_at)
            .min()
    }

    /// Whether a token was accepted on this session.
    pub(crate) fn is_authenticated(&self) -> bool {
        self.lock().authenticated
    }

    /// Records that a token was accepted on this session.
    pub(crate) fn mark_authenticated(&self) {
        self.lock().authenticated = true;
    }

    /// Whether the session ever subscribed successfully (the auth timeout stops then).
    pub fn ever_subscribed(&self) -> bool {
        self.lock().ever_subscribed
    }

    /// Closes the session if it did not subscribe within the auth timeout, and drops bindings
    /// whose token expires, telling the client through `on_expired`. Runs until the session
    /// closes.
    pub async fn supervise(self: Arc<Self>, on_expired: impl Fn(&Session, &[String]) + Send) {
        let deadline = tokio::time::Instant::now() + self.shared.limits.auth_timeout;
        loop {
            let expiry = self.next_expiry().map(|at| {
                let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                tokio::time::Instant::now() + wait
            });
            let auth_pending = !self.ever_subscribed();
            tokio::select! {
                _ = self.closed() => return,
                _ = tokio::time::sleep_until(deadline), if auth_pending => {
                    if !self.ever_subscribed() {
                        self.shared.metrics.auth_failures.with_label_values(&["timeout"]).inc();
                        self.close(CloseReason::AuthTimeout);
                        return;
                    }
                }
                _ = sleep_until_opt(expiry) => {
                    let expired = self.expire(SystemTime::now());
                    if !expired.is_empty() {
                        self.shared.metrics.auth_failures.with_label_values(&["expired"]).inc_by(expired.len() as u64);
                        on_expired(&self, &expired);
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn client_keys(subscriptions: &HashMap<Scope, Vec<Held>>) -> Vec<String> {
    subscriptions
        .values()
        .flatten()
        .map(|h| h.binding.client_key().to_owned())
        .collect()
}

impl Subscriber for Session {
    fn deliver(&self, event: &Arc<HubEvent>, bindings: &[&Binding]) {
        let ingested_at_ms = event.envelope.meta.ingested_at_ms;
        let frames = match self.format {
            EventFormat::SocketIo => vec![event.encoded(WireFormat::SocketIo, socketio_event)],
            EventFormat::Legacy => {
                vec![event.encoded(WireFormat::Legacy, crate::legacy::event_frame)]
            }
            EventFormat::KazooJson => crate::kazoo::event_frames(self, event, bindings),
        };
        for bytes in frames {
            if !self.push(OutFrame {
                bytes,
                ingested_at_ms,
            }) {
                return;
            }
            self.shared.metrics.events_delivered.inc();
        }
    }
}

fn socketio_event(envelope: &Envelope) -> Bytes {
    socketio::event_frame(&envelope.meta.event_name, &envelope.payload)
}
