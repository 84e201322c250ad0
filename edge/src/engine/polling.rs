//! HTTP long-polling: the handshake, the parked GET that carries server packets, and the POST
//! that carries client packets.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};

use super::{Carrier, EngineSession, error, packets};
use crate::http::{self, HttpResponse};
use crate::protocol::engineio::{
    self, ContentType, EioVersion, OpenPacket, Packet, PayloadEncoder, SharedMessage, Transport,
};
use crate::session::{CloseReason, OutFrame, Shared};
use crate::ws::unix_ms;

/// Packets accepted in one POST.
const MAX_PACKETS_PER_POST: usize = 64;
/// A parked GET is answered with a noop after this long, so proxies never time it out.
const MAX_PARK: Duration = Duration::from_secs(30);

/// The handshake answer: the open packet, and for EIO3 the implicit root connect `40`.
pub(super) fn handshake(es: &EngineSession, shared: &Shared) -> HttpResponse {
    let open = open_packet(es, shared, vec![Transport::Websocket]);
    let mut packets = vec![Packet::Open(open)];
    if es.version == EioVersion::V3 {
        packets.push(Packet::text("0"));
    }
    let (body, content_type) = engineio::encode_payload(es.version, false, &packets);
    es.touch();
    http::response(StatusCode::OK, content_type.as_str(), body)
}

pub(super) fn open_packet(
    es: &EngineSession,
    shared: &Shared,
    upgrades: Vec<Transport>,
) -> OpenPacket {
    OpenPacket {
        sid: es.sid.clone(),
        upgrades,
        ping_interval_ms: shared.limits.ping_interval.as_millis() as u64,
        ping_timeout_ms: shared.limits.ping_timeout.as_millis() as u64,
        max_payload: shared.limits.max_body_bytes as u64,
    }
}

/// A GET: waits for server packets (or a reason to answer sooner) and returns them as one
/// payload.
pub(super) async fn get(es: &Arc<EngineSession>, shared: &Shared) -> HttpResponse {
    es.touch();
    match es.carrier() {
        Carrier::Websocket => return error(StatusCode::BAD_REQUEST, 3, "Bad request"),
        Carrier::Upgrading => return payload(es, &[Packet::Noop]),
        Carrier::Polling => {}
    }
    let Ok(mut outbox) = es.outbox.clone().try_lock_owned() else {
        // Two GETs at once: the protocol says the session is broken.
        shared
            .metrics
            .requests_refused
            .with_label_values(&["concurrent_poll"])
            .inc();
        es.session.close(CloseReason::ProtocolError);
        return error(StatusCode::BAD_REQUEST, 3, "Bad request");
    };
    if es.session.is_closed() {
        return payload(es, &[Packet::Close]);
    }
    let mut carrier = es.carrier.subscribe();
    let first = tokio::select! {
        frame = outbox.recv() => frame,
        _ = carrier.changed() => return payload(es, &[Packet::Noop]),
        _ = es.session.closed() => return payload(es, &[Packet::Close]),
        _ = tokio::time::sleep(MAX_PARK) => return payload(es, &[Packet::Noop]),
    };
    let Some(first) = first else {
        return payload(es, &[Packet::Close]);
    };
    let mut encoder = PayloadEncoder::new(es.version, es.supports_binary);
    let mut size = 0;
    let mut frame = Some(first);
    let now_ms = unix_ms();
    while let Some(f) = frame.take() {
        size += f.bytes.len();
        push_frame(&mut encoder, &f);
        observe_latency(shared, &f, now_ms);
        if size < shared.limits.max_body_bytes {
            frame = outbox.try_recv().ok();
        }
    }
    let (body, content_type) = encoder.finish();
    http::response(StatusCode::OK, content_type.as_str(), body)
}

fn push_frame(encoder: &mut PayloadEncoder, frame: &OutFrame) {
    // Frames are Engine.IO packets in text form written by this server; sharing them avoids a
    // copy per poll.
    match SharedMessage::from_encoded(frame.bytes.clone()) {
        Ok(message) => encoder.push_shared(&message),
        Err(e) => tracing::error!(error = %e, "dropped an outgoing frame that is not UTF-8 text"),
    }
}

fn observe_latency(shared: &Shared, frame: &OutFrame, now_ms: u64) {
    if frame.ingested_at_ms > 0 {
        shared
            .metrics
            .event_latency
            .observe(now_ms.saturating_sub(frame.ingested_at_ms) as f64 / 1000.0);
    }
}

fn payload(es: &EngineSession, packets: &[Packet]) -> HttpResponse {
    let (body, content_type) = engineio::encode_payload(es.version, es.supports_binary, packets);
    http::response(StatusCode::OK, content_type.as_str(), body)
}

/// A POST: client packets, handled in order before answering `ok`.
pub(super) async fn post(
    es: &Arc<EngineSession>,
    shared: &Shared,
    request: Request<Incoming>,
) -> HttpResponse {
    es.touch();
    if es.carrier() == Carrier::Websocket {
        return error(StatusCode::BAD_REQUEST, 3, "Bad request");
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(ContentType::from_header)
        .unwrap_or(ContentType::TextPlain);
    let body = match http::read_body(
        request.into_body(),
        shared.limits.max_body_bytes,
        &shared.metrics,
        es.session.id,
    )
    .await
    {
        Ok(body) => body,
        Err(http::BodyError::TooLarge) => {
            return http::text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
        }
        Err(http::BodyError::Broken) => return error(StatusCode::BAD_REQUEST, 3, "Bad request"),
    };
    let packets = match engineio::decode_payload(
        es.version,
        content_type,
        &body,
        MAX_PACKETS_PER_POST,
    ) {
        Ok(packets) => packets,
        Err(e) => {
            shared
                .metrics
                .requests_refused
                .with_label_values(&["malformed_payload"])
                .inc();
            tracing::info!(session = es.session.id, error = %e, "closing a session that sent a malformed polling payload");
            es.session.close(CloseReason::ProtocolError);
            return error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
    };
    for packet in packets {
        packets::handle(es, shared, packet).await;
    }
    http::response(StatusCode::OK, "text/html", "ok")
}
