//! Owns what an end-to-end test runs against: private Redis servers, a private vhost on the
//! RabbitMQ node that `scripts/test` starts, the project's binaries as child processes, and the
//! small probes (HTTP, Prometheus text, polling) used to watch them.
//!
//! Missing servers are a hard failure, never a skip: a suite that silently skips proves nothing.
//! Run everything through `./scripts/test`, which installs and starts what is needed.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// `scripts/test` exports these; see its header.
const ENV_AMQP_URL: &str = "BLACKHOLE_TEST_AMQP_URL";
const ENV_RABBITMQ_NODE: &str = "BLACKHOLE_TEST_RABBITMQ_NODE";
const ENV_RABBITMQ_HOME: &str = "BLACKHOLE_TEST_RABBITMQ_HOME";
const ENV_ERL_EPMD_PORT: &str = "BLACKHOLE_TEST_ERL_EPMD_PORT";
const ENV_TMPDIR: &str = "BLACKHOLE_TEST_TMPDIR";

/// The unwrapped CLI: `/usr/sbin/rabbitmqctl` switches to the rabbitmq user, whose HOME holds
/// another Erlang cookie.
const RABBITMQCTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A port on 127.0.0.1 that was free a moment ago.
///
/// Another process may take it before the caller binds it; [`RedisServer::start_new`] retries
/// for that reason.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Where tests put their files: inside the run's temp dir when `scripts/test` runs them, so that
/// its cleanup finds (and kills) whatever a crashed test left behind.
fn test_tempdir(prefix: &str) -> TempDir {
    let base = std::env::var_os(ENV_TMPDIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()))
}

/// A name no other test of this run (nor a concurrent run) uses.
fn unique_suffix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// === impl RedisServer ===

/// A private `redis-server` on its own port, with no persistence.
///
/// [`stop`](Self::stop) and [`start`](Self::start) simulate an outage: the port stays the
/// same, so clients configured with [`url`](Self::url) can reconnect.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
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
            let mut server = RedisServer {
                port: free_port(),
                dir: test_tempdir("redis-"),
                child: None,
            };
            match server.try_start().await {
                Ok(()) => return server,
                // Most likely another process took the port between free_port() and the bind.
                Err(e) => last_error = e,
            }
        }
        panic!(
            "redis-server did not start after {} attempts: {last_error}",
            Self::START_ATTEMPTS
        );
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

// === impl RabbitVhost ===

/// A vhost of its own on the shared RabbitMQ node, so that tests running in parallel never see
/// each other's exchanges, queues or messages. Deleted on drop.
pub struct RabbitVhost {
    name: String,
    url: String,
    cli: RabbitCli,
}

