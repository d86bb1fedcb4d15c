//! The sample application of lastgood's examples: a tiny HTTP server standing in for the seed's
//! Streamlit app "Mangetamain" as `examples/mangetamain` runs it (`python serve.py run`: a
//! self-check, then Streamlit, then `static/revision.txt`), answering only what that app answers.
//!
//! It serves the git checkout mounted at `APP_DIR` (default `/app`) the way an app serves its code:
//! everything is read once, at start-up, so a new commit is only seen after a restart.
//!
//! - `GET /_stcore/health` → `200 ok` (`text/plain`), as Streamlit: no version, and `ok` even when
//!   the script is broken (Streamlit runs the script only for a session);
//! - `GET /_stcore/script-health-check` → `200 ok`, or `503 error` when the script is broken
//!   (`fail=health`), as Streamlit with `server.scriptHealthCheckEnabled`;
//! - `GET /app/static/revision.txt` → the record `serve.py` writes once the process serves:
//!   `Mangetamain`, then `revision: <sha>`, `started:`, `pid:`, `host:` lines (and, for the
//!   tests, `version:` with the content of `VERSION` and `message:` from `app.conf`); `404 File
//!   not found` when the script is broken (`serve.py` writes no record then);
//! - `GET /app/static/<file>` → the checkout's `static/<file>`, read at request time (Streamlit's
//!   static serving), else `404`;
//! - any other `GET` → Streamlit's page: a static HTML shell titled `Streamlit` whose content is
//!   drawn by JavaScript (neither the app's name nor its version is in it).
//!
//! A commit can break it, to exercise rollbacks: `app.conf` in the checkout with `fail=start` makes
//! it exit with status 1 at start-up (what `serve.py` does when the self-check fails);
//! `fail=health` leaves it serving with a broken script (what plain `streamlit run` does).
//! `message=…` adds a line to the record.
//!
//! Environment: `APP_DIR` (default `/app`), `PORT` (default `8501`), `BIND_ADDRESS` (default
//! `0.0.0.0`, as in a container; `cargo xtask demo` runs it on `127.0.0.1`), `APP_ENV` (a label,
//! e.g. `preprod`, in the record).
//!
//! It installs no signal handler (std only, no `unsafe`): as PID 1 in a container SIGTERM would be
//! ignored, so the compose files run it under docker's init (`init: true`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn main() -> ExitCode {
    let app_dir = PathBuf::from(std::env::var("APP_DIR").unwrap_or_else(|_| "/app".to_owned()));
    let port = match std::env::var("PORT") {
        Ok(p) => match p.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("sample-app: PORT must be a port number, got {p:?}");
                return ExitCode::from(2);
            }
        },
        Err(_) => 8501,
    };
    let app = match App::load(&app_dir, std::env::var("APP_ENV").ok()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("sample-app: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "sample-app: serving {} (commit {}{}) on port {port}",
        app_dir.display(),
        app.commit,
        if app.fail_health {
            ", its script broken by app.conf (fail=health)"
        } else {
            ""
        }
    );
    let address = std::env::var("BIND_ADDRESS").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let listener = match TcpListener::bind((address.as_str(), port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sample-app: cannot listen on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = Arc::new(app);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let app = Arc::clone(&app);
        std::thread::spawn(move || serve(&app, stream));
    }
    ExitCode::SUCCESS
}

/// What the app loaded at start-up.
#[derive(Debug)]
struct App {
    /// The checkout's commit SHA, or `unknown`.
    commit: String,
    /// The content of `VERSION`, if any.
    label: Option<String>,
    /// `message=` of `app.conf`.
    message: Option<String>,
    /// `fail=health` of `app.conf`.
    fail_health: bool,
    /// `APP_ENV`.
    env: Option<String>,
    /// The checkout's directory (static files are read from it at request time).
    dir: PathBuf,
    started: Instant,
    /// When it started, UTC, ISO 8601 (for the record).
    started_at: String,
}

impl App {
    /// Reads the checkout at `dir`; `Err` (the app refuses to start) when `app.conf` says
    /// `fail=start` or cannot be read.
    fn load(dir: &Path, env: Option<String>) -> Result<App, String> {
        let conf = match std::fs::read_to_string(dir.join("app.conf")) {
            Ok(text) => parse_conf(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {e}",
                    dir.join("app.conf").display()
                ));
            }
        };
        let commit = match read_commit(dir) {
            Ok(sha) => sha,
            Err(e) => {
                eprintln!("sample-app: version unknown: {e}");
                "unknown".to_owned()
            }
        };
        match conf.get("fail").map(String::as_str) {
            Some("start") => {
                return Err(format!(
                    "app.conf says fail=start: refusing to start commit {commit}"
                ));
            }
            Some("health" | "") | None => {}
            Some(other) => {
                return Err(format!(
                    "app.conf: fail must be start or health, got {other:?}"
                ));
            }
        }
        let label = std::fs::read_to_string(dir.join("VERSION"))
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Ok(App {
            commit,
            label,
            message: conf.get("message").cloned(),
            fail_health: conf.get("fail").is_some_and(|f| f == "health"),
            env: env.filter(|e| !e.is_empty()),
            dir: dir.to_path_buf(),
            started: Instant::now(),
            started_at: iso_utc(SystemTime::now()),
        })
    }

    /// The response to `method path`, `uptime` being the time since start-up.
    fn respond(&self, method: &str, target: &str, _uptime: Duration) -> Response {
        let path = target.split(['?', '#']).next().unwrap_or("");
        if method != "GET" && method != "HEAD" {
            return Response::new(405, "text/plain; charset=utf-8", "method not allowed\n");
        }
        match path {
            "/_stcore/health" => Response::new(200, TEXT, "ok"),
            "/_stcore/script-health-check" if self.fail_health => Response::new(503, TEXT, "error"),
            "/_stcore/script-health-check" => Response::new(200, TEXT, "ok"),
            "/app/static/revision.txt" if self.fail_health => not_found(),
            "/app/static/revision.txt" => Response::new(200, TEXT, self.record()),
            _ => match path.strip_prefix("/app/static/") {
                Some(name) => self.static_file(name),
                None => Response::new(200, "text/html; charset=utf-8", SHELL),
            },
        }
    }

    /// The revision record, as `serve.py` writes it (plus `version:`/`message:`/`env:` lines).
    fn record(&self) -> String {
        let mut text = format!(
            "Mangetamain\nrevision: {}\nstarted: {}\npid: {}\nhost: {}\n",
            self.commit,
            self.started_at,
            std::process::id(),
            hostname()
        );
        for (key, value) in [
            ("version", &self.label),
            ("message", &self.message),
            ("env", &self.env),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("{key}: {}\n", value.replace('\n', " ")));
            }
        }
        text
    }

    /// `static/<name>` of the checkout, read now (Streamlit's static serving).
    fn static_file(&self, name: &str) -> Response {
        if name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return not_found();
        }
        match std::fs::read_to_string(self.dir.join("static").join(name)) {
            Ok(body) if name.ends_with(".txt") => Response::new(200, TEXT, body),
            Ok(body) => Response::new(200, "application/octet-stream", body),
            Err(_) => not_found(),
        }
    }
}

