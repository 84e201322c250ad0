//! The public listener: accepts connections within the global and per-IP limits and serves each
//! with hyper (HTTP/1.1 with upgrades), handing requests to the router.
//!
//! Invariants:
//! - a connection beyond `--max-connections` is closed at once, and one beyond
//!   `--max-connections-per-ip` gets a 429: both counted and logged (throttled);
//! - accept errors (EMFILE) back off instead of spinning, and never end the loop;
//! - every connection task is tracked, so shutdown can wait for them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::proxy_protocol::{self, TrustedNetworks};
use crate::router::Router;
use crate::tls::{self, TlsMetrics};
use tokio_rustls::TlsAcceptor;

/// Time allowed for a client to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts connections per client IP.
#[derive(Default)]
pub(crate) struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection's place in [`PerIp`] until dropped.
pub(crate) struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Takes a slot for `ip`, or `None` when it already has `max`.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = self.counts.lock().expect("per-ip counts poisoned");
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.per_ip.counts.lock().expect("per-ip counts poisoned");
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Logs at most once per second, so a flood of refusals cannot flood the log.
pub(crate) struct Throttle(AtomicU64);

impl Throttle {
    /// A throttle that allows the first line.
    pub(crate) const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Whether a line may be logged now.
    pub(crate) fn allow(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.0.swap(now, Ordering::Relaxed) != now
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

static REFUSAL_LOG: Throttle = Throttle::new();

/// A connection's place in the global and per-IP limits. hyper finishes with a connection as
/// soon as it is upgraded to a websocket, so every request carries a handle to it (in its
/// extensions) and a websocket task keeps it for as long as the socket lives.
pub(crate) struct ConnectionGuard {
    _permit: OwnedSemaphorePermit,
    _slot: Option<IpSlot>,
}

/// Takes the connection's guard from an upgrade request, to keep for the websocket's life.
pub(crate) fn take_guard<B>(request: &mut hyper::Request<B>) -> Option<Arc<ConnectionGuard>> {
    request.extensions_mut().remove::<Arc<ConnectionGuard>>()
}

/// The limits every listener shares: one connection budget and one per-IP count for the process.
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    max_connections: usize,
    max_per_ip: usize,
    metrics: Metrics,
}

impl Gate {
    pub(crate) fn new(max_connections: usize, max_per_ip: usize, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max_connections)),
            per_ip: Arc::new(PerIp::default()),
            max_connections,
            max_per_ip,
            metrics,
        })
    }

    fn slot(&self, peer: SocketAddr) -> Option<IpSlot> {
        let slot = self.per_ip.acquire(peer.ip(), self.max_per_ip);
        if slot.is_none() {
            self.metrics
                .connections_refused
                .with_label_values(&["max_connections_per_ip"])
                .inc();
            if REFUSAL_LOG.allow() {
                tracing::warn!(peer = %peer, limit = self.max_per_ip, "refusing a connection with 429: --max-connections-per-ip reached");
            }
        }
        slot
    }
}

/// How one listener receives connections before HTTP starts.
#[derive(Clone)]
pub(crate) struct Intake {
    /// TLS termination, or plain TCP.
    pub(crate) tls: Option<(TlsAcceptor, TlsMetrics)>,
    /// Load balancers whose connections start with a PROXY protocol header.
    pub(crate) proxy_from: Option<Arc<TrustedNetworks>>,
    /// Time allowed for the PROXY header and the TLS handshake together.
    pub(crate) handshake_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown`, tracking their tasks in `tasks`. A
/// handshake (PROXY header, TLS) never runs in the accept loop, so stalled clients cannot hold
/// it up.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    gate: Arc<Gate>,
    intake: Intake,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; backing off");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = gate.permits.clone().try_acquire_owned() else {
            gate.metrics
                .connections_refused
                .with_label_values(&["max_connections"])
                .inc();
            if REFUSAL_LOG.allow() {
                tracing::warn!(peer = %peer, limit = gate.max_connections, "refused a connection: --max-connections reached");
            }
            drop(stream);
            continue;
        };
        let (router, gate, intake, shutdown) = (
            router.clone(),
            gate.clone(),
            intake.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let _ = stream.set_nodelay(true);
            let deadline = tokio::time::Instant::now() + intake.handshake_timeout;
            let Some((stream, peer)) = intake.proxy_header(stream, peer, &gate.metrics).await
            else {
                return;
            };
            // After the PROXY header, so the per-IP limit sees the real client, and before the
            // TLS handshake, so one address cannot hold many stalled handshakes.
            let slot = gate.slot(peer);
            let over_ip_limit = slot.is_none();
            let guard = Arc::new(ConnectionGuard {
                _permit: permit,
                _slot: slot,
            });
            match intake.tls_handshake(stream, peer, deadline).await {
                Some(Accepted::Plain(stream)) => {
                    serve_connection(stream, peer, router, over_ip_limit, guard, shutdown).await
                }
                Some(Accepted::Tls(stream)) => {
                    serve_connection(*stream, peer, router, over_ip_limit, guard, shutdown).await
                }
                None => {}
            }
        });
    }
}

enum Accepted {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Intake {
    /// Reads the PROXY header of a connection from a trusted load balancer; `None` drops it.
    async fn proxy_header(
        &self,
        mut stream: TcpStream,
        mut peer: SocketAddr,
        metrics: &Metrics,
    ) -> Option<(TcpStream, SocketAddr)> {
        // Untrusted peers are never read here: their bytes are the application's.
        if let Some(trusted) = &self.proxy_from
            && trusted.contains(peer.ip())
        {
            match proxy_protocol::read_header(&mut stream, self.handshake_timeout).await {
                Ok(Some(client)) => peer = client,
                Ok(None) => {}
                Err(e) => {
                    metrics
                        .connections_refused
                        .with_label_values(&["proxy_protocol"])
                        .inc();
                    tracing::debug!(peer = %peer, reason = e.reason(), error = %e, "dropped a connection with a bad PROXY header");
                    return None;
                }
            }
        }
        Some((stream, peer))
    }

    /// Completes the TLS handshake by `deadline` (the time left after the PROXY header), or
    /// passes a plain connection through; `None` drops it.
    async fn tls_handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        deadline: tokio::time::Instant,
    ) -> Option<Accepted> {
        let Some((acceptor, tls_metrics)) = &self.tls else {
            return Some(Accepted::Plain(stream));
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let outcome = tls::accept(acceptor, stream, left).await;
        tls_metrics.record(&outcome);
        match outcome {
            Ok(stream) => Some(Accepted::Tls(Box::new(stream))),
            Err(e) => {
                tracing::debug!(peer = %peer, reason = e.reason(), error = %e, "TLS handshake failed");
                None
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Arc<Router>,
    over_ip_limit: bool,
    guard: Arc<ConnectionGuard>,
    shutdown: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(guard.clone());
        let router = router.clone();
        async move {
            Ok::<_, std::convert::Infallible>(router.route(request, peer, over_ip_limit).await)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
