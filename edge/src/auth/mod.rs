//! Authentication of tokens and authorization of the accounts they subscribe to.
//!
//! [`Auth`] asks the configured authenticators in a fixed order (static token file, Kazoo
//! JWTs, Crossbar); the first that recognizes a token decides. It then authorizes the target
//! as Kazoo's `bh_authz_subscribe` does: the token's own account, a descendant of it, or any
//! account and the wildcard `*` for a superduper admin.
//!
//! Invariants: a token never reaches a log line, a metric label, an error's `Display` or
//! `Debug`, or a cache key; only [`AuthError::kazoo_message`] echoes it back to the client
//! that sent it, as Kazoo does. Static tokens are compared in constant time.

mod crossbar;
mod jwt;
mod reload;
mod static_tokens;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use blackhole_bus::AccountId;
use blackhole_bus::account::InvalidAccountId;
use tokio::task::JoinHandle;

pub use crossbar::Crossbar;
pub use jwt::JwtKeys;
pub use reload::DEFAULT_RELOAD_EVERY;
pub use static_tokens::StaticTokens;

/// Longest token accepted; Kazoo JWTs are well under 2 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a subscription asks for: one account, or every account (`"*"`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// One account (`data.account_id`).
    Account(AccountId),
    /// `"*"`: every account, allowed only to a superduper admin.
    Wildcard,
}

impl Target {
    /// Parses a subscription's `account_id`: `*` or an account id.
    pub fn parse(raw: &str) -> Result<Self, InvalidAccountId> {
        if raw == "*" {
            Ok(Self::Wildcard)
        } else {
            AccountId::parse(raw).map(Self::Account)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(id) => f.write_str(id.as_str()),
            Self::Wildcard => f.write_str("*"),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// Which authenticator decided; a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authenticator {
    /// The static token file (or the demo token set).
    Static,
    /// A Kazoo RS256 JWT checked against local keys.
    Jwt,
    /// Kazoo's Crossbar API.
    Crossbar,
}

impl Authenticator {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Jwt => "jwt",
            Self::Crossbar => "crossbar",
        }
    }
}

/// A successful authorization. Holds no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's own account. For an opaque (non-JWT) token granted by Crossbar this is
    /// the target account, the only account Crossbar vouched for.
    pub account: AccountId,
    /// What was authorized.
    pub target: Target,
    /// When the token stops being valid; the subscription must end then.
    pub expires_at: Option<SystemTime>,
    /// Who decided.
    pub authenticator: Authenticator,
}

impl Grant {
    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// Why a subscription was refused. Never holds the token, so `Display`/`Debug` are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token at all.
    #[error("authentication token required")]
    Missing,
    /// No authenticator recognized the token, or its signature or claims are wrong.
    #[error("token not recognized")]
    Invalid,
    /// A recognized token whose `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token cannot be a token (control characters, spaces, absurd length).
    #[error("invalid authentication token format")]
    Format,
    /// The target is neither the token's account nor one of its descendants.
    #[error("unauthorized account id")]
    UnauthorizedAccount,
    /// `*` asked by a token that is not a superduper admin's.
    #[error("unauthorized wildcard account id")]
    UnauthorizedWildcard,
    /// The backend that must decide (Crossbar) did not answer usably; the token may be fine.
    #[error("authentication backend unavailable: {0}")]
    Unavailable(&'static str),
}

/// What clients see when the backend is down. Deliberately not prefixed with
/// `failed to authenticate token`: Monster UI would log the user out.
const UNAVAILABLE_MESSAGE: &str = "authentication service unavailable, try again later";

impl AuthError {
    /// The exact string Kazoo's Blackhole sends, echoing the token where Kazoo does.
    pub fn kazoo_message(&self, token: &str) -> String {
        self.client_message(token, true)
    }

    /// The client-facing string. With `echo_token` false, an invalid or expired token yields
    /// `failed to authenticate token` alone: the prefix Monster UI matches, without the secret.
    pub fn client_message(&self, token: &str, echo_token: bool) -> String {
        match self {
            Self::Invalid | Self::Expired if echo_token => {
                format!("failed to authenticate token {token}")
            }
            Self::Invalid | Self::Expired => "failed to authenticate token".to_owned(),
            Self::Missing => "authentication token required".to_owned(),
            Self::Format => "invalid authentication token format".to_owned(),
            Self::UnauthorizedAccount => "unauthorized account id".to_owned(),
            Self::UnauthorizedWildcard => "unauthorized wildcard account id".to_owned(),
            Self::Unavailable(_) => UNAVAILABLE_MESSAGE.to_owned(),
        }
    }

