//! The static token file (`--auth-tokens`) and the in-memory demo set: parsing, validation,
//! the account hierarchy, and constant-time token lookup.
//!
//! Lookup compares the candidate with every token in the set, each comparison in constant
//! time and without stopping at a match, so its duration depends only on the set's size and
//! token lengths, never on which token or which prefix matched. That is O(tokens) per
//! subscription, which suits a hand-written file (thousands of tokens cost well under a
//! millisecond); a `HashMap` would instead leak, through bucket probing and `memcmp`, how
//! close a guess came. Kazoo's own tokens belong to the jwt or crossbar authenticators.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackhole_bus::AccountId;
use serde::Deserialize;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use tokio::task::JoinHandle;

use super::reload::{Reloading, Source};
use super::{AuthError, ConfigError, Hierarchy, Identity, MAX_TOKEN_LEN};

#[cfg(test)]
mod tests;

/// The static tokens in use, re-read from their file when it changes.
#[derive(Clone)]
pub struct StaticTokens {
    set: Backing,
}

#[derive(Clone)]
enum Backing {
    File(Arc<Reloading<TokenSet>>),
    Memory(Arc<TokenSet>),
}

impl StaticTokens {
    /// Reads and validates the token file; see DESIGN §4 for the format.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let reloading = Reloading::load(path, "token file", parse_source)?;
        Ok(Self {
            set: Backing::File(reloading),
        })
    }

    /// A fixed set (demo mode): each token for its own account, no expiry, no admin.
    pub fn in_memory(tokens: Vec<(String, AccountId)>) -> Self {
        let entries = tokens
            .into_iter()
            .map(|(token, account)| Entry {
                token: token.into_bytes().into_boxed_slice(),
                identity: Identity {
                    account,
                    superduper_admin: false,
                    expires_at: None,
                },
            })
            .collect();
        Self {
            set: Backing::Memory(Arc::new(TokenSet {
                entries,
                hierarchy: Hierarchy::default(),
            })),
        }
    }

    /// Polls the file every `every` until the last clone is dropped; `None` when in memory.
    pub fn watch(&self, every: Duration) -> Option<JoinHandle<()>> {
        match &self.set {
            Backing::File(reloading) => Some(Reloading::spawn(reloading, every)),
            Backing::Memory(_) => None,
        }
    }

    /// Re-reads the file now; returns whether a new version was put in use.
    pub fn reload(&self) -> bool {
        match &self.set {
            Backing::File(reloading) => reloading.poll(),
            Backing::Memory(_) => false,
        }
    }

    /// How many tokens are in use (for a startup log line).
    pub fn len(&self) -> usize {
        self.snapshot().entries.len()
    }

    /// Whether no token is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The version in use; one lookup uses one consistent version.
    pub(super) fn snapshot(&self) -> Arc<TokenSet> {
        match &self.set {
            Backing::File(reloading) => reloading.current(),
            Backing::Memory(set) => Arc::clone(set),
        }
    }
}

/// One parsed version of the token file.
#[derive(Debug)]
pub(super) struct TokenSet {
    entries: Vec<Entry>,
    hierarchy: Hierarchy,
}

struct Entry {
    token: Box<[u8]>,
    identity: Identity,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// `None` when the token is not in the set; otherwise its identity, or `Expired`.
    pub(super) fn find(&self, token: &str) -> Option<Result<Identity, AuthError>> {
        let index = self.position(token.as_bytes())?;
        let identity = &self.entries[index].identity;
        if identity
            .expires_at
            .is_some_and(|at| SystemTime::now() >= at)
        {
            return Some(Err(AuthError::Expired));
        }
        Some(Ok(identity.clone()))
    }

    pub(super) fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// Scans every entry; see the module comment.
    fn position(&self, token: &[u8]) -> Option<usize> {
        const NONE: u64 = u64::MAX;
        let mut found = NONE;
        for (index, entry) in self.entries.iter().enumerate() {
            let hit = ct_eq(&entry.token, token);
            found.conditional_assign(&(index as u64), hit);
        }
        (found != NONE).then_some(found as usize)
    }
}

