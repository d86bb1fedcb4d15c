//! HTTP on ureq: per-request timeouts, bounded retries with growing, jittered waits,
//! `Retry-After`, no automatic redirects, and errors that never contain a secret URL or token.
//!
//! Every request carries a `label`: how errors name the target. Callers whose URL is a secret
//! (a Discord webhook) pass a label such as "the Discord webhook"; the URL itself never reaches
//! an error message. Callers follow redirects themselves ([`Response::location`]), so a token is
//! never forwarded to another host by accident.

use std::time::{Duration, Instant, SystemTime};

pub(crate) use crate::base::error::{ErrorKind, HttpError};
use crate::platform::cancel;

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

    /// Sends a request, retrying transient failures as `backoff` allows.
    ///
    /// `decide` looks at each response: [`Decision::Accept`] ends the loop with it,
    /// [`Decision::Retry`] waits (the given wait, else the backoff) and tries again. Network
    /// errors are retried too. When tries or time run out, or the job is cancelled during a
    /// wait, the last response (or error) is returned: the caller reports it.
    pub(crate) fn send_retrying(
        &self,
        req: &Request,
        backoff: &Backoff,
        decide: impl FnMut(&Response) -> Decision,
    ) -> Result<Response, HttpError> {
        self.retry(&mut Plain {
            req,
            backoff,
            decide,
            last: None,
        })
    }

    /// The one retry loop: sends `policy`'s request, asks the policy what the result means,
    /// and waits as it says, until it is done. The wait is cut short when the job is cancelled
    /// ([`cancel`]): the policy then says what to return.
    pub(crate) fn retry<P: Retry>(&self, policy: &mut P) -> P::Output {
        let start = Instant::now();
        let mut number = 0u32;
        loop {
            number += 1;
            let began = start.elapsed();
            let result = self.send(&policy.request());
            let tries = Tries {
                number,
                start,
                began,
            };
            match policy.judge(result, tries) {
                Judged::Done(output) => return output,
                Judged::Again(wait) => {
                    if !cancel::sleep(wait) {
                        return policy.cancelled(cancel::requested().unwrap_or("a signal"));
                    }
                }
            }
        }
    }
}

/// What a service tells the one retry loop ([`Client::retry`]): the parts that differ between
/// services. The loop owns the counting, the clock and the cancellable waits; a policy says
/// which request each try sends (a conditional request adds `If-None-Match`), what an answer
/// or a failure means — what is retryable and how long to wait (`Retry-After`, a JSON body's
/// `retry_after`, `x-ratelimit-reset`, a backoff), and what to say when it stops (its
/// per-status messages, a deadline, a cancellation).
pub(crate) trait Retry {
    /// What the loop returns.
    type Output;
    /// The request of the next try.
    fn request(&mut self) -> Request;
    /// What one try's result means: done (with the output), or try again after a wait. Every
    /// limit (tries, longest wait, deadline) is the policy's to check here.
    fn judge(&mut self, result: Result<Response, HttpError>, tries: Tries) -> Judged<Self::Output>;
    /// The output when a cancellation (`signal`: `SIGINT`, `SIGTERM`) cut a wait short.
    fn cancelled(&mut self, signal: &'static str) -> Self::Output;
}

/// Where the retry loop stands when a policy judges a try.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tries {
    /// This try's number (1 for the first).
    pub(crate) number: u32,
    /// When the first try began.
    pub(crate) start: Instant,
    /// Time from the first try's beginning to this one's.
    pub(crate) began: Duration,
}

impl Tries {
    /// Time since the first try began, now.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A policy's decision after one try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judged<T> {
    /// Stop: the loop returns this.
    Done(T),
    /// Try again after this wait.
    Again(Duration),
}

/// What to do with a response, for [`Client::send_retrying`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Done: return this response.
    Accept,
    /// Try again, after this wait if given (e.g. `Retry-After`), else the backoff.
    Retry(Option<Duration>),
}

/// The usual decision: 429 and 5xx are retried (after `Retry-After` if given), anything else
/// accepted.
pub(crate) fn retry_transient(resp: &Response) -> Decision {
    match resp.status {
        429 | 500..=599 => Decision::Retry(resp.retry_after()),
        _ => Decision::Accept,
    }
}

