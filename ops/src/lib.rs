//! blackhole-ops: the process plumbing both binaries share.
//!
//! - [`admin`]: the admin listener (`/metrics`, `/healthz`, `/readyz`), never on a public port;
//! - [`telemetry`]: log format and filter;
//! - [`signal`]: SIGTERM/SIGINT as a shutdown future;
//! - [`backoff`]: capped exponential backoff with jitter for reconnect loops.

pub mod admin;
pub mod backoff;
pub mod signal;
pub mod telemetry;
