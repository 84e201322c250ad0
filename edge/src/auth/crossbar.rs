//! Authorization by Kazoo's Crossbar API (`--auth-crossbar-url`), with a short, bounded cache.
//!
//! `GET {URL}/accounts/{account_id}` with `X-Auth-Token` answers 200 exactly when Crossbar
//! accepts the token for that account, and Crossbar applies the same hierarchy rule as
//! Blackhole (`pvt_tree`), so one call authenticates and authorizes. For the wildcard, the
//! token must prove superduper admin: `GET {URL}/system_configs` is authorized by Crossbar
//! only for superduper admins (`cb_system_configs:authorize/1`), so 200 there is that proof.
//!
//! Crossbar does not say which account a token belongs to. Kazoo 4.x tokens are JWTs whose
//! payload names it; once Crossbar has accepted a token its claims are authentic, so
//! `account_id` and `exp` are read from the payload then. An opaque (Kazoo 3.x) token is
//! taken to belong to the account it was granted for, and is never granted the wildcard.
//!
//! The cache is keyed by a random-keyed 128-bit hash of (token, target), so no token is kept;
//! it holds grants for 30 s and refusals for 5 s, never "unavailable".

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use blackhole_bus::AccountId;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::{AuthError, Authenticator, ConfigError, Grant, Target};

#[cfg(test)]
pub(super) mod tests;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const POSITIVE_TTL: Duration = Duration::from_secs(30);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const CACHE_CAPACITY: usize = 10_000;
/// Bodies are read only so that the connection can be reused; larger ones are dropped.
const MAX_BODY: usize = 1 << 20;

/// A Crossbar client for authorization, with its cache.
pub struct Crossbar {
    /// The configured URL without a trailing `/`, e.g. `http://kazoo:8000/v2`.
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: Mutex<Cache>,
    /// Two independent keys make a 128-bit cache key that nobody outside can predict.
    hash_keys: (RandomState, RandomState),
    /// Whether the last request failed, so an outage is logged once and not per request.
    down: AtomicBool,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<u128, Cached>,
}

struct Cached {
    until: Instant,
    outcome: Result<Grant, AuthError>,
}

/// Payload fields read after Crossbar accepted the token.
#[derive(Deserialize)]
struct PeekedClaims {
    account_id: Option<String>,
    exp: Option<u64>,
}

