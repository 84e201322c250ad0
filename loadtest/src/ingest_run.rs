//! Owns the ingest half of the benchmark: ingest's queue filled while ingest is down, then the
//! real `blackhole-ingest` binary started against it and watched (its `/metrics` every 100 ms,
//! the queue, a Redis pattern subscriber) until it has published and acked every event.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use blackhole_bus::Keyspace;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::amqp::Broker;
use crate::kazoo::{CALL_BINDING, CALL_EXCHANGE, EventFactory};
use crate::procfs::{self, CpuClock, CpuSpent, ProcessStats};
use crate::redis_watch::{self, ChannelCounter, CommandStat};
use crate::scrape;

/// Ingest's queue, under its default name: the benchmark declares it exactly as ingest does.
const QUEUE: &str = "blackhole.ingest";
const PUBLISHED: &str = "blackhole_ingest_messages_total";
const SCRAPE_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of ingest's output kept for an error message.
const LOG_TAIL_LINES: usize = 40;

/// How to run ingest.
pub(crate) struct IngestSettings<'a> {
    pub(crate) amqp_url: &'a str,
    pub(crate) redis_url: &'a str,
    pub(crate) binary: &'a Path,
    pub(crate) prefetch: u16,
    /// The broker's VM, whose CPU time is then measured too.
    pub(crate) broker_pid: Option<u32>,
    /// Bounds every wait: filling the queue, draining it, the subscriber catching up.
    pub(crate) timeout: Duration,
    /// Where to copy ingest's output, if anywhere.
    pub(crate) log_file: Option<PathBuf>,
}

/// What the ingest run measured.
pub(crate) struct IngestResult {
    pub(crate) events: u64,
    /// Time to pre-publish every event with confirms (not part of the rate).
    pub(crate) publish: Duration,
    /// Spawn to the first scrape that saw a published event.
    pub(crate) startup: Duration,
    /// Spawn to the scrape that saw all events published.
    pub(crate) from_spawn: Duration,
    /// The first scrape that saw published events: when, and how many.
    first_sample: (Duration, u64),
    /// Spawn to the moment the pattern subscriber received the last event.
    pub(crate) last_received: Option<Duration>,
    pub(crate) subscriber_received: u64,
    /// Ingest's memory and CPU just before it was stopped.
    pub(crate) process: ProcessStats,
    /// CPU time from spawn to the end of the run: Redis's, and everyone else's (`own` is this
    /// process, i.e. the subscriber).
    pub(crate) redis_cpu_seconds: f64,
    pub(crate) cpu: CpuSpent,
    /// The commands Redis ran for ingest (the publish script and what it calls), with their
    /// cost inside Redis.
    pub(crate) redis_commands: Vec<CommandStat>,
    /// From ingest's own histograms.
    pub(crate) mean_batch_events: Option<f64>,
    pub(crate) mean_batch_publish_seconds: Option<f64>,
    pub(crate) redis_errors: f64,
    /// Messages refused (any outcome but published); 0 unless the traffic is wrong.
    pub(crate) refused: f64,
    pub(crate) warnings_logged: u64,
    pub(crate) exit_status: String,
}

impl IngestResult {
    /// Steady state: from the first scrape that saw published events to the one that saw all,
    /// so that process start-up and connecting are left out, as the baseline leaves them out.
    pub(crate) fn events_per_s(&self) -> f64 {
        let (first_at, first_count) = self.first_sample;
        let span = self.from_spawn.saturating_sub(first_at).as_secs_f64();
        if first_count >= self.events || span <= 0.0 {
            return self.events_per_s_from_spawn();
        }
        (self.events - first_count) as f64 / span
    }

    /// Everything included: start-up, connecting, declaring, consuming.
    pub(crate) fn events_per_s_from_spawn(&self) -> f64 {
        self.events as f64 / self.from_spawn.as_secs_f64()
    }
}

