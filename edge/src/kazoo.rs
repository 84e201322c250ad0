//! The Kazoo 4.x JSON websocket protocol (Monster UI and Kazoo 4.x/5.x integrations): a plain
//! websocket on any path outside the Socket.IO one, JSON requests in, `reply` and `event`
//! envelopes out, exactly as Kazoo's Blackhole answered them.
//!
//! Per frame, in Kazoo's order: the request budget, authentication (sticky: once a token was
//! accepted, later requests need none), then the action. Replies travel through the session's
//! outbox, so a reply never overtakes an event queued before it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::OpCode;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::SEC_WEBSOCKET_PROTOCOL;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::http::{self, HttpResponse};
use crate::protocol::kazoo_json::{self as wire, Action, Dialect};
use crate::session::{
    CloseReason, EventFormat, RequestError, Session, Shared, SubscriptionRequest,
};
use crate::ws::{self, Command};

/// Kazoo clients have no heartbeat of their own; websocket pings find dead peers.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Answers a websocket upgrade for the Kazoo JSON protocol.
pub(crate) fn upgrade(
    shared: Arc<Shared>,
    tasks: TaskTracker,
    mut request: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> HttpResponse {
    // Kazoo refused sub-protocols with 400; clients rely on plain websockets.
    if request.headers().contains_key(SEC_WEBSOCKET_PROTOCOL) {
        shared
            .metrics
            .requests_refused
            .with_label_values(&["subprotocol"])
            .inc();
        return http::text(
            StatusCode::BAD_REQUEST,
            "websocket sub-protocols are not supported\n",
        );
    }
    let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut request) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "refused a malformed websocket upgrade");
            return http::text(StatusCode::BAD_REQUEST, "not a websocket upgrade\n");
        }
    };
    let guard = crate::server::take_guard(&mut request);
    let spawner = tasks.clone();
    spawner.spawn(async move {
        let _guard = guard;
        match upgrade.await {
            Ok(socket) => run(shared, tasks, socket, peer).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

async fn run(
    shared: Arc<Shared>,
    tasks: TaskTracker,
    socket: fastwebsockets::WebSocket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    peer: std::net::SocketAddr,
) {
    let (session, outbox) = Session::new(shared.clone(), peer, EventFormat::KazooJson);
    let connections = shared
        .metrics
        .connections
        .with_label_values(&["kazoo-json", "websocket"]);
    connections.inc();
    let (mut read, write) = ws::split(socket, shared.limits.max_frame_bytes);
    let (commands, command_rx) = mpsc::channel::<Command>(16);
    let writer = tasks.spawn(ws::write_loop(
        write,
        command_rx,
        session.clone(),
        shared.metrics.clone(),
        Some(PING_EVERY),
    ));
    let _ = commands
        .send(Command::Attach(Arc::new(tokio::sync::Mutex::new(outbox))))
        .await;
    tasks.spawn(session.clone().supervise(|session, expired| {
        session.send(expired_event(expired));
    }));
    let mut obligated = ws::obligated(&commands);
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut obligated) => frame,
            _ = session.closed() => break,
        };
        match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => match std::str::from_utf8(&frame.payload) {
                    Ok(text) => {
                        let reply = on_request(&session, text).await;
                        session.send(reply);
                    }
                    Err(_) => {
                        shared
                            .metrics
                            .requests_refused
                            .with_label_values(&["protocol_error"])
                            .inc();
                        session.close(CloseReason::ProtocolError);
                        break;
                    }
                },
                OpCode::Close => break,
                // Kazoo processed text frames only.
                _ => continue,
            },
            Err(e) => {
                ws::read_ended(&session, &shared.metrics, shared.limits.max_frame_bytes, &e);
                break;
            }
        }
    }
    session.close(CloseReason::ClientGone);
    drop(obligated);
    drop(commands);
    let _ = writer.await;
    connections.dec();
}