impl RabbitVhost {
    /// Creates the vhost and grants `guest` full rights on it (each `rabbitmqctl` call starts an
    /// Erlang VM, about 0.6 s).
    pub async fn create() -> Self {
        let Ok(base_url) = std::env::var(ENV_AMQP_URL) else {
            panic!("{ENV_AMQP_URL} is not set: run ./scripts/test: RabbitMQ is required");
        };
        let cli = RabbitCli::from_env();
        let name = format!("bhtest-{}", unique_suffix());
        cli.run(&["add_vhost", &name]).await;
        cli.run(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])
            .await;
        RabbitVhost {
            url: amqp_url_with_vhost(&base_url, &name),
            name,
            cli,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/<vhost>`, ready for lapin or the binaries' flags.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        // Best effort: the whole node is thrown away at the end of the run anyway. Blocking is
        // acceptable here, it only delays the end of one test.
        let _ = self
            .cli
            .std_command(&["delete_vhost", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// How to reach the node that `scripts/test` started.
struct RabbitCli {
    node: String,
    home: String,
    epmd_port: String,
}

impl RabbitCli {
    fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run ./scripts/test: RabbitMQ is required")
            })
        };
        RabbitCli {
            node: var(ENV_RABBITMQ_NODE),
            home: var(ENV_RABBITMQ_HOME),
            epmd_port: var(ENV_ERL_EPMD_PORT),
        }
    }

    fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(RABBITMQCTL);
        command
            .args(["-q", "-n", &self.node])
            .args(args)
            // The node's HOME holds the Erlang cookie; its epmd is private to this run.
            .env("HOME", &self.home)
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", &self.epmd_port)
            .stdin(Stdio::null());
        command
    }

    /// Runs `rabbitmqctl`, retrying: every call listens on one of only 11 fixed distribution
    /// ports (35672-35682), so a burst of parallel calls can briefly fail.
    async fn run(&self, args: &[&str]) {
        let mut failure = String::new();
        for attempt in 0..5u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
            }
            let output = Command::from(self.std_command(args))
                .kill_on_drop(true)
                .output()
                .await
                .unwrap_or_else(|e| panic!("run {RABBITMQCTL}: {e}: run ./scripts/test"));
            if output.status.success() {
                return;
            }
            failure = format!(
                "{}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        panic!("rabbitmqctl {} failed: {failure}", args.join(" "));
    }
}

/// Replaces the vhost path of an AMQP URL (`…/%2f`), keeping any query string.
fn amqp_url_with_vhost(base: &str, vhost: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority_start = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[authority_start..].find('/') {
        Some(i) => &without_query[..authority_start + i],
        None => without_query,
    };
    let mut url = format!("{root}/{}", percent_encode(vhost));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// === binaries ===

/// The path of a workspace binary (e.g. `blackhole-ingest`) in the target dir this test was
/// built into.
///
/// Cargo builds a package's own binaries before its integration tests, but not those of other
/// packages, so `scripts/test` runs `cargo build --workspace --bins` first.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // Test executables live in target/<profile>/deps/, binaries in target/<profile>/.
    let mut dir = exe.parent().expect("test executable has a parent dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent dir");
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary {} not found: run `cargo build --workspace --bins` (./scripts/test does)",
        path.display()
    );
    path
}

// === impl ChildProcess ===

/// One of the project's binaries running under a test, its stdout and stderr captured.
///
/// Killed on drop; if the test is panicking at that point, its output is printed, so a failed
/// test shows what the process said.
pub struct ChildProcess {
    name: String,
    child: Child,
    logs: Arc<Mutex<String>>,
    /// Output pumps still reading; 0 means both pipes reached EOF, i.e. the process is gone.
    open_pipes: Arc<AtomicUsize>,
}

impl ChildProcess {
    /// How long [`terminate`](Self::terminate) waits before calling it a hang.
    const TERMINATE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Spawns the workspace binary `binary_name` (see [`binary`]). `RUST_LOG` is `info` unless
    /// `envs` sets it, so that tests can rely on the info-level lines. Must be called inside a
    /// tokio runtime.
    pub fn spawn(binary_name: &str, args: &[String], envs: &[(String, String)]) -> Self {
        Self::spawn_program(&binary(binary_name), args, envs)
    }

    /// Like [`spawn`](Self::spawn), for any program.
    pub fn spawn_program(program: &Path, args: &[String], envs: &[(String, String)]) -> Self {
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut command = Command::new(program);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));

        let logs = Arc::new(Mutex::new(String::new()));
        let open_pipes = Arc::new(AtomicUsize::new(2));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(pump(stdout, logs.clone(), open_pipes.clone()));
        tokio::spawn(pump(stderr, logs.clone(), open_pipes.clone()));
        ChildProcess {
            name,
            child,
            logs,
            open_pipes,
        }
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process printed so far, stdout and stderr interleaved by line.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("log buffer lock").clone()
    }

    /// Waits until the output contains `needle`. Returns false on timeout, or as soon as the
    /// process has exited without printing it.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || async {
            self.logs().contains(needle) || self.open_pipes.load(Ordering::Acquire) == 0
        })
        .await
            && self.logs().contains(needle)
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
        self.drain_output().await;
    }

    /// SIGTERM, then waits for a graceful exit and returns its status. Panics (after a SIGKILL)
    /// if the process is still running after 30 s, printing its output.
    pub async fn terminate(&mut self) -> ExitStatus {
        if let Some(pid) = self.child.id() {
            // `kill` the command, because the workspace forbids the unsafe a libc call needs.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Self::TERMINATE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.drain_output().await;
                status
            }
            Ok(Err(e)) => panic!("wait for {}: {e}", self.name),
            Err(_) => {
                self.kill().await;
                panic!(
                    "{} did not exit within {:?} of SIGTERM; its output:\n{}",
                    self.name,
                    Self::TERMINATE_TIMEOUT,
                    self.logs()
                );
            }
        }
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Lets the pumps read the last lines after an exit, so callers see the final log.
    async fn drain_output(&self) {
        wait_until(Duration::from_secs(2), || async {
            self.open_pipes.load(Ordering::Acquire) == 0
        })
        .await;
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("----- output of {} -----\n{}", self.name, self.logs());
        }
    }
}

/// Copies one pipe into the shared log, line by line.
async fn pump(
    pipe: impl AsyncRead + Unpin,
    logs: Arc<Mutex<String>>,
    open_pipes: Arc<AtomicUsize>,
) {
    let mut lines = BufReader::new(pipe);
    let mut line = Vec::new();
    // read_until rather than lines(): a binary's output need not be valid UTF-8.
    while let Ok(n) = lines.read_until(b'\n', &mut line).await {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let mut logs = logs.lock().expect("log buffer lock");
        logs.push_str(&text);
        if !text.ends_with('\n') {
            logs.push('\n');
        }
        drop(logs);
        line.clear();
    }
    open_pipes.fetch_sub(1, Ordering::AcqRel);
}

// === probes ===

/// `GET path` over HTTP/1.0 (so the body ends at EOF, never chunked). Returns the status and
/// the body, or None if the connection failed or the response was not HTTP.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        parse_http_response(&response)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

fn parse_http_response(response: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Polls `f` until it returns true or `timeout` passes; checks once more at the deadline so a
/// slow poll cannot miss it. Returns whether the condition was met.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// === Prometheus text ===

/// The value of metric `name` in Prometheus text exposition, summed over every series whose
/// labels include all of `labels` (so `&[]` sums every series). None if no series matched.
pub fn metric_value(metrics_text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in metrics_text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            continue;
        };
        let matches = sample.name == name
            && labels
                .iter()
                .all(|(key, value)| sample.labels.iter().any(|(k, v)| k == key && v == value));
        if matches {
            *total.get_or_insert(0.0) += sample.value;
        }
    }
    total
}

struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

/// Parses `name{k="v",…} value [timestamp]`; None for anything malformed.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].trim();
            let (value, after) = parse_quoted(rest[eq + 1..].trim_start())?;
            labels.push((key, value));
            rest = after;
        }
    }
    let value = rest.split_whitespace().next()?;
    Some(Sample {
        name,
        labels,
        value: parse_float(value)?,
    })
}

/// Parses a double-quoted label value with the format's escapes (`\\`, `\"`, `\n`); returns it
/// and the text after the closing quote.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP blackhole_events_total Events published.
# TYPE blackhole_events_total counter
blackhole_events_total{source="callevt",result="ok"} 7
blackhole_events_total{source="conference",result="ok"} 3
blackhole_events_total{source="callevt",result="error"} 2
blackhole_sockets 12
blackhole_latency_seconds_bucket{le="0.005"} 1
blackhole_latency_seconds_bucket{le="+Inf"} 4
blackhole_latency_seconds_sum 0.25
weird{path="a \"quoted\" \\ value, with {braces}",other="x"} 1.5e3 1700000000000
blackhole_events_total_extra 100
"#;

    #[test]
    fn metric_without_labels() {
        assert_eq!(metric_value(TEXT, "blackhole_sockets", &[]), Some(12.0));
        assert_eq!(
            metric_value(TEXT, "blackhole_latency_seconds_sum", &[]),
            Some(0.25)
        );
    }

    #[test]
    fn metric_sums_series_matching_a_label_subset() {
        assert_eq!(
            metric_value(TEXT, "blackhole_events_total", &[]),
            Some(12.0)
        );
        assert_eq!(
            metric_value(TEXT, "blackhole_events_total", &[("source", "callevt")]),
            Some(9.0)
        );
        assert_eq!(
            metric_value(TEXT, "blackhole_events_total", &[("result", "ok")]),
            Some(10.0)
        );
        assert_eq!(
            metric_value(
                TEXT,
                "blackhole_events_total",
                &[("source", "callevt"), ("result", "error")]
            ),
            Some(2.0)
        );
    }

    #[test]
    fn metric_absent_is_none() {
        assert_eq!(metric_value(TEXT, "blackhole_missing", &[]), None);
        assert_eq!(
            metric_value(TEXT, "blackhole_events_total", &[("source", "faxes")]),
            None
        );
        // A prefix of a longer name is not that name.
        assert_eq!(metric_value(TEXT, "blackhole_events", &[]), None);
        // Help and type lines are not samples.
        assert_eq!(metric_value("# TYPE x counter\n", "x", &[]), None);
    }

    #[test]
    fn metric_special_values_escapes_and_timestamps() {
        assert_eq!(
            metric_value(TEXT, "blackhole_latency_seconds_bucket", &[("le", "+Inf")]),
            Some(4.0)
        );
        assert_eq!(
            metric_value(
                TEXT,
                "weird",
                &[("path", r#"a "quoted" \ value, with {braces}"#)]
            ),
            Some(1500.0)
        );
        assert_eq!(metric_value("g -Inf\n", "g", &[]), Some(f64::NEG_INFINITY));
        assert!(metric_value("g NaN\n", "g", &[]).is_some_and(f64::is_nan));
        assert_eq!(metric_value("broken{a=\"x\" 1\n", "broken", &[]), None);
    }

    #[test]
    fn amqp_url_gets_the_vhost() {
        assert_eq!(
            amqp_url_with_vhost("amqp://guest:guest@127.0.0.1:5673/%2f", "bhtest-1-2"),
            "amqp://guest:guest@127.0.0.1:5673/bhtest-1-2"
        );
        assert_eq!(
            amqp_url_with_vhost("amqp://127.0.0.1:5673", "a/b c"),
            "amqp://127.0.0.1:5673/a%2Fb%20c"
        );
        assert_eq!(
            amqp_url_with_vhost("amqp://h:1/%2f?heartbeat=5", "v"),
            "amqp://h:1/v?heartbeat=5"
        );
    }

    #[test]
    fn http_response_parsing() {
        assert_eq!(
            parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            Some((200, "ok".to_owned()))
        );
        assert_eq!(
            parse_http_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Some((503, String::new()))
        );
        assert_eq!(parse_http_response(b"SSH-2.0-x\r\n\r\n"), None);
        assert_eq!(parse_http_response(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[tokio::test]
    async fn http_get_reads_a_response_and_fails_softly() {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 1024];
            let n = stream.read(&mut request).await.unwrap();
            assert!(request[..n].starts_with(b"GET /metrics HTTP/1.0\r\n"));
            stream
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nup 1\n")
                .await
                .unwrap();
        });
        assert_eq!(
            http_get(addr, "/metrics").await,
            Some((200, "up 1\n".to_owned()))
        );
        server.await.unwrap();
        assert_eq!(
            http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())), "/").await,
            None
        );
    }