/// Fills ingest's queue with `count` events, then runs ingest until it has published them all.
pub(crate) async fn run(
    settings: &IngestSettings<'_>,
    factory: &EventFactory,
    count: u64,
) -> anyhow::Result<IngestResult> {
    let broker = Broker::connect(settings.amqp_url).await?;
    broker.declare_kazoo_exchange(CALL_EXCHANGE).await?;
    let already = broker
        .declare_ingest_queue(QUEUE, CALL_EXCHANGE, CALL_BINDING)
        .await?;
    if already != 0 {
        bail!(
            "{QUEUE} already holds {already} messages; the benchmark needs it empty \
             (run it against a broker or vhost of its own)"
        );
    }
    let publish = broker.publish(CALL_EXCHANGE, factory, count).await?;
    broker
        .wait_depth(QUEUE, u32::try_from(count)?, settings.timeout)
        .await?;

    let pattern = Keyspace::default().all_channels_pattern();
    let subscriber = ChannelCounter::psubscribe(settings.redis_url, &pattern).await?;
    let redis_cpu_before = redis_watch::redis_cpu_seconds(settings.redis_url).await?;
    let clock = CpuClock::start(settings.broker_pid)?;

    let mut ingest = IngestChild::spawn(settings)?;
    let drained = drain(&mut ingest, &broker, &subscriber, settings.timeout, count).await;
    let (from_spawn, first_sample) = match drained {
        Ok(times) => times,
        Err(e) => {
            ingest.kill().await;
            return Err(e.context(format!("ingest's last output:\n{}", ingest.log_tail())));
        }
    };
    let last_received = subscriber.last_message_at().map(|t| t - ingest.spawned);
    let process = procfs::process_stats(ingest.pid)?;
    let metrics = scrape::metrics(ingest.admin).await?;
    let cpu = clock.stop()?;
    let redis_cpu_seconds =
        redis_watch::redis_cpu_seconds(settings.redis_url).await? - redis_cpu_before;
    // Half the events: the once-per-event commands, not the benchmark's own few queries.
    let redis_commands = redis_watch::redis_command_stats(settings.redis_url, count / 2).await?;
    let exit_status = ingest.terminate().await;
    broker.close().await;

    let mean = |name: &str| {
        let sum = scrape::sample(&metrics, &format!("{name}_sum"), None)?;
        let n = scrape::sample(&metrics, &format!("{name}_count"), None)?;
        (n > 0.0).then(|| sum / n)
    };
    let published = scrape::sample(&metrics, PUBLISHED, Some(("outcome", "published")));
    let all_outcomes = scrape::sample(&metrics, PUBLISHED, None);
    Ok(IngestResult {
        events: count,
        publish,
        startup: first_sample.0,
        from_spawn,
        first_sample,
        last_received,
        subscriber_received: subscriber.count(),
        process,
        redis_cpu_seconds,
        cpu,
        redis_commands,
        mean_batch_events: mean("blackhole_ingest_batch_events"),
        mean_batch_publish_seconds: mean("blackhole_ingest_publish_seconds"),
        redis_errors: scrape::sample(&metrics, "blackhole_ingest_redis_errors_total", None)
            .unwrap_or(0.0),
        refused: all_outcomes.unwrap_or(0.0) - published.unwrap_or(0.0),
        warnings_logged: ingest.warnings.load(Ordering::Relaxed),
        exit_status,
    })
}

