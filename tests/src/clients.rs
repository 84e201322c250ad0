//! Real, unmodified client libraries from npm, driven through small Node scripts in
//! `tests/node/`: each prints what it receives as JSON lines and takes commands on stdin.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The folder of the Node scripts and their `node_modules` (installed by `scripts/test`).
pub fn node_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules").is_dir(),
        "{}/node_modules is missing: run ./scripts/test, which installs the test clients",
        dir.display()
    );
    dir
}

/// A Node script from `tests/node/` whose stdout is JSON lines and whose stdin takes commands.
struct NodeScript {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl NodeScript {
    /// Runs `script` with `args` and extra environment variables `envs`.
    fn spawn<A: AsRef<std::ffi::OsStr>>(
        script: &str,
        args: &[A],
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let dir = node_dir();
        let mut child = Command::new("node")
            .current_dir(&dir)
            .arg(dir.join(script))
            .args(args)
            .envs(envs.iter().copied())
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
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Writes one line to the script's stdin.
    async fn send_line(&mut self, line: &[u8]) {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        self.stdin.write_all(&bytes).await.expect("node stdin");
        self.stdin.flush().await.unwrap();
    }

    /// The next JSON line, or `None` after `deadline`.
    async fn next_line(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        tokio::time::timeout_at(deadline, self.lines.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for the line whose `type` is `kind`, skipping others, up to `timeout`.
    async fn wait_for_type(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = self.next_line(deadline).await?;
            if line["type"] == kind {
                return Some(line);
            }
        }
    }

    /// Sends `goodbye` and waits a little for the script to exit.
    async fn finish(mut self, goodbye: &[u8], timeout: Duration) {
        self.send_line(goodbye).await;
        let _ = tokio::time::timeout(timeout, self.child.wait()).await;
    }
}

/// One socket.io-client (2.x or 4.x) in a Node process.
pub struct SioClient {
    node: NodeScript,
    /// Everything received so far, in order.
    pub seen: Vec<Value>,
}

impl SioClient {
    /// Connects socket.io-client `major` ("2" or "4") to `url` with `transports`
    /// ("websocket" or "polling,websocket"), optionally with a CONNECT `auth` token (4.x).
    pub fn connect(url: &str, major: &str, transports: &str, auth_token: Option<&str>) -> Self {
        Self::connect_with_env(url, major, transports, auth_token, &[])
    }

    /// Connects socket.io-client 4 to an `https://` edge, trusting the CA in `ca` as a
    /// deployment with its own CA configures Node (`NODE_EXTRA_CA_CERTS`).
    pub fn connect_trusting(url: &str, transports: &str, ca: &std::path::Path) -> Self {
        Self::connect_with_env(
            url,
            "4",
            transports,
            None,
            &[("NODE_EXTRA_CA_CERTS", ca.as_os_str())],
        )
    }

    fn connect_with_env(
        url: &str,
        major: &str,
        transports: &str,
        auth_token: Option<&str>,
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let mut args = vec!["--url", url, "--client", major, "--transports", transports];
        if let Some(token) = auth_token {
            args.extend(["--auth-token", token]);
        }
        Self {
            node: NodeScript::spawn("sio-client.js", &args, envs),
            seen: Vec::new(),
        }
    }

    async fn command(&mut self, command: Value) {
        self.node
            .send_line(&serde_json::to_vec(&command).unwrap())
            .await;
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
            .expect("subscribe ack");
        ack["reply"].clone()
    }

    /// Emits `subscribe` without an ack (Kazoo's failure events answer errors then).
    pub async fn subscribe_without_ack(&mut self, request: Value) {
        self.command(json!({"op": "emit", "name": "subscribe", "request": request}))
            .await;
    }

    /// Emits `unsubscribe` with an ack and returns the ack's reply.
    pub async fn unsubscribe(&mut self, request: Value) -> Value {
        self.command(json!({"op": "unsubscribe", "request": request}))
            .await;
        let ack = self
            .wait_for(Duration::from_secs(10), |v| {
                v["type"] == "ack" && v["op"] == "unsubscribe"
            })
            .await
            .expect("unsubscribe ack");
        ack["reply"].clone()
    }

    /// Waits for the next line matching `predicate` (earlier lines are kept in `seen`).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = self.node.next_line(deadline).await?;
            self.seen.push(line.clone());
            if predicate(&line) {
                return Some(line);
            }
        }
    }

