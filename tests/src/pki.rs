//! A throwaway PKI made with the `openssl` CLI (a root, an intermediate, and server leaves for
//! 127.0.0.1 with chosen serial numbers), and the two ways a deployment replaces the edge's
//! certificate files: rename-replace, and a Kubernetes secret mount's `..data` symlink swap.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use tempfile::TempDir;

/// `scripts/test` exports it: files inside it are cleaned up with the run.
const ENV_TMPDIR: &str = "BLACKHOLE_TEST_TMPDIR";

/// The private key forms `--tls-key` accepts, as `openssl` writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// P-256 in `PRIVATE KEY` (PKCS#8).
    EcPkcs8,
    /// P-256 in `EC PRIVATE KEY` (SEC1).
    EcSec1,
    /// RSA 2048 in `RSA PRIVATE KEY` (PKCS#1).
    RsaPkcs1,
}

/// A server certificate's files.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The serial as `openssl x509 -noout -serial` prints it (upper-case hex).
    pub serial: String,
    /// The leaf then the intermediate, PEM: what cert-manager puts in `tls.crt`.
    pub chain: PathBuf,
    /// The leaf's private key, PEM.
    pub key: PathBuf,
}

/// A root CA and an intermediate that issues the leaves, valid for two days.
///
/// Clients trust only the root, so a handshake succeeds only if the edge sends the whole chain.
pub struct TestPki {
    dir: TempDir,
}