/// The policy of [`Client::send_retrying`]: network errors and what `decide` retries, within
/// the backoff's tries, longest wait and deadline; then the last result.
struct Plain<'a, D> {
    req: &'a Request,
    backoff: &'a Backoff,
    decide: D,
    /// The result a cut-short wait returns.
    last: Option<Result<Response, HttpError>>,
}

impl<D: FnMut(&Response) -> Decision> Retry for Plain<'_, D> {
    type Output = Result<Response, HttpError>;

    fn request(&mut self) -> Request {
        self.req.clone()
    }

    fn judge(&mut self, result: Result<Response, HttpError>, tries: Tries) -> Judged<Self::Output> {
        let b = self.backoff;
        let wait = match &result {
            Ok(resp) => match (self.decide)(resp) {
                Decision::Accept => return Judged::Done(result),
                Decision::Retry(wait) => wait.unwrap_or_else(|| b.backoff(tries.number)),
            },
            Err(e) if e.is_transient() => b.backoff(tries.number),
            Err(_) => return Judged::Done(result),
        };
        if tries.number >= b.attempts
            || wait > b.max_wait
            || b.deadline
                .is_some_and(|d| tries.elapsed().saturating_add(wait) > d)
        {
            return Judged::Done(result);
        }
        self.last = Some(result);
        Judged::Again(wait)
    }

    fn cancelled(&mut self, signal: &'static str) -> Self::Output {
        self.last.take().unwrap_or_else(|| {
            Err(HttpError {
                label: self.req.label.clone(),
                kind: ErrorKind::Connection,
                timeout: self.req.timeout,
                detail: format!("cancelled by {signal}"),
            })
        })
    }
}

/// How many tries, and how long to wait between them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// Tries in all (≥ 1).
    pub(crate) attempts: u32,
    /// The first backoff wait; each next one doubles.
    pub(crate) initial: Duration,
    /// The longest backoff wait, and the longest announced wait accepted.
    pub(crate) max_wait: Duration,
    /// An overall bound, if any.
    pub(crate) deadline: Option<Duration>,
}

