//! socket.io 0.9 (protocol 1) sessions, as Kazoo 3.x served them: the handshake, the session
//! table, server heartbeats, and the websocket, xhr-polling and jsonp-polling transports.
//!
//! Invariants:
//! - one transport drains a session's outbox at a time (a polling GET, or the websocket writer);
//! - the server sends a heartbeat every ping interval, and closes a session that has been silent
//!   (no request, no frame) for the close timeout it announced in the handshake;
//! - events go out as Kazoo 3.x sent them: `5:::{"name":…,"args":{…}}`, one packet per frame.

mod polling;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{self, HttpResponse};
use crate::protocol::sio09::{self, Packet};
use crate::requests;
use crate::session::{CloseReason, EventFormat, OutFrame, Session, Shared};
use crate::sid_table::SidTable;

/// Transports announced in the handshake, in the client's order of preference.
const TRANSPORTS: [&str; 3] = ["websocket", "xhr-polling", "jsonp-polling"];

/// One socket.io 0.9 session.
pub(crate) struct LegacySession {
    sid: String,
    pub(crate) session: Arc<Session>,
    /// Drained by whichever transport currently carries the session.
    outbox: Arc<tokio::sync::Mutex<mpsc::Receiver<OutFrame>>>,
    /// The `1::` connect packet is owed to the first transport that opens.
    connect_sent: AtomicBool,
    last_heard_ms: AtomicU64,
    started: Instant,
}

impl LegacySession {
    fn touch(&self) {
        self.last_heard_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let heard = Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(heard)
    }

    /// Whether this transport must send `1::` first (only the first one does).
    fn take_connect(&self) -> bool {
        !self.connect_sent.swap(true, Ordering::Relaxed)
    }
}

/// Serves `<socketio-path>/1/…`.
pub(crate) struct Legacy {
    shared: Arc<Shared>,
    sessions: SidTable<LegacySession>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Legacy {
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

    fn lookup(&self, sid: &str) -> Option<Arc<LegacySession>> {
        self.sessions.get(sid)
    }

    /// The heartbeat timeout and close timeout announced in the handshake.
    fn timeouts(&self) -> (Duration, Duration) {
        let limit = self.shared.limits.ping_interval + self.shared.limits.ping_timeout;
        (limit, limit)
    }

    /// Handles a request whose path under the Socket.IO path is `rest` (`/1…`).
    pub(crate) async fn handle(
        self: &Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
        rest: &str,
    ) -> HttpResponse {
        let query = request.uri().query().map(str::to_owned);
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["1"] | ["1", ""] => self.handshake(peer, query.as_deref()),
            ["1", transport, sid] | ["1", transport, sid, ""] => {
                let Some(session) = self.lookup(sid) else {
                    return http::text(StatusCode::OK, sio09::UNKNOWN_SID);
                };
                if http::query_param(query.as_deref(), "disconnect").is_some() {
                    session.session.close(CloseReason::ClientGone);
                    return http::text(StatusCode::OK, sio09::POST_OK);
                }
                match (*transport, request.method()) {
                    ("websocket", _) => websocket::upgrade(self.clone(), request, session),
                    ("xhr-polling", &Method::GET) => {
                        polling::get(&session, &self.shared, None).await
                    }
                    ("jsonp-polling", &Method::GET) => {
                        let index = http::query_param(query.as_deref(), "i")
                            .unwrap_or("0")
                            .to_owned();
                        polling::get(&session, &self.shared, Some(&index)).await
                    }
                    ("xhr-polling", &Method::POST) => {
                        polling::post(&session, &self.shared, request, false).await
                    }
                    ("jsonp-polling", &Method::POST) => {
                        polling::post(&session, &self.shared, request, true).await
                    }
                    _ => http::text(StatusCode::BAD_REQUEST, "unsupported transport\n"),
                }
            }
            _ => http::text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn handshake(self: &Arc<Self>, peer: SocketAddr, query: Option<&str>) -> HttpResponse {
        let session = self.open(peer);
        let (heartbeat, close) = self.timeouts();
        let body = sio09::handshake_body(
            &session.sid,
            heartbeat.as_secs(),
            close.as_secs(),
            &TRANSPORTS,
        );
        match http::query_param(query, "jsonp").filter(|i| sio09::is_jsonp_index(i)) {
            Some(index) => http::response(
                StatusCode::OK,
                "application/javascript; charset=UTF-8",
                sio09::jsonp(index, &body),
            ),
            None => http::text(StatusCode::OK, body),
        }
    }

    fn open(self: &Arc<Self>, peer: SocketAddr) -> Arc<LegacySession> {
        let (session, outbox) = Session::new(self.shared.clone(), peer, EventFormat::Legacy);
        let legacy = Arc::new(LegacySession {
            sid: crate::engine::new_sid(),
            session: session.clone(),
            outbox: Arc::new(tokio::sync::Mutex::new(outbox)),
            connect_sent: AtomicBool::new(false),
            last_heard_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        self.sessions.insert(legacy.sid.clone(), legacy.clone());
        let connections = self
            .shared
            .metrics
            .connections
            .with_label_values(&["socketio-0.9", "any"]);
        connections.inc();
        let this = self.clone();
        let watched = legacy.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = heartbeat(&watched, this.timeouts().1, this.shared.limits.ping_interval) => {}
                _ = this.shutdown.cancelled() => {}
            }
            watched.session.closed().await;
            connections.dec();
            this.sessions.remove(&watched.sid);
        });
        self.tasks.spawn(session.supervise(|session, expired| {
            let (name, body) = requests::expired_event(expired);
            session.send(sio09::event(name, &body));
        }));
        legacy
    }
}

/// Sends `2::` every `interval` and closes the session after `close_timeout` of silence.
async fn heartbeat(legacy: &LegacySession, close_timeout: Duration, interval: Duration) {
    legacy.touch();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval.min(close_timeout / 2)) => {}
            _ = legacy.session.closed() => return,
        }
        if legacy.silent_for() > close_timeout {
            legacy.session.close(CloseReason::PingTimeout);
            return;
        }
        legacy.session.send(sio09::HEARTBEAT);
    }
}

