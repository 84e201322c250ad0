use std::io::Write;
use std::os::unix::fs::symlink;

use super::*;

const OWN: &str = "4b31dd1d32ce6d249897c06332375d65";
const CHILD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
const GRANDCHILD: &str = "deadbeefdeadbeefdeadbeefdeadbeef";
const ADMIN: &str = "aaaabbbbccccddddeeeeffff00001111";

/// The example of DESIGN §4, plus a grandchild and an expired token.
fn design_example() -> String {
    format!(
        r#"{{
  "tokens": {{
    "7b70f69a2a4976d80bfa0382894d1553": {{"account_id": "{OWN}"}},
    "0f0e0d0c0b0a09080706050403020100": {{"account_id": "{ADMIN}", "superduper_admin": true, "exp": 1924992000}},
    "expired-token": {{"account_id": "{OWN}", "exp": 1000}}
  }},
  "accounts": {{
    "{OWN}": {{"descendants": ["{CHILD}"]}},
    "{CHILD}": {{"descendants": ["{GRANDCHILD}", "{OWN}"]}}
  }}
}}"#
    )
}

fn id(raw: &str) -> AccountId {
    AccountId::parse(raw).unwrap()
}

fn parse_str(contents: &str) -> Result<TokenSet, ConfigError> {
    parse(Path::new("tokens.json"), contents.as_bytes())
}

fn identity_of(tokens: &StaticTokens, token: &str) -> Option<Result<Identity, AuthError>> {
    tokens.snapshot().find(token)
}

#[test]
fn parses_the_documented_format() {
    let set = parse_str(&design_example()).unwrap();
    let own = set
        .find("7b70f69a2a4976d80bfa0382894d1553")
        .unwrap()
        .unwrap();
    assert_eq!(own.account, id(OWN));
    assert!(!own.superduper_admin);
    assert_eq!(own.expires_at, None);

    let admin = set
        .find("0f0e0d0c0b0a09080706050403020100")
        .unwrap()
        .unwrap();
    assert!(admin.superduper_admin);
    assert_eq!(
        admin.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_924_992_000))
    );

    assert_eq!(set.find("expired-token"), Some(Err(AuthError::Expired)));
}

#[test]
fn only_exact_tokens_match() {
    let set = parse_str(&design_example()).unwrap();
    for guess in [
        "",
        "7b70f69a2a4976d80bfa0382894d155",
        "7b70f69a2a4976d80bfa0382894d15530",
        "7B70F69A2A4976D80BFA0382894D1553",
        "x",
    ] {
        assert!(set.find(guess).is_none(), "{guess:?}");
    }
}

#[test]
fn constant_time_equality_handles_any_lengths() {
    assert!(bool::from(ct_eq(b"abc", b"abc")));
    assert!(!bool::from(ct_eq(b"abc", b"abd")));
    assert!(!bool::from(ct_eq(b"abc", b"ab")));
    assert!(!bool::from(ct_eq(b"ab", b"abc")));
    // Zero padding must not make a prefix equal.
    assert!(!bool::from(ct_eq(b"ab\0", b"ab")));
    assert!(bool::from(ct_eq(b"", b"")));
}

#[test]
fn hierarchy_is_transitive_and_survives_cycles() {
    let set = parse_str(&design_example()).unwrap();
    let tree = set.hierarchy();
    assert!(tree.is_descendant(&id(OWN), &id(CHILD)));
    assert!(tree.is_descendant(&id(OWN), &id(GRANDCHILD)));
    assert!(tree.is_descendant(&id(CHILD), &id(GRANDCHILD)));
    assert!(!tree.is_descendant(&id(GRANDCHILD), &id(OWN)));
    assert!(!tree.is_descendant(&id(ADMIN), &id(OWN)));
}

