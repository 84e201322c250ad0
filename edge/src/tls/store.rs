//! The certificate and key in use, swapped whole when the files change or on SIGHUP.
//!
//! Invariants:
//! - `current` always holds a pair that parsed and matched; handshakes read it once, when they
//!   pick a certificate, so a swap changes only handshakes that start afterwards;
//! - polling compares file *contents* (a SHA-256 of both files), not metadata, and re-opens
//!   the paths on every read: it follows in-place writes, rename-replace and the Kubernetes
//!   `..data` symlink swap alike;
//! - a changed pair that does not load is given one more poll before it is refused, because a
//!   cert and a key replaced one after the other (or a file caught half-written) do not match
//!   for a moment; once refused it is logged once, until the files change again. SIGHUP is an
//!   explicit request and is answered at once;
//! - putting a new pair in use also forgets every resumable session: a resumed handshake
//!   sends no certificate, so otherwise a client that reconnects would keep seeing (and
//!   trusting) the old certificate until its session expired.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    CertInfo, TlsError, TlsFiles, TlsMetrics, certified_key_from_pem, read_pair, sha256_of,
};

/// How often [`CertStore::watch`] reads the files when nothing else is configured.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The files hold the pair already in use.
    Unchanged,
    /// A new pair is in use for new handshakes.
    Replaced(CertInfo),
}

/// What a read of the two files produced, compared between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Snapshot {
    /// SHA-256 over both files' lengths and contents: keeps no key bytes around.
    Contents(Vec<u8>),
    /// A file could not be read (for instance a dangling symlink mid-swap): the error's
    /// message, which names the file and the cause.
    Unreadable(String),
}

/// What the poller remembers between reads.
struct Seen {
    /// The snapshot of the pair in use.
    in_use: Snapshot,
    /// A changed snapshot that failed to load once, and gets one more poll.
    pending: Option<Snapshot>,
    /// A changed snapshot already refused and logged.
    refused: Option<Snapshot>,
}

/// Serves the current certificate to every handshake ([`ResolvesServerCert`]) and replaces it
/// when the files change.
pub struct CertStore {
    files: TlsFiles,
    /// Read for one `Arc` clone per handshake, written once per reload: never held across an
    /// `.await` or any I/O.
    current: RwLock<Arc<CertifiedKey>>,
    /// Serializes reloads (the poller and SIGHUP) and remembers what they saw.
    seen: Mutex<Seen>,
    /// The session cache of every `ServerConfig` built on this store.
    sessions: Arc<Sessions>,
    metrics: TlsMetrics,
}

/// rustls' default session cache (256 sessions), replaced by an empty one whenever the
/// certificate changes.
#[derive(Debug)]
pub(super) struct Sessions(RwLock<Arc<ServerSessionMemoryCache>>);

/// rustls' own default.
const SESSION_CACHE_SIZE: usize = 256;

impl Sessions {
    fn new() -> Self {
        Self(RwLock::new(ServerSessionMemoryCache::new(
            SESSION_CACHE_SIZE,
        )))
    }

