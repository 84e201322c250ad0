//! Loading certificates and keys, and replacing them while in use (files, symlink swaps, SIGHUP).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::test_pki::{KeyKind, Leaf, Pki, ders};
use super::*;

fn files_of(leaf: &Leaf) -> TlsFiles {
    TlsFiles::new(&leaf.fullchain, &leaf.key)
}

fn serial_in_use(store: &CertStore) -> String {
    CertInfo::of(&store.current()).serial
}

fn reloads(metrics: &TlsMetrics, outcome: &str) -> u64 {
    metrics.reloads.with_label_values(&[outcome]).get()
}

/// Replaces `to` with `from`'s contents the way most tools do: write aside, then rename.
fn rename_replace(from: &Path, to: &Path) {
    let aside = to.with_extension("tmp");
    std::fs::copy(from, &aside).unwrap();
    std::fs::rename(&aside, to).unwrap();
}

/// Waits up to 5 s for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn loads_every_key_form_and_keeps_the_chain_in_file_order() {
    let pki = Pki::new();
    let kinds = [
        KeyKind::RsaPkcs1,
        KeyKind::RsaPkcs8,
        KeyKind::EcSec1,
        KeyKind::EcPkcs8,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let leaf = pki.leaf(&format!("leaf{i}"), kind, 0x1000 + i as u64);
        let key = load_certified_key(&files_of(&leaf)).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let served: Vec<Vec<u8>> = key.cert.iter().map(|c| c.to_vec()).collect();
        let expected = [ders(&leaf.cert), ders(&pki.intermediate())].concat();
        assert_eq!(served, expected, "{kind:?}: leaf first, intermediate kept");
        assert_eq!(
            CertInfo::of(&key).serial,
            format!("{:X}", 0x1000 + i),
            "{kind:?}"
        );
    }
}

#[test]
fn describes_the_leaf_as_openssl_does() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 0x00c0_ffee_0123_4567);
    let info = CertInfo::of(&load_certified_key(&files_of(&leaf)).unwrap());
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-serial",
            "-enddate",
            "-fingerprint",
            "-sha256",
        ])
        .args(["-dateopt", "iso_8601", "-in"])
        .arg(&leaf.cert)
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains(&format!("serial={}\n", info.serial)), "{out}");
    let not_after = info.not_after_rfc3339().replace('T', " ");
    assert!(
        out.contains(&format!("notAfter={not_after}\n")),
        "{out} vs {not_after}"
    );
    let fingerprint = out.split("Fingerprint=").nth(1).unwrap().trim();
    assert_eq!(fingerprint.replace(':', "").to_lowercase(), info.sha256);
    assert_eq!(info.chain_len, 2);
}

#[test]
fn refuses_a_key_that_does_not_match_without_quoting_it() {
    let pki = Pki::new();
    let a = pki.leaf("a", KeyKind::EcSec1, 1);
    let b = pki.leaf("b", KeyKind::RsaPkcs8, 2);
    let err = load_certified_key(&TlsFiles::new(&a.fullchain, &b.key)).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&*b.key.to_string_lossy()), "{message}");
    assert!(
        message.contains(&*a.fullchain.to_string_lossy()),
        "{message}"
    );
    let key_text = std::fs::read_to_string(&b.key).unwrap();
    for line in key_text.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!message.contains(line), "key material in {message}");
    }
    assert!(!format!("{err:?}").contains(key_text.lines().nth(1).unwrap()));
}

#[test]
fn refuses_a_chain_whose_leaf_is_not_first() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 3);
    let reversed = leaf.fullchain.with_extension("reversed");
    let mut pem = std::fs::read(pki.intermediate()).unwrap();
    pem.extend(std::fs::read(&leaf.cert).unwrap());
    std::fs::write(&reversed, pem).unwrap();
    let err = load_certified_key(&TlsFiles::new(&reversed, &leaf.key)).unwrap_err();
    assert!(err.to_string().contains("leaf certificate first"), "{err}");
}

#[test]
fn names_the_file_and_the_problem() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcSec1, 4);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let key_pem = std::fs::read(&leaf.key).unwrap();
    let cert_pem = std::fs::read(&leaf.fullchain).unwrap();
    let cases = [
        (
            TlsFiles::new(dir.path().join("missing.crt"), &leaf.key),
            "cannot read the TLS certificate file",
        ),
        (
            TlsFiles::new(&leaf.fullchain, dir.path().join("missing.key")),
            "cannot read the TLS key file",
        ),
        (
            TlsFiles::new(write("empty.crt", b""), &leaf.key),
            "no CERTIFICATE block",
        ),
        (
            TlsFiles::new(&leaf.fullchain, write("cert-as-key.pem", &cert_pem)),
            "no PRIVATE KEY",
        ),
        (
            TlsFiles::new(&leaf.fullchain, write("half.key", &key_pem[..key_pem.len() / 2])),
            "no END line",
        ),
        (
            TlsFiles::new(
                write("half.crt", &cert_pem[..cert_pem.len() / 3]),
                &leaf.key,
            ),
            "no END line",
        ),
        (
            TlsFiles::new(
                &leaf.fullchain,
                write(
                    "junk.key",
                    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                ),
            ),
            "not a usable",
        ),
        (
            TlsFiles::new(
                &leaf.fullchain,
                write(
                    "encrypted.key",
                    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                ),
            ),
            "encrypted keys are not supported",
        ),
    ];
    for (files, expected) in cases {
        let err = load_certified_key(&files).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        let named = err.contains(&*files.cert.to_string_lossy())
            || err.contains(&*files.key.to_string_lossy());
        assert!(named, "{err:?} names no file");
    }
}

