//! `blackhole-loadtest`: load generator and benchmark scenarios for Blackhole, each printing a
//! table and optionally writing machine-readable JSON. Owns the command line and the order in
//! which a scenario's phases run.
//!
//! `ingest` compares the real `blackhole-ingest` with a bare lapin consumer on the same broker,
//! queue shape, payloads and prefetch (see `BENCHMARKS.md` and `loadtest/run-ingest-bench`).

mod amqp;
mod baseline;
mod ingest_run;
mod kazoo;
mod procfs;
mod redis_watch;
mod report;
mod scrape;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::ingest_run::IngestSettings;
use crate::kazoo::EventFactory;
use crate::report::IngestReport;

#[derive(Debug, Parser)]
#[command(name = "blackhole-loadtest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Ingest throughput: a queue of Kazoo events drained by a bare lapin consumer (baseline),
    /// then by the real blackhole-ingest publishing to Redis.
    Ingest(IngestArgs),
}

#[derive(Debug, clap::Args)]
struct IngestArgs {
    /// The broker (a private one: the benchmark declares and fills blackhole.ingest).
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,

    /// The Redis ingest publishes to.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,

    /// Events per phase.
    #[arg(long, default_value_t = 100_000)]
    events: u64,

    /// Accounts the events are spread over, round-robin.
    #[arg(long, default_value_t = 100)]
    accounts: usize,

    /// Body size of each event (a CHANNEL_CREATE padded to this size).
    #[arg(long, default_value_t = 1500)]
    payload_bytes: usize,

    /// Prefetch of both consumers (ingest's default is 500).
    #[arg(long, default_value_t = 500)]
    prefetch: u16,

    /// The blackhole-ingest binary [default: next to this one].
    #[arg(long)]
    ingest_bin: Option<PathBuf>,

    /// Pid of the broker's VM (beam.smp), to report its CPU time and tell it apart from
    /// whatever else runs on the machine.
    #[arg(long)]
    broker_pid: Option<u32>,

    /// Copy ingest's output to this file.
    #[arg(long)]
    ingest_log: Option<PathBuf>,

    /// Write the results as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,

    /// Bound on each wait (filling a queue, draining it), in seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blackhole-loadtest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Scenario::Ingest(args) => runtime.block_on(ingest(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blackhole-loadtest: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if args.events == 0 || u32::try_from(args.events).is_err() {
        bail!("--events must be between 1 and {}", u32::MAX);
    }
    if args.accounts == 0 {
        bail!("--accounts must be at least 1");
    }
    if args.prefetch == 0 {
        bail!("--prefetch must be at least 1");
    }
    let binary = match args.ingest_bin {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locate this executable")?
            .with_file_name("blackhole-ingest"),
    };
    if !binary.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p blackhole-ingest) or pass --ingest-bin",
            binary.display()
        );
    }
    // Before anything of ours runs: what else keeps the machine busy.
    let machine = procfs::machine();
    let timeout = Duration::from_secs(args.timeout_secs);
    let factory = EventFactory::new(args.accounts, args.payload_bytes);
    let sample_count = args.events.min(1000);
    let payload_bytes = ((0..sample_count)
        .map(|seq| factory.event(seq).body.len() as u64)
        .sum::<u64>()
        / sample_count) as usize;

    eprintln!(
        "baseline: publishing {} events, then draining them with a bare consumer",
        args.events
    );
    let baseline = baseline::run(
        &args.amqp_url,
        &factory,
        args.events,
        args.prefetch,
        args.broker_pid,
        timeout,
    )
    .await?;
    eprintln!(
        "baseline: {:.0} msgs/s; ingest: publishing {} events to its queue, then starting {}",
        baseline.msgs_per_s(),
        args.events,
        binary.display()
    );
    let settings = IngestSettings {
        amqp_url: &args.amqp_url,
        redis_url: &args.redis_url,
        binary: &binary,
        prefetch: args.prefetch,
        broker_pid: args.broker_pid,
        timeout,
        log_file: args.ingest_log,
    };
    let ingest = ingest_run::run(&settings, &factory, args.events).await?;

    let report = IngestReport {
        events: args.events,
        accounts: args.accounts,
        payload_bytes,
        prefetch: args.prefetch,
        machine,
        baseline,
        ingest,
    };
    println!("{}", report.table());
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report.json())?;
        std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}
