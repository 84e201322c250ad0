//! blackhole-edge: serves Kazoo's real-time events to websocket clients of every Blackhole
//! generation, subscribing in Redis only to the accounts its own sockets want.
//!
//! [`Edge::bind`] loads the authenticators and binds the listeners; [`Edge::run`] serves until
//! the shutdown future resolves, then fails readiness, closes sockets at a paced rate over the
//! drain window and returns. Tests call both on `127.0.0.1:0`.

pub mod auth;
pub mod binding;
pub mod config;
pub mod demo;
mod demo_bus;
mod engine;
mod http;
pub mod hub;
mod kazoo;
mod legacy;
pub mod metrics;
pub mod protocol;
pub mod proxy_protocol;
mod redis_bus;
mod requests;
mod router;
mod server;
pub mod session;
mod sid_table;
pub mod tls;
mod wallboard;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Args, Config, ConfigError, EventSource};

use auth::Auth;
use engine::Engine;
use hub::Hub;
use metrics::Metrics;
use router::Router;
use session::{CloseReason, Shared};

/// Errors that stop the edge from starting.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} (--{flag}): {source}")]
    Bind {
        /// The flag naming the address.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The authenticators could not be loaded.
    #[error(transparent)]
    Auth(#[from] auth::ConfigError),
    /// The TLS certificate or key could not be loaded.
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(#[from] tls::TlsError),
}

/// An edge whose listeners are bound and whose authenticators are loaded.
pub struct Edge {
    config: Config,
    auth: Auth,
    listener: TcpListener,
    /// The TLS listener and its certificate store, with `--tls-listen`.
    tls: Option<(TcpListener, Arc<tls::CertStore>, tls::TlsMetrics)>,
    admin: TcpListener,
}

struct Readiness {
    bus_ready: Arc<AtomicBool>,
    draining: AtomicBool,
}

impl blackhole_ops::admin::Readiness for Readiness {
    fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining".into());
        }
        if !self.bus_ready.load(Ordering::Relaxed) {
            return Err("not subscribed to Redis".into());
        }
        Ok(())
    }
}

impl Edge {
    /// Loads the authenticators, then binds the public and admin listeners.
    pub async fn bind(config: Config) -> Result<Self, EdgeError> {
        let auth = if config.demo {
            Auth::demo(
                demo::demo_accounts()
                    .into_iter()
                    .map(|a| (a.token, a.id))
                    .collect(),
            )
        } else {
            Auth::from_config(&config.auth)?
        };
        let bind = |flag, addr| async move {
            listen(addr).map_err(|source| EdgeError::Bind { flag, addr, source })
        };
        let listener = bind("listen", config.listen).await?;
        let tls = match &config.tls {
            Some(tls_config) => {
                let tls_metrics = tls::TlsMetrics::new();
                let store = tls::CertStore::load(tls_config.files.clone(), tls_metrics.clone())?;
                let tls_listener = bind("tls-listen", tls_config.listen).await?;
                Some((tls_listener, store, tls_metrics))
            }
            None => None,
        };
        let admin = bind("admin-listen", config.admin_listen).await?;
        Ok(Self {
            config,
            auth,
            listener,
            tls,
            admin,
        })
    }