#[test]
fn a_combined_pem_file_serves_as_both_cert_and_key() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::RsaPkcs1, 5);
    let combined = leaf.fullchain.with_extension("combined");
    let mut pem = std::fs::read(&leaf.key).unwrap();
    pem.extend(std::fs::read(&leaf.fullchain).unwrap());
    std::fs::write(&combined, pem).unwrap();
    let key = load_certified_key(&TlsFiles::new(&combined, &combined)).unwrap();
    assert_eq!(key.cert.len(), 2);
}

#[test]
fn replace_changes_what_new_handshakes_get() {
    let pki = Pki::new();
    let a = pki.leaf("a", KeyKind::EcPkcs8, 0xa1);
    let b = pki.leaf("b", KeyKind::EcPkcs8, 0xb2);
    let store = CertStore::load(files_of(&a), TlsMetrics::new()).unwrap();
    let before = store.current();
    store.replace(load_certified_key(&files_of(&b)).unwrap());
    assert_eq!(serial_in_use(&store), "B2");
    // A handshake that already picked its key keeps it.
    assert_eq!(CertInfo::of(&before).serial, "A1");
}

/// A `tls.crt`/`tls.key` pair in a directory of its own, replaced by renames.
fn plain_dir(leaf: &Leaf) -> (tempfile::TempDir, TlsFiles) {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles::new(dir.path().join("tls.crt"), dir.path().join("tls.key"));
    rename_replace(&leaf.fullchain, &files.cert);
    rename_replace(&leaf.key, &files.key);
    (dir, files)
}

#[test]
fn a_pair_replaced_one_file_at_a_time_is_not_refused_in_between() {
    let pki = Pki::new();
    let (a, b) = (
        pki.leaf("a", KeyKind::EcSec1, 0xa1),
        pki.leaf("b", KeyKind::EcSec1, 0xb2),
    );
    let (_dir, files) = plain_dir(&a);
    let metrics = TlsMetrics::new();
    let store = CertStore::load(files.clone(), metrics.clone()).unwrap();
    rename_replace(&b.fullchain, &files.cert);
    store.poll(); // B's cert with A's key: given one more poll
    assert_eq!(
        (serial_in_use(&store), reloads(&metrics, "refused")),
        ("A1".into(), 0)
    );
    rename_replace(&b.key, &files.key);
    store.poll();
    assert_eq!(serial_in_use(&store), "B2");
    assert_eq!(
        (reloads(&metrics, "ok"), reloads(&metrics, "refused")),
        (1, 0)
    );
    assert_eq!(
        metrics.certificate_not_after.get(),
        CertInfo::of(&store.current()).not_after.unwrap()
    );
}

#[test]
fn a_broken_pair_is_refused_once_and_the_old_one_stays() {
    let pki = Pki::new();
    let (a, b) = (
        pki.leaf("a", KeyKind::EcSec1, 0xa1),
        pki.leaf("b", KeyKind::EcSec1, 0xb2),
    );
    let (_dir, files) = plain_dir(&a);
    let metrics = TlsMetrics::new();
    let store = CertStore::load(files.clone(), metrics.clone()).unwrap();
    rename_replace(&b.key, &files.key);
    for _ in 0..5 {
        store.poll();
    }
    assert_eq!(serial_in_use(&store), "A1");
    assert_eq!(
        reloads(&metrics, "refused"),
        1,
        "one warning, not one per poll"
    );
    // SIGHUP answers at once, and counts.
    assert!(store.reload().is_err());
    assert_eq!(reloads(&metrics, "refused"), 2);
    rename_replace(&b.fullchain, &files.cert);
    assert!(matches!(store.reload(), Ok(Reload::Replaced(info)) if info.serial == "B2"));
    assert_eq!(store.reload().unwrap(), Reload::Unchanged);
}

