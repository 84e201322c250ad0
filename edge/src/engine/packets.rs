//! What a Socket.IO 1.x–4.x client's packets do: Engine.IO heartbeats and close, and the
//! Socket.IO connect, `subscribe` and `unsubscribe` events.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde_json::{Value, json};

use super::EngineSession;
use crate::auth::AuthError;
use crate::protocol::engineio::{EioVersion, Packet, Payload};
use crate::protocol::socketio::{self, ROOT_NSP, SioVersion};
use crate::session::{CloseReason, RequestError, Shared, SubscriptionRequest};

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
    let argument = data.get(1).unwrap_or(&Value::Null);
    let request = subscription_request(argument);
    let token = request.auth_token.clone().unwrap_or_default();
    let result = match name {
        "subscribe" => match es.session.take_request_budget() {
            Ok(()) => es
                .session
                .subscribe(request)
                .await
                .map(|subscribed| json!({"status": "success", "subscribed": subscribed})),
            Err(e) => Err(e),
        },
        "unsubscribe" => es.session.take_request_budget().map(|()| {
            let (unsubscribed, subscribed) = es.session.unsubscribe(&request);
            json!({"status": "success", "unsubscribed": unsubscribed, "subscribed": subscribed})
        }),
        _ => {
            tracing::debug!(
                session = es.session.id,
                "ignored an event that is neither subscribe nor unsubscribe"
            );
            return;
        }
    };
    match (result, id) {
        (Ok(reply), Some(id)) => {
            es.session.send(socketio::ack(ROOT_NSP, id, &[reply]));
        }
        (Ok(_), None) => {}
        (Err(e), Some(id)) => {
            let reply = json!({"status": "error", "errors": [e.client_message(&token)]});
            es.session.send(socketio::ack(ROOT_NSP, id, &[reply]));
        }
        (Err(e), None) => {
            es.session.send(failure_event(&e, &token));
        }
    }
}

/// Kazoo's failure events: `auth_failure` for a refused token, `error` for anything else.
fn failure_event(error: &RequestError, token: &str) -> Bytes {
    match error {
        // Authorization refusals (a valid token, the wrong account) are plain errors; only a
        // token that is not accepted is an `auth_failure`, as Kazoo's clients expect.
        RequestError::Auth(
            auth @ (AuthError::Missing
            | AuthError::Invalid
            | AuthError::Expired
            | AuthError::Format),
        ) => {
            // Kazoo put the token in `cause`; the reason goes there instead, so a client
            // still learns why without the secret travelling back.
            let body = json!({"message": "invalid auth token", "cause": auth.client_message(token, false)});
            event("auth_failure", &body)
        }
        other => event("error", &json!({"message": other.client_message(token)})),
    }
}

/// Tells the client that bindings stopped because their token expired.
pub(super) fn auth_expired(bindings: &[String]) -> Bytes {
    event(
        "auth_failure",
        &json!({"message": "auth token expired", "cause": "token expired", "bindings": bindings}),
    )
}

fn event(name: &str, body: &Value) -> Bytes {
    let payload = serde_json::to_vec(body).expect("a JSON value serializes");
    socketio::event_frame(name, &payload)
}

/// Reads `{account_id, auth_token, binding | bindings}` from an event argument.
pub(crate) fn subscription_request(argument: &Value) -> SubscriptionRequest {
    let text = |key: &str| argument.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut bindings: Vec<String> = text("binding").into_iter().collect();
    if let Some(list) = argument.get("bindings").and_then(Value::as_array) {
        for binding in list.iter().filter_map(Value::as_str) {
            if !bindings.iter().any(|b| b == binding) {
                bindings.push(binding.to_owned());
            }
        }
    }
    SubscriptionRequest {
        account_id: text("account_id"),
        auth_token: text("auth_token"),
        bindings,
    }
}