/// Handles every packet of a client body (one packet, or several framed with U+FFFD).
async fn handle_body(legacy: &LegacySession, shared: &Shared, body: &str) {
    legacy.touch();
    let packets = match sio09::decode_frames(body) {
        Ok(packets) => packets,
        Err(e) => return protocol_error(legacy, shared, &e),
    };
    for text in packets {
        match sio09::decode(text) {
            Ok(packet) => handle_packet(legacy, packet).await,
            Err(e) => return protocol_error(legacy, shared, &e),
        }
    }
}

fn protocol_error(legacy: &LegacySession, shared: &Shared, error: &sio09::Sio09Error) {
    shared
        .metrics
        .requests_refused
        .with_label_values(&["protocol_error"])
        .inc();
    tracing::info!(session = legacy.session.id, error = %error, "closing a socket.io 0.9 session that sent a malformed packet");
    legacy.session.close(CloseReason::ProtocolError);
}

async fn handle_packet(legacy: &LegacySession, packet: Packet) {
    let session = &legacy.session;
    match &packet {
        Packet::Disconnect { endpoint } if endpoint.is_empty() => {
            session.close(CloseReason::ClientGone)
        }
        Packet::Connect { endpoint, .. } if !endpoint.is_empty() => {
            // Namespaces only multiplex: every endpoint gets the same subscriptions.
            session.send(sio09::connect(endpoint));
        }
        Packet::Event {
            id,
            endpoint,
            name,
            args,
        } => {
            let outcome =
                requests::handle(session, name, args.first().unwrap_or(&Value::Null)).await;
            match (id, outcome.ack()) {
                (Some(id), Some(reply)) if id.with_data => {
                    session.send(sio09::ack(endpoint, id.id, &[reply]));
                }
                _ => {
                    if let Some(ack) = sio09::auto_ack(&packet) {
                        session.send(ack);
                    }
                    if let Some((name, body)) = outcome.failure_event() {
                        session.send(sio09::event(name, &body));
                    }
                }
            }
        }
        _ => {
            if let Some(ack) = sio09::auto_ack(&packet) {
                session.send(ack);
            }
        }
    }
}

/// The wire form of an event for socket.io 0.9 clients, named as Kazoo 3.x named it.
pub(crate) fn event_frame(envelope: &blackhole_bus::Envelope) -> Bytes {
    let meta = &envelope.meta;
    let name = crate::binding::legacy_event_name(meta.kind, &meta.event_name, &meta.routing_key);
    sio09::event_frame(&name, &envelope.payload)
}
