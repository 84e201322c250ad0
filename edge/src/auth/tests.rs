use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use serde_json::json;

use super::crossbar::tests::{CHILD, OTHER, OWN, StandIn, known};
use super::jwt::tests::{PRIVATE_A, kazoo_claims, key_dir, now, sign};
use super::*;

const ADMIN: &str = "aaaabbbbccccddddeeeeffff00001111";
const OWN_TOKEN: &str = "7b70f69a2a4976d80bfa0382894d1553";
const ADMIN_TOKEN: &str = "0f0e0d0c0b0a09080706050403020100";

fn account(id: &str) -> Target {
    Target::Account(AccountId::parse(id).unwrap())
}

/// A token file as DESIGN §4 documents it, plus an expired token.
fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.json");
    let contents = json!({
        "tokens": {
            OWN_TOKEN: {"account_id": OWN},
            ADMIN_TOKEN: {"account_id": ADMIN, "superduper_admin": true, "exp": 1_924_992_000},
            "expired": {"account_id": OWN, "exp": 1000},
        },
        "accounts": {OWN: {"descendants": [CHILD]}},
    });
    std::fs::write(&path, contents.to_string()).unwrap();
    path
}

#[test]
fn targets_parse_from_subscriptions() {
    assert_eq!(Target::parse("*").unwrap(), Target::Wildcard);
    assert_eq!(Target::parse(OWN).unwrap(), account(OWN));
    assert!(Target::parse("**").is_err());
    assert!(Target::parse("").is_err());
    assert_eq!(account(OWN).to_string(), OWN);
    assert_eq!(Target::Wildcard.to_string(), "*");
}

#[test]
fn errors_speak_kazoo_and_never_show_the_token() {
    let token = "s3cr3t";
    let cases = [
        (
            AuthError::Missing,
            "authentication token required",
            "missing",
        ),
        (
            AuthError::Invalid,
            "failed to authenticate token s3cr3t",
            "invalid",
        ),
        (
            AuthError::Expired,
            "failed to authenticate token s3cr3t",
            "expired",
        ),
        (
            AuthError::Format,
            "invalid authentication token format",
            "format",
        ),
        (
            AuthError::UnauthorizedAccount,
            "unauthorized account id",
            "unauthorized_account",
        ),
        (
            AuthError::UnauthorizedWildcard,
            "unauthorized wildcard account id",
            "unauthorized_wildcard",
        ),
        (
            AuthError::Unavailable("x"),
            UNAVAILABLE_MESSAGE,
            "unavailable",
        ),
    ];
    for (err, message, reason) in cases {
        assert_eq!(err.kazoo_message(token), message);
        assert_eq!(err.reason(), reason);
        let quiet = err.client_message(token, false);
        assert!(!quiet.contains(token), "{quiet}");
        assert!(message.starts_with(&quiet), "{quiet}");
        assert!(!format!("{err} {err:?}").contains(token));
    }
    assert_eq!(
        AuthError::Invalid.client_message(token, false),
        "failed to authenticate token"
    );
}

#[tokio::test]
async fn demo_tokens_reach_their_own_account_only() {
    let auth = Auth::demo(vec![("demo-1".to_owned(), AccountId::parse(OWN).unwrap())]);
    let grant = auth.authorize("demo-1", &account(OWN)).await.unwrap();
    assert_eq!(grant.account.as_str(), OWN);
    assert_eq!(grant.authenticator, Authenticator::Static);
    assert_eq!(grant.expires_at, None);
    assert_eq!(
        auth.authorize("demo-1", &account(OTHER)).await,
        Err(AuthError::UnauthorizedAccount)
    );
    assert_eq!(
        auth.authorize("demo-1", &Target::Wildcard).await,
        Err(AuthError::UnauthorizedWildcard)
    );
    assert_eq!(
        auth.authorize("demo-2", &account(OWN)).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(
        auth.authorize("", &account(OWN)).await,
        Err(AuthError::Missing)
    );
    for malformed in ["demo 1", "demo-1\n", "dé", &"x".repeat(MAX_TOKEN_LEN + 1)] {
        assert_eq!(
            auth.authorize(malformed, &account(OWN)).await,
            Err(AuthError::Format)
        );
    }
}

#[tokio::test]
async fn static_tokens_follow_the_hierarchy_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::from_config(&AuthConfig {
        tokens_file: Some(token_file(dir.path())),
        ..AuthConfig::default()
    })
    .unwrap();

    assert!(auth.authorize(OWN_TOKEN, &account(OWN)).await.is_ok());
    let grant = auth.authorize(OWN_TOKEN, &account(CHILD)).await.unwrap();
    assert_eq!(
        (grant.account.as_str(), grant.target),
        (OWN, account(CHILD))
    );
    assert_eq!(
        auth.authorize(OWN_TOKEN, &account(OTHER)).await,
        Err(AuthError::UnauthorizedAccount)
    );
    // Descendants do not see their parents.
    let admin = auth
        .authorize(ADMIN_TOKEN, &Target::Wildcard)
        .await
        .unwrap();
    assert_eq!(
        admin.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_924_992_000))
    );
    assert!(!admin.is_expired(SystemTime::now()));
    assert!(admin.is_expired(UNIX_EPOCH + Duration::from_secs(1_924_992_000)));
    assert!(auth.authorize(ADMIN_TOKEN, &account(OTHER)).await.is_ok());
    assert_eq!(
        auth.authorize("expired", &account(OWN)).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn jwts_use_the_token_files_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let keys = key_dir();
    let auth = Auth::from_config(&AuthConfig {
        tokens_file: Some(token_file(dir.path())),
        jwt_keys: Some(keys.path().to_owned()),
        ..AuthConfig::default()
    })
    .unwrap();
    let token = sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, now() + 600));

    let grant = auth.authorize(&token, &account(CHILD)).await.unwrap();
    assert_eq!(grant.authenticator, Authenticator::Jwt);
    assert_eq!(grant.account.as_str(), OWN);
    assert_eq!(
        auth.authorize(&token, &account(OTHER)).await,
        Err(AuthError::UnauthorizedAccount)
    );
    assert_eq!(
        auth.authorize(&token, &Target::Wildcard).await,
        Err(AuthError::UnauthorizedWildcard)
    );

    let mut claims = kazoo_claims(OTHER, now() + 600);
    claims["superduper_admin"] = json!(true);
    let admin = sign(PRIVATE_A, "test-key-a", &claims);
    assert!(auth.authorize(&admin, &Target::Wildcard).await.is_ok());
    assert!(auth.authorize(&admin, &account(CHILD)).await.is_ok());

    let expired = sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, now() - 1));
    assert_eq!(
        auth.authorize(&expired, &account(OWN)).await,
        Err(AuthError::Expired)
    );
    // Static tokens still work next to the keys; unknown ones are refused.
    assert!(auth.authorize(OWN_TOKEN, &account(CHILD)).await.is_ok());
    let unknown_kid = sign(PRIVATE_A, "other-kid", &kazoo_claims(OWN, now() + 600));
    assert_eq!(
        auth.authorize(&unknown_kid, &account(OWN)).await,
        Err(AuthError::Invalid)
    );
}

