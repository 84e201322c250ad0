//! socket.io 0.9's xhr-polling and jsonp-polling: a GET that waits for server packets, a POST
//! that carries client packets. JSONP wraps the same bodies in `io.j[i]("…");`.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{LegacySession, handle_body};
use crate::http::{self, HttpResponse};
use crate::protocol::sio09;
use crate::session::{CloseReason, Shared};
use crate::ws::unix_ms;

/// A parked GET answers with a noop after this long (socket.io 0.9's polling duration).
const POLLING_DURATION: Duration = Duration::from_secs(20);

/// A GET: the connect packet first, then whatever is queued, waiting up to the polling duration.
pub(super) async fn get(
    legacy: &Arc<LegacySession>,
    shared: &Shared,
    jsonp: Option<&str>,
) -> HttpResponse {
    legacy.touch();
    let Ok(mut outbox) = legacy.outbox.clone().try_lock_owned() else {
        // A second GET while one is parked: the reference server answers 404 for it.
        shared
            .metrics
            .requests_refused
            .with_label_values(&["concurrent_poll"])
            .inc();
        return http::text(StatusCode::NOT_FOUND, "one poll at a time\n");
    };
    if legacy.take_connect() {
        return body(jsonp, sio09::CONNECT);
    }
    if legacy.session.is_closed() {
        return body(jsonp, sio09::DISCONNECT);
    }
    let first = tokio::select! {
        frame = outbox.recv() => frame,
        _ = legacy.session.closed() => return body(jsonp, sio09::DISCONNECT),
        _ = tokio::time::sleep(POLLING_DURATION) => return body(jsonp, sio09::NOOP),
    };
    let Some(first) = first else {
        return body(jsonp, sio09::DISCONNECT);
    };
    let now_ms = unix_ms();
    let mut packets = Vec::new();
    let mut size = 0;
    let mut next = Some(first);
    while let Some(frame) = next.take() {
        if frame.ingested_at_ms > 0 {
            shared
                .metrics
                .event_latency
                .observe(now_ms.saturating_sub(frame.ingested_at_ms) as f64 / 1000.0);
        }
        size += frame.bytes.len();
        // Frames are written by this server as UTF-8 text.
        packets.push(String::from_utf8_lossy(&frame.bytes).into_owned());
        if size < shared.limits.max_body_bytes && packets.len() < sio09::MAX_FRAMES {
            next = outbox.try_recv().ok();
        }
    }
    legacy.touch();
    body(jsonp, &sio09::encode_frames(&packets))
}

fn body(jsonp: Option<&str>, text: &str) -> HttpResponse {
    match jsonp {
        Some(index) => http::response(
            StatusCode::OK,
            "text/javascript; charset=UTF-8",
            sio09::jsonp(index, text),
        ),
        None => http::text(StatusCode::OK, text.to_owned()),
    }
}

/// A POST: client packets, handled in order, answered with `1`.
pub(super) async fn post(
    legacy: &Arc<LegacySession>,
    shared: &Shared,
    request: Request<Incoming>,
    jsonp: bool,
) -> HttpResponse {
    legacy.touch();
    let bytes = match http::read_body(
        request.into_body(),
        shared.limits.max_body_bytes,
        &shared.metrics,
        legacy.session.id,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(http::BodyError::TooLarge) => {
            return http::text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n");
        }
        Err(http::BodyError::Broken) => {
            return http::text(StatusCode::BAD_REQUEST, "unreadable body\n");
        }
    };
    let text = if jsonp {
        sio09::decode_jsonp_post(&bytes).map_err(|e| e.to_string())
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    };
    match text {
        Ok(text) => handle_body(legacy, shared, &text).await,
        Err(e) => {
            shared
                .metrics
                .requests_refused
                .with_label_values(&["protocol_error"])
                .inc();
            tracing::info!(session = legacy.session.id, error = %e, "closing a socket.io 0.9 session that posted an unreadable body");
            legacy.session.close(CloseReason::ProtocolError);
        }
    }
    http::text(StatusCode::OK, sio09::POST_OK)
}
