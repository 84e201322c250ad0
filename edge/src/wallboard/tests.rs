use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

use super::*;
use crate::demo::{self, Generator};

const PAGE_PATHS: [&str; 5] = [
    "/",
    "/wallboard.css",
    "/wallboard-model.js",
    "/wallboard-link.js",
    "/wallboard.js",
];

fn body(response: HttpResponse) -> Bytes {
    futures_util::FutureExt::now_or_never(response.into_body().collect())
        .expect("a full body is ready at once")
        .expect("a full body never fails")
        .to_bytes()
}

fn demo_login() -> DemoLogin {
    DemoLogin::new(&demo::demo_accounts())
}

fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/wallboard")
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/wallboard")
}

/// Runs node; the project's test script installs it, so a missing node fails the test.
fn node(args: &[&Path]) -> String {
    let output = Command::new("node")
        .args(args)
        .output()
        .expect("node must be installed to test the wallboard's JavaScript");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "node {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn every_page_path_is_served_with_its_type_and_security_headers() {
    let expected_types = [
        "text/html; charset=utf-8",
        "text/css; charset=utf-8",
        "text/javascript; charset=utf-8",
        "text/javascript; charset=utf-8",
        "text/javascript; charset=utf-8",
    ];
    for (path, content_type) in PAGE_PATHS.iter().zip(expected_types) {
        for demo in [None, Some(&demo_login())] {
            let response = serve(path, demo).unwrap_or_else(|| panic!("{path} is served"));
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            for directive in [
                "default-src 'self'",
                "connect-src 'self' ws: wss:",
                "img-src 'self' data:",
                "style-src 'self'",
                "script-src 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(
                    csp.split("; ").any(|d| d == directive),
                    "{directive} in {csp}"
                );
            }
            assert!(!csp.contains("unsafe"), "{csp}");
            assert!(!body(response).is_empty(), "{path}");
        }
    }
}

#[test]
fn the_page_is_the_index_html() {
    let page = body(serve("/", None).unwrap());
    assert_eq!(page, include_str!("../../assets/wallboard/index.html"));
}

#[test]
fn config_has_no_demo_normally() {
    let response = serve(CONFIG_PATH, None).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let config: Value = serde_json::from_slice(&body(response)).unwrap();
    assert_eq!(config, json!({"demo": null}));
}

#[test]
fn config_lists_the_demo_accounts_in_demo_mode() {
    let response = serve(CONFIG_PATH, Some(&demo_login())).unwrap();
    let config: Value = serde_json::from_slice(&body(response)).unwrap();
    let expected: Vec<Value> = demo::demo_accounts()
        .iter()
        .map(|a| json!({"name": a.name, "account_id": a.id.as_str(), "auth_token": a.token}))
        .collect();
    assert_eq!(config, json!({"demo": {"accounts": expected}}));
    assert_eq!(config["demo"]["accounts"][0]["name"], "Acme Support");
    assert_eq!(
        config["demo"]["accounts"][0]["account_id"],
        "cea599337b69fb3eee2e4fbe58318e1a"
    );
}

#[test]
fn other_paths_are_not_the_wallboards() {
    for path in [
        "",
        "/index.html",
        "/wallboard",
        "/wallboard/",
        "/wallboard/config.json/",
        "/wallboard/config",
        "/wallboard.JS",
        "/socket.io/",
        "/ws",
        "/favicon.ico",
        "//wallboard.js",
        "/assets/wallboard/wallboard.js",
    ] {
        assert!(serve(path, Some(&demo_login())).is_none(), "{path}");
        assert!(serve(path, None).is_none(), "{path}");
    }
}

#[test]
fn the_page_requests_nothing_from_other_origins() {
    for asset in &ASSETS {
        for scheme in ["http://", "https://", "//fonts.", "@import", "url("] {
            assert!(
                !asset.body.contains(scheme),
                "{} must not reference {scheme}",
                asset.path
            );
        }
    }
    // Every src= and href= of the page is a path this module serves, or an inline data: URL.
    let html = ASSETS[0].body;
    let mut references = BTreeSet::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            references.insert(&rest[..rest.find('"').unwrap()]);
        }
    }
    assert!(references.len() >= 5, "{references:?}");
    for reference in references {
        if reference.starts_with("data:") {
            continue;
        }
        assert!(
            reference.starts_with('/') && !reference.starts_with("//"),
            "{reference} is not same-origin"
        );
        assert!(
            serve(reference, None).is_some(),
            "{reference} is not served"
        );
    }
    // No inline script or style, which the CSP would block anyway.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains("style="));
    for script in PAGE_PATHS.iter().filter(|p| p.ends_with(".js")) {
        assert!(html.contains(&format!("<script src=\"{script}\" defer></script>")));
    }
}

