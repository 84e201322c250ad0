use std::time::SystemTime;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

/// Test-only key pairs (see `testdata/README.md`).
pub(in crate::auth) const PRIVATE_A: &[u8] = include_bytes!("../testdata/test-key-a.private.pem");
pub(in crate::auth) const PUBLIC_A: &[u8] = include_bytes!("../testdata/test-key-a.public.pem");
const PRIVATE_B: &[u8] = include_bytes!("../testdata/test-key-b.private.pem");
const PUBLIC_B: &[u8] = include_bytes!("../testdata/test-key-b.public.pem");
const JWKS: &[u8] = include_bytes!("../testdata/jwks.json");

const OWN: &str = "4b31dd1d32ce6d249897c06332375d65";

pub(in crate::auth) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with RS256 under `kid`.
pub(in crate::auth) fn sign(private_pem: &[u8], kid: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(private_pem).unwrap(),
    )
    .unwrap()
}

/// A Kazoo 4.x token's claims.
pub(in crate::auth) fn kazoo_claims(account: &str, exp: u64) -> serde_json::Value {
    json!({"account_id": account, "owner_id": "5f0c2b7e0a1d4e2c8b3a9d6e1f7c4b2a", "method": "cb_user_auth", "exp": exp})
}

/// A key directory holding `test-key-a.pem`.
pub(in crate::auth) fn key_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test-key-a.pem"), PUBLIC_A).unwrap();
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    dir
}

fn jwks_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), JWKS).unwrap();
    file
}

#[test]
fn verifies_a_kazoo_token_from_a_key_directory() {
    let dir = key_dir();
    let keys = JwtKeys::load(dir.path()).unwrap();
    assert_eq!(keys.kids(), ["test-key-a"]);
    let exp = now() + 3600;
    let identity = keys
        .verify(&sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, exp)))
        .unwrap()
        .unwrap();
    assert_eq!(identity.account.as_str(), OWN);
    assert!(!identity.superduper_admin);
    assert_eq!(
        identity.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );
}

#[test]
fn verifies_a_token_from_a_jwks_file_and_skips_other_keys() {
    let file = jwks_file();
    let keys = JwtKeys::load(file.path()).unwrap();
    // The EC key in the set is not an RS256 key and is skipped.
    assert_eq!(keys.kids(), ["test-key-a"]);
    let token = sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, now() + 60));
    assert!(keys.verify(&token).unwrap().is_ok());
}

#[test]
fn refuses_expired_forged_and_incomplete_tokens() {
    let dir = key_dir();
    let keys = JwtKeys::load(dir.path()).unwrap();
    let expired = sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, now() - 5));
    assert_eq!(keys.verify(&expired), Some(Err(AuthError::Expired)));

    let forged = sign(PRIVATE_B, "test-key-a", &kazoo_claims(OWN, now() + 60));
    assert_eq!(keys.verify(&forged), Some(Err(AuthError::Invalid)));

    for claims in [
        json!({"account_id": OWN}),
        json!({"exp": now() + 60}),
        json!({"account_id": "not-an-account", "exp": now() + 60}),
        json!({"account_id": OWN, "exp": "soon"}),
    ] {
        let token = sign(PRIVATE_A, "test-key-a", &claims);
        assert_eq!(
            keys.verify(&token),
            Some(Err(AuthError::Invalid)),
            "{claims}"
        );
    }

    // Algorithm confusion: an HMAC token keyed with the public key must not pass.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-key-a".to_owned());
    let hmac = jsonwebtoken::encode(
        &header,
        &kazoo_claims(OWN, now() + 60),
        &EncodingKey::from_secret(PUBLIC_A),
    )
    .unwrap();
    assert_eq!(keys.verify(&hmac), Some(Err(AuthError::Invalid)));
}

#[test]
fn leaves_tokens_it_cannot_judge_to_the_next_authenticator() {
    let dir = key_dir();
    let keys = JwtKeys::load(dir.path()).unwrap();
    let unknown_kid = sign(PRIVATE_A, "another-kid", &kazoo_claims(OWN, now() + 60));
    assert_eq!(keys.verify(&unknown_kid), None);
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &kazoo_claims(OWN, now() + 60),
        &EncodingKey::from_rsa_pem(PRIVATE_A).unwrap(),
    )
    .unwrap();
    assert_eq!(keys.verify(&no_kid), None);
    for opaque in ["7b70f69a2a4976d80bfa0382894d1553", "a.b.c", "...", "x.y"] {
        assert_eq!(keys.verify(opaque), None, "{opaque}");
    }
}

#[test]
fn reads_the_optional_superduper_admin_claim() {
    let dir = key_dir();
    let keys = JwtKeys::load(dir.path()).unwrap();
    let mut claims = kazoo_claims(OWN, now() + 60);
    claims["superduper_admin"] = json!(true);
    let token = sign(PRIVATE_A, "test-key-a", &claims);
    assert!(keys.verify(&token).unwrap().unwrap().superduper_admin);
}

#[test]
fn reloads_a_key_directory() {
    let dir = key_dir();
    let keys = JwtKeys::load(dir.path()).unwrap();
    let token_b = sign(PRIVATE_B, "test-key-b", &kazoo_claims(OWN, now() + 60));
    assert_eq!(keys.verify(&token_b), None);

    std::fs::write(dir.path().join("test-key-b.pem"), PUBLIC_B).unwrap();
    assert!(keys.reload());
    assert!(keys.verify(&token_b).unwrap().is_ok());

    // A broken key refuses the whole new version.
    std::fs::write(dir.path().join("test-key-c.pem"), "garbage").unwrap();
    assert!(!keys.reload());
    assert_eq!(keys.kids(), ["test-key-a", "test-key-b"]);

    std::fs::remove_file(dir.path().join("test-key-c.pem")).unwrap();
    std::fs::remove_file(dir.path().join("test-key-a.pem")).unwrap();
    assert!(keys.reload());
    assert_eq!(keys.kids(), ["test-key-b"]);
}

#[test]
fn refuses_unusable_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let err = JwtKeys::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("no <kid>.pem"), "{err}");

    std::fs::write(dir.path().join("k.pem"), PRIVATE_A).unwrap();
    let err = JwtKeys::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("k.pem is a private key"), "{err}");

    let pem = dir.path().join("k.pem");
    std::fs::write(&pem, PUBLIC_A).unwrap();
    let err = JwtKeys::load(&pem).err().unwrap().to_string();
    assert!(err.contains("has no kid"), "{err}");

    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
    let err = JwtKeys::load(&jwks).err().unwrap().to_string();
    assert!(err.contains("no RS256 signing key"), "{err}");

    std::fs::write(
        &jwks,
        r#"{"keys": [{"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}]}"#,
    )
    .unwrap();
    let err = JwtKeys::load(&jwks).err().unwrap().to_string();
    assert!(err.contains("key k"), "{err}");
}
