//! What a Socket.IO 1.x–4.x client's packets do: Engine.IO heartbeats and close, and the
//! Socket.IO connect, `subscribe` and `unsubscribe` events.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde_json::Value;

use super::EngineSession;
use crate::protocol::engineio::{EioVersion, Packet, Payload};
use crate::protocol::socketio::{self, ROOT_NSP, SioVersion};
use crate::requests;
use crate::session::{CloseReason, Shared};

/// Handles one client packet that arrived over polling or websocket.
pub(super) async fn handle(es: &EngineSession, shared: &Shared, packet: Packet) {
    es.touch();
    match (packet, es.version) {
        (Packet::Ping(data), EioVersion::V3) => {
            es.session.send(match data {
                Some(data) => format!("3{data}"),
                None => "3".to_owned(),
            });
        }
        (Packet::Pong(_), EioVersion::V4) => es.pong_received.store(true, Ordering::Relaxed),
        (Packet::Ping(_), EioVersion::V4) | (Packet::Pong(_), EioVersion::V3) => {
            protocol_error(es, shared, "invalid heartbeat direction");
        }
        (Packet::Message(Payload::Text(text)), _) => on_socketio(es, shared, &text).await,
        (Packet::Message(Payload::Binary(_)), _) => {
            // Subscriptions are JSON: binary attachments have no meaning here.
            shared
                .metrics
                .requests_refused
                .with_label_values(&["binary_message"])
                .inc();
            tracing::debug!(session = es.session.id, "ignored a binary message");
        }
        (Packet::Close, _) => es.session.close(CloseReason::ClientGone),
        (Packet::Noop | Packet::Upgrade, _) => {}
        (Packet::Open(_), _) => protocol_error(es, shared, "open packet from a client"),
    }
}

fn protocol_error(es: &EngineSession, shared: &Shared, what: &'static str) {
    shared
        .metrics
        .requests_refused
        .with_label_values(&["protocol_error"])
        .inc();
    tracing::info!(session = es.session.id, peer = %es.session.peer, error = what, "closing a session that broke the protocol");
    es.session.close(CloseReason::ProtocolError);
}

async fn on_socketio(es: &EngineSession, shared: &Shared, text: &str) {
    let packet = match socketio::decode(text) {
        Ok(packet) => packet,
        Err(e) => {
            shared
                .metrics
                .requests_refused
                .with_label_values(&["protocol_error"])
                .inc();
            tracing::info!(session = es.session.id, error = %e, "closing a session that sent a malformed Socket.IO packet");
            es.session.close(CloseReason::ProtocolError);
            return;
        }
    };
    let version = SioVersion::from(es.version);
    match packet {
        socketio::Packet::Connect { nsp, data, .. } if nsp == ROOT_NSP => {
            let token = data.as_ref().and_then(token_of);
            es.session.set_default_token(token);
            es.namespace_connected.store(true, Ordering::Relaxed);
            es.session.send(match version {
                SioVersion::V4 => socketio::connect_reply_v4(ROOT_NSP),
                SioVersion::V5 => socketio::connect_reply_v5(ROOT_NSP, &es.sid, None),
            });
        }
        socketio::Packet::Connect { nsp, .. } => {
            shared
                .metrics
                .requests_refused
                .with_label_values(&["unknown_namespace"])
                .inc();
            es.session.send(socketio::invalid_namespace(version, &nsp));
        }
        socketio::Packet::Disconnect { nsp } if nsp == ROOT_NSP => {
            es.session.close(CloseReason::ClientGone)
        }
        socketio::Packet::Event { nsp, id, data } if nsp == ROOT_NSP => {
            if !es.namespace_connected.load(Ordering::Relaxed) {
                protocol_error(es, shared, "event before connect");
                return;
            }
            on_event(es, id, &data).await;
        }
        other => {
            tracing::debug!(session = es.session.id, packet = ?other.packet_type(), nsp = other.nsp(), "ignored a Socket.IO packet");
        }
    }
}

/// The token of a v5 CONNECT `auth` object: `token` or Kazoo's `auth_token`.
fn token_of(auth: &Value) -> Option<String> {
    ["token", "auth_token"]
        .iter()
        .find_map(|key| auth.get(key)?.as_str())
        .map(str::to_owned)
}

async fn on_event(es: &EngineSession, id: Option<u64>, data: &[Value]) {
    let name = data.first().and_then(Value::as_str).unwrap_or_default();
    let outcome = requests::handle(&es.session, name, data.get(1).unwrap_or(&Value::Null)).await;
    match (id, outcome.ack()) {
        (Some(id), Some(reply)) => {
            es.session.send(socketio::ack(ROOT_NSP, id, &[reply]));
        }
        _ => {
            if let Some((name, body)) = outcome.failure_event() {
                es.session.send(event(name, &body));
            }
        }
    }
}

/// Tells the client that bindings stopped because their token expired.
pub(super) fn auth_expired(bindings: &[String]) -> Bytes {
    let (name, body) = requests::expired_event(bindings);
    event(name, &body)
}

fn event(name: &str, body: &Value) -> Bytes {
    let payload = serde_json::to_vec(body).expect("a JSON value serializes");
    socketio::event_frame(name, &payload)
}