#[test]
fn credentials_never_reach_local_storage_or_the_url() {
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        for forbidden in [
            "localStorage",
            "location.search",
            "location.hash",
            "pushState",
        ] {
            assert!(
                !asset.body.contains(forbidden),
                "{} uses {forbidden}",
                asset.path
            );
        }
    }
}

#[test]
fn the_javascript_parses() {
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let file = assets_dir().join(asset.path.trim_start_matches('/'));
        node(&[Path::new("--check"), &file]);
    }
}

#[test]
fn the_call_model_passes_its_tests() {
    let kazoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/kazoo");
    node(&[
        &tests_dir().join("model_test.js"),
        &assets_dir().join("wallboard-model.js"),
        &kazoo,
    ]);
}

#[test]
fn the_websocket_link_passes_its_tests() {
    node(&[
        &tests_dir().join("link_test.js"),
        &assets_dir().join("wallboard-link.js"),
    ]);
}

/// Kazoo 4.x `normalize_jobj`: keys lower-cased, `-` turned into `_`, recursively.
fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase().replace('-', "_"), normalize(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// Twenty minutes of demo traffic for every account, replayed through the page's model: its
/// board and counters for the first account must match what the events say happened.
#[test]
fn the_model_follows_the_demo_traffic() {
    let accounts = demo::demo_accounts();
    let account = accounts[0].id.as_str();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let mut generator = Generator::new(7);
    let mut lines = String::new();
    let (mut events, mut created, mut answered) = (0, BTreeMap::new(), BTreeMap::new());
    let (mut waits, mut talks, mut missed) = (Vec::new(), Vec::new(), 0);
    let mut active = BTreeMap::new();
    let mut elapsed = Duration::ZERO;
    while elapsed <= Duration::from_secs(20 * 60) {
        let now_ms = (t0 + elapsed)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as f64;
        for event in generator.step(t0 + elapsed) {
            let data = normalize(serde_json::from_slice(&event.payload).unwrap());
            let name = data["event_name"].as_str().unwrap().to_owned();
            let envelope = json!({
                "action": "event", "subscribed_key": "call.*.*", "name": name, "data": data,
            });
            lines.push_str(&json!({"now": now_ms, "envelope": envelope}).to_string());
            lines.push('\n');
            if data["custom_channel_vars"]["account_id"] != account {
                continue;
            }
            events += 1;
            let id = data["call_id"].as_str().unwrap().to_owned();
            match name.as_str() {
                "CHANNEL_CREATE" => {
                    created.insert(id.clone(), now_ms);
                    active.insert(id, "ringing");
                }
                "CHANNEL_ANSWER" => {
                    waits.push(now_ms - created[&id]);
                    answered.insert(id.clone(), now_ms);
                    active.insert(id, "answered");
                }
                "CHANNEL_HOLD" => {
                    active.insert(id, "on-hold");
                }
                "CHANNEL_UNHOLD" => {
                    active.insert(id, "answered");
                }
                "CHANNEL_DESTROY" => {
                    match answered.get(&id) {
                        Some(at) => talks.push(now_ms - at),
                        None => missed += 1,
                    }
                    active.remove(&id);
                }
                _ => {}
            }
        }
        elapsed += demo::TICK;
    }
    assert!(missed > 0 && talks.len() > 5 && !active.is_empty());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let expected = json!({
        "account_id": account,
        "events": events,
        "calls": created.len(),
        "answered": answered.len(),
        "missed": missed,
        "avg_wait_ms": mean(&waits),
        "avg_talk_ms": mean(&talks),
        "active": active,
    });

    let dir = tempfile::tempdir().unwrap();
    let events_file = dir.path().join("events.jsonl");
    let expected_file = dir.path().join("expected.json");
    std::fs::write(&events_file, lines).unwrap();
    std::fs::write(&expected_file, expected.to_string()).unwrap();
    let report = node(&[
        &tests_dir().join("replay_test.js"),
        &assets_dir().join("wallboard-model.js"),
        &events_file,
        &expected_file,
    ]);
    println!("{report}");
}
