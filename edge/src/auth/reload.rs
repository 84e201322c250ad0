//! Keeps a parsed configuration file (or directory) current by polling its contents.
//!
//! Invariants: the value in use always came from a source that parsed; a source that fails to
//! parse is logged once and the previous value stays in use. Polling compares contents, not
//! metadata, so it follows every way a file can be replaced: in place, by `rename`, or by
//! Kubernetes swapping the `..data` symlink of a ConfigMap or Secret volume (the path is
//! re-resolved on every read).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::ConfigError;

/// How often the files are polled when nothing else is configured.
pub const DEFAULT_RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The raw contents of a watched path: one file, or the regular files of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Source {
    /// Whether the path named a directory.
    pub(super) dir: bool,
    /// `(file name, contents)`, sorted by name; a single entry for a file.
    pub(super) files: Vec<(String, Vec<u8>)>,
}

impl Source {
    fn read(path: &Path) -> io::Result<Self> {
        if !std::fs::metadata(path)?.is_dir() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(Self {
                dir: false,
                files: vec![(name, std::fs::read(path)?)],
            });
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Kubernetes keeps its `..data` and `..<timestamp>` bookkeeping next to the files.
            if name.starts_with('.') {
                continue;
            }
            let full = entry.path();
            // `metadata` follows symlinks: mounted files are symlinks into `..data`.
            match std::fs::metadata(&full) {
                Ok(meta) if meta.is_file() => files.push((name, std::fs::read(&full)?)),
                Ok(_) => {}
                // A dangling symlink mid-swap: the next poll sees the settled directory.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        files.sort();
        Ok(Self { dir: true, files })
    }
}

/// What the last poll saw, so that an unchanged (good or bad) source is neither re-parsed
/// nor logged again.
#[derive(PartialEq)]
enum Seen {
    Source(Source),
    Unreadable(io::ErrorKind),
}

/// Parses a source into the value in use. Errors must never quote file contents: a token
/// file's contents are secrets.
pub(super) type Parse<T> = fn(&Path, &Source) -> Result<T, ConfigError>;

/// A value parsed from a path, replaced when the path's contents change and still parse.
pub(super) struct Reloading<T> {
    path: PathBuf,
    /// Names the file in log lines ("token file", "jwt keys").
    what: &'static str,
    parse: Parse<T>,
    current: RwLock<Arc<T>>,
    seen: Mutex<Seen>,
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Reads and parses `path`; any failure is a configuration error.
    pub(super) fn load(
        path: &Path,
        what: &'static str,
        parse: Parse<T>,
    ) -> Result<Arc<Self>, ConfigError> {
        let source = Source::read(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let value = parse(path, &source)?;
        Ok(Arc::new(Self {
            path: path.to_owned(),
            what,
            parse,
            current: RwLock::new(Arc::new(value)),
            seen: Mutex::new(Seen::Source(source)),
        }))
    }

    /// The value in use.
    pub(super) fn current(&self) -> Arc<T> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the path once; returns whether a new value was put in use.
    pub(super) fn poll(&self) -> bool {
        let seen = match Source::read(&self.path) {
            Ok(source) => Seen::Source(source),
            Err(err) => Seen::Unreadable(err.kind()),
        };
        let mut last = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == seen {
            return false;
        }
        let outcome = match &seen {
            Seen::Unreadable(kind) => {
                tracing::warn!(path = %self.path.display(), file = self.what, error = %io::Error::from(*kind),
                    "cannot read; keeping the previous version");
                false
            }
            Seen::Source(source) => match (self.parse)(&self.path, source) {
                Ok(value) => {
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
                    tracing::info!(path = %self.path.display(), file = self.what, "reloaded");
                    true
                }
                Err(err) => {
                    tracing::warn!(file = self.what, error = %err,
                        "refusing the changed file; keeping the previous version");
                    false
                }
            },
        };
        *last = seen;
        outcome
    }

    /// Polls every `every` on a background task that ends when the last owner drops `this`.
    pub(super) fn spawn(this: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once and the file was just loaded.
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                // File reads block; keep them off the async workers.
                if tokio::task::spawn_blocking(move || this.poll())
                    .await
                    .is_err()
                {
                    // A panic while parsing is a bug; stop polling rather than spin on it.
                    tracing::error!("file reload task panicked");
                    return;
                }
            }
        })
    }
}
