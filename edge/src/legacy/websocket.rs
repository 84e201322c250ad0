//! socket.io 0.9's websocket transport: `1::` on open, then one packet per frame each way.

use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::OpCode;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::{Legacy, LegacySession, handle_body};
use crate::http::{self, HttpResponse};
use crate::protocol::sio09;
use crate::session::CloseReason;
use crate::ws::{self, Command};

/// Answers the upgrade request and runs the websocket in a tracked task.
pub(super) fn upgrade(
    legacy: Arc<Legacy>,
    mut request: Request<Incoming>,
    session: Arc<LegacySession>,
) -> HttpResponse {
    let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut request) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "refused a malformed websocket upgrade");
            return http::text(StatusCode::BAD_REQUEST, "not a websocket upgrade\n");
        }
    };
    let guard = crate::server::take_guard(&mut request);
    let tasks = legacy.tasks.clone();
    tasks.spawn(async move {
        let _guard = guard;
        match upgrade.await {
            Ok(socket) => {
                let (read, write) = ws::split(socket, legacy.shared.limits.max_frame_bytes);
                run(&legacy, read, write, session).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

async fn run(
    legacy: &Arc<Legacy>,
    mut read: ws::Reader,
    write: ws::Writer,
    session: Arc<LegacySession>,
) {
    let shared = legacy.shared.clone();
    let (commands, command_rx) = mpsc::channel::<Command>(16);
    // socket.io 0.9 has heartbeats of its own (`2::`): no websocket pings.
    let writer = legacy.tasks.spawn(ws::write_loop(
        write,
        command_rx,
        session.session.clone(),
        shared.metrics.clone(),
        None,
    ));
    session
        .connect_sent
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = commands
        .send(Command::Text(Bytes::from_static(sio09::CONNECT.as_bytes())))
        .await;
    let _ = commands.send(Command::Attach(session.outbox.clone())).await;
    let mut obligated = ws::obligated(&commands);
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut obligated) => frame,
            _ = session.session.closed() => break,
        };
        match frame {
            Ok(frame) => match frame.opcode {
                OpCode::Text => match std::str::from_utf8(&frame.payload) {
                    Ok(text) => handle_body(&session, &shared, text).await,
                    Err(_) => {
                        shared
                            .metrics
                            .requests_refused
                            .with_label_values(&["protocol_error"])
                            .inc();
                        session.session.close(CloseReason::ProtocolError);
                        break;
                    }
                },
                OpCode::Close => break,
                _ => continue,
            },
            Err(e) => {
                ws::read_ended(
                    &session.session,
                    &shared.metrics,
                    shared.limits.max_frame_bytes,
                    &e,
                );
                break;
            }
        }
        if session.session.is_closed() {
            break;
        }
    }
    session.session.close(CloseReason::ClientGone);
    drop(obligated);
    drop(commands);
    let _ = writer.await;
}
