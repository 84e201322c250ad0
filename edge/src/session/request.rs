//! What a client asks of its session, whatever protocol carried it: the subscription request,
//! why a request fails, and the per-session budget that rate-limits requests.

use std::net::SocketAddr;
use std::time::Instant;

use crate::auth::AuthError;
use crate::binding::BindingError;

/// A subscribe or unsubscribe request, whatever protocol carried it.
#[derive(Debug, Default, Clone)]
pub struct SubscriptionRequest {
    /// `account_id`: an account, `*`, or absent (the token's own account).
    pub account_id: Option<String>,
    /// `auth_token`, if the request carried one.
    pub auth_token: Option<String>,
    /// `binding` and/or `bindings`.
    pub bindings: Vec<String>,
}

/// Why a request failed; `Display` is the message Kazoo clients expect.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The token was refused.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// A binding was refused.
    #[error("{0}")]
    Binding(#[from] BindingError),
    /// No binding given.
    #[error("missing required keys : binding")]
    MissingBinding,
    /// The account id is not an account id.
    #[error("unauthorized account id")]
    InvalidAccount,
    /// The socket would hold more bindings than allowed.
    #[error("too many bindings on this socket (limit {0})")]
    TooManyBindings(usize),
    /// The request budget is spent.
    #[error("rate limiting threshold hit for {0}!")]
    RateLimited(SocketAddr),
}

impl RequestError {
    /// A metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.reason(),
            Self::Binding(_) => "binding",
            Self::MissingBinding => "missing_binding",
            Self::InvalidAccount => "invalid_account",
            Self::TooManyBindings(_) => "too_many_bindings",
            Self::RateLimited(_) => "rate_limited",
        }
    }

    /// The message for the client; a token is echoed only where Kazoo's clients rely on it.
    pub fn client_message(&self, token: &str) -> String {
        match self {
            Self::Auth(e) => e.kazoo_message(token),
            other => other.to_string(),
        }
    }
}

/// A per-session request budget: `burst` requests at once, refilled at `per_sec`.
pub(super) struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    updated: Instant,
}

impl TokenBucket {
    pub(super) fn new(burst: u32, per_sec: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec: f64::from(per_sec),
            updated: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests;
