//! The websocket transport of an Engine.IO session: a fresh websocket session, or the upgrade
//! of a polling one (`2probe` → `3probe`, then `5`).
//!
//! The reader and the writer run in separate tasks because fastwebsockets' `read_frame` is not
//! cancel-safe: the reader never sits in a `select!` with writes. Everything the reader wants
//! written (the probe answer, websocket pongs and close echoes) goes to the writer as a command.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError, WebSocketWrite,
};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::WriteHalf;
use tokio::sync::{OwnedMutexGuard, mpsc};

use super::polling::{open_packet, unix_ms};
use super::{Carrier, Engine, EngineSession, error, packets};
use crate::http::HttpResponse;
use crate::protocol::engineio::{self, EioVersion, Packet};
use crate::session::{CloseReason, OutFrame, Shared};

/// A socket that cannot take a frame within this long is treated as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

type Writer = WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>;

enum Command {
    /// A text frame from the reader (open packet, probe answer).
    Text(Bytes),
    /// A frame the websocket protocol obliges us to send (pong, close echo).
    Obligated(OpCode, Vec<u8>),
    /// Start draining the session's outbox: this websocket now carries the session.
    Attach,
}

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
    let tasks = engine.tasks.clone();
    tasks.spawn(async move {
        match upgrade.await {
            Ok(mut ws) => {
                ws.set_auto_pong(true);
                ws.set_auto_close(true);
                ws.set_max_message_size(engine.shared.limits.max_frame_bytes);
                let (read, write) = ws.split(tokio::io::split);
                run(&engine, FragmentCollectorRead::new(read), write, es, probe).await;
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
    mut read: FragmentCollectorRead<tokio::io::ReadHalf<TokioIo<Upgraded>>>,
    write: Writer,
    es: Arc<EngineSession>,
    probe: bool,
) {
    let shared = engine.shared.clone();
    let (commands, command_rx) = mpsc::channel::<Command>(16);
    let writer = engine
        .tasks
        .spawn(write_loop(write, command_rx, es.clone(), shared.clone()));
    if !probe {
        let open = Packet::Open(open_packet(&es, &shared, Vec::new())).encode(es.version);
        let _ = commands.send(Command::Text(Bytes::from(open))).await;
        if es.version == EioVersion::V3 {
            let _ = commands
                .send(Command::Text(Bytes::from_static(b"40")))
                .await;
        }
        let _ = commands.send(Command::Attach).await;
    }
    let mut carrying = !probe;
    loop {
        let obligated = commands.clone();
        let mut send_obligated = move |frame: Frame<'_>| {
            let command = Command::Obligated(frame.opcode, frame.payload.to_vec());
            let obligated = obligated.clone();
            async move {
                obligated
                    .send(command)
                    .await
                    .map_err(|_| std::io::Error::other("writer gone"))
            }
        };
        let frame = tokio::select! {
            frame = read.read_frame(&mut send_obligated) => frame,
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
                log_read_error(&es, &shared, &e);
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
                let _ = commands.send(Command::Attach).await;
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
    drop(commands);
    let _ = writer.await;
}

fn log_read_error(es: &EngineSession, shared: &Shared, error: &WebSocketError) {
    match error {
        WebSocketError::FrameTooLarge => {
            shared
                .metrics
                .requests_refused
                .with_label_values(&["frame_too_large"])
                .inc();
            tracing::info!(
                session = es.session.id,
                limit = shared.limits.max_frame_bytes,
                "closing a websocket that sent a message over the size limit"
            );
            es.session.close(CloseReason::ProtocolError);
        }
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => {}
        other => tracing::debug!(session = es.session.id, error = %other, "websocket read ended"),
    }
}

async fn write_loop(
    mut write: Writer,
    mut commands: mpsc::Receiver<Command>,
    es: Arc<EngineSession>,
    shared: Arc<Shared>,
) {
    let mut outbox: Option<OwnedMutexGuard<mpsc::Receiver<OutFrame>>> = None;
    loop {
        let result = tokio::select! {
            biased;
            _ = es.session.closed() => {
                let (code, reason) = match es.session.close_reason() {
                    Some(CloseReason::Shutdown) => (1001, "server shutting down"),
                    Some(CloseReason::SlowConsumer) => (1008, "slow consumer"),
                    Some(CloseReason::ProtocolError) => (1002, "protocol error"),
                    _ => (1000, "closed"),
                };
                let _ = tokio::time::timeout(SEND_TIMEOUT, write.write_frame(Frame::close(code, reason.as_bytes()))).await;
                return;
            }
            command = commands.recv() => match command {
                None => return,
                Some(Command::Text(bytes)) => send(&mut write, Frame::text(Payload::Borrowed(&bytes))).await,
                Some(Command::Obligated(opcode, payload)) => {
                    send(&mut write, Frame::new(true, opcode, None, Payload::Owned(payload))).await
                }
                Some(Command::Attach) => {
                    outbox = Some(es.outbox.clone().lock_owned().await);
                    Ok(())
                }
            },
            frame = next_frame(&mut outbox) => {
                if frame.ingested_at_ms > 0 {
                    shared.metrics.event_latency.observe(unix_ms().saturating_sub(frame.ingested_at_ms) as f64 / 1000.0);
                }
                send(&mut write, Frame::text(Payload::Borrowed(&frame.bytes))).await
            }
        };
        if result.is_err() {
            es.session.close(CloseReason::ClientGone);
            return;
        }
    }
}

async fn next_frame(outbox: &mut Option<OwnedMutexGuard<mpsc::Receiver<OutFrame>>>) -> OutFrame {
    match outbox {
        Some(rx) => match rx.recv().await {
            Some(frame) => frame,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn send(write: &mut Writer, frame: Frame<'_>) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, write.write_frame(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
