//! A throwaway PKI for tests, made with the `openssl` command: a root CA, an intermediate, and
//! leaves for `localhost` with every key form the edge accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The private key forms `--tls-key` accepts.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyKind {
    /// `RSA PRIVATE KEY`.
    RsaPkcs1,
    /// `PRIVATE KEY` holding RSA.
    RsaPkcs8,
    /// `EC PRIVATE KEY` (preceded by an `EC PARAMETERS` block, as `openssl ecparam` writes it).
    EcSec1,
    /// `PRIVATE KEY` holding P-256.
    EcPkcs8,
}

/// A leaf's files.
pub(super) struct Leaf {
    /// Leaf then intermediate, PEM.
    pub(super) fullchain: PathBuf,
    /// The leaf alone, PEM.
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

pub(super) struct Pki {
    dir: TempDir,
}

impl Pki {
    /// A root and an intermediate, valid for 30 days.
    pub(super) fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.openssl(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout root.key -out root.crt -days 30 -subj /CN=blackhole-test-root \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign",
        );
        pki.write(
            "intermediate.ext",
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
        );
        pki.openssl(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout intermediate.key -out intermediate.csr -subj /CN=blackhole-test-intermediate",
        );
        pki.openssl(
            "x509 -req -in intermediate.csr -CA root.crt -CAkey root.key -set_serial 2 -days 30 \
             -extfile intermediate.ext -out intermediate.crt",
        );
        pki.write(
            "leaf.ext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        );
        pki
    }

    /// The root certificate, PEM: what clients trust.
    pub(super) fn root(&self) -> PathBuf {
        self.path("root.crt")
    }

    /// The intermediate certificate, PEM.
    pub(super) fn intermediate(&self) -> PathBuf {
        self.path("intermediate.crt")
    }

    /// A leaf for `localhost` named `name`, with serial `serial`, issued by the intermediate.
    pub(super) fn leaf(&self, name: &str, kind: KeyKind, serial: u64) -> Leaf {
        let key = format!("{name}.key");
        self.openssl(&match kind {
            KeyKind::RsaPkcs1 => format!("genrsa -traditional -out {key} 2048"),
            KeyKind::RsaPkcs8 => format!("genrsa -out {key} 2048"),
            KeyKind::EcSec1 => format!("ecparam -genkey -name prime256v1 -out {key}"),
            KeyKind::EcPkcs8 => {
                format!("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {key}")
            }
        });
        let csr = format!("{name}.csr");
        let cert = format!("{name}.crt");
        self.openssl(&format!(
            "req -new -key {key} -subj /CN=localhost -out {csr}"
        ));
        self.openssl(&format!(
            "x509 -req -in {csr} -CA intermediate.crt -CAkey intermediate.key \
             -set_serial {serial} -days 30 -extfile leaf.ext -out {cert}"
        ));
        let fullchain = format!("{name}.fullchain.crt");
        let mut chain = std::fs::read(self.path(&cert)).unwrap();
        chain.extend(std::fs::read(self.intermediate()).unwrap());
        std::fs::write(self.path(&fullchain), chain).unwrap();
        Leaf {
            fullchain: self.path(&fullchain),
            cert: self.path(&cert),
            key: self.path(&key),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// Runs `openssl` in the PKI's directory; `args` are split on whitespace.
    fn openssl(&self, args: &str) {
        run_openssl(self.dir.path(), args);
    }
}

fn run_openssl(dir: &Path, args: &str) {
    let output = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command is installed");
    assert!(
        output.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The DER of every certificate in a PEM file, in file order.
pub(super) fn ders(pem: &Path) -> Vec<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .map(|c| c.unwrap().as_ref().to_vec())
        .collect()
}