    /// The metric label value.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Format => "format",
            Self::UnauthorizedAccount => "unauthorized_account",
            Self::UnauthorizedWildcard => "unauthorized_wildcard",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// Bad authentication configuration: one line, fit for exiting before any port is bound.
/// Never quotes file contents (they are secrets).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configured path cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The configured path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configured file or directory has the wrong contents.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The configured path.
        path: PathBuf,
        /// What is wrong, without quoting any value.
        reason: String,
    },
    /// None of the three authenticators is configured.
    #[error("no authenticator: give --auth-tokens, --auth-jwt-keys or --auth-crossbar-url")]
    NoAuthenticator,
    /// `--auth-crossbar-url` is not an absolute http(s) URL.
    #[error("--auth-crossbar-url: {0}")]
    CrossbarUrl(&'static str),
    /// An https Crossbar URL but no trusted roots to verify it with.
    #[error("--auth-crossbar-url: cannot load trusted root certificates: {0}")]
    TlsRoots(std::io::Error),
}

impl ConfigError {
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// A JSON syntax or shape error, described without the offending value: serde quotes
    /// mismatched values (`invalid type: string "…"`), and a value may be a token. Syntax
    /// errors and missing or unknown field names quote nothing secret and are kept.
    pub(crate) fn json(path: &Path, err: &serde_json::Error) -> Self {
        let text = err.to_string();
        let names_a_field = ["missing field", "unknown field", "duplicate field"]
            .iter()
            .any(|prefix| text.starts_with(prefix));
        let reason = if err.is_data() && !names_a_field {
            format!(
                "a value has the wrong type or range at line {} column {}",
                err.line(),
                err.column()
            )
        } else {
            text
        };
        Self::invalid(path, reason)
    }
}

/// The edge's authentication flags.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `--auth-tokens`: the static token file.
    pub tokens_file: Option<PathBuf>,
    /// `--auth-jwt-keys`: a directory of `<kid>.pem` public keys, or a JWKS file.
    pub jwt_keys: Option<PathBuf>,
    /// `--auth-crossbar-url`: Crossbar's base URL, e.g. `http://kazoo:8000/v2`.
    pub crossbar_url: Option<String>,
    /// How often the token file and the keys are re-read.
    pub reload_every: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tokens_file: None,
            jwt_keys: None,
            crossbar_url: None,
            reload_every: DEFAULT_RELOAD_EVERY,
        }
    }
}

/// The authenticator chain. Cheap to share behind an `Arc`.
pub struct Auth {
    statics: Option<StaticTokens>,
    jwt: Option<JwtKeys>,
    crossbar: Option<Crossbar>,
    /// Reload tasks started by [`Auth::from_config`]; aborted when the chain is dropped.
    reloaders: Vec<JoinHandle<()>>,
}

impl Auth {
    /// Chains the given authenticators (asked in the order static, jwt, crossbar).
    pub fn new(
        statics: Option<StaticTokens>,
        jwt: Option<JwtKeys>,
        crossbar: Option<Crossbar>,
    ) -> Self {
        Self {
            statics,
            jwt,
            crossbar,
            reloaders: Vec::new(),
        }
    }

