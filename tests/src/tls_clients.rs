//! The real Node clients of [`crate::clients`], made to trust a private test CA: socket.io-client
//! 4 through `NODE_EXTRA_CA_CERTS` (as a deployment with its own CA configures Node), and the
//! docs' socket.io 0.9 example page in headless Chromium pinned to the CA's key
//! (`tests/node/example-page-tls.js`). Same scripts and JSON-line protocol as `clients.rs`,
//! which has no way to pass an environment variable or pick another script.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::clients::node_dir;

/// Spawns a Node script whose stdout is JSON lines, and forwards the lines that parse.
fn spawn_json_lines(mut command: Command) -> (Child, ChildStdin, mpsc::UnboundedReceiver<Value>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node (is Node.js installed?)");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && tx.send(value).is_err()
            {
                return;
            }
        }
    });
    (child, stdin, lines)
}

/// socket.io-client 4 (`tests/node/sio-client.js`) trusting `ca` for https and wss.
pub struct TrustingSioClient {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Everything received so far, in order.
    pub seen: Vec<Value>,
}

impl TrustingSioClient {
    /// Connects to `url` (`https://…`) with `transports` ("websocket" or "polling,websocket").
    pub fn connect(url: &str, transports: &str, ca: &Path) -> Self {
        let dir = node_dir();
        let mut command = Command::new("node");
        command
            .current_dir(&dir)
            .arg(dir.join("sio-client.js"))
            .args(["--url", url, "--client", "4", "--transports", transports])
            .env("NODE_EXTRA_CA_CERTS", ca);
        let (child, stdin, lines) = spawn_json_lines(command);
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    async fn command(&mut self, command: Value) {
        let mut line = serde_json::to_vec(&command).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).await.expect("client stdin");
        self.stdin.flush().await.unwrap();
    }

    /// Waits for the next line matching `predicate` (earlier lines are kept in `seen`).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if predicate(&line) {
                        return Some(line);
                    }
                }
                _ => return None,
            }
        }
    }

    /// Waits until connected and returns the `connect` line (it names the transport).
    pub async fn connected(&mut self) -> Value {
        self.wait_for(Duration::from_secs(15), |v| v["type"] == "connect")
            .await
            .unwrap_or_else(|| panic!("client never connected; saw {:?}", self.seen))
    }

    /// Emits `subscribe` with an ack and returns the ack's reply.
    pub async fn subscribe(&mut self, request: Value) -> Value {
        self.command(json!({"op": "subscribe", "request": request}))
            .await;
        let ack = self
            .wait_for(Duration::from_secs(10), |v| {
                v["type"] == "ack" && v["op"] == "subscribe"
            })
            .await
            .unwrap_or_else(|| panic!("no subscribe ack; saw {:?}", self.seen));
        ack["reply"].clone()
    }

    /// The next server event, within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |v| v["type"] == "event").await
    }

    /// The `disconnect` and `connect_error` lines seen so far: a socket that kept its
    /// connection has none.
    pub fn interruptions(&self) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|v| v["type"] == "disconnect" || v["type"] == "connect_error")
            .collect()
    }

    /// Closes the client.
    pub async fn close(mut self) {
        self.command(json!({"op": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// The docs' example page (`tests/node/example-page-tls.js`) in headless Chromium, accepting
/// only certificate chains that carry the key of the CA in `ca_pin`.
pub struct TrustingExamplePage {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every value the page passed to `console.log`, in order.
    pub logged: Vec<Value>,
}

impl TrustingExamplePage {
    /// Opens the page against `edge_url` (`https://…`) with the given account and token.
    pub async fn open(
        edge_url: &str,
        account: &str,
        token: &str,
        transports: Option<&str>,
        ca_pin: &Path,
    ) -> Self {
        let dir = node_dir();
        let mut command = Command::new("node");
        command
            .current_dir(&dir)
            .arg(dir.join("example-page-tls.js"))
            .args(["--edge", edge_url, "--account", account, "--token", token])
            .arg("--tls-ca")
            .arg(ca_pin);
        if let Some(transports) = transports {
            command.args(["--transports", transports]);
        }
        let (child, stdin, mut lines) = spawn_json_lines(command);
        let loaded = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.recv().await {
                if line["type"] == "loaded" {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(loaded, Ok(true), "Chromium did not load the example page");
        Self {
            child,
            stdin,
            lines,
            logged: Vec::new(),
        }
    }

    /// Waits until the page has logged an event whose `Event-Name` is `name`.
    pub async fn wait_for_event(&mut self, name: &str, timeout: Duration) -> Option<Value> {
        if let Some(found) = self.logged.iter().find(|v| v["Event-Name"] == name) {
            return Some(found.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line["type"] == "console" => {
                    self.logged.push(line["value"].clone());
                    if line["value"]["Event-Name"] == name {
                        return Some(line["value"].clone());
                    }
                }
                Ok(Some(line)) if line["type"] == "pageerror" => panic!("the page failed: {line}"),
                Ok(Some(_)) => {}
                _ => return None,
            }
        }
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.stdin.write_all(b"close\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
