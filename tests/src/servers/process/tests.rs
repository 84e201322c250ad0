use std::time::Instant;

use super::*;

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