    /// The public listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The TLS listener's address, with `--tls-listen`.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
            .as_ref()
            .map(|(l, _, _)| l.local_addr().expect("a bound listener has an address"))
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then drains and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), EdgeError> {
        let Self {
            config,
            auth,
            listener,
            tls,
            admin,
        } = self;
        let metrics = Metrics::new();
        let (demand_tx, demand_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Hub::new(demand_tx, metrics.clone()));
        let readiness = Arc::new(Readiness {
            bus_ready: Arc::new(AtomicBool::new(false)),
            draining: AtomicBool::new(false),
        });
        let stop_bus = CancellationToken::new();
        let bus = match &config.source {
            EventSource::Redis { nodes, cluster } => {
                let bus = redis_bus::RedisBus::new(
                    nodes.clone(),
                    *cluster,
                    config.keyspace.clone(),
                    hub.clone(),
                    demand_rx,
                    readiness.bus_ready.clone(),
                    metrics.clone(),
                );
                tokio::spawn(bus.run(stop_bus.clone()))
            }
            EventSource::Demo => {
                readiness.bus_ready.store(true, Ordering::Relaxed);
                tokio::spawn(demo_bus::run(hub.clone(), demand_rx, stop_bus.clone()))
            }
        };

        let shared = Arc::new(Shared::new(
            hub,
            Arc::new(auth),
            config.limits,
            metrics.clone(),
        ));
        let tasks = TaskTracker::new();
        let stop_accepting = CancellationToken::new();
        let stop_sessions = CancellationToken::new();
        let engine = Engine::new(shared.clone(), tasks.clone(), stop_sessions.clone());
        let legacy = legacy::Legacy::new(shared.clone(), tasks.clone(), stop_sessions.clone());
        let router = Arc::new(Router::new(
            config.socketio_path.clone(),
            engine.clone(),
            legacy.clone(),
            shared.clone(),
            tasks.clone(),
            config
                .demo
                .then(|| wallboard::DemoLogin::new(&demo::demo_accounts())),
        ));

        let stop_admin = CancellationToken::new();
        let admin_task = tokio::spawn(blackhole_ops::admin::serve(
            admin,
            metrics.registry.clone(),
            readiness.clone(),
            stop_admin.clone(),
        ));
        let gate = server::Gate::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
            metrics.clone(),
        );
        let handshake_timeout = config.handshake_timeout;
        let plain = server::Intake {
            tls: None,
            proxy_from: config.proxy_protocol_from.clone(),
            handshake_timeout,
        };
        let mut accept_tasks = vec![tokio::spawn(server::serve(
            listener,
            router.clone(),
            gate.clone(),
            plain,
            tasks.clone(),
            stop_accepting.clone(),
        ))];
        let stop_tls = CancellationToken::new();
        if let Some((tls_listener, store, tls_metrics)) = tls {
            if let Err(e) = tls_metrics.register(&metrics.registry) {
                tracing::error!(error = %e, "cannot register the TLS metrics");
            }
            // The watcher runs until `stop_tls`; its handle is not needed.
            drop(store.watch(tls::DEFAULT_POLL_INTERVAL, stop_tls.clone()));
            tokio::spawn(tls::reload_on_sighup(store.clone(), stop_tls.clone()));
            let intake = server::Intake {
                tls: Some((
                    tokio_rustls::TlsAcceptor::from(tls::server_config(store)),
                    tls_metrics,
                )),
                proxy_from: config.proxy_protocol_from.clone(),
                handshake_timeout,
            };
            accept_tasks.push(tokio::spawn(server::serve(
                tls_listener,
                router,
                gate,
                intake,
                tasks.clone(),
                stop_accepting.clone(),
            )));
        }
        let tls_listen = config.tls.as_ref().map(|t| t.listen.to_string());
        tracing::info!(
            listen = %config.listen,
            tls_listen = tls_listen.as_deref().unwrap_or("off"),
            admin = %config.admin_listen,
            demo = config.demo,
            "blackhole-edge serving"
        );
        if config.demo {
            print_demo_banner(config.listen);
        }

        shutdown.await;
        readiness.draining.store(true, Ordering::Relaxed);
        stop_accepting.cancel();
        for task in accept_tasks {
            let _ = task.await;
        }
        drain(shared.live_sessions(), config.drain).await;
        stop_sessions.cancel();
        tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the drain; exiting anyway");
        }
        stop_bus.cancel();
        let _ = bus.await;
        stop_tls.cancel();
        stop_admin.cancel();
        let _ = admin_task.await;
        tracing::info!("blackhole-edge stopped");
        Ok(())
    }
}

/// Binds a listener with a deep accept queue: a reconnect storm after a deploy brings thousands of
/// connections at once, and the default backlog (128) would make the overflow wait a second for a
/// SYN retry.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    const BACKLOG: u32 = 4096;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Closes every session, spread evenly over `window`, so clients reconnect elsewhere without a
/// stampede.
async fn drain(sessions: Vec<Arc<session::Session>>, window: Duration) {
    if sessions.is_empty() {
        return;
    }
    tracing::info!(sessions = sessions.len(), window = ?window, "closing sockets at a paced rate");
    let pause = window / sessions.len() as u32;
    for session in sessions {
        session.close(CloseReason::Shutdown);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// Tells the person who started `--demo` how to connect: the accounts and their tokens.
fn print_demo_banner(listen: SocketAddr) {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        listen.ip().to_string()
    };
    let mut banner = format!(
        "\nBlackhole demo: synthetic Kazoo call traffic, no Redis or RabbitMQ.\n\
         Wallboard (signs in by itself): http://{host}:{port}/\n\
         Socket.IO endpoint: http://{host}:{port}/socket.io/   Kazoo JSON websockets: ws://{host}:{port}/\n\n\
         Demo accounts and tokens (subscribe with account_id + auth_token):\n",
        port = listen.port()
    );
    for account in demo::demo_accounts() {
        banner.push_str(&format!(
            "  {:<18} account_id {}  auth_token {}\n",
            account.name, account.id, account.token
        ));
    }
    banner.push_str(
        "\nExample (socket.io-client 4):\n  \
         io(URL).emit('subscribe', {account_id, auth_token, binding: 'call.*.*'}, console.log)\n",
    );
    println!("{banner}");
}

/// Runs the edge with `config` until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), EdgeError> {
    Edge::bind(config).await?.run(shutdown).await
}