impl Crossbar {
    /// A client for the Crossbar at `url` (e.g. `http://kazoo:8000/v2`). https uses the
    /// system's trusted roots.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let base = url.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|_| ConfigError::CrossbarUrl("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(ConfigError::CrossbarUrl(
                    "must start with http:// or https://",
                ));
            }
        };
        if uri.authority().is_none() || uri.query().is_some() {
            return Err(ConfigError::CrossbarUrl(
                "must be http(s)://host[:port][/path] without a query",
            ));
        }
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let builder = match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider) {
            Ok(builder) => builder,
            Err(err) if https => return Err(ConfigError::TlsRoots(err)),
            // Plain http never uses TLS: no trusted roots is no problem.
            Err(_) => HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(
                    rustls::crypto::aws_lc_rs::default_provider().into(),
                )
                .with_safe_default_protocol_versions()
                .map_err(|err| ConfigError::TlsRoots(std::io::Error::other(err)))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            ),
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            base,
            client,
            timeout: DEFAULT_TIMEOUT,
            positive_ttl: POSITIVE_TTL,
            negative_ttl: NEGATIVE_TTL,
            cache: Mutex::new(Cache::default()),
            hash_keys: (RandomState::new(), RandomState::new()),
            down: AtomicBool::new(false),
        })
    }

    /// Replaces the 5 s limit on one request (connect, answer and body).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces how long grants (30 s) and refusals (5 s) are remembered.
    pub fn with_cache_ttl(mut self, positive: Duration, negative: Duration) -> Self {
        self.positive_ttl = positive;
        self.negative_ttl = negative;
        self
    }

    /// Asks Crossbar (or the cache) whether `token` may subscribe to `target`.
    pub(super) async fn authorize(&self, token: &str, target: &Target) -> Result<Grant, AuthError> {
        let key = self.cache_key(token, target);
        if let Some(outcome) = self.cached(key) {
            return outcome;
        }
        let outcome = self.ask(token, target).await;
        let ttl = match &outcome {
            Ok(_) => Some(self.positive_ttl),
            Err(AuthError::Unavailable(_)) => None,
            Err(_) => Some(self.negative_ttl),
        };
        if let Some(ttl) = ttl {
            self.remember(key, ttl, outcome.clone());
        }
        outcome
    }

    async fn ask(&self, token: &str, target: &Target) -> Result<Grant, AuthError> {
        let peeked = peek_claims(token);
        let (path, refused, account) = match target {
            Target::Account(account) => (
                format!("accounts/{account}"),
                AuthError::UnauthorizedAccount,
                peeked.0.unwrap_or_else(|| account.clone()),
            ),
            Target::Wildcard => match peeked.0 {
                Some(account) => (
                    "system_configs".to_owned(),
                    AuthError::UnauthorizedWildcard,
                    account,
                ),
                None => return Err(AuthError::UnauthorizedWildcard),
            },
        };
        match self.get(&path, token).await? {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Err(AuthError::Invalid),
            // 404: no such account, or the module is not loaded; either way, not allowed.
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => return Err(refused),
            status => {
                self.note_failure(&format!("answered {status}"));
                return Err(AuthError::Unavailable(
                    "crossbar answered an unexpected status",
                ));
            }
        }
        let grant = Grant {
            account,
            target: target.clone(),
            expires_at: peeked.1,
            authenticator: Authenticator::Crossbar,
        };
        // Only clock skew gets here: Crossbar checks `exp` too.
        if grant.is_expired(SystemTime::now()) {
            return Err(AuthError::Expired);
        }
        Ok(grant)
    }

    /// One GET; returns the status, or `Unavailable` when there is none.
    async fn get(&self, path: &str, token: &str) -> Result<StatusCode, AuthError> {
        let uri: Uri = format!("{}/{path}", self.base)
            .parse()
            .map_err(|_| AuthError::Unavailable("crossbar URL is unusable"))?;
        let mut token_header = HeaderValue::from_str(token).map_err(|_| AuthError::Format)?;
        // Keeps the value out of hyper's own debug output.
        token_header.set_sensitive(true);
        let request = Request::get(uri)
            .header("x-auth-token", token_header)
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("blackhole-edge/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|_| AuthError::Unavailable("crossbar request cannot be built"))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            // Reading the body returns the connection to the pool; its contents do not matter.
            let _ = Limited::new(response.into_body(), MAX_BODY).collect().await;
            Ok::<_, hyper_util::client::legacy::Error>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(status)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(url = %self.base, "crossbar answers again");
                }
                Ok(status)
            }
            Ok(Err(err)) => {
                self.note_failure(&err.to_string());
                Err(AuthError::Unavailable("crossbar unreachable"))
            }
            Err(_) => {
                self.note_failure("timed out");
                Err(AuthError::Unavailable("crossbar timed out"))
            }
        }
    }

    fn note_failure(&self, error: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %self.base, error, "crossbar unusable for authorization");
        } else {
            tracing::debug!(url = %self.base, error, "crossbar still unusable");
        }
    }

    fn cache_key(&self, token: &str, target: &Target) -> u128 {
        let hash = |keys: &RandomState| {
            let mut hasher = keys.build_hasher();
            token.hash(&mut hasher);
            target.hash(&mut hasher);
            hasher.finish()
        };
        (u128::from(hash(&self.hash_keys.0)) << 64) | u128::from(hash(&self.hash_keys.1))
    }

    fn cached(&self, key: u128) -> Option<Result<Grant, AuthError>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = cache
            .entries
            .get(&key)
            .filter(|c| c.until > Instant::now())?;
        Some(match &cached.outcome {
            Ok(grant) if grant.is_expired(SystemTime::now()) => Err(AuthError::Expired),
            outcome => outcome.clone(),
        })
    }

    fn remember(&self, key: u128, ttl: Duration, outcome: Result<Grant, AuthError>) {
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.entries.len() >= CACHE_CAPACITY && !cache.entries.contains_key(&key) {
            cache.entries.retain(|_, c| c.until > now);
            if cache.entries.len() >= CACHE_CAPACITY {
                // Still full of live entries: drop the one closest to expiring.
                let soonest = cache
                    .entries
                    .iter()
                    .min_by_key(|(_, c)| c.until)
                    .map(|(k, _)| *k);
                if let Some(soonest) = soonest {
                    cache.entries.remove(&soonest);
                }
            }
        }
        cache.entries.insert(
            key,
            Cached {
                until: now + ttl,
                outcome,
            },
        );
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

/// `account_id` and `exp` from a JWT payload, unverified: to be trusted only once Crossbar
/// has accepted the token. Anything unreadable is `None`.
pub(super) fn peek_claims(token: &str) -> (Option<AccountId>, Option<SystemTime>) {
    let Ok(claims) = jsonwebtoken::dangerous::insecure_decode_claims::<PeekedClaims>(token) else {
        return (None, None);
    };
    (
        claims.account_id.and_then(|id| AccountId::parse(&id).ok()),
        claims
            .exp
            .and_then(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp))),
    )
}

impl std::fmt::Debug for Crossbar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crossbar")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