#[tokio::test]
async fn watch_follows_a_rename_replace_and_refuses_a_broken_pair() {
    let pki = Pki::new();
    let a = pki.leaf("a", KeyKind::RsaPkcs8, 0xa1);
    let b = pki.leaf("b", KeyKind::EcPkcs8, 0xb2);
    let c = pki.leaf("c", KeyKind::EcPkcs8, 0xc3);
    let (_dir, files) = plain_dir(&a);
    let metrics = TlsMetrics::new();
    let store = CertStore::load(files.clone(), metrics.clone()).unwrap();
    let stop = CancellationToken::new();
    let watcher = store.watch(Duration::from_millis(50), stop.clone());

    rename_replace(&b.fullchain, &files.cert);
    rename_replace(&b.key, &files.key);
    eventually("B in use", || serial_in_use(&store) == "B2").await;

    // C's certificate with a truncated key: refused, B stays.
    let key = std::fs::read(&c.key).unwrap();
    std::fs::write(files.key.with_extension("tmp"), &key[..key.len() - 40]).unwrap();
    std::fs::rename(files.key.with_extension("tmp"), &files.key).unwrap();
    rename_replace(&c.fullchain, &files.cert);
    eventually("refused", || reloads(&metrics, "refused") == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(serial_in_use(&store), "B2");
    assert_eq!(reloads(&metrics, "refused"), 1);

    // The key finally arrives whole.
    rename_replace(&c.key, &files.key);
    eventually("C in use", || serial_in_use(&store) == "C3").await;
    assert_eq!(reloads(&metrics, "ok"), 2);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .expect("the watcher stops when cancelled")
        .unwrap();
}

/// Lays out `leaf` the way the kubelet mounts a Secret: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<version>`, where `..<version>` holds the real files.
fn kubelet_publish(dir: &Path, version: &str, leaf: &Leaf) {
    use std::os::unix::fs::symlink;
    let versioned = dir.join(version);
    std::fs::create_dir(&versioned).unwrap();
    std::fs::copy(&leaf.fullchain, versioned.join("tls.crt")).unwrap();
    std::fs::copy(&leaf.key, versioned.join("tls.key")).unwrap();
    // Atomic swap, as the kubelet's AtomicWriter does: a new link renamed over `..data`.
    symlink(version, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for name in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(dir.join(name)).is_err() {
            symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
    }
}

#[tokio::test]
async fn watch_follows_a_kubernetes_secret_symlink_swap() {
    let pki = Pki::new();
    let a = pki.leaf("a", KeyKind::EcSec1, 0xa1);
    let b = pki.leaf("b", KeyKind::RsaPkcs1, 0xb2);
    let dir = tempfile::tempdir().unwrap();
    kubelet_publish(dir.path(), "..2026_01_01_00_00_00.1", &a);
    let files = TlsFiles::new(dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let store = CertStore::load(files, TlsMetrics::new()).unwrap();
    let stop = CancellationToken::new();
    let _watcher = store.watch(Duration::from_millis(50), stop.clone());

    kubelet_publish(dir.path(), "..2026_02_01_00_00_00.2", &b);
    std::fs::remove_dir_all(dir.path().join("..2026_01_01_00_00_00.1")).unwrap();
    eventually("B in use", || serial_in_use(&store) == "B2").await;
    stop.cancel();
}

#[tokio::test]
async fn sighup_reloads() {
    let pki = Pki::new();
    let (a, b) = (
        pki.leaf("a", KeyKind::EcPkcs8, 0xa1),
        pki.leaf("b", KeyKind::EcPkcs8, 0xb2),
    );
    let (_dir, files) = plain_dir(&a);
    let store = CertStore::load(files.clone(), TlsMetrics::new()).unwrap();
    let stop = CancellationToken::new();
    // Installed before anything can send SIGHUP, whose default action would end the tests.
    let task = tokio::spawn(reload_on_sighup(store.clone(), stop.clone()));
    rename_replace(&b.fullchain, &files.cert);
    rename_replace(&b.key, &files.key);
    let status = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    eventually("B in use", || serial_in_use(&store) == "B2").await;
    stop.cancel();
    task.await.unwrap();
}

#[test]
fn metrics_register_once_with_every_label_at_zero() {
    let registry = prometheus::Registry::new();
    let metrics = TlsMetrics::new();
    metrics.register(&registry).unwrap();
    metrics.record::<()>(&Err(TlsAcceptError::PlainHttp));
    metrics.record(&Ok(()));
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains("blackhole_edge_tls_reloads_total{outcome=\"refused\"} 0"),
        "{text}"
    );
    assert!(text.contains("blackhole_edge_tls_handshake_failures_total{reason=\"timeout\"} 0"));
    assert!(text.contains("blackhole_edge_tls_handshake_failures_total{reason=\"plain_http\"} 1"));
    assert!(text.contains("blackhole_edge_tls_handshakes_total 1"));
    assert!(metrics.register(&registry).is_err(), "registered twice");
}

#[test]
fn the_server_config_is_tls12_and_13_with_http11_alpn() {
    let pki = Pki::new();
    let leaf = pki.leaf("leaf", KeyKind::EcPkcs8, 6);
    let store = CertStore::load(files_of(&leaf), TlsMetrics::new()).unwrap();
    let config = server_config(store);
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let suites = &config.crypto_provider().cipher_suites;
    assert!(!suites.is_empty());
    for suite in suites.iter() {
        let name = format!("{:?}", suite.suite());
        // Forward-secret AEAD suites only (TLS 1.3 suites are all of that kind).
        assert!(
            name.starts_with("TLS13_") || (name.starts_with("TLS_ECDHE_") && !name.contains("CBC")),
            "{name}"
        );
    }
}
