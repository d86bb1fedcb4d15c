//! HTTP on ureq: per-request timeouts, bounded retries with growing, jittered waits,
//! `Retry-After`, no automatic redirects, and errors that never contain a secret URL or token.
//!
//! Every request carries a `label`: how errors name the target. Callers whose URL is a secret
//! (a Discord webhook) pass a label such as "the Discord webhook"; the URL itself never reaches
//! an error message. Callers follow redirects themselves ([`Response::location`]), so a token is
//! never forwarded to another host by accident.

use std::time::{Duration, Instant, SystemTime};

pub(crate) use crate::base::error::{ErrorKind, HttpError};

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!(
    "lastgood/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/lastgood/lastgood)"
);

/// The largest response body read (larger ones are cut, not refused).
const BODY_LIMIT: u64 = 10 * 1024 * 1024;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, `PATCH`, …
    pub method: &'static str,
    /// The full URL (may be secret: never printed).
    pub url: String,
    /// How errors name the target (must not contain a secret).
    pub label: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Time allowed for the whole exchange.
    pub timeout: Duration,
}

impl Request {
    /// A request with no headers, no body and a 10 s timeout.
    pub fn new(method: &'static str, url: impl Into<String>, label: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            label: label.into(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.header("Content-Type", "application/json")
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A response of any status (statuses are never errors here).
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (cut at [`BODY_LIMIT`]).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// `Location` of a redirect (3xx), if any.
    pub fn location(&self) -> Option<&str> {
        if (300..400).contains(&self.status) {
            self.header("location")
        } else {
            None
        }
    }

    /// The wait announced by `Retry-After` (seconds, fractional seconds, or an HTTP date).
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header("retry-after")?, SystemTime::now())
    }
}

/// The HTTP client: no redirects followed, statuses returned as responses.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client that never follows redirects and never treats a status as an error.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .build()
            .into();
        Client { agent }
    }

    /// Sends one request, once.
    pub fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let fail = |kind: ErrorKind, detail: String| HttpError {
            label: req.label.clone(),
            kind,
            timeout: req.timeout,
            detail: scrub(&detail, &req.url),
        };
        let https = req.url.starts_with("https://");
        if !(https || req.url.starts_with("http://")) {
            return Err(fail(ErrorKind::BadUrl, String::new()));
        }
        let mut builder = ureq::http::Request::builder()
            .method(req.method)
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = req.body.clone().unwrap_or_default();
        let request = builder
            .body(body)
            .map_err(|_| fail(ErrorKind::BadUrl, String::new()))?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(req.timeout))
            .build();
        let mut response = match self.agent.run(request) {
            Ok(r) => r,
            Err(e) => {
                let (kind, detail) = classify(&e, https);
                return Err(fail(kind, detail));
            }
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        // Read at most BODY_LIMIT bytes and keep them: a huge page is cut, not thrown away.
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response.body_mut().with_config().reader(), BODY_LIMIT),
            &mut body,
        )
        .map_err(|e| {
            let (kind, detail) = classify(&ureq::Error::from(e), https);
            fail(kind, detail)
        })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Sends a request, retrying transient failures as `policy` allows.
    ///
    /// `decide` looks at each response: [`Decision::Accept`] ends the loop with it,
    /// [`Decision::Retry`] waits (the given wait, else the policy's backoff) and tries again.
    /// Network errors are retried too. When tries or time run out, the last response (or error)
    /// is returned: the caller reports it.
    pub fn send_retrying(
        &self,
        req: &Request,
        policy: &RetryPolicy,
        mut decide: impl FnMut(&Response) -> Decision,
    ) -> Result<Response, HttpError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.send(req);
            let wait = match &result {
                Ok(resp) => match decide(resp) {
                    Decision::Accept => return result,
                    Decision::Retry(wait) => wait.unwrap_or_else(|| policy.backoff(attempt)),
                },
                Err(e) if e.is_transient() => policy.backoff(attempt),
                Err(_) => return result,
            };
            if attempt >= policy.attempts
                || wait > policy.max_wait
                || policy
                    .deadline
                    .is_some_and(|d| start.elapsed().saturating_add(wait) > d)
            {
                return result;
            }
            std::thread::sleep(wait);
        }
    }
}

/// What to do with a response, for [`Client::send_retrying`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Done: return this response.
    Accept,
    /// Try again, after this wait if given (e.g. `Retry-After`), else the policy's backoff.
    Retry(Option<Duration>),
}

