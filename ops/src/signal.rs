//! Termination signals as a future: SIGTERM (Kubernetes) and SIGINT (a terminal) mean the same.

/// Resolves when the process is asked to stop.
pub async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; only Ctrl-C will stop the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