impl Backoff {
    /// The jittered backoff before try `attempt + 1`: between half and all of
    /// `initial * 2^(attempt-1)`, capped at `max_wait`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
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

/// `location` made absolute against `base`'s origin when it is a path.
pub(crate) fn absolute(base: &str, location: &str) -> String {
    if !location.starts_with('/') {
        return location.to_owned();
    }
    let origin_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| base[s..].find('/').map(|j| s + j))
        .unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
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
        let p = Backoff {
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

    /// Every request a scripted server received: its arrival, its head in lower case.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>;

    /// A server answering each connection with the next raw response (the last one repeats);
    /// returns its port and what it received.
    fn scripted(replies: &[&str]) -> (u16, Seen) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        let replies: Vec<String> = replies.iter().map(|r| (*r).to_owned()).collect();
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                let Ok(mut s) = conn else { return };
                let mut head = [0u8; 4096];
                let n = s.read(&mut head).unwrap_or(0);
                let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
                log.lock().unwrap().push((Instant::now(), text));
                let reply = &replies[i.min(replies.len() - 1)];
                let _ = s.write_all(reply.as_bytes());
            }
        });
        (port, seen)
    }

    const R503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    const R200: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn policy(attempts: u32) -> Backoff {
        Backoff {
            attempts,
            initial: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
            deadline: None,
        }
    }

    fn get(port: u16) -> Request {
        Request::new("GET", format!("http://127.0.0.1:{port}/"), "the service")
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        Ok(Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        })
    }

    fn failure(kind: ErrorKind) -> Result<Response, HttpError> {
        Err(HttpError {
            label: "the service".to_owned(),
            kind,
            timeout: Duration::from_secs(1),
            detail: String::new(),
        })
    }

    /// Try `number`, the first one having begun `ago`.
    fn tries(number: u32, ago: Duration) -> Tries {
        Tries {
            number,
            start: Instant::now().checked_sub(ago).unwrap(),
            began: ago,
        }
    }

    fn status_of(j: &Judged<Result<Response, HttpError>>) -> Option<u16> {
        match j {
            Judged::Done(Ok(r)) => Some(r.status),
            _ => None,
        }
    }

    #[test]
    fn the_plain_policy_retries_transient_answers_within_its_limits() {
        let req = get(1);
        let b = Backoff {
            attempts: 3,
            initial: Duration::from_secs(1),
            max_wait: Duration::from_secs(8),
            deadline: Some(Duration::from_secs(60)),
        };
        let mut plain = Plain {
            req: &req,
            backoff: &b,
            decide: retry_transient,
            last: None,
        };
        let now = Duration::ZERO;
        // Accepted answers and definitive failures end at once.
        assert_eq!(
            status_of(&plain.judge(answer(200, &[]), tries(1, now))),
            Some(200)
        );
        assert_eq!(
            status_of(&plain.judge(answer(404, &[]), tries(1, now))),
            Some(404)
        );
        let bad = plain.judge(failure(ErrorKind::BadUrl), tries(1, now));
        assert!(matches!(bad, Judged::Done(Err(ref e)) if e.kind == ErrorKind::BadUrl));
        // 5xx and network failures wait the jittered backoff; 429 its `Retry-After`.
        for result in [answer(503, &[]), failure(ErrorKind::Refused)] {
            let Judged::Again(w) = plain.judge(result, tries(2, now)) else {
                panic!("not retried")
            };
            assert!(
                w >= Duration::from_secs(1) && w <= Duration::from_secs(2),
                "{w:?}"
            );
        }
        assert!(matches!(
            plain.judge(answer(429, &[("Retry-After", "3")]), tries(1, now)),
            Judged::Again(w) if w == Duration::from_secs(3)
        ));
        // Out of tries, an announced wait over `max_wait`, a wait past the deadline: the last
        // answer is returned.
        assert_eq!(
            status_of(&plain.judge(answer(503, &[]), tries(3, now))),
            Some(503)
        );
        let long = answer(429, &[("Retry-After", "9")]);
        assert_eq!(status_of(&plain.judge(long, tries(1, now))), Some(429));
        let late = tries(2, Duration::from_secs(59));
        assert_eq!(status_of(&plain.judge(answer(502, &[]), late)), Some(502));
        // A cancelled wait returns the answer it was waiting to retry.
        assert!(matches!(
            plain.judge(answer(500, &[]), tries(1, now)),
            Judged::Again(_)
        ));
        assert_eq!(plain.cancelled("SIGTERM").map(|r| r.status).ok(), Some(500));
    }

    /// A policy that sends its try number as a header and stops after `stop` tries.
    struct Counting {
        port: u16,
        stop: u32,
        seen: Vec<(u32, Duration, Option<u16>)>,
    }

    impl Retry for Counting {
        type Output = Vec<(u32, Duration, Option<u16>)>;
        fn request(&mut self) -> Request {
            get(self.port).header("X-Try", (self.seen.len() + 1).to_string())
        }
        fn judge(&mut self, result: Result<Response, HttpError>, t: Tries) -> Judged<Self::Output> {
            self.seen
                .push((t.number, t.began, result.ok().map(|r| r.status)));
            if t.number >= self.stop {
                return Judged::Done(std::mem::take(&mut self.seen));
            }
            Judged::Again(Duration::from_millis(100))
        }
        fn cancelled(&mut self, _: &'static str) -> Self::Output {
            unreachable!("never cancelled in this test")
        }
    }

    #[test]
    fn the_loop_sends_each_request_the_policy_makes_and_waits_as_it_says() {
        let (port, seen) = scripted(&[R503, R503, R200]);
        let out = Client::new().retry(&mut Counting {
            port,
            stop: 3,
            seen: Vec::new(),
        });
        let numbers: Vec<u32> = out.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3]);
        let statuses: Vec<Option<u16>> = out.iter().map(|(_, _, s)| *s).collect();
        assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
        assert!(out[0].1 < out[1].1 && out[1].1 < out[2].1, "{out:?}");
        assert!(out[2].1 >= Duration::from_millis(200), "two waits of 100ms");
        let sent = seen.lock().unwrap().clone();
        assert_eq!(sent.len(), 3);
        for (i, (_, head)) in sent.iter().enumerate() {
            assert!(head.contains(&format!("x-try: {}", i + 1)), "{head}");
        }
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
        assert!(times[1].0 - times[0].0 >= Duration::from_millis(200));

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
        let p = Backoff {
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