    #[tokio::test]
    async fn wait_until_times_out_and_succeeds() {
        assert!(!wait_until(Duration::from_millis(50), || async { false }).await);
        let mut calls = 0;
        assert!(
            wait_until(Duration::from_secs(5), || {
                calls += 1;
                let done = calls >= 3;
                async move { done }
            })
            .await
        );
    }

    #[tokio::test]
    async fn child_process_captures_output_and_terminates() {
        let script = "echo ready; echo oops >&2; trap 'echo bye; exit 3' TERM; \
                      while :; do sleep 0.05; done";
        let mut child = ChildProcess::spawn_program(
            Path::new("/bin/sh"),
            &["-c".to_owned(), script.to_owned()],
            &[],
        );
        assert!(child.wait_for_log("ready", Duration::from_secs(5)).await);
        assert!(child.wait_for_log("oops", Duration::from_secs(5)).await);
        let status = child.terminate().await;
        assert_eq!(status.code(), Some(3));
        assert!(child.logs().contains("bye"), "logs: {}", child.logs());
        // Exited: gives up at once rather than waiting out the timeout.
        let started = Instant::now();
        assert!(!child.wait_for_log("never", Duration::from_secs(30)).await);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn child_process_gets_rust_log_unless_given() {
        let print = ["-c".to_owned(), "echo \"RUST_LOG=$RUST_LOG\"".to_owned()];
        let mut child = ChildProcess::spawn_program(Path::new("/bin/sh"), &print, &[]);
        assert!(
            child
                .wait_for_log("RUST_LOG=info", Duration::from_secs(5))
                .await
        );
        child.kill().await;

        let envs = [("RUST_LOG".to_owned(), "debug".to_owned())];
        let child = ChildProcess::spawn_program(Path::new("/bin/sh"), &print, &envs);
        assert!(
            child
                .wait_for_log("RUST_LOG=debug", Duration::from_secs(5))
                .await
        );
    }
}