/// The usual decision: 429 and 5xx are retried (429 after `Retry-After`), anything else accepted.
pub(crate) fn retry_transient(resp: &Response) -> Decision {
    match resp.status {
        429 => Decision::Retry(resp.retry_after()),
        500..=599 => Decision::Retry(resp.retry_after()),
        _ => Decision::Accept,
    }
}

/// How many tries, and how long to wait between them.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all (≥ 1).
    pub attempts: u32,
    /// The first backoff wait; each next one doubles.
    pub initial: Duration,
    /// The longest backoff wait, and the longest announced wait accepted.
    pub max_wait: Duration,
    /// An overall bound, if any.
    pub deadline: Option<Duration>,
}

impl RetryPolicy {
    /// The jittered backoff before try `attempt + 1`: between half and all of
    /// `initial * 2^(attempt-1)`, capped at `max_wait`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let full = exp.min(self.max_wait);
        let half = full / 2;
        half + half.mul_f64(jitter())
    }
}

/// A random number in [0, 1).
fn jitter() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` value: seconds (possibly fractional) or an HTTP date.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A wait announced in (fractional) seconds: `None` when negative or not a number; an absurdly
/// large value saturates (so it reads as "too long to wait") instead of panicking.
pub(crate) fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

fn classify(e: &ureq::Error, https: bool) -> (ErrorKind, String) {
    use std::io::ErrorKind as Io;
    match e {
        ureq::Error::Timeout(_) => (ErrorKind::Timeout, String::new()),
        ureq::Error::HostNotFound => (ErrorKind::Dns, String::new()),
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused => (ErrorKind::Refused, String::new()),
            Io::TimedOut | Io::WouldBlock => (ErrorKind::Timeout, String::new()),
            Io::NotFound => (ErrorKind::Dns, String::new()),
            // getaddrinfo failures (EAI_NONAME, EAI_AGAIN) come back uncategorized from std.
            _ if io.to_string().contains("failed to lookup address") => {
                (ErrorKind::Dns, String::new())
            }
            // rustls reports handshake failures (e.g. https to a plain-HTTP port) as invalid data.
            Io::InvalidData if https => (
                ErrorKind::Tls,
                io.get_ref().map(ToString::to_string).unwrap_or_default(),
            ),
            Io::UnexpectedEof => (
                ErrorKind::Connection,
                "closed without a response".to_owned(),
            ),
            kind => (ErrorKind::Connection, format!("{kind}")),
        },
        ureq::Error::ConnectionFailed => (ErrorKind::Connection, String::new()),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_) => {
            (ErrorKind::BadUrl, String::new())
        }
        ureq::Error::Tls(msg) => (ErrorKind::Tls, (*msg).to_owned()),
        ureq::Error::Rustls(e) => (ErrorKind::Tls, e.to_string()),
        ureq::Error::Protocol(_) => (ErrorKind::Connection, "invalid HTTP response".to_owned()),
        other => (ErrorKind::Connection, other.to_string()),
    }
}

/// Removes the URL, its path and any query from a technical detail.
fn scrub(detail: &str, url: &str) -> String {
    let mut out = detail.replace(url, "<url>");
    if let Some((_, path)) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        && !path.is_empty()
    {
        out = out.replace(path, "<path>");
    }
    out
}

/// The host part of a URL (without credentials), for labels: `https://example.com:8443/x` → `example.com:8443`.
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("65", now), Some(Duration::from_secs(65)));
        assert_eq!(
            parse_retry_after("64.57", now),
            Some(Duration::from_secs_f64(64.57))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("1e300", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("inf", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            initial: Duration::from_secs(1),
            max_wait: Duration::from_secs(8),
            deadline: None,
        };
        for attempt in 1..10 {
            let w = p.backoff(attempt);
            let full = Duration::from_secs(1u64 << (attempt - 1)).min(Duration::from_secs(8));
            assert!(w >= full / 2 && w <= full, "attempt {attempt}: {w:?}");
        }
    }

    #[test]
    fn hosts_and_scrubbing() {
        assert_eq!(
            host_of("https://user:pw@example.com:8443/a?b"),
            "example.com:8443"
        );
        assert_eq!(host_of("http://127.0.0.1:80"), "127.0.0.1:80");
        let url = "https://discord.com/api/webhooks/1/secret-token";
        assert!(!scrub(&format!("bad uri {url}"), url).contains("secret-token"));
        assert!(!scrub("path api/webhooks/1/secret-token", url).contains("secret-token"));
    }

    /// A server answering each connection with the next raw response (the last one repeats);
    /// returns its port and the arrival time of every request.
    fn scripted(replies: &[&str]) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Instant>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        let replies: Vec<String> = replies.iter().map(|r| (*r).to_owned()).collect();
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                let Ok(mut s) = conn else { return };
                let _ = s.read(&mut [0u8; 4096]);
                log.lock().unwrap().push(Instant::now());
                let reply = &replies[i.min(replies.len() - 1)];
                let _ = s.write_all(reply.as_bytes());
            }
        });
        (port, seen)
    }

    const R503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    const R200: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
            deadline: None,
        }
    }

    fn get(port: u16) -> Request {
        Request::new("GET", format!("http://127.0.0.1:{port}/"), "the service")
    }

    #[test]
    fn https_to_a_plain_http_port_is_a_tls_failure() {
        let (port, _) = scripted(&[R200]);
        let err = Client::new()
            .send(&Request::new(
                "GET",
                format!("https://127.0.0.1:{port}/"),
                "the app",
            ))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Tls, "{err}");
        assert!(err.to_string().starts_with("the app: TLS failure"), "{err}");
    }

    #[test]
    fn retries_transient_statuses_until_success() {
        let (port, seen) = scripted(&[R503, R503, R200]);
        let resp = Client::new()
            .send_retrying(&get(port), &policy(5), retry_transient)
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn retries_are_bounded_in_count_and_return_the_last_answer() {
        let (port, seen) = scripted(&[R503]);
        let resp = Client::new()
            .send_retrying(&get(port), &policy(3), retry_transient)
            .unwrap();
        assert_eq!(resp.status, 503);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn retry_after_is_honoured_and_an_excessive_one_ends_the_retries() {
        let r429 =
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.2\r\nContent-Length: 0\r\n\r\n";
        let (port, seen) = scripted(&[r429, R200]);
        let resp = Client::new()
            .send_retrying(&get(port), &policy(3), retry_transient)
            .unwrap();
        assert_eq!(resp.status, 200);
        let times = seen.lock().unwrap().clone();
        assert_eq!(times.len(), 2);
        assert!(times[1] - times[0] >= Duration::from_millis(200));

        let long =
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n";
        let (port, seen) = scripted(&[long, R200]);
        let resp = Client::new()
            .send_retrying(&get(port), &policy(3), retry_transient)
            .unwrap();
        assert_eq!(resp.status, 429, "not waited: longer than max_wait");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_deadline_stops_retries_and_bad_urls_are_not_retried() {
        let (port, seen) = scripted(&[R503]);
        let p = RetryPolicy {
            initial: Duration::from_secs(1),
            deadline: Some(Duration::from_millis(100)),
            ..policy(10)
        };
        let resp = Client::new()
            .send_retrying(&get(port), &p, retry_transient)
            .unwrap();
        assert_eq!(resp.status, 503);
        assert_eq!(seen.lock().unwrap().len(), 1);

        let err = Client::new()
            .send_retrying(
                &Request::new("GET", "ftp://x/secret", "the service"),
                &policy(5),
                retry_transient,
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadUrl);
        assert!(!err.to_string().contains("secret"));
    }

    /// A server that sends its headers at once, then a body one byte every 100ms.
    fn trickling_server() -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.read(&mut [0u8; 4096]);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n");
                for _ in 0..600 {
                    if s.write_all(b"x").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        port
    }

    #[test]
    fn a_body_over_the_limit_is_cut_not_dropped() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let size = BODY_LIMIT as usize + 1000;
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.read(&mut [0u8; 4096]);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
                let mut body = b"version abc1234 ".to_vec();
                body.resize(size, b'x');
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        let resp = Client::new()
            .send(&Request::new(
                "GET",
                format!("http://127.0.0.1:{port}/"),
                "the app",
            ))
            .unwrap();
        assert_eq!(resp.body.len() as u64, BODY_LIMIT);
        assert!(resp.text().starts_with("version abc1234 "));
    }

    #[test]
    fn the_timeout_bounds_a_trickling_body() {
        let port = trickling_server();
        let began = Instant::now();
        let err = Client::new()
            .send(
                &Request::new("GET", format!("http://127.0.0.1:{port}/"), "the app")
                    .timeout(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
        assert_eq!(err.to_string(), "the app: timed out after 300ms");
        // The body alone would take a minute; generous upper bound for a busy machine.
        assert!(began.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn refused_connection_names_the_label_only() {
        // Bind then drop: the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/api/webhooks/1/secret-token");
        let err = Client::new()
            .send(&Request::new("GET", url, "the Discord webhook"))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused, "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("the Discord webhook: connection refused"),
            "{text}"
        );
        assert!(!text.contains("secret-token"));
    }
}
