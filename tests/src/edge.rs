//! Runs the real `blackhole-edge` binary for a test, with a static token file written for it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::servers::{ChildProcess, free_port};

/// A running `blackhole-edge` process.
pub struct EdgeProcess {
    /// The process, for its logs and signals.
    pub process: ChildProcess,
    /// Its public listener.
    pub addr: SocketAddr,
    /// Its admin listener.
    pub admin: SocketAddr,
    _tokens: Option<tempfile::NamedTempFile>,
}

impl EdgeProcess {
    /// Starts an edge on free loopback ports; `tokens` (the static token file's JSON) is written
    /// to a temporary file and passed as `--auth-tokens` when given.
    pub fn spawn(
        redis_url: Option<&str>,
        tokens: Option<&serde_json::Value>,
        extra: &[&str],
    ) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args: Vec<String> = vec![
            "--listen".into(),
            addr.to_string(),
            "--admin-listen".into(),
            admin.to_string(),
        ];
        if let Some(url) = redis_url {
            args.extend(["--redis-url".into(), url.to_owned()]);
        }
        let tokens_file = tokens.map(|json| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), serde_json::to_vec(json).unwrap()).unwrap();
            args.extend(["--auth-tokens".into(), file.path().display().to_string()]);
            file
        });
        args.extend(extra.iter().map(|s| s.to_string()));
        let process = ChildProcess::spawn("blackhole-edge", &args, &[]);
        Self {
            process,
            addr,
            admin,
            _tokens: tokens_file,
        }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until `/readyz` answers 200; panics with the process output otherwise.
    pub async fn wait_ready(&self, timeout: Duration) {
        crate::servers::wait_ready(self.admin, &self.process, "edge", timeout).await;
    }

    /// The value of a metric (summed over series matching `labels`), 0 if absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        crate::servers::metric(self.admin, name, labels).await
    }
}
