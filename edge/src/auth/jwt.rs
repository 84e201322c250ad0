//! Kazoo 4.x RS256 tokens (`--auth-jwt-keys`): the public keys by `kid`, re-read when they
//! change, and token verification (signature, `exp`, the `account_id` claim).
//!
//! The keys come from a directory of `<kid>.pem` files (what Kazoo serves at
//! `GET /v2/auth/keys/{kid}`) or from one JWKS file. A token is recognized only when its
//! header names a known `kid`; any other token is left to the next authenticator.
//!
//! Kazoo's JWTs carry no superduper-admin claim (Kazoo reads `pvt_superduper_admin` from the
//! account document). The wildcard is granted to a JWT only when it carries the boolean claim
//! `superduper_admin: true`, which a deployment's own token issuer may add; otherwise the
//! chain asks Crossbar when one is configured.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use blackhole_bus::AccountId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::task::JoinHandle;

use super::reload::{Reloading, Source};
use super::{AuthError, ConfigError, Identity};

#[cfg(test)]
pub(super) mod tests;

/// The JWT public keys in use, re-read from their path when it changes.
#[derive(Clone)]
pub struct JwtKeys {
    keys: Arc<Reloading<KeySet>>,
    validation: Arc<Validation>,
}

/// One version of the keys: `kid` → key.
pub(super) struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

#[derive(Deserialize)]
struct Claims {
    account_id: String,
    exp: u64,
    #[serde(default)]
    superduper_admin: bool,
}

impl JwtKeys {
    /// Reads the keys: a directory of `<kid>.pem` public keys, or a JWKS file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut validation = Validation::new(Algorithm::RS256);
        // Kazoo checks `exp` without leeway; so does the static file.
        validation.leeway = 0;
        // Kazoo's tokens have no audience, and no audience is configured here.
        validation.validate_aud = false;
        Ok(Self {
            keys: Reloading::load(path, "jwt keys", parse_source)?,
            validation: Arc::new(validation),
        })
    }

    /// Polls the keys every `every` until the last clone is dropped.
    pub fn watch(&self, every: Duration) -> JoinHandle<()> {
        Reloading::spawn(&self.keys, every)
    }

    /// Re-reads the keys now; returns whether a new version was put in use.
    pub fn reload(&self) -> bool {
        self.keys.poll()
    }

    /// The key ids in use, sorted (for a startup log line).
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.current().keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// `None` when the token is not a JWT signed with one of our `kid`s; otherwise the
    /// verified identity, or why it is refused.
    pub(super) fn verify(&self, token: &str) -> Option<Result<Identity, AuthError>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let keys = self.keys.current();
        let key = keys.keys.get(header.kid.as_deref()?)?;
        let claims = match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) => data.claims,
            Err(err) if matches!(err.kind(), ErrorKind::ExpiredSignature) => {
                return Some(Err(AuthError::Expired));
            }
            Err(err) => {
                tracing::debug!(error = %err, "jwt refused");
                return Some(Err(AuthError::Invalid));
            }
        };
        let Ok(account) = AccountId::parse(&claims.account_id) else {
            return Some(Err(AuthError::Invalid));
        };
        Some(Ok(Identity {
            account,
            superduper_admin: claims.superduper_admin,
            expires_at: UNIX_EPOCH.checked_add(Duration::from_secs(claims.exp)),
        }))
    }
}

fn parse_source(path: &Path, source: &Source) -> Result<KeySet, ConfigError> {
    let keys = if source.dir {
        parse_pem_dir(path, &source.files)?
    } else {
        let [(_, contents)] = source.files.as_slice() else {
            return Err(ConfigError::invalid(path, "expected one JWKS file"));
        };
        parse_jwks(path, contents)?
    };
    if keys.is_empty() {
        return Err(ConfigError::invalid(
            path,
            if source.dir {
                "no <kid>.pem public key in the directory"
            } else {
                "no RS256 signing key with a kid in the JWKS"
            },
        ));
    }
    Ok(KeySet { keys })
}

fn parse_pem_dir(
    path: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<HashMap<String, DecodingKey>, ConfigError> {
    let mut keys = HashMap::new();
    for (name, contents) in files {
        let Some(kid) = name.strip_suffix(".pem").filter(|kid| !kid.is_empty()) else {
            continue;
        };
        // A private key would parse, then verify nothing: say so instead.
        if contents.windows(11).any(|w| w == b"PRIVATE KEY") {
            return Err(ConfigError::invalid(
                path,
                format!("{name} is a private key; give the public key"),
            ));
        }
        let key = DecodingKey::from_rsa_pem(contents).map_err(|err| {
            ConfigError::invalid(path, format!("{name}: not an RSA public key: {err}"))
        })?;
        keys.insert(kid.to_owned(), key);
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

fn parse_jwks(path: &Path, contents: &[u8]) -> Result<HashMap<String, DecodingKey>, ConfigError> {
    if contents.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Err(ConfigError::invalid(
            path,
            "a single PEM key has no kid: put it in a directory as <kid>.pem, or give a JWKS file",
        ));
    }
    let jwks: Jwks =
        serde_json::from_slice(contents).map_err(|err| ConfigError::json(path, &err))?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys {
        // A shared JWKS may hold encryption or other-algorithm keys: not ours to judge.
        let usable = jwk.kty == "RSA"
            && jwk.alg.as_deref().is_none_or(|alg| alg == "RS256")
            && jwk.use_.as_deref().is_none_or(|u| u == "sig");
        let (true, Some(kid), Some(n), Some(e)) = (usable, jwk.kid, jwk.n, jwk.e) else {
            continue;
        };
        let key = DecodingKey::from_rsa_components(&n, &e).map_err(|err| {
            ConfigError::invalid(path, format!("key {kid}: bad RSA components: {err}"))
        })?;
        keys.insert(kid, key);
    }
    Ok(keys)
}