/// Streamlit's `text/plain` answers.
const TEXT: &str = "text/plain; charset=utf-8";

/// What Streamlit answers for its page (and any unknown path): a shell drawn by JavaScript.
const SHELL: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\" />\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1, shrink-to-fit=no\" />\n\
<link rel=\"shortcut icon\" href=\"./favicon.png\" />\n<title>Streamlit</title>\n\
<script type=\"module\" crossorigin src=\"./static/js/index.js\"></script>\n</head>\n\
<body>\n<noscript>You need to enable JavaScript to run this app.</noscript>\n\
<div id=\"root\"></div>\n</body>\n</html>\n";

fn not_found() -> Response {
    Response::new(404, TEXT, "File not found")
}

/// The host name (in a container, its id), as Python's `socket.gethostname()`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `2026-12-01T08:52:45Z`.
fn iso_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An HTTP response.
#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    fn write_to(&self, out: &mut impl Write, head_only: bool) -> std::io::Result<()> {
        let reason = match self.status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        };
        write!(
            out,
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )?;
        if !head_only {
            out.write_all(self.body.as_bytes())?;
        }
        out.flush()
    }
}

fn serve(app: &App, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader_stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers: nothing in them changes the answer.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let response = app.respond(method, target, app.started.elapsed());
    let mut stream = stream;
    let _ = response.write_to(&mut stream, method == "HEAD");
}

