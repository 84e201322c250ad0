//! The websocket transport of an Engine.IO session: a fresh websocket session, or the upgrade
//! of a polling one (`2probe` → `3probe`, then `5`). Writing is [`crate::ws::write_loop`]'s job.

use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::OpCode;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::polling::open_packet;
use super::{Carrier, Engine, EngineSession, error, packets};
use crate::http::HttpResponse;
use crate::protocol::engineio::{self, EioVersion, Packet};
use crate::session::CloseReason;
use crate::ws::{self, Command};

/// Answers the upgrade request and runs the websocket in a tracked task.
pub(super) fn upgrade(
    engine: Arc<Engine>,
    mut request: Request<Incoming>,
    es: Arc<EngineSession>,
    probe: bool,
) -> HttpResponse {
    let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut request) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "refused a malformed websocket upgrade");
            if !probe {
                es.session.close(CloseReason::ProtocolError);
            }
            return error(StatusCode::BAD_REQUEST, 3, "Bad request");
        }
    };
    let guard = crate::server::take_guard(&mut request);
    let tasks = engine.tasks.clone();
    tasks.spawn(async move {
        let _guard = guard;
        match upgrade.await {
            Ok(socket) => {
                let (read, write) = ws::split(socket, engine.shared.limits.max_frame_bytes);
                run(&engine, read, write, es, probe).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                if !probe {
                    es.session.close(CloseReason::ClientGone);
                }
            }
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

async fn run(
    engine: &Arc<Engine>,
    mut read: ws::Reader,
    write: ws::Writer,
    es: Arc<EngineSession>,
    probe: bool,
) {
    let shared = engine.shared.clone();
    let (commands, command_rx) = mpsc::channel::<Command>(16);
    // Engine.IO has heartbeats of its own: no websocket pings.
    let writer = engine.tasks.spawn(ws::write_loop(
        write,
        command_rx,
        es.session.clone(),
        shared.metrics.clone(),
        None,
    ));
    if !probe {
        let open = Packet::Open(open_packet(&es, &shared, Vec::new())).encode(es.version);
        let _ = commands.send(Command::Text(Bytes::from(open))).await;
        if es.version == EioVersion::V3 {
            let _ = commands
                .send(Command::Text(Bytes::from_static(b"40")))
                .await;
        }
        let _ = commands.send(Command::Attach(es.outbox.clone())).await;
    }
    let mut carrying = !probe;
    let mut obligated = ws::obligated(&commands);
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut obligated) => frame,
            // The session ended elsewhere (slow consumer, timeout, shutdown); the writer says goodbye.
            _ = es.session.closed() => break,
        };
        let packet = match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => match std::str::from_utf8(&frame.payload) {
                    Ok(text) => engineio::decode_text_frame(es.version, text),
                    Err(_) => Err(engineio::EioError::InvalidUtf8),
                },
                OpCode::Binary => engineio::decode_binary_frame(
                    es.version,
                    Bytes::copy_from_slice(&frame.payload),
                ),
                OpCode::Close => break,
                _ => continue,
            },
            Err(e) => {
                ws::read_ended(
                    &es.session,
                    &shared.metrics,
                    shared.limits.max_frame_bytes,
                    &e,
                );
                break;
            }
        };
        let packet = match packet {
            Ok(packet) => packet,
            Err(e) => {
                shared
                    .metrics
                    .requests_refused
                    .with_label_values(&["protocol_error"])
                    .inc();
                tracing::info!(session = es.session.id, error = %e, "closing a websocket that sent a malformed packet");
                es.session.close(CloseReason::ProtocolError);
                break;
            }
        };
        if !carrying {
            // The upgrade handshake of a polling session.
            if packet.is_probe() {
                let _ = commands
                    .send(Command::Text(Bytes::from_static(b"3probe")))
                    .await;
                es.carrier.send_replace(Carrier::Upgrading);
            } else if packet == Packet::Upgrade && es.carrier() == Carrier::Upgrading {
                es.carrier.send_replace(Carrier::Websocket);
                let _ = commands.send(Command::Attach(es.outbox.clone())).await;
                carrying = true;
            }
            es.touch();
            continue;
        }
        packets::handle(&es, &shared, packet).await;
    }
    if carrying {
        es.session.close(CloseReason::ClientGone);
    } else if es.carrier() == Carrier::Upgrading {
        // The probe websocket died before `5`: polling carries on.
        es.carrier.send_replace(Carrier::Polling);
    }
    drop(obligated);
    drop(commands);
    let _ = writer.await;
}
