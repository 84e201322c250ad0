//! The writing half of every websocket, whatever the protocol: it drains the session's outbox
//! and the reader's commands, and says goodbye with a close code that tells why.
//!
//! Readers and writers run in separate tasks because fastwebsockets' `read_frame` is not
//! cancel-safe: a reader never waits on anything but its socket (and the session's end), and
//! everything it wants written (protocol answers, websocket pongs and close echoes) reaches the
//! writer as a [`Command`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketWrite};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{OwnedMutexGuard, mpsc};

use crate::metrics::Metrics;
use crate::session::{CloseReason, OutFrame, Session};

/// A socket that cannot take a frame within this long is treated as gone.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The write half of an upgraded connection.
pub(crate) type Writer = WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>;
/// The read half of an upgraded connection, reassembling fragmented messages.
pub(crate) type Reader = fastwebsockets::FragmentCollectorRead<ReadHalf<TokioIo<Upgraded>>>;

/// What a reader asks its writer to do.
pub(crate) enum Command {
    /// Send a text frame (a protocol answer written outside the outbox).
    Text(Bytes),
    /// Send a frame the websocket protocol obliges us to send (pong, close echo).
    Obligated(OpCode, Vec<u8>),
    /// Start draining this outbox: the websocket now carries the session.
    Attach(Arc<tokio::sync::Mutex<mpsc::Receiver<OutFrame>>>),
}

/// Upgrades, splits and configures a websocket for a reader and a writer.
pub(crate) fn split(
    mut ws: fastwebsockets::WebSocket<TokioIo<Upgraded>>,
    max_message: usize,
) -> (Reader, Writer) {
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    ws.set_max_message_size(max_message);
    let (read, write) = ws.split(tokio::io::split);
    (fastwebsockets::FragmentCollectorRead::new(read), write)
}

/// The closure fastwebsockets calls with frames it must answer (pongs, close echoes): they are
/// handed to the writer, which owns the socket's write half.
pub(crate) fn obligated(
    commands: &mpsc::Sender<Command>,
) -> impl FnMut(
    Frame<'_>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), std::io::Error>> + Send>,
> + use<> {
    let commands = commands.clone();
    move |frame: Frame<'_>| {
        let command = Command::Obligated(frame.opcode, frame.payload.to_vec());
        let commands = commands.clone();
        Box::pin(async move {
            commands
                .send(command)
                .await
                .map_err(|_| std::io::Error::other("writer gone"))
        })
    }
}

/// Logs why a read ended, counting the cases that are the client's fault.
pub(crate) fn read_ended(
    session: &Session,
    metrics: &Metrics,
    max_message: usize,
    error: &fastwebsockets::WebSocketError,
) {
    use fastwebsockets::WebSocketError;
    match error {
        WebSocketError::FrameTooLarge => {
            metrics
                .requests_refused
                .with_label_values(&["frame_too_large"])
                .inc();
            tracing::info!(
                session = session.id,
                limit = max_message,
                "closing a websocket that sent a message over the size limit"
            );
            session.close(CloseReason::ProtocolError);
        }
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => {}
        other => tracing::debug!(session = session.id, error = %other, "websocket read ended"),
    }
}

/// Writes until the session closes or the reader goes away. `ping_every` sends websocket pings
/// (for protocols without heartbeats of their own), so dead peers are found.
pub(crate) async fn write_loop(
    mut write: Writer,
    mut commands: mpsc::Receiver<Command>,
    session: Arc<Session>,
    metrics: Metrics,
    ping_every: Option<Duration>,
) {
    let mut outbox: Option<OwnedMutexGuard<mpsc::Receiver<OutFrame>>> = None;
    let mut pings = ping_every
        .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    loop {
        let result = tokio::select! {
            biased;
            _ = session.closed() => {
                let (code, reason) = close_code(session.close_reason());
                let _ = tokio::time::timeout(SEND_TIMEOUT, write.write_frame(Frame::close(code, reason.as_bytes()))).await;
                return;
            }
            command = commands.recv() => match command {
                None => return,
                Some(Command::Text(bytes)) => send(&mut write, Frame::text(Payload::Borrowed(&bytes))).await,
                Some(Command::Obligated(opcode, payload)) => {
                    send(&mut write, Frame::new(true, opcode, None, Payload::Owned(payload))).await
                }
                Some(Command::Attach(rx)) => {
                    outbox = Some(rx.lock_owned().await);
                    Ok(())
                }
            },
            frame = next_frame(&mut outbox) => {
                if frame.ingested_at_ms > 0 {
                    metrics.event_latency.observe(unix_ms().saturating_sub(frame.ingested_at_ms) as f64 / 1000.0);
                }
                send(&mut write, Frame::text(Payload::Borrowed(&frame.bytes))).await
            }
            _ = tick(&mut pings) => send(&mut write, Frame::new(true, OpCode::Ping, None, Payload::Borrowed(&[]))).await,
        };
        if result.is_err() {
            session.close(CloseReason::ClientGone);
            return;
        }
    }
}

fn close_code(reason: Option<CloseReason>) -> (u16, &'static str) {
    match reason {
        Some(CloseReason::Shutdown) => (1001, "server shutting down"),
        Some(CloseReason::SlowConsumer) => (1008, "slow consumer"),
        Some(CloseReason::ProtocolError) => (1002, "protocol error"),
        Some(CloseReason::AuthTimeout) => (1008, "no subscription in time"),
        _ => (1000, "closed"),
    }
}

async fn tick(pings: &mut Option<tokio::time::Interval>) {
    match pings {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
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

/// Milliseconds since the Unix epoch, for latency measurements.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
