//! Engine.IO sessions for Socket.IO 1.x–4.x clients: the handshake, the session table, the
//! heartbeat, and the hand-over from polling to websocket.
//!
//! Invariants:
//! - exactly one transport drains a session's outbox at a time: the outbox receiver sits behind
//!   an async mutex that a polling GET or the websocket writer holds while it sends;
//! - during an upgrade every GET is answered at once with a noop, so the client can finish the
//!   switch; after it, polling requests for the sid get 400;
//! - heartbeats follow the protocol version: the server pings EIO4 clients, EIO3 clients ping
//!   the server; silence past interval + timeout closes the session;
//! - a session leaves the table, and the hub, as soon as it closes.

mod packets;
mod polling;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{self, HttpResponse};
use crate::protocol::engineio::{EioVersion, Transport};
use crate::session::{EventFormat, OutFrame, Session, Shared};
use crate::sid_table::SidTable;

/// Which transport currently carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    Polling,
    /// A websocket probe succeeded; polling answers noops until the client sends `5`.
    Upgrading,
    Websocket,
}

/// One Engine.IO session.
pub(crate) struct EngineSession {
    pub(crate) sid: String,
    pub(crate) version: EioVersion,
    /// False for EIO3 `b64=1` clients, which cannot take binary polling payloads.
    pub(crate) supports_binary: bool,
    pub(crate) session: Arc<Session>,
    /// Drained by whichever transport carries the session (see the module invariants).
    pub(crate) outbox: Arc<tokio::sync::Mutex<mpsc::Receiver<OutFrame>>>,
    pub(crate) carrier: watch::Sender<Carrier>,
    /// Milliseconds since `started` when the client was last heard from.
    last_heard_ms: AtomicU64,
    started: Instant,
    /// EIO4: whether the pong to the last ping arrived.
    pub(crate) pong_received: AtomicBool,
    /// Whether the Socket.IO root namespace is connected.
    pub(crate) namespace_connected: AtomicBool,
}

impl EngineSession {
    pub(crate) fn touch(&self) {
        self.last_heard_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for(&self) -> std::time::Duration {
        let heard = std::time::Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(heard)
    }

    pub(crate) fn carrier(&self) -> Carrier {
        *self.carrier.borrow()
    }
}

/// Serves the Socket.IO 1.x–4.x endpoints.
pub(crate) struct Engine {
    shared: Arc<Shared>,
    sessions: SidTable<EngineSession>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Engine {
    /// An engine whose background tasks are tracked by `tasks` and stop on `shutdown`.
    pub(crate) fn new(
        shared: Arc<Shared>,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            shared,
            sessions: SidTable::new(),
            tasks,
            shutdown,
        })
    }

    fn lookup(&self, sid: &str) -> Option<Arc<EngineSession>> {
        self.sessions.get(sid)
    }