#[tokio::test]
async fn crossbar_decides_what_the_local_authenticators_cannot() {
    let keys = key_dir();
    let reseller = sign(PRIVATE_A, "test-key-a", &kazoo_claims(OWN, now() + 600));
    let stand_in = StandIn::start(HashMap::from([
        (reseller.clone(), known(&[OWN, OTHER], false)),
        ("opaque".to_owned(), known(&[CHILD], false)),
    ]))
    .await;
    let auth = Auth::from_config(&AuthConfig {
        jwt_keys: Some(keys.path().to_owned()),
        crossbar_url: Some(stand_in.url.clone()),
        ..AuthConfig::default()
    })
    .unwrap();

    // Own account: the JWT alone decides, Crossbar is not asked.
    let grant = auth.authorize(&reseller, &account(OWN)).await.unwrap();
    assert_eq!(grant.authenticator, Authenticator::Jwt);
    assert_eq!(stand_in.requests(), 0);
    // A descendant unknown locally: Crossbar knows the tree.
    let grant = auth.authorize(&reseller, &account(OTHER)).await.unwrap();
    assert_eq!(grant.authenticator, Authenticator::Crossbar);
    assert_eq!(grant.account.as_str(), OWN);
    assert_eq!(
        auth.authorize(&reseller, &account(CHILD)).await,
        Err(AuthError::UnauthorizedAccount)
    );
    // A token the JWT keys do not know goes to Crossbar.
    let grant = auth.authorize("opaque", &account(CHILD)).await.unwrap();
    assert_eq!(grant.authenticator, Authenticator::Crossbar);
    assert_eq!(
        auth.authorize("nobody", &account(CHILD)).await,
        Err(AuthError::Invalid)
    );

    // A forged JWT is refused by the keys without asking Crossbar.
    let asked = stand_in.requests();
    let forged = format!("{}x", &reseller[..reseller.len() - 1]);
    assert_eq!(
        auth.authorize(&forged, &account(OWN)).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(stand_in.requests(), asked);

    drop(stand_in);
    assert!(matches!(
        auth.authorize("fresh", &account(CHILD)).await,
        Err(AuthError::Unavailable(_))
    ));
}

#[tokio::test]
async fn configuration_errors_are_reported() {
    let err = Auth::from_config(&AuthConfig::default()).err().unwrap();
    assert!(matches!(err, ConfigError::NoAuthenticator), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, r#"{"tokens": {"SECRET": {"account_id": "nope"}}}"#).unwrap();
    let err = Auth::from_config(&AuthConfig {
        tokens_file: Some(path.clone()),
        ..AuthConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(!err.contains("SECRET"), "{err}");

    let err = Auth::from_config(&AuthConfig {
        crossbar_url: Some("kazoo".to_owned()),
        ..AuthConfig::default()
    })
    .err()
    .unwrap();
    assert!(matches!(err, ConfigError::CrossbarUrl(_)), "{err}");
}

#[tokio::test]
async fn reloads_while_in_use_and_stops_with_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = token_file(dir.path());
    let auth = Auth::from_config(&AuthConfig {
        tokens_file: Some(path.clone()),
        reload_every: Duration::from_millis(20),
        ..AuthConfig::default()
    })
    .unwrap();
    let tmp = dir.path().join("tokens.json.new");
    std::fs::write(
        &tmp,
        json!({"tokens": {"new": {"account_id": OTHER}}}).to_string(),
    )
    .unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while auth.authorize("new", &account(OTHER)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        auth.authorize(OWN_TOKEN, &account(OWN)).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(auth.reloaders.len(), 1);
    assert!(!format!("{auth:?}").contains(OWN_TOKEN));
}

#[test]
fn the_chain_can_be_shared_across_tasks() {
    fn shared<T: Send + Sync>(_: &T) {}
    fn sendable<F: std::future::Future + Send>(_: F) {}
    let auth = Auth::demo(Vec::new());
    shared(&auth);
    sendable(auth.authorize("t", &Target::Wildcard));
}
