//! Which protocol serves a request: Socket.IO 1.x–4.x under the Socket.IO path, the page at
//! `/`, and (with the Kazoo drop-in protocols) socket.io 0.9 and Kazoo 4.x JSON websockets.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::engine::Engine;
use crate::http::{self, HttpResponse};
use crate::kazoo;
use crate::legacy::Legacy;
use crate::session::Shared;
use crate::wallboard::{self, DemoLogin};
use tokio_util::task::TaskTracker;

/// Routes requests of the public listener.
pub(crate) struct Router {
    socketio_path: String,
    engine: Arc<Engine>,
    legacy: Arc<Legacy>,
    shared: Arc<Shared>,
    tasks: TaskTracker,
    /// The demo accounts the wallboard signs in with by itself, in demo mode only.
    demo_login: Option<DemoLogin>,
}

impl Router {
    /// A router serving Socket.IO under `socketio_path` (no trailing slash).
    pub(crate) fn new(
        socketio_path: String,
        engine: Arc<Engine>,
        legacy: Arc<Legacy>,
        shared: Arc<Shared>,
        tasks: TaskTracker,
        demo_login: Option<DemoLogin>,
    ) -> Self {
        Self {
            socketio_path,
            engine,
            legacy,
            shared,
            tasks,
            demo_login,
        }
    }

    /// Answers one request.
    pub(crate) async fn route(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        over_ip_limit: bool,
    ) -> HttpResponse {
        if over_ip_limit {
            return http::text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address\n",
            );
        }
        let headers = request.headers().clone();
        if request.method() == Method::OPTIONS {
            return http::preflight(&headers);
        }
        let path = request.uri().path();
        let under_socketio = path
            .strip_prefix(self.socketio_path.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'));
        let mut response = match under_socketio {
            Some(rest) if rest == "/1" || rest.starts_with("/1/") => {
                let rest = rest.to_owned();
                self.legacy.handle(request, peer, &rest).await
            }
            Some(_) => self.engine.handle(request, peer).await,
            None if fastwebsockets::upgrade::is_upgrade_request(&request) => {
                kazoo::upgrade(self.shared.clone(), self.tasks.clone(), request, peer)
            }
            None if request.method() == Method::GET || request.method() == Method::HEAD => {
                // `GET /` answers 200 (the wallboard), as Kazoo's Blackhole did for load-balancer
                // health checks.
                wallboard::serve(path, self.demo_login.as_ref())
                    .unwrap_or_else(|| http::text(StatusCode::NOT_FOUND, "not found\n"))
            }
            None => http::text(StatusCode::NOT_FOUND, "not found\n"),
        };
        http::add_cors(&headers, &mut response);
        response
    }
}
