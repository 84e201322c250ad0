//! Owns the project's binaries as child processes of a test: finding them in the target dir,
//! spawning them with their output captured, and stopping them (SIGTERM or SIGKILL).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::wait::wait_until;

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

#[cfg(test)]
mod tests;
