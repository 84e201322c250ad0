//! `blackhole-ingest`: parse the configuration, set up logging, run until SIGTERM.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = blackhole_ingest::Args::parse();
    blackhole_ops::telemetry::init(args.log_format);
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("blackhole-ingest: {e}");
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blackhole-ingest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(blackhole_ingest::run(
        config,
        blackhole_ops::signal::shutdown(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blackhole-ingest: {e}");
            ExitCode::FAILURE
        }
    }
}
