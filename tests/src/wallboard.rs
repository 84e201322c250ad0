//! The edge's wallboard page in headless Chromium (`tests/node/wallboard-driver.js`), read back
//! as DOM snapshots, plus an edge that can be started again on the address the page knows.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::clients::node_dir;
use crate::servers::{ChildProcess, free_port};

/// Chromium's start, the page load and the form on a loaded 2-core machine.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// One command to the driver; a snapshot takes milliseconds, a screenshot under a second.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two snapshots early in a wait: a test timing the page to the second must not be off
/// by a long poll.
const POLL_FAST: Duration = Duration::from_millis(20);
/// How long a wait polls fast; later, a snapshot every [`POLL_SLOW`] spares a loaded machine the
/// CPU of minutes of fast polling. The probe's history keeps every state shown in between.
const FAST_FOR: Duration = Duration::from_secs(3);
const POLL_SLOW: Duration = Duration::from_millis(250);

/// `target/test-artifacts/<name>` in the workspace, its folder created.
pub fn artifact_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let dir = dir.canonicalize().unwrap_or(dir);
    dir.join(name)
}

/// The wallboard page open in headless Chromium.
pub struct WallboardPage {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl WallboardPage {
    /// Opens `edge_url` (the page at `GET /`) and, with `login` (account id, token), signs in
    /// through the login form. Returns once the page has loaded and the form was submitted.
    pub async fn open(edge_url: &str, login: Option<(&str, &str)>) -> Self {
        let dir = node_dir();
        let mut command = Command::new("node");
        command
            .current_dir(&dir)
            .arg(dir.join("wallboard-driver.js"))
            .args(["--url", &format!("{}/", edge_url.trim_end_matches('/'))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some((account, token)) = login {
            command.args(["--account", account, "--token", token]);
        }
        let mut child = command.spawn().expect("spawn node (is Node.js installed?)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, mut lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|_| json!({"type": "text", "text": line}));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let first = tokio::time::timeout(OPEN_TIMEOUT, lines.recv()).await;
        match first {
            Ok(Some(line)) if line["type"] == "ready" => {}
            Ok(Some(line)) => panic!("the wallboard driver failed to open {edge_url}: {line}"),
            Ok(None) => panic!("the wallboard driver exited before opening {edge_url}"),
            Err(_) => panic!("Chromium did not open {edge_url} within {OPEN_TIMEOUT:?}"),
        }
        Self {
            child,
            stdin,
            lines,
        }
    }

    async fn command(&mut self, command: Value) -> Value {
        let mut line = serde_json::to_vec(&command).unwrap();
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .await
            .expect("wallboard driver stdin");
        self.stdin.flush().await.unwrap();
        let op = command["op"].clone();
        let reply = tokio::time::timeout(COMMAND_TIMEOUT, async {
            while let Some(line) = self.lines.recv().await {
                if line["type"] == "reply" {
                    return Some(line);
                }
                if line["type"] == "fatal" {
                    panic!("the wallboard driver failed: {line}");
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("no reply to {command} within {COMMAND_TIMEOUT:?}"))
        .unwrap_or_else(|| panic!("the wallboard driver exited on {command}"));
        assert_eq!(reply["op"], op, "replies come in command order");
        assert!(
            reply.get("error").is_none(),
            "{command} failed: {}",
            reply["error"]
        );
        reply
    }

    /// What the page shows now, and what it showed since it loaded.
    pub async fn snapshot(&mut self) -> Snapshot {
        Snapshot::from_json(self.command(json!({"op": "snapshot"})).await)
    }

    /// Polls snapshots until `done` holds; panics after `timeout` with `what` and the last one.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        loop {
            let snapshot = self.snapshot().await;
            if done(&snapshot) {
                return snapshot;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "the wallboard never showed {what} within {timeout:?}; last snapshot:\n{:#}",
                    snapshot.raw
                );
            }
            let poll = if started.elapsed() < FAST_FOR {
                POLL_FAST
            } else {
                POLL_SLOW
            };
            tokio::time::sleep(poll).await;
        }
    }

    /// Saves a PNG of the viewport at `path` (its folder must exist).
    pub async fn screenshot(&mut self, path: &Path) {
        self.command(json!({"op": "screenshot", "path": path}))
            .await;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "screenshot {} is empty", path.display());
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.command(json!({"op": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// One active-call row (`#active-calls tr[data-call-id]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    pub id: String,
    /// `ringing`, `answered` or `on-hold`.
    pub state: String,
    /// Seen before the link dropped, not confirmed since.
    pub stale: bool,
    pub direction: String,
    pub caller: Party,
    pub callee: Party,
}

/// A caller or callee cell: the name shown, and the number when it differs from the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub number: String,
}

/// One counter tile: its `data-value` (None while empty) and the text shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub value: Option<f64>,
    pub text: String,
}

/// The five last-hour counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    pub calls: Counter,
    pub answered: Counter,
    pub missed: Counter,
    pub avg_wait: Counter,
    pub avg_talk: Counter,
}

/// One state a row, or the connection indicator, was in, and since when (page clock, unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// A row's `data-state`, or `gone` when it left the table.
    pub state: String,
    pub at_ms: u64,
}

/// The page as one snapshot saw it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `#connection-state[data-state]`.
    pub connection: String,
    /// The line under it (the last error, the retry countdown).
    pub connection_detail: String,
    pub login_visible: bool,
    pub board_visible: bool,
    /// The rows in board order.
    pub calls: Vec<CallRow>,
    pub counters: Counters,
    /// `(data-event, data-call-id)` of the feed items, newest first.
    pub feed: Vec<(String, String)>,
    /// The account picker's options (demo mode).
    pub accounts: Vec<String>,
    /// Set by the driver when the page loaded; a reload would lose it.
    pub marker: Option<String>,
    /// Main-frame navigations since the driver opened the page: 1 unless it was reloaded.
    pub navigations: u64,
    /// The page's origin, `http://host:port`.
    pub origin: String,
    /// Every HTTP request and websocket the page made.
    pub requests: Vec<String>,
    pub websockets: Vec<String>,
    /// Uncaught exceptions, and console errors and warnings (CSP violations land there).
    pub page_errors: Vec<String>,
    pub console: Vec<String>,
    /// Every state each call id's row was in since the page loaded, in order.
    pub row_history: BTreeMap<String, Vec<Seen>>,
    /// Every call id the feed ever listed, with the events it listed for it.
    pub feed_history: BTreeMap<String, Vec<String>>,
    /// Every connection state shown since the page loaded.
    pub connection_history: Vec<Seen>,
    /// The driver's reply, for failure messages.
    pub raw: Value,
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(string).collect())
        .unwrap_or_default()
}

fn history(v: &Value) -> Vec<Seen> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| Seen {
                    state: string(&s["state"]),
                    at_ms: s["at"].as_f64().unwrap_or(0.0) as u64,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Snapshot {
    fn from_json(raw: Value) -> Self {
        let counter = |name: &str| {
            let c = &raw["counters"][name];
            Counter {
                // `data-value` is "" while there is nothing to show (no average yet).
                value: c["value"].as_str().and_then(|v| v.parse().ok()),
                text: string(&c["text"]),
            }
        };
        let party = |p: &Value| Party {
            name: string(&p["name"]),
            number: string(&p["number"]),
        };
        let calls = raw["calls"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| CallRow {
                        id: string(&r["id"]),
                        state: string(&r["state"]),
                        stale: r["stale"] == true,
                        direction: string(&r["direction"]),
                        caller: party(&r["caller"]),
                        callee: party(&r["callee"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let feed = raw["feed"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| (string(&i["event"]), string(&i["callId"])))
                    .collect()
            })
            .unwrap_or_default();
        let row_history = raw["history"]["rows"]
            .as_object()
            .map(|rows| {
                rows.iter()
                    .map(|(id, seen)| (id.clone(), history(seen)))
                    .collect()
            })
            .unwrap_or_default();
        let feed_history = raw["history"]["feed"]
            .as_object()
            .map(|ids| {
                ids.iter()
                    .map(|(id, events)| (id.clone(), strings(events)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            connection: string(&raw["connection"]["state"]),
            connection_detail: string(&raw["connection"]["detail"]),
            login_visible: raw["loginVisible"] == true,
            board_visible: raw["boardVisible"] == true,
            calls,
            counters: Counters {
                calls: counter("calls"),
                answered: counter("answered"),
                missed: counter("missed"),
                avg_wait: counter("avgWait"),
                avg_talk: counter("avgTalk"),
            },
            feed,
            accounts: strings(&raw["accounts"]),
            marker: raw["marker"].as_str().map(str::to_owned),
            navigations: raw["navigations"].as_u64().unwrap_or(0),
            origin: string(&raw["origin"]),
            requests: strings(&raw["requests"]),
            websockets: strings(&raw["websockets"]),
            page_errors: strings(&raw["pageErrors"]),
            console: strings(&raw["console"]),
            connection_history: history(&raw["history"]["connection"]),
            row_history,
            feed_history,
            raw,
        }
    }

    /// The row of `call_id`, if shown.
    pub fn call(&self, call_id: &str) -> Option<&CallRow> {
        self.calls.iter().find(|c| c.id == call_id)
    }

    /// The states `call_id`'s row went through, in order (`gone` once removed).
    pub fn states_of(&self, call_id: &str) -> Vec<&str> {
        self.row_history
            .get(call_id)
            .map(|seen| seen.iter().map(|s| s.state.as_str()).collect())
            .unwrap_or_default()
    }

    /// Whether `call_id` was ever on the board or in the feed since the page loaded.
    pub fn ever_showed(&self, call_id: &str) -> bool {
        self.row_history.contains_key(call_id) || self.feed_history.contains_key(call_id)
    }

    /// Requests and websockets to anything but the page's own origin (`http://host:port/…` or
    /// `ws://host:port/…`). `data:` URLs are left out: the browser decodes them without a
    /// request (the page's blank favicon is one).
    pub fn off_origin_requests(&self) -> Vec<String> {
        let http = format!("{}/", self.origin);
        let ws = format!("ws://{}/", self.origin.trim_start_matches("http://"));
        self.requests
            .iter()
            .chain(&self.websockets)
            .filter(|url| !url.starts_with(&http) && !url.starts_with(&ws))
            .filter(|url| !url.starts_with("data:"))
            .cloned()
            .collect()
    }
}

/// A `blackhole-edge` listening on a given address: a restarted edge must come back where the
/// page's websocket reconnects to, which [`crate::edge::EdgeProcess::spawn`] (a free port) cannot.
pub struct EdgeAt {
    pub process: ChildProcess,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    _tokens: tempfile::NamedTempFile,
}

impl EdgeAt {
    /// Starts an edge on `addr` with Redis `redis_url` and the static `tokens` file's JSON.
    pub fn spawn(addr: SocketAddr, redis_url: &str, tokens: &Value) -> Self {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(tokens).unwrap()).unwrap();
        let args: Vec<String> = vec![
            "--listen".into(),
            addr.to_string(),
            "--admin-listen".into(),
            admin.to_string(),
            "--redis-url".into(),
            redis_url.into(),
            "--auth-tokens".into(),
            file.path().display().to_string(),
        ];
        Self {
            process: ChildProcess::spawn("blackhole-edge", &args, &[]),
            addr,
            admin,
            _tokens: file,
        }
    }

    /// Waits until `/readyz` answers 200; panics with the process output otherwise.
    pub async fn wait_ready(&self, timeout: Duration) {
        crate::servers::wait_ready(
            self.admin,
            &self.process,
            &format!("edge on {}", self.addr),
            timeout,
        )
        .await;
    }
}