    /// Waits until connected.
    pub async fn connected(&mut self) -> Value {
        self.wait_for(Duration::from_secs(10), |v| v["type"] == "connect")
            .await
            .unwrap_or_else(|| panic!("client never connected; saw {:?}", self.seen))
    }

    /// The next server event (not ack/connect lines), within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |v| v["type"] == "event").await
    }

    /// Every event line seen so far.
    pub fn events(&self) -> Vec<&Value> {
        self.seen.iter().filter(|v| v["type"] == "event").collect()
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
    pub async fn close(self) {
        self.node
            .finish(
                json!({"op": "close"}).to_string().as_bytes(),
                Duration::from_secs(5),
            )
            .await;
    }
}

/// Many socket.io-client 4.x websockets in one Node process (`tests/node/many-clients.js`).
pub struct ManyClients {
    node: NodeScript,
}

impl ManyClients {
    /// Opens one socket per `(account, token)`, spread round-robin over `urls`, each subscribed
    /// to `binding` for its account. Returns once all are subscribed.
    pub async fn connect(urls: &[String], sockets: &[(String, String)], binding: &str) -> Self {
        let spec = json!({
            "urls": urls,
            "binding": binding,
            "sockets": sockets.iter().map(|(a, t)| json!({"account": a, "token": t})).collect::<Vec<_>>(),
        });
        let mut node = NodeScript::spawn("many-clients.js", &[spec.to_string()], &[]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = node
                .next_line(deadline)
                .await
                .expect("sockets not all subscribed within 60 s");
            match line["type"].as_str() {
                Some("ready") => return Self { node },
                Some("error" | "connect_error") => panic!("a socket failed to subscribe: {line}"),
                _ => {}
            }
        }
    }

    /// What each socket received: its account and the `Call-ID`s of its events, plus how many
    /// events of another account it saw.
    pub async fn report(mut self) -> Vec<Value> {
        self.node.send_line(b"report").await;
        let report = self
            .node
            .wait_for_type("report", Duration::from_secs(30))
            .await
            .expect("report within 30 s");
        let _ = tokio::time::timeout(Duration::from_secs(5), self.node.child.wait()).await;
        report["sockets"].as_array().cloned().unwrap_or_default()
    }
}

/// Connects the `ws` package to `url`, sends `frames`, and returns every JSON line it printed
/// (`open`, `message`, `close` with `code`, `http` with `status`) within `wait`.
pub async fn raw_websocket(url: &str, frames: &Value, wait: Duration) -> Vec<Value> {
    let dir = node_dir();
    let output = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("ws-raw.js"))
        .arg(url)
        .arg(frames.to_string())
        .arg(wait.as_millis().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run node");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// A websocket client that sends a few text frames and then never reads: a slow consumer.
pub struct StalledWebsocket {
    _stream: tokio::net::TcpStream,
}

impl StalledWebsocket {
    /// Opens a websocket to `path` on `addr` with a tiny receive buffer, sends `frames`, and
    /// stops reading.
    pub async fn open(addr: std::net::SocketAddr, path: &str, frames: &[&str]) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read the 101 response (and whatever follows it in the same segment).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tokio::io::AsyncReadExt::read_exact(&mut stream, &mut byte)
                .await
                .unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        for frame in frames {
            stream
                .write_all(&masked_text_frame(frame.as_bytes()))
                .await
                .unwrap();
        }
        stream.flush().await.unwrap();
        Self { _stream: stream }
    }
}

fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The original Blackhole docs' example page (socket.io 0.9 API, socket.io-client@0.9.16) in
/// headless Chromium, driven by `tests/node/example-page.js`.
pub struct ExamplePage {
    node: NodeScript,
    /// Every value the page passed to `console.log`, in order.
    pub logged: Vec<Value>,
}

impl ExamplePage {
    /// Opens the page against `edge_url` with the given account and token; `transports`
    /// restricts the client (e.g. `xhr-polling`).
    pub async fn open(
        edge_url: &str,
        account: &str,
        token: &str,
        transports: Option<&str>,
    ) -> Self {
        Self::open_script("example-page.js", edge_url, account, token, transports, &[]).await
    }

