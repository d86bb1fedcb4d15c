//! A minimal HTTP/1.1 client for loopback (the 10ms poller, the naive CI poller), and free ports.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Where the app's revision record is served (`serve.py` writes it once the process serves;
/// Streamlit's `/_stcore/health` says only `ok`): see examples/mangetamain/README.md.
pub(crate) const REVISION_PATH: &str = "/app/static/revision.txt";

/// The commit a revision record names (its `revision: <sha>` line), if any.
pub(crate) fn revision(body: &str) -> Option<&str> {
    body.lines()
        .find_map(|l| l.strip_prefix("revision:"))
        .map(str::trim)
}

/// One answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// `GET path` on `127.0.0.1:port` with `headers`, `Connection: close`, bounded by `timeout`.
pub(crate) fn get(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok(Answer { status, body })
}

/// Polls `GET path` every 10ms until `accept` says yes or `limit` passes; when it said yes.
pub(crate) fn poll_until(
    port: u16,
    path: &str,
    limit: Duration,
    accept: impl Fn(&Answer) -> bool,
) -> Option<Instant> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(a) = get(port, path, &[], Duration::from_secs(2))
            && accept(&a)
        {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn free_port() -> std::result::Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}
