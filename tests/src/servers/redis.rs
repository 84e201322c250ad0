//! Owns private `redis-server` processes: start on a free port, wait for PING, kill and restart
//! on the same port to simulate an outage. [`super::RedisCluster`] builds its nodes from these.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::scratch::{free_port, test_tempdir};

/// A private `redis-server` on its own port, with no persistence.
///
/// [`stop`](Self::stop) and [`start`](Self::start) simulate an outage: the port stays the
/// same, so clients configured with [`url`](Self::url) can reconnect.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    /// Arguments beyond the standalone defaults (cluster mode), kept for restarts.
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// How long a fresh redis-server may take to answer PING (it takes ~30 ms here).
    const READY_TIMEOUT: Duration = Duration::from_secs(10);
    const START_ATTEMPTS: u32 = 5;

    /// Starts a server on a free port and waits until it answers PING.
    pub async fn start_new() -> Self {
        let mut last_error = String::new();
        for _ in 0..Self::START_ATTEMPTS {
            match Self::try_start_new(free_port(), "redis-", Vec::new()).await {
                Ok(server) => return server,
                // Most likely another process took the port between free_port() and the bind.
                Err(e) => last_error = e,
            }
        }
        panic!(
            "redis-server did not start after {} attempts: {last_error}",
            Self::START_ATTEMPTS
        );
    }

    /// One attempt to start a server on `port`, in a new temp dir named after `dir_prefix`, with
    /// `extra_args`. Fails (rather than panicking) when the port was taken, so callers can retry
    /// on other ports.
    pub(super) async fn try_start_new(
        port: u16,
        dir_prefix: &str,
        extra_args: Vec<String>,
    ) -> Result<Self, String> {
        let mut server = RedisServer {
            port,
            dir: test_tempdir(dir_prefix),
            extra_args,
            child: None,
        };
        server.try_start().await?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its `--dir`, which also holds `redis.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the server answers PING right now.
    pub async fn ping(&self) -> bool {
        redis_ping(self.addr()).await
    }

    /// Kills the server (SIGKILL, like a crash) and reaps it. The port stays reserved for
    /// [`start`](Self::start).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error here means it already exited, which is what we want.
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port and waits until it answers PING.
    pub async fn start(&mut self) {
        self.stop().await;
        let mut last_error = String::new();
        // The old socket may linger briefly after the kill; redis-server then exits at once with
        // "Address already in use", so retry for a few seconds before giving up.
        for _ in 0..20 {
            match self.try_start().await {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "redis-server did not restart on port {}: {last_error}",
            self.port
        );
    }

    async fn try_start(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: run the suite with ./scripts/test, which installs it"
            ),
            Err(e) => panic!("spawn redis-server: {e}"),
        };
        self.child = Some(child);

        let deadline = Instant::now() + Self::READY_TIMEOUT;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "redis-server exited with {status}; log:\n{}",
                    self.log()
                ));
            }
            if redis_ping(self.addr()).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop().await;
                return Err(format!(
                    "no PONG within {:?}; log:\n{}",
                    Self::READY_TIMEOUT,
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // kill_on_drop would do it too; doing it first means the temp dir is removed after.
            let _ = child.start_kill();
        }
    }
}

/// Sends an inline `PING` and expects `+PONG`; a loading server answers `-LOADING`.
async fn redis_ping(addr: SocketAddr) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut reply = [0u8; 16];
        let n = stream.read(&mut reply).await.ok()?;
        Some(reply[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Some(true))
    )
}