    /// Opens the page against an `https://` edge, with Chromium accepting only certificate
    /// chains that carry the key of the CA in `ca_pin` (`tests/node/example-page-tls.js`).
    pub async fn open_pinned(
        edge_url: &str,
        account: &str,
        token: &str,
        transports: Option<&str>,
        ca_pin: &std::path::Path,
    ) -> Self {
        let pin = ca_pin.display().to_string();
        Self::open_script(
            "example-page-tls.js",
            edge_url,
            account,
            token,
            transports,
            &["--tls-ca", &pin],
        )
        .await
    }

    async fn open_script(
        script: &str,
        edge_url: &str,
        account: &str,
        token: &str,
        transports: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let mut args = vec!["--edge", edge_url, "--account", account, "--token", token];
        if let Some(transports) = transports {
            args.extend(["--transports", transports]);
        }
        args.extend_from_slice(extra);
        let mut node = NodeScript::spawn(script, &args, &[]);
        let loaded = node.wait_for_type("loaded", Duration::from_secs(60)).await;
        assert!(loaded.is_some(), "Chromium did not load the example page");
        Self {
            node,
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
            let line = self.node.next_line(deadline).await?;
            match line["type"].as_str() {
                Some("console") => {
                    self.logged.push(line["value"].clone());
                    if line["value"]["Event-Name"] == name {
                        return Some(line["value"].clone());
                    }
                }
                Some("pageerror") => panic!("the page failed: {line}"),
                _ => {}
            }
        }
    }

    /// Closes the browser.
    pub async fn close(self) {
        self.node.finish(b"close", Duration::from_secs(10)).await;
    }
}

/// An interactive websocket client (`ws`): each `send` is one text frame, and every message
/// received is kept in order (parsed as JSON when it is JSON).
pub struct WsClient {
    node: NodeScript,
    /// Every line seen so far (`open`, `message`, `close`, `http`).
    pub seen: Vec<Value>,
}

impl WsClient {
    /// Connects to `url` (with extra request `headers`) and waits until it is open, or returns
    /// the line that said why not (e.g. `{"type":"http","status":400}`).
    pub async fn connect(url: &str, headers: &Value) -> Result<Self, Value> {
        let node = NodeScript::spawn("ws-client.js", &[url.to_owned(), headers.to_string()], &[]);
        let mut client = Self {
            node,
            seen: Vec::new(),
        };
        match client.next_line(Duration::from_secs(10)).await {
            Some(line) if line["type"] == "open" => Ok(client),
            Some(line) => Err(line),
            None => Err(Value::Null),
        }
    }

    async fn next_line(&mut self, timeout: Duration) -> Option<Value> {
        let line = self
            .node
            .next_line(tokio::time::Instant::now() + timeout)
            .await?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Sends one text frame.
    pub async fn send(&mut self, text: &str) {
        self.node.send_line(text.as_bytes()).await;
    }

    /// Sends `request` as JSON and returns the reply carrying its `request_id`.
    pub async fn request(&mut self, request: Value) -> Value {
        let id = request["request_id"].clone();
        self.send(&request.to_string()).await;
        self.next_message(Duration::from_secs(10), |m| {
            m["action"] == "reply" && m["request_id"] == id
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {request}; saw {:?}", self.seen))
    }

    /// The next message matching `predicate`, within `timeout`.
    pub async fn next_message(
        &mut self,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = self.next_line(left).await?;
            if line["type"] == "message" && predicate(&line["data"]) {
                return Some(line["data"].clone());
            }
            if line["type"] == "close" {
                return None;
            }
        }
    }

    /// Closes the socket.
    pub async fn close(self) {
        self.node.finish(b"__close__", Duration::from_secs(5)).await;
    }
}