/// Scrapes ingest until it reports `count` published events and the queue is empty, then
/// waits for the subscriber to have seen them all. Returns the time from spawn to the scrape
/// that saw all published, and the first scrape that saw any (time, count).
async fn drain(
    ingest: &mut IngestChild,
    broker: &Broker,
    subscriber: &ChannelCounter,
    timeout: Duration,
    count: u64,
) -> anyhow::Result<(Duration, (Duration, u64))> {
    let deadline = Instant::now() + timeout;
    let mut first_sample = None;
    let mut all_published = None;
    let mut ticker = tokio::time::interval(SCRAPE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(status) = ingest.child.try_wait()? {
            bail!("ingest exited with {status} before it had published every event");
        }
        // Until its admin listener is up a scrape fails; that is start-up, not an error.
        let published = match scrape::metrics(ingest.admin).await {
            Ok(text) => scrape::sample(&text, PUBLISHED, Some(("outcome", "published")))
                .unwrap_or(0.0) as u64,
            Err(_) => 0,
        };
        let now = ingest.spawned.elapsed();
        if published > 0 && first_sample.is_none() {
            first_sample = Some((now, published));
        }
        if published >= count && all_published.is_none() {
            all_published = Some(now);
        }
        if let (Some(done), Some(first)) = (all_published, first_sample) {
            // Published means acked right after; an empty queue confirms nothing is left.
            if broker.depth(QUEUE).await? == 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                subscriber.wait_for(count, left).await?;
                return Ok((done, first));
            }
        }
        if Instant::now() >= deadline {
            bail!("ingest published {published} of {count} events in {timeout:?}");
        }
    }
}

/// The running ingest process, its output counted and copied.
struct IngestChild {
    child: Child,
    pid: u32,
    admin: SocketAddr,
    spawned: Instant,
    warnings: Arc<AtomicU64>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl IngestChild {
    fn spawn(settings: &IngestSettings<'_>) -> anyhow::Result<Self> {
        let admin = free_loopback_addr()?;
        let binding = format!("{CALL_EXCHANGE}:{CALL_BINDING}");
        let mut child = Command::new(settings.binary)
            .args(["--amqp-url", settings.amqp_url])
            .args(["--redis-url", settings.redis_url])
            .args(["--admin-listen", &admin.to_string()])
            .args(["--bind", &binding])
            .args(["--prefetch", &settings.prefetch.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", settings.binary.display()))?;
        let spawned = Instant::now();
        let pid = child.id().context("ingest's pid")?;
        let warnings = Arc::new(AtomicU64::new(0));
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let log_file = match &settings.log_file {
            Some(path) => Some(Arc::new(tokio::sync::Mutex::new(
                std::fs::File::create(path)
                    .map(tokio::fs::File::from_std)
                    .with_context(|| format!("create {}", path.display()))?,
            ))),
            None => None,
        };
        let stdout = child.stdout.take().context("ingest's stdout")?;
        let stderr = child.stderr.take().context("ingest's stderr")?;
        for pipe in [
            Box::new(stdout) as Box<dyn AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            tokio::spawn(pump(pipe, warnings.clone(), tail.clone(), log_file.clone()));
        }
        Ok(Self {
            child,
            pid,
            admin,
            spawned,
            warnings,
            tail,
        })
    }

    fn log_tail(&self) -> String {
        let tail = self.tail.lock().expect("log tail lock");
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM (ingest drains and exits 0), SIGKILL if it has not exited after 30 s. Returns
    /// how it exited, for the report.
    async fn terminate(&mut self) -> String {
        // The `kill` command: a signal from Rust needs unsafe code, which the workspace forbids.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("unknown ({e})"),
            Err(_) => {
                self.kill().await;
                "killed: no exit within 30 s of SIGTERM".to_owned()
            }
        }
    }

    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Counts warning and error lines, keeps the last few and copies everything to the log file.
async fn pump(
    pipe: impl AsyncRead + Unpin,
    warnings: Arc<AtomicU64>,
    tail: Arc<Mutex<VecDeque<String>>>,
    log_file: Option<Arc<tokio::sync::Mutex<tokio::fs::File>>>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            warnings.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(file) = &log_file {
            let mut file = file.lock().await;
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
        let mut tail = tail.lock().expect("log tail lock");
        if tail.len() == LOG_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// A loopback address that was free a moment ago, for ingest's admin listener.
fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
