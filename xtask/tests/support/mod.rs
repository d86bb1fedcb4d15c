//! Test support shared by xtask's integration tests: a local HTTPS server with a certificate
//! from a CA made by the test (the `openssl` CLI), serving a directory (python3's `http.server`
//! in an `ssl` context), and `.tar.gz` archives as `cargo xtask dist` writes them.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test helpers: each test file uses a part; a failure ends the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server: python3's `http.server` over TLS, logging every request as `GET <path> <code>`.
const SERVER: &str = r#"
import http.server, ssl, sys
root, cert, key, port_file, log_file = sys.argv[1:]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)
    def log_request(self, code="-", size="-"):
        with open(log_file, "a") as log:
            log.write(f"{self.command} {self.path} {code}\n")
    def log_message(self, *args):
        pass
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(httpd.server_address[1]))
import os
os.replace(port_file + ".tmp", port_file)
httpd.serve_forever()
"#;

/// Whether `program args…` runs.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the tools this server needs are here; says so when not. With
/// `LASTGOOD_REQUIRE_TOOLS=1` (`.ci/run`) a missing tool fails the test instead.
pub fn https_tools() -> bool {
    let missing: Vec<&str> = [
        ("openssl", &["version"][..]),
        ("python3", &["-c", "import ssl, http.server"][..]),
        ("curl", &["--version"][..]),
        ("bash", &["--version"][..]),
    ]
    .into_iter()
    .filter(|(p, a)| !runs(p, a))
    .map(|(p, _)| p)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "the local HTTPS tests need {} (Debian: apt-get install openssl curl python3)",
        missing.join(", ")
    );
    assert!(
        std::env::var("LASTGOOD_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{message}"
    );
    eprintln!("SKIPPED: {message}");
    false
}

/// Runs `program args…` in `dir`, fails the test unless it succeeds, and returns its stdout
/// (trimmed).
pub fn run_ok(program: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok("openssl", dir, args);
}

/// A test CA (`ca.pem`) and a server certificate it signed for 127.0.0.1 and localhost.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=lastgood test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// A local HTTPS server of a directory; stopped when dropped.
pub struct Https {
    child: Child,
    port: u16,
    ca: PathBuf,
    log: PathBuf,
}

impl Https {
    /// Serves `root` on 127.0.0.1, with keys and logs in `work`.
    pub fn serve(root: &Path, work: &Path) -> Https {
        std::fs::create_dir_all(work).unwrap();
        make_certificates(work);
        std::fs::write(work.join("server.py"), SERVER).unwrap();
        let port_file = work.join("port");
        let log = work.join("requests.log");
        std::fs::write(&log, "").unwrap();
        let child = Command::new("python3")
            .arg(work.join("server.py"))
            .arg(root)
            .arg(work.join("server.pem"))
            .arg(work.join("server.key"))
            .arg(&port_file)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let began = Instant::now();
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                break port;
            }
            assert!(
                began.elapsed() < Duration::from_secs(120),
                "the HTTPS server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Https {
            child,
            port,
            ca: work.join("ca.pem"),
            log,
        }
    }

    /// The URL of `path` (no leading slash) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }

    /// The test CA's certificate, for `CURL_CA_BUNDLE`.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The requests served so far, as `GET <path> <status>`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `.tar.gz` holding `contents` as the executable `name`, as `cargo xtask dist` writes them.
pub fn archive(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    tar.append_data(&mut header, name, contents).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