    fn cache(&self) -> Arc<ServerSessionMemoryCache> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn forget_all(&self) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) =
            ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    }
}

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.cache().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.cache().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.cache().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately not the key: `CertifiedKey`'s Debug is not promised to stay harmless.
        f.debug_struct("CertStore")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the pair named by `files`; any failure is a configuration error (the caller exits
    /// with it before binding).
    pub fn load(files: TlsFiles, metrics: TlsMetrics) -> Result<Arc<Self>, TlsError> {
        let (cert_pem, key_pem) = read_pair(&files)?;
        let key = certified_key_from_pem(&files, &cert_pem, &key_pem)?;
        let info = CertInfo::of(&key);
        log_in_use(&files, &info, "TLS certificate loaded");
        metrics
            .certificate_not_after
            .set(info.not_after.unwrap_or(0));
        Ok(Arc::new(Self {
            files,
            current: RwLock::new(key),
            seen: Mutex::new(Seen {
                in_use: snapshot_of(&cert_pem, &key_pem),
                pending: None,
                refused: None,
            }),
            sessions: Arc::new(Sessions::new()),
            metrics,
        }))
    }

    /// The files this store watches.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `key` in use for new handshakes, bypassing the files.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        self.sessions.forget_all();
    }

    /// The session cache for [`super::server_config`].
    pub(super) fn sessions(&self) -> Arc<Sessions> {
        Arc::clone(&self.sessions)
    }

    /// Re-reads the files now (SIGHUP). A pair that does not load is refused at once, with one
    /// warning, and the previous pair stays in use. Blocks on file reads: call it from
    /// `spawn_blocking` in async code.
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let read = read_pair(&self.files);
        let snapshot = snapshot(&read);
        if snapshot == seen.in_use {
            seen.pending = None;
            seen.refused = None;
            return Ok(Reload::Unchanged);
        }
        match read.and_then(|(cert, key)| certified_key_from_pem(&self.files, &cert, &key)) {
            Ok(key) => Ok(Reload::Replaced(self.put_in_use(&mut seen, snapshot, key))),
            Err(err) => {
                self.refuse(&mut seen, snapshot, &err);
                Err(err)
            }
        }
    }

    /// One poll of the files: see the module invariants for when a broken pair is refused.
    pub(super) fn poll(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let read = read_pair(&self.files);
        let snapshot = snapshot(&read);
        if snapshot == seen.in_use {
            seen.pending = None;
            seen.refused = None;
            return;
        }
        if seen.refused.as_ref() == Some(&snapshot) {
            return;
        }
        match read.and_then(|(cert, key)| certified_key_from_pem(&self.files, &cert, &key)) {
            Ok(key) => {
                self.put_in_use(&mut seen, snapshot, key);
            }
            Err(err) if seen.pending.as_ref() == Some(&snapshot) => {
                self.refuse(&mut seen, snapshot, &err);
            }
            Err(err) => {
                tracing::debug!(error = %err, "the TLS files changed but do not load yet; checking again at the next poll");
                seen.pending = Some(snapshot);
            }
        }
    }

    fn put_in_use(&self, seen: &mut Seen, snapshot: Snapshot, key: Arc<CertifiedKey>) -> CertInfo {
        let info = CertInfo::of(&key);
        self.replace(key);
        seen.in_use = snapshot;
        seen.pending = None;
        seen.refused = None;
        self.metrics.reloads.with_label_values(&["ok"]).inc();
        self.metrics
            .certificate_not_after
            .set(info.not_after.unwrap_or(0));
        log_in_use(
            &self.files,
            &info,
            "TLS certificate reloaded; new handshakes use it",
        );
        info
    }

    fn refuse(&self, seen: &mut Seen, snapshot: Snapshot, err: &TlsError) {
        seen.pending = None;
        seen.refused = Some(snapshot);
        self.metrics.reloads.with_label_values(&["refused"]).inc();
        tracing::warn!(error = %err, "refusing the new TLS certificate and key; new handshakes keep the previous pair");
    }

    /// Polls the files every `interval` (on the blocking pool: file reads block) until
    /// `shutdown` is cancelled.
    pub fn watch(
        self: &Arc<Self>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let store = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once, and the files were just loaded.
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let store = Arc::clone(&store);
                if tokio::task::spawn_blocking(move || store.poll())
                    .await
                    .is_err()
                {
                    // A panic while parsing is a bug: stop polling rather than spin on it.
                    tracing::error!(
                        "TLS certificate poller panicked; file changes are no longer followed"
                    );
                    return;
                }
            }
        })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reloads `store` on every SIGHUP until `shutdown` is cancelled; spawn the returned future.
///
/// The handler is installed when this function is *called*, not when the future first runs:
/// SIGHUP's default action ends the process, so there must be no window between "reload on
/// SIGHUP is configured" and "SIGHUP is caught". Must be called inside a Tokio runtime.
pub fn reload_on_sighup(
    store: Arc<CertStore>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let hangup = signal(SignalKind::hangup());
    async move {
        let mut hangup = match hangup {
            Ok(hangup) => hangup,
            Err(e) => {
                tracing::warn!(error = %e, "cannot catch SIGHUP; TLS files are still polled for changes");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = hangup.recv() => if received.is_none() { return },
            }
            tracing::info!("SIGHUP received: re-reading the TLS certificate and key");
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.reload()).await {
                Ok(Ok(Reload::Unchanged)) => {
                    tracing::info!("TLS certificate and key unchanged")
                }
                // Both outcomes were logged by `reload`.
                Ok(Ok(Reload::Replaced(_)) | Err(_)) => {}
                Err(_) => tracing::error!("TLS certificate reload panicked"),
            }
        }
    }
}

fn snapshot(read: &Result<(Vec<u8>, Vec<u8>), TlsError>) -> Snapshot {
    match read {
        Ok((cert, key)) => snapshot_of(cert, key),
        Err(err) => Snapshot::Unreadable(err.to_string()),
    }
}

fn snapshot_of(cert: &[u8], key: &[u8]) -> Snapshot {
    // Hashed piecewise, so no extra copy of the key is made; the length prefix keeps
    // "ab"+"c" and "a"+"bc" apart.
    Snapshot::Contents(sha256_of(&[&(cert.len() as u64).to_be_bytes(), cert, key]))
}

fn log_in_use(files: &TlsFiles, info: &CertInfo, message: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let expired = info.not_after.is_some_and(|t| t <= now);
    let not_after = info.not_after_rfc3339();
    if expired {
        tracing::warn!(serial = %info.serial, not_after = %not_after, sha256 = %info.sha256,
            chain = info.chain_len, cert = %files.cert.display(), key = %files.key.display(),
            "{message}, but it has EXPIRED: clients will refuse it");
    } else {
        tracing::info!(serial = %info.serial, not_after = %not_after, sha256 = %info.sha256,
            chain = info.chain_len, cert = %files.cert.display(), key = %files.key.display(),
            "{message}");
    }
}