    /// Loads everything the flags name and starts polling the files. Must run inside a tokio
    /// runtime. Fails on any unreadable or invalid file, or when nothing is configured.
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        let statics = config
            .tokens_file
            .as_deref()
            .map(StaticTokens::load)
            .transpose()?;
        let jwt = config.jwt_keys.as_deref().map(JwtKeys::load).transpose()?;
        let crossbar = config
            .crossbar_url
            .as_deref()
            .map(Crossbar::new)
            .transpose()?;
        if statics.is_none() && jwt.is_none() && crossbar.is_none() {
            return Err(ConfigError::NoAuthenticator);
        }
        let mut auth = Self::new(statics, jwt, crossbar);
        auth.reloaders.extend(
            auth.statics
                .as_ref()
                .and_then(|s| s.watch(config.reload_every)),
        );
        auth.reloaders
            .extend(auth.jwt.as_ref().map(|j| j.watch(config.reload_every)));
        Ok(auth)
    }

    /// Demo mode: the given tokens, each for its own account, no expiry, no admin.
    pub fn demo(tokens: Vec<(String, AccountId)>) -> Self {
        Self::new(Some(StaticTokens::in_memory(tokens)), None, None)
    }

    /// Authenticates `token` and authorizes it for `target`.
    pub async fn authorize(&self, token: &str, target: &Target) -> Result<Grant, AuthError> {
        check_format(token)?;
        let statics = self.statics.as_ref().map(StaticTokens::snapshot);
        if let Some(set) = &statics
            && let Some(found) = set.find(token)
        {
            return found?.authorize(target, set.hierarchy(), Authenticator::Static);
        }
        if let Some(verified) = self.jwt.as_ref().and_then(|jwt| jwt.verify(token)) {
            let no_tree = Hierarchy::default();
            let hierarchy = statics.as_ref().map_or(&no_tree, |set| set.hierarchy());
            let local = verified?.authorize(target, hierarchy, Authenticator::Jwt);
            return match (local, &self.crossbar) {
                // The token file does not know every reseller's tree; Crossbar does.
                (
                    Err(AuthError::UnauthorizedAccount | AuthError::UnauthorizedWildcard),
                    Some(crossbar),
                ) => crossbar.authorize(token, target).await,
                (local, _) => local,
            };
        }
        match &self.crossbar {
            Some(crossbar) => crossbar.authorize(token, target).await,
            None => Err(AuthError::Invalid),
        }
    }
}

impl Auth {
    /// Authorizes `token` for its own account (Kazoo 5.x lets a subscription leave out
    /// `account_id`). The account comes from the token file, a verified JWT, or, for Crossbar,
    /// the `account_id` claim of a JWT-shaped token, which Crossbar then vouches for.
    pub async fn authorize_own(&self, token: &str) -> Result<Grant, AuthError> {
        check_format(token)?;
        let own = self.own_account(token)?;
        self.authorize(token, &Target::Account(own)).await
    }

    fn own_account(&self, token: &str) -> Result<AccountId, AuthError> {
        if let Some(set) = self.statics.as_ref().map(StaticTokens::snapshot)
            && let Some(found) = set.find(token)
        {
            return found.map(|identity| identity.account);
        }
        if let Some(verified) = self.jwt.as_ref().and_then(|jwt| jwt.verify(token)) {
            return verified.map(|identity| identity.account);
        }
        if self.crossbar.is_some()
            && let (Some(account), _) = crossbar::peek_claims(token)
        {
            return Ok(account);
        }
        Err(AuthError::Invalid)
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        for task in &self.reloaders {
            task.abort();
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("static", &self.statics.is_some())
            .field("jwt", &self.jwt.is_some())
            .field("crossbar", &self.crossbar.is_some())
            .finish()
    }
}

/// Refuses what cannot be a token before any authenticator sees it (and before it could be
/// put in an HTTP header).
fn check_format(token: &str) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.len() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::Format);
    }
    Ok(())
}

/// Who a recognized token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    account: AccountId,
    superduper_admin: bool,
    expires_at: Option<SystemTime>,
}

impl Identity {
    /// Kazoo's rule: own account, a descendant, or anything for a superduper admin.
    fn authorize(
        &self,
        target: &Target,
        hierarchy: &Hierarchy,
        authenticator: Authenticator,
    ) -> Result<Grant, AuthError> {
        let allowed = match target {
            Target::Wildcard if !self.superduper_admin => Err(AuthError::UnauthorizedWildcard),
            Target::Account(account)
                if !self.superduper_admin
                    && *account != self.account
                    && !hierarchy.is_descendant(&self.account, account) =>
            {
                Err(AuthError::UnauthorizedAccount)
            }
            _ => Ok(()),
        };
        allowed?;
        Ok(Grant {
            account: self.account.clone(),
            target: target.clone(),
            expires_at: self.expires_at,
            authenticator,
        })
    }
}

/// Account trees from the token file's `accounts` section, closed transitively at load time
/// (Kazoo's `pvt_tree` lists every ancestor, not only the parent).
#[derive(Debug, Default)]
struct Hierarchy {
    descendants: std::collections::HashMap<AccountId, std::collections::HashSet<AccountId>>,
}

impl Hierarchy {
    fn is_descendant(&self, ancestor: &AccountId, account: &AccountId) -> bool {
        self.descendants
            .get(ancestor)
            .is_some_and(|all| all.contains(account))
    }
}