    /// Handles a request under the Socket.IO path that is not socket.io 0.9.
    pub(crate) async fn handle(
        self: &Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> HttpResponse {
        let query = request.uri().query();
        let Some(version) =
            http::query_param(query, "EIO").and_then(|v| EioVersion::from_query(v).ok())
        else {
            return error(StatusCode::BAD_REQUEST, 5, "Unsupported protocol version");
        };
        let Some(transport) =
            http::query_param(query, "transport").and_then(|t| Transport::from_query(t).ok())
        else {
            return error(StatusCode::BAD_REQUEST, 0, "Transport unknown");
        };
        let supports_binary = http::query_param(query, "b64").is_none();
        let sid = http::query_param(query, "sid").map(str::to_owned);
        let is_upgrade = fastwebsockets::upgrade::is_upgrade_request(&request);
        match (transport, sid, is_upgrade) {
            (Transport::Websocket, None, true) => {
                let session = self.open(peer, version, supports_binary, Carrier::Websocket);
                websocket::upgrade(self.clone(), request, session, false)
            }
            (Transport::Websocket, Some(sid), true) => match self.lookup(&sid) {
                Some(session) if session.carrier() == Carrier::Polling => {
                    websocket::upgrade(self.clone(), request, session, true)
                }
                Some(_) => error(StatusCode::BAD_REQUEST, 3, "Bad request"),
                None => error(StatusCode::BAD_REQUEST, 1, "Session ID unknown"),
            },
            (Transport::Websocket, _, false) => error(StatusCode::BAD_REQUEST, 3, "Bad request"),
            (Transport::Polling, None, _) => {
                if request.method() != Method::GET {
                    return error(StatusCode::BAD_REQUEST, 2, "Bad handshake method");
                }
                let session = self.open(peer, version, supports_binary, Carrier::Polling);
                polling::handshake(&session, &self.shared)
            }
            (Transport::Polling, Some(sid), _) => {
                let Some(session) = self.lookup(&sid) else {
                    return error(StatusCode::BAD_REQUEST, 1, "Session ID unknown");
                };
                match *request.method() {
                    Method::GET => polling::get(&session, &self.shared).await,
                    Method::POST => polling::post(&session, &self.shared, request).await,
                    _ => error(StatusCode::BAD_REQUEST, 3, "Bad request"),
                }
            }
        }
    }

    /// Creates a session, registers it and starts its heartbeat and supervision.
    fn open(
        self: &Arc<Self>,
        peer: SocketAddr,
        version: EioVersion,
        supports_binary: bool,
        carrier: Carrier,
    ) -> Arc<EngineSession> {
        let (session, outbox) = Session::new(self.shared.clone(), peer, EventFormat::SocketIo);
        let sid = new_sid();
        let engine_session = Arc::new(EngineSession {
            sid: sid.clone(),
            version,
            supports_binary,
            session: session.clone(),
            outbox: Arc::new(tokio::sync::Mutex::new(outbox)),
            carrier: watch::Sender::new(carrier),
            last_heard_ms: AtomicU64::new(0),
            started: Instant::now(),
            pong_received: AtomicBool::new(true),
            namespace_connected: AtomicBool::new(version == EioVersion::V3),
        });
        self.sessions.insert(sid, engine_session.clone());
        let transport_label = match carrier {
            Carrier::Websocket => "websocket",
            _ => "polling",
        };
        let connections = self.shared.metrics.connections.clone();
        connections
            .with_label_values(&["socketio", transport_label])
            .inc();
        let engine = self.clone();
        let watched = engine_session.clone();
        self.tasks.spawn(async move {
            let mut carrier_rx = watched.carrier.subscribe();
            let mut label = transport_label;
            tokio::select! {
                _ = heartbeat(&watched, &engine.shared) => {}
                _ = engine.shutdown.cancelled() => {}
                _ = async {
                    // Follow upgrades so the connection gauge stays right.
                    while carrier_rx.changed().await.is_ok() {
                        if *carrier_rx.borrow() == Carrier::Websocket && label != "websocket" {
                            connections.with_label_values(&["socketio", label]).dec();
                            label = "websocket";
                            connections.with_label_values(&["socketio", label]).inc();
                        }
                    }
                    std::future::pending::<()>().await;
                } => {}
            }
            watched.session.closed().await;
            connections.with_label_values(&["socketio", label]).dec();
            engine.sessions.remove(&watched.sid);
        });
        let supervised = session.clone();
        self.tasks.spawn(supervised.supervise(|session, expired| {
            session.send(packets::auth_expired(expired));
        }));
        engine_session
    }
}

/// Pings EIO4 clients, watches EIO3 clients' pings, and closes a silent session.
async fn heartbeat(es: &EngineSession, shared: &Shared) {
    use crate::session::CloseReason;
    let interval = shared.limits.ping_interval;
    let timeout = shared.limits.ping_timeout;
    es.touch();
    loop {
        match es.version {
            EioVersion::V4 => {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = es.session.closed() => return,
                }
                if es.carrier() == Carrier::Upgrading {
                    // A ping queued on a pausing transport would stall the upgrade.
                    continue;
                }
                es.pong_received.store(false, Ordering::Relaxed);
                es.session.send("2");
                tokio::select! {
                    _ = tokio::time::sleep(timeout) => {}
                    _ = es.session.closed() => return,
                }
                if !es.pong_received.load(Ordering::Relaxed) {
                    es.session.close(CloseReason::PingTimeout);
                    return;
                }
            }
            EioVersion::V3 => {
                tokio::select! {
                    _ = tokio::time::sleep(timeout.min(interval) / 2) => {}
                    _ = es.session.closed() => return,
                }
                if es.silent_for() > interval + timeout {
                    es.session.close(CloseReason::PingTimeout);
                    return;
                }
            }
        }
    }
}

/// A random session id: 20 URL-safe characters from the OS's random source, so that a polling
/// sid (which is all a polling request presents) cannot be guessed.
pub(crate) fn new_sid() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Engine.IO's error answer: a 400 with a JSON body; clients only read the status.
pub(crate) fn error(status: StatusCode, code: u8, message: &str) -> HttpResponse {
    http::response(
        status,
        "application/json",
        format!("{{\"code\":{code},\"message\":\"{message}\"}}"),
    )
}