/// `key=value` lines; `#` comments and blank lines skipped; keys and values trimmed.
fn parse_conf(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The commit checked out in `dir`, read from `.git` like git would: `HEAD` is a SHA (detached) or
/// `ref: refs/heads/x`, resolved through the loose ref file then `packed-refs`. `.git` may be a
/// `gitdir:` file (worktrees, submodules), whose `commondir` holds the shared refs.
fn read_commit(dir: &Path) -> Result<String, String> {
    let dot_git = dir.join(".git");
    let git_dir = if dot_git.is_file() {
        let text = read(&dot_git)?;
        let target = text
            .trim()
            .strip_prefix("gitdir:")
            .ok_or_else(|| format!("{} is not a gitdir file", dot_git.display()))?
            .trim();
        dir.join(target)
    } else {
        dot_git
    };
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.clone(),
    };
    let head = read(&git_dir.join("HEAD"))?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:") else {
        return if is_sha(head) {
            Ok(head.to_owned())
        } else {
            Err(format!("HEAD holds neither a SHA nor a ref: {head:?}"))
        };
    };
    let reference = reference.trim();
    if reference
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("HEAD names an odd ref: {reference:?}"));
    }
    for base in [&git_dir, &common_dir] {
        if let Ok(text) = std::fs::read_to_string(base.join(reference)) {
            let sha = text.trim();
            if is_sha(sha) {
                return Ok(sha.to_owned());
            }
        }
    }
    if let Ok(packed) = std::fs::read_to_string(common_dir.join("packed-refs")) {
        for line in packed.lines() {
            if line.starts_with('#') || line.starts_with('^') {
                continue;
            }
            if let Some((sha, name)) = line.split_once(' ')
                && name.trim() == reference
                && is_sha(sha)
            {
                return Ok(sha.to_owned());
            }
        }
    }
    Err(format!(
        "{reference} is neither a loose nor a packed ref (an empty repository?)"
    ))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn checkout(head: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(".git/refs/heads")).unwrap();
        fs::write(dir.path().join(".git/HEAD"), head).unwrap();
        dir
    }

    #[test]
    fn reads_a_loose_branch_ref() {
        let dir = checkout("ref: refs/heads/main\n");
        fs::write(dir.path().join(".git/refs/heads/main"), format!("{A}\n")).unwrap();
        assert_eq!(read_commit(dir.path()).unwrap(), A);
    }

    #[test]
    fn reads_a_packed_ref_and_prefers_the_loose_one() {
        let dir = checkout("ref: refs/heads/main\n");
        fs::write(
            dir.path().join(".git/packed-refs"),
            format!("# pack-refs with: peeled fully-peeled sorted\n{B} refs/heads/other\n{A} refs/heads/main\n^{B}\n"),
        )
        .unwrap();
        assert_eq!(read_commit(dir.path()).unwrap(), A);
        fs::write(dir.path().join(".git/refs/heads/main"), format!("{B}\n")).unwrap();
        assert_eq!(read_commit(dir.path()).unwrap(), B);
    }

    #[test]
    fn reads_a_detached_head() {
        let dir = checkout(&format!("{B}\n"));
        assert_eq!(read_commit(dir.path()).unwrap(), B);
    }

    #[test]
    fn follows_a_gitdir_file_and_its_commondir() {
        let dir = tempfile::tempdir().unwrap();
        let common = dir.path().join("main.git");
        let wt = common.join("worktrees/x");
        fs::create_dir_all(common.join("refs/heads")).unwrap();
        fs::create_dir_all(&wt).unwrap();
        fs::write(wt.join("HEAD"), "ref: refs/heads/feature\n").unwrap();
        fs::write(wt.join("commondir"), "../..\n").unwrap();
        fs::write(common.join("refs/heads/feature"), format!("{A}\n")).unwrap();
        let checkout = dir.path().join("checkout");
        fs::create_dir_all(&checkout).unwrap();
        fs::write(checkout.join(".git"), "gitdir: ../main.git/worktrees/x\n").unwrap();
        assert_eq!(read_commit(&checkout).unwrap(), A);
    }

    #[test]
    fn an_unborn_branch_or_a_missing_repository_is_an_error() {
        let dir = checkout("ref: refs/heads/main\n");
        assert!(
            read_commit(dir.path())
                .unwrap_err()
                .contains("refs/heads/main")
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(read_commit(empty.path()).is_err());
        let odd = checkout("ref: refs/../../etc/passwd\n");
        assert!(read_commit(odd.path()).unwrap_err().contains("odd ref"));
    }

    #[test]
    fn the_record_names_the_app_the_commit_version_and_message() {
        let dir = checkout(&format!("{A}\n"));
        fs::write(dir.path().join("VERSION"), "1.2.3\n").unwrap();
        fs::write(dir.path().join("app.conf"), "# demo\nmessage = hello\n").unwrap();
        let app = App::load(dir.path(), Some("preprod".into())).unwrap();
        let record = app.respond("GET", "/app/static/revision.txt", Duration::ZERO);
        assert_eq!((record.status, record.content_type), (200, TEXT));
        assert!(
            record
                .body
                .starts_with(&format!("Mangetamain\nrevision: {A}\nstarted: "))
        );
        assert!(
            record
                .body
                .contains(&format!("\npid: {}\n", std::process::id()))
        );
        assert!(record.body.contains("\nversion: 1.2.3\n"));
        assert!(record.body.contains("\nmessage: hello\n"));
        assert!(record.body.contains("\nenv: preprod\n"));
    }

    #[test]
    fn health_and_page_answer_like_streamlit() {
        let dir = checkout(&format!("{A}\n"));
        let app = App::load(dir.path(), None).unwrap();
        let health = app.respond("GET", "/_stcore/health?x=1", Duration::from_millis(12_345));
        assert_eq!((health.status, health.content_type), (200, TEXT));
        assert_eq!(health.body, "ok");
        let script = app.respond("GET", "/_stcore/script-health-check", Duration::ZERO);
        assert_eq!((script.status, script.body.as_str()), (200, "ok"));
        for path in ["/", "/accueil", "/version"] {
            let page = app.respond("GET", path, Duration::ZERO);
            assert_eq!(page.status, 200, "{path}");
            assert!(page.body.contains("<title>Streamlit</title>"));
            assert!(!page.body.contains("Mangetamain") && !page.body.contains(&A[..7]));
        }
    }

    #[test]
    fn a_broken_script_still_answers_ok_at_health_but_not_elsewhere() {
        let dir = checkout(&format!("{A}\n"));
        fs::write(dir.path().join("app.conf"), "fail=health\n").unwrap();
        let app = App::load(dir.path(), None).unwrap();
        let health = app.respond("GET", "/_stcore/health", Duration::ZERO);
        assert_eq!((health.status, health.body.as_str()), (200, "ok"));
        let script = app.respond("GET", "/_stcore/script-health-check", Duration::ZERO);
        assert_eq!((script.status, script.body.as_str()), (503, "error"));
        let record = app.respond("GET", "/app/static/revision.txt", Duration::ZERO);
        assert_eq!(
            (record.status, record.body.as_str()),
            (404, "File not found")
        );
        assert_eq!(app.respond("GET", "/", Duration::ZERO).status, 200);
    }

    #[test]
    fn static_files_are_read_at_request_time() {
        let dir = checkout(&format!("{A}\n"));
        let app = App::load(dir.path(), None).unwrap();
        assert_eq!(
            app.respond("GET", "/app/static/a.txt", Duration::ZERO)
                .status,
            404
        );
        fs::create_dir_all(dir.path().join("static")).unwrap();
        fs::write(dir.path().join("static/a.txt"), "now").unwrap();
        fs::write(dir.path().join("static/b.bin"), "bin").unwrap();
        let a = app.respond("GET", "/app/static/a.txt", Duration::ZERO);
        assert_eq!(
            (a.status, a.content_type, a.body.as_str()),
            (200, TEXT, "now")
        );
        let b = app.respond("GET", "/app/static/b.bin", Duration::ZERO);
        assert_eq!(b.content_type, "application/octet-stream");
        for bad in ["/app/static/../VERSION", "/app/static/", "/app/static/x//y"] {
            assert_eq!(app.respond("GET", bad, Duration::ZERO).status, 404, "{bad}");
        }
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_115_165);
        assert_eq!(iso_utc(t), "2026-12-01T08:52:45Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso_utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn fail_start_refuses_to_start() {
        let dir = checkout(&format!("{A}\n"));
        fs::write(dir.path().join("app.conf"), "fail=start\n").unwrap();
        let err = App::load(dir.path(), None).unwrap_err();
        assert!(err.contains("fail=start") && err.contains(A), "{err}");
        fs::write(dir.path().join("app.conf"), "fail=sometimes\n").unwrap();
        assert!(
            App::load(dir.path(), None)
                .unwrap_err()
                .contains("sometimes")
        );
    }

    #[test]
    fn a_checkout_without_git_runs_as_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::load(dir.path(), None).unwrap();
        assert_eq!(app.commit, "unknown");
    }

    #[test]
    fn unknown_paths_and_methods() {
        let dir = checkout(&format!("{A}\n"));
        let app = App::load(dir.path(), None).unwrap();
        assert_eq!(app.respond("GET", "/nope", Duration::ZERO).status, 200);
        assert_eq!(app.respond("POST", "/", Duration::ZERO).status, 405);
    }

    #[test]
    fn writes_http_responses_and_head_has_no_body() {
        let response = Response::new(503, "application/json", "{}");
        let mut out = Vec::new();
        response.write_to(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        let mut out = Vec::new();
        response.write_to(&mut out, true).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("\r\n\r\n"));
    }

    #[test]
    fn serves_over_tcp() {
        let dir = checkout(&format!("{A}\n"));
        let app = Arc::new(App::load(dir.path(), None).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve(&app, stream);
        });
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .write_all(b"GET /app/static/revision.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut client, &mut text).unwrap();
        server.join().unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains(&format!("revision: {A}\n")), "{text}");
    }

    #[test]
    fn parses_conf_lines() {
        let conf = parse_conf("# c\n\n fail = health \nmessage=a=b\nnoequals\n");
        assert_eq!(conf.get("fail").unwrap(), "health");
        assert_eq!(conf.get("message").unwrap(), "a=b");
        assert_eq!(conf.len(), 2);
    }
}
