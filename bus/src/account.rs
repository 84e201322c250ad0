//! Kazoo account ids: validation, and recovery from account database names.

use std::fmt;

/// A Kazoo account id: 32 lower-case hexadecimal characters.
///
/// Only ids of this exact shape are accepted, so an account id is always safe to embed in a
/// Redis key, a routing key or a log line.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Why a string is not an account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an account id is 32 hexadecimal characters")]
pub struct InvalidAccountId;

impl AccountId {
    /// Length of every account id.
    pub const LEN: usize = 32;

    /// Parses an account id, accepting upper-case hex and normalizing it to lower case.
    pub fn parse(raw: &str) -> Result<Self, InvalidAccountId> {
        if raw.len() != Self::LEN || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidAccountId);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// Recovers the account id from a Kazoo account database name.
    ///
    /// Kazoo names an account's database `account/xx/yy/rest` and its monthly databases
    /// (MODBs) `account/xx/yy/rest-YYYYMM`. In routing keys of the `configuration` exchange the
    /// slashes arrive encoded (`account%2Fxx%2Fyy%2Frest`); both forms are accepted, and so is
    /// the unencoded `account%2F` with lower-case hex digits (`%2f`).
    pub fn from_database_name(db: &str) -> Option<Self> {
        let rest = db.strip_prefix("account")?;
        let mut id = String::with_capacity(Self::LEN);
        let mut tail = rest;
        for part_len in [2usize, 2, 28] {
            tail = strip_separator(tail)?;
            let (part, after) = tail.split_at_checked(part_len)?;
            id.push_str(part);
            tail = after;
        }
        // A MODB carries a `-YYYYMM` suffix; anything else after the id means another database.
        if !tail.is_empty() && !is_month_suffix(tail) {
            return None;
        }
        Self::parse(&id).ok()
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn strip_separator(s: &str) -> Option<&str> {
    s.strip_prefix('/')
        .or_else(|| s.strip_prefix("%2F"))
        .or_else(|| s.strip_prefix("%2f"))
}

fn is_month_suffix(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('-') else {
        return false;
    };
    digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

impl AsRef<str> for AccountId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4b8c6fec4b2597882c0390202d195419";

    #[test]
    fn parses_and_lowercases() {
        assert_eq!(AccountId::parse(ID).unwrap().as_str(), ID);
        assert_eq!(
            AccountId::parse(&ID.to_ascii_uppercase()).unwrap().as_str(),
            ID
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in [
            "",
            "*",
            &ID[1..],
            &format!("{ID}0"),
            "4b8c6fec4b2597882c0390202d19541g",
        ] {
            assert_eq!(AccountId::parse(bad), Err(InvalidAccountId), "{bad:?}");
        }
    }

    #[test]
    fn reads_encoded_and_plain_account_databases() {
        for db in [
            "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419",
            "account%2f4b%2f8c%2f6fec4b2597882c0390202d195419",
            "account/4b/8c/6fec4b2597882c0390202d195419",
        ] {
            assert_eq!(
                AccountId::from_database_name(db).unwrap().as_str(),
                ID,
                "{db}"
            );
        }
    }

    #[test]
    fn reads_monthly_databases() {
        let modb = "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419-202611";
        assert_eq!(AccountId::from_database_name(modb).unwrap().as_str(), ID);
    }

    #[test]
    fn ignores_other_databases() {
        for db in [
            "system_config",
            "offnet",
            "accounts",
            "account%2F4b%2F8c%2F6fec4b2597882c0390202d19541",
            "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419-2026",
            "account%2F4b%2F8c%2F6fec4b2597882c0390202d195419x",
        ] {
            assert_eq!(AccountId::from_database_name(db), None, "{db}");
        }
    }
}
