//! Owns what keeps one test's resources apart from every other's: free loopback ports, temp
//! dirs inside the run's temp dir, and names no other test uses.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// `scripts/test` exports it; see its header.
const ENV_TMPDIR: &str = "BLACKHOLE_TEST_TMPDIR";

/// A port on 127.0.0.1 that was free a moment ago.
///
/// Another process may take it before the caller binds it; [`super::RedisServer::start_new`]
/// retries for that reason.
pub fn free_port() -> u16 {
    bind_any()
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

/// `count` distinct ports that were free a moment ago. The listeners are held together until all
/// are chosen, so the kernel cannot hand out one port twice (separate [`free_port`] calls may).
pub(crate) fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..count).map(|_| bind_any()).collect();
    held.iter()
        .map(|listener| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
                .port()
        })
        .collect()
}

fn bind_any() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0")
}

/// Where tests put their files: inside the run's temp dir when `scripts/test` runs them, so that
/// its cleanup finds (and kills) whatever a crashed test left behind.
pub(crate) fn test_tempdir(prefix: &str) -> TempDir {
    let base = std::env::var_os(ENV_TMPDIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()))
}

/// A name no other test of this run (nor a concurrent run) uses.
pub(crate) fn unique_suffix() -> String {
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