impl TestPki {
    /// Creates the root and the intermediate (EC P-256, a few tens of milliseconds).
    pub fn new() -> Self {
        let pki = Self {
            dir: tempdir("pki-"),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Blackhole test root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki.write(
            "intermediate.ext",
            "basicConstraints=critical,CA:TRUE,pathlen:0\n\
             keyUsage=critical,keyCertSign,cRLSign\n",
        );
        pki.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "intermediate.key",
            "-out",
            "intermediate.csr",
            "-subj",
            "/CN=Blackhole test intermediate",
        ]);
        pki.openssl(&[
            "x509",
            "-req",
            "-in",
            "intermediate.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "0x1001",
            "-days",
            "2",
            "-extfile",
            "intermediate.ext",
            "-out",
            "intermediate.pem",
        ]);
        pki.write(
            "leaf.ext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n",
        );
        pki
    }

    /// The root certificate (PEM): what clients trust.
    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    /// The intermediate certificate (PEM), which every chain the edge serves carries.
    pub fn intermediate_pem(&self) -> PathBuf {
        self.dir.path().join("intermediate.pem")
    }

    /// Issues a leaf for 127.0.0.1 and `localhost` with serial `serial_hex` (hex digits, the
    /// first below 8 so that the DER integer needs no padding and prints back the same).
    pub fn issue(&self, serial_hex: &str, kind: KeyKind) -> Leaf {
        let name = format!("leaf-{serial_hex}");
        let key = format!("{name}.key");
        let _ = match kind {
            KeyKind::EcPkcs8 => self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ]),
            KeyKind::EcSec1 => self.openssl(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ]),
            KeyKind::RsaPkcs1 => self.openssl(&["genrsa", "-traditional", "-out", &key, "2048"]),
        };
        let expected_header = match kind {
            KeyKind::EcPkcs8 => "-----BEGIN PRIVATE KEY-----",
            KeyKind::EcSec1 => "-----BEGIN EC PRIVATE KEY-----",
            KeyKind::RsaPkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
        };
        let key_pem = std::fs::read_to_string(self.dir.path().join(&key)).unwrap();
        assert!(
            key_pem.starts_with(expected_header),
            "openssl wrote {kind:?} as {:?}",
            key_pem.lines().next()
        );
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &key,
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "intermediate.pem",
            "-CAkey",
            "intermediate.key",
            "-set_serial",
            &format!("0x{serial_hex}"),
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &format!("{name}.pem"),
        ]);
        let serial = self.openssl(&["x509", "-in", &format!("{name}.pem"), "-noout", "-serial"]);
        let serial = serial
            .trim()
            .strip_prefix("serial=")
            .unwrap_or_else(|| panic!("openssl x509 -serial printed {serial:?}"))
            .to_owned();
        assert_eq!(
            serial,
            serial_hex.to_uppercase(),
            "choose serials openssl prints back unchanged"
        );
        let leaf_pem =
            std::fs::read_to_string(self.dir.path().join(format!("{name}.pem"))).unwrap();
        let intermediate = std::fs::read_to_string(self.intermediate_pem()).unwrap();
        let chain = self.dir.path().join(format!("{name}.chain.pem"));
        std::fs::write(&chain, format!("{leaf_pem}{intermediate}")).unwrap();
        Leaf {
            serial,
            chain,
            key: self.dir.path().join(key),
        }
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
    }

    /// Runs `openssl` in the PKI's folder and returns its stdout; panics with its stderr.
    fn openssl(&self, args: &[&str]) -> String {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl (the openssl CLI is required)");
        assert!(
            output.status.success(),
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// How the certificate files are laid out, which decides how they are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Two regular files, each replaced by writing a temporary file and renaming it over the
    /// old one (what `install`, editors and most scripts do).
    Plain,
    /// A Kubernetes secret volume as the kubelet writes it: `tls.crt -> ..data/tls.crt`,
    /// `..data -> ..<version>/`, and an update renames a new `..data` symlink over the old one,
    /// so both files change in one atomic step and the old version dir is then deleted.
    KubernetesSecret,
}

/// The `--tls-cert` and `--tls-key` files of one edge, in a folder of their own.
pub struct CertFiles {
    dir: TempDir,
    layout: Layout,
}

/// Keeps every kubelet-style version dir name unique.
static VERSIONS: AtomicU32 = AtomicU32::new(0);

impl CertFiles {
    /// Lays out `leaf`'s chain and key as `tls.crt` and `tls.key`.
    pub fn new(layout: Layout, leaf: &Leaf) -> Self {
        let mut files = Self {
            dir: tempdir("tls-files-"),
            layout,
        };
        match layout {
            Layout::Plain => files.replace_with(&leaf.chain, &leaf.key),
            Layout::KubernetesSecret => {
                files.write_version(&leaf.chain, &leaf.key);
                for name in ["tls.crt", "tls.key"] {
                    std::os::unix::fs::symlink(
                        Path::new("..data").join(name),
                        files.dir.path().join(name),
                    )
                    .unwrap();
                }
            }
        }
        files
    }

    /// The `--tls-cert` path.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    /// The `--tls-key` path.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// Replaces the pair with `leaf`'s, the way [`Layout`] says.
    pub fn replace(&mut self, leaf: &Leaf) {
        self.replace_with(&leaf.chain, &leaf.key);
    }

    /// Replaces the pair with any chain and key, matching or not.
    pub fn replace_with(&mut self, chain: &Path, key: &Path) {
        match self.layout {
            Layout::Plain => {
                for (from, to) in [(chain, self.cert()), (key, self.key())] {
                    let staged = to.with_extension("new");
                    std::fs::copy(from, &staged).unwrap();
                    std::fs::rename(&staged, &to).unwrap();
                }
            }
            Layout::KubernetesSecret => {
                let old = std::fs::read_link(self.dir.path().join("..data")).unwrap();
                self.write_version(chain, key);
                std::fs::remove_dir_all(self.dir.path().join(old)).unwrap();
            }
        }
    }

    /// Writes a new `..<version>` dir and points `..data` at it atomically.
    fn write_version(&self, chain: &Path, key: &Path) {
        let version = format!(
            "..2026_01_01_00_00_00.{:09}",
            VERSIONS.fetch_add(1, Ordering::Relaxed)
        );
        let version_dir = self.dir.path().join(&version);
        std::fs::create_dir(&version_dir).unwrap();
        std::fs::copy(chain, version_dir.join("tls.crt")).unwrap();
        std::fs::copy(key, version_dir.join("tls.key")).unwrap();
        let staged = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).unwrap();
        std::fs::rename(&staged, self.dir.path().join("..data")).unwrap();
    }
}

/// A temp dir inside the run's temp dir when `scripts/test` runs the suite.
fn tempdir(prefix: &str) -> TempDir {
    let base = std::env::var_os(ENV_TMPDIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()))
}
