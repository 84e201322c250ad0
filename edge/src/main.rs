//! `blackhole-edge`: parse the configuration, set up logging, run until SIGTERM.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = blackhole_edge::Args::parse();
    blackhole_ops::telemetry::init(args.log_format);
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("blackhole-edge: {e}");
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blackhole-edge: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let edge = match blackhole_edge::Edge::bind(config).await {
            Ok(edge) => edge,
            Err(e) => {
                eprintln!("blackhole-edge: {e}");
                return ExitCode::from(64);
            }
        };
        match edge.run(blackhole_ops::signal::shutdown()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("blackhole-edge: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