/// Constant-time equality for slices of any lengths: the time depends on the lengths only.
/// (`subtle`'s slice comparison returns early when lengths differ.)
fn ct_eq(stored: &[u8], given: &[u8]) -> Choice {
    let mut equal = (stored.len() as u64).ct_eq(&(given.len() as u64));
    for i in 0..stored.len().max(given.len()) {
        let a = stored.get(i).copied().unwrap_or(0);
        let b = given.get(i).copied().unwrap_or(0);
        equal &= a.ct_eq(&b);
    }
    equal
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    tokens: BTreeMap<String, TokenFields>,
    #[serde(default)]
    accounts: BTreeMap<String, AccountFields>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFields {
    account_id: String,
    #[serde(default)]
    superduper_admin: bool,
    exp: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFields {
    #[serde(default)]
    descendants: Vec<String>,
}

fn parse_source(path: &Path, source: &Source) -> Result<TokenSet, ConfigError> {
    match source.files.as_slice() {
        [(_, contents)] if !source.dir => parse(path, contents),
        _ => Err(ConfigError::invalid(
            path,
            "the token file is a directory, expected a JSON file",
        )),
    }
}

/// Parses and validates one version of the file. Error texts never quote a value.
pub(super) fn parse(path: &Path, contents: &[u8]) -> Result<TokenSet, ConfigError> {
    let file: FileFormat =
        serde_json::from_slice(contents).map_err(|err| ConfigError::json(path, &err))?;
    let mut entries = Vec::with_capacity(file.tokens.len());
    for (token, fields) in file.tokens {
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::invalid(
                path,
                "a token in `tokens` is empty, too long, or not printable ASCII without spaces",
            ));
        }
        let account = AccountId::parse(&fields.account_id).map_err(|_| {
            ConfigError::invalid(
                path,
                "an entry in `tokens` has an account_id that is not 32 hexadecimal characters",
            )
        })?;
        let expires_at = fields
            .exp
            .map(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp)))
            .map(|at| {
                at.ok_or_else(|| ConfigError::invalid(path, "an `exp` in `tokens` is too large"))
            })
            .transpose()?;
        entries.push(Entry {
            token: token.into_bytes().into_boxed_slice(),
            identity: Identity {
                account,
                superduper_admin: fields.superduper_admin,
                expires_at,
            },
        });
    }
    let mut children: HashMap<AccountId, Vec<AccountId>> = HashMap::new();
    for (account, fields) in file.accounts {
        let invalid = || {
            ConfigError::invalid(
                path,
                "`accounts` names an account id that is not 32 hexadecimal characters",
            )
        };
        let account = AccountId::parse(&account).map_err(|_| invalid())?;
        let descendants = fields
            .descendants
            .iter()
            .map(|id| AccountId::parse(id).map_err(|_| invalid()))
            .collect::<Result<Vec<_>, _>>()?;
        children.entry(account).or_default().extend(descendants);
    }
    Ok(TokenSet {
        entries,
        hierarchy: close_hierarchy(&children),
    })
}

/// Every account reachable through `descendants`, at any depth; cycles are harmless.
fn close_hierarchy(children: &HashMap<AccountId, Vec<AccountId>>) -> Hierarchy {
    let mut descendants = HashMap::with_capacity(children.len());
    for root in children.keys() {
        let mut reached: HashSet<AccountId> = HashSet::new();
        let mut pending: Vec<&AccountId> = children[root].iter().collect();
        while let Some(account) = pending.pop() {
            if reached.insert(account.clone()) {
                pending.extend(children.get(account).into_iter().flatten());
            }
        }
        descendants.insert(root.clone(), reached);
    }
    Hierarchy { descendants }
}