/// Handles one request frame and returns the reply to send.
async fn on_request(session: &Session, text: &str) -> String {
    let request = match wire::decode_request(text) {
        Ok(request) => request,
        Err(e) => {
            session
                .shared()
                .metrics
                .requests_refused
                .with_label_values(&[e.kind.reason()])
                .inc();
            let id = e.request_id.clone().unwrap_or_else(wire::random_request_id);
            return wire::reply_error(&id, &[e.kind.to_string()]);
        }
    };
    let id = request.request_id.as_str();
    let token = request.auth_token.clone().unwrap_or_default();
    if let Err(e) = session.take_request_budget() {
        return wire::reply_error(id, &[e.client_message(&token)]);
    }
    if let Err(e) = session.authenticate(request.auth_token.clone()).await {
        return wire::reply_error(id, &[e.client_message(&token)]);
    }
    match request.action {
        Action::Subscribe => {
            if let Err(e) = request.data.check_required_keys(Dialect::Kazoo5) {
                return wire::reply_error(id, &[e.to_string()]);
            }
            let subscription = SubscriptionRequest {
                account_id: request.data.account_id.clone(),
                auth_token: request.auth_token.clone(),
                bindings: request
                    .data
                    .requested_bindings()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            };
            match session.subscribe(subscription).await {
                Ok(subscribed) => wire::reply_subscribed(id, &subscribed),
                Err(e) => wire::reply_error(id, &[e.client_message(&token)]),
            }
        }
        Action::Unsubscribe => {
            let subscription = SubscriptionRequest {
                account_id: request.data.account_id.clone(),
                auth_token: None,
                bindings: request
                    .data
                    .requested_bindings()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            };
            let (unsubscribed, subscribed) = session.unsubscribe(&subscription);
            wire::reply_unsubscribed(id, &unsubscribed, &subscribed)
        }
        Action::Ping => wire::reply_pong(id),
        Action::Noop | Action::Other(_) => wire::reply_empty(id),
    }
}

/// Tells a Kazoo JSON client that bindings stopped because their token expired.
fn expired_event(bindings: &[String]) -> String {
    json!({
        "action": "event",
        "name": "auth_expired",
        "data": {"message": "auth token expired", "bindings": bindings},
    })
    .to_string()
}

/// The frames of one event for a Kazoo JSON socket: one per matching binding, as Kazoo sent
/// one per subscription, each naming the binding in `subscribed_key`.
pub(crate) fn event_frames(
    session: &Session,
    event: &crate::hub::HubEvent,
    bindings: &[&crate::binding::Binding],
) -> Vec<Bytes> {
    use crate::hub::WireFormat;
    let data = event.encoded(WireFormat::KazooData, |envelope| {
        wire::normalize_data(&envelope.payload).unwrap_or_default()
    });
    if data.is_empty() {
        session
            .shared()
            .metrics
            .events_dropped
            .with_label_values(&["undecodable"])
            .inc();
        return Vec::new();
    }
    let meta = &event.envelope.meta;
    let keys = wire::EventKeys::from(meta);
    bindings
        .iter()
        .map(|binding| {
            event.encoded_for_binding(binding.client_key(), || {
                wire::event_frame_for(meta.account_id.as_str(), binding.client_key(), &keys, &data)
            })
        })
        .collect()
}

impl Session {
    /// Kazoo's sticky authentication: once a token was accepted on this socket, later requests
    /// need none. A request's own token is remembered for later ones.
    pub(crate) async fn authenticate(&self, token: Option<String>) -> Result<(), RequestError> {
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            if !self.is_authenticated() {
                self.shared().auth.authorize_own(&token).await?;
                self.mark_authenticated();
            }
            self.set_default_token(Some(token));
            return Ok(());
        }
        if self.is_authenticated() {
            Ok(())
        } else {
            Err(RequestError::Auth(crate::auth::AuthError::Missing))
        }
    }
}