#[test]
fn accounts_section_is_optional_and_ids_are_normalized() {
    let set = parse_str(&format!(
        r#"{{"tokens": {{"t": {{"account_id": "{}"}}}}}}"#,
        OWN.to_ascii_uppercase()
    ))
    .unwrap();
    assert_eq!(set.find("t").unwrap().unwrap().account, id(OWN));
    assert!(parse_str(r#"{"tokens": {}}"#).unwrap().entries.is_empty());
}

#[test]
fn refuses_invalid_files_without_quoting_secrets() {
    let cases = [
        (
            r#"{"tokens": {"SECRET-1": {"account_id": "SECRET-2"}}}"#,
            "account_id",
        ),
        (
            r#"{"tokens": {"SECRET-1": {"account_id": 42}}}"#,
            "wrong type",
        ),
        (
            &format!(
                r#"{{"tokens": {{"SECRET-1": {{"account_id": "{OWN}", "exp": "SECRET-2"}}}}}}"#
            ),
            "wrong type",
        ),
        (
            &format!(
                r#"{{"tokens": {{"SECRET-1": {{"account_id": "{OWN}", "superduper": true}}}}}}"#
            ),
            "unknown field",
        ),
        (
            &format!(r#"{{"tokens": {{"SECRET 1": {{"account_id": "{OWN}"}}}}}}"#),
            "printable",
        ),
        (
            &format!(
                r#"{{"tokens": {{}}, "accounts": {{"{OWN}": {{"descendants": ["SECRET-2"]}}}}}}"#
            ),
            "accounts",
        ),
        (r#"{"accounts": {}}"#, "missing field"),
        (r#"{"tokens": {"SECRET-1": "#, "EOF"),
        ("", "EOF"),
    ];
    for (contents, expected) in cases {
        let err = parse_str(contents).err().unwrap().to_string();
        assert!(err.starts_with("tokens.json: "), "{err}");
        assert!(err.contains(expected), "{contents}: {err}");
        assert!(!err.contains("SECRET"), "{contents}: {err}");
    }
}

#[test]
fn in_memory_set_has_no_expiry_and_no_tree() {
    let tokens = StaticTokens::in_memory(vec![("demo".to_owned(), id(OWN))]);
    assert_eq!(tokens.len(), 1);
    let identity = identity_of(&tokens, "demo").unwrap().unwrap();
    assert_eq!(
        (identity.account, identity.superduper_admin),
        (id(OWN), false)
    );
    assert!(!tokens.reload());
    assert!(tokens.watch(Duration::from_millis(10)).is_none());
}

/// Writes a file next to `path` and renames it over `path`, as editors and `kubectl cp` do.
fn replace_by_rename(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn single_token_file(token: &str, account: &str) -> String {
    format!(r#"{{"tokens": {{"{token}": {{"account_id": "{account}"}}}}}}"#)
}

#[test]
fn reloads_a_renamed_file_and_keeps_the_old_one_when_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, single_token_file("first", OWN)).unwrap();
    let tokens = StaticTokens::load(&path).unwrap();
    assert!(!tokens.reload(), "unchanged");

    replace_by_rename(&path, &single_token_file("second", CHILD));
    assert!(tokens.reload());
    assert!(identity_of(&tokens, "first").is_none());
    assert_eq!(
        identity_of(&tokens, "second").unwrap().unwrap().account,
        id(CHILD)
    );

    // A broken file, then an invalid one, then a missing one: the old set stays in use.
    for broken in [
        r#"{"tokens": {"#,
        r#"{"tokens": {"x": {"account_id": "nope"}}}"#,
    ] {
        replace_by_rename(&path, broken);
        assert!(!tokens.reload());
        assert!(!tokens.reload(), "the same broken file is not re-parsed");
        assert!(identity_of(&tokens, "second").is_some());
    }
    std::fs::remove_file(&path).unwrap();
    assert!(!tokens.reload());
    assert!(identity_of(&tokens, "second").is_some());

    std::fs::write(&path, single_token_file("third", OWN)).unwrap();
    assert!(tokens.reload());
    assert!(identity_of(&tokens, "third").is_some());
}

/// Lays out a directory as Kubernetes mounts a ConfigMap or Secret:
/// `tokens.json -> ..data/tokens.json`, `..data -> ..<version>`.
fn kubernetes_swap(dir: &Path, version: &str, contents: &str) {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir(&versioned).unwrap();
    std::fs::write(versioned.join("tokens.json"), contents).unwrap();
    let tmp_link = dir.join("..data_tmp");
    symlink(format!("..{version}"), &tmp_link).unwrap();
    std::fs::rename(&tmp_link, dir.join("..data")).unwrap();
    let visible = dir.join("tokens.json");
    if std::fs::symlink_metadata(&visible).is_err() {
        symlink("..data/tokens.json", &visible).unwrap();
    }
}

#[test]
fn follows_a_kubernetes_symlink_swap() {
    let dir = tempfile::tempdir().unwrap();
    kubernetes_swap(dir.path(), "2026_11_23_1", &single_token_file("first", OWN));
    let tokens = StaticTokens::load(&dir.path().join("tokens.json")).unwrap();
    assert!(identity_of(&tokens, "first").is_some());

    kubernetes_swap(
        dir.path(),
        "2026_11_23_2",
        &single_token_file("second", OWN),
    );
    std::fs::remove_dir_all(dir.path().join("..2026_11_23_1")).unwrap();
    assert!(tokens.reload());
    assert!(identity_of(&tokens, "first").is_none());
    assert!(identity_of(&tokens, "second").is_some());

    kubernetes_swap(dir.path(), "2026_11_23_3", "not json");
    assert!(!tokens.reload());
    assert!(identity_of(&tokens, "second").is_some());
}

#[tokio::test]
async fn background_task_picks_up_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, single_token_file("first", OWN)).unwrap();
    let tokens = StaticTokens::load(&path).unwrap();
    let task = tokens.watch(Duration::from_millis(20)).unwrap();

    replace_by_rename(&path, &single_token_file("second", OWN));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while identity_of(&tokens, "second").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The task ends by itself once nobody holds the tokens.
    drop(tokens);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn refuses_a_missing_file_or_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = StaticTokens::load(&dir.path().join("absent.json"))
        .err()
        .unwrap();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
    let err = StaticTokens::load(dir.path()).err().unwrap();
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn debug_output_holds_no_token() {
    let set = parse_str(&design_example()).unwrap();
    let debug = format!("{set:?}");
    assert!(debug.contains(OWN), "{debug}");
    assert!(
        !debug.contains("7b70f69a2a4976d80bfa0382894d1553"),
        "{debug}"
    );
}
