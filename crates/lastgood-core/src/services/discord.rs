//! Discord webhook messages: one embed per event, within every Discord limit, never pinging
//! anyone by accident, sent with bounded retries and reports that never contain the webhook.
//!
//! **Characters.** Discord's limits count characters; here a character is a Unicode scalar value
//! (a Rust `char`, what Discord's API counts), never a byte. Truncation cuts on character
//! boundaries, moves the cut so it never splits a glyph (a letter and its combining marks, a ZWJ
//! emoji sequence, a skin tone or variation selector, a flag), and ends with "…" (itself one
//! character, counted within the limit). `details` (a log excerpt) keeps its *end* (where errors
//! are) and starts with "…" when cut. When the 6000-character total of the embed is short,
//! `details` shrink first, then the description, then the longest field values.
//!
//! **Mentions.** `allowed_mentions` is always sent: `{"parse": []}` (nobody is pinged), or
//! `{"parse": [], "roles": ["ID"]}` with `mention-role` on failure events only. As a second
//! belt, a zero-width space is inserted after the `@` of `@everyone` and `@here` in every text
//! taken from the user, so even a client ignoring `allowed_mentions` would not ping.
//!
//! **The webhook URL is a secret** (its token is in the path): [`Webhook`] keeps it private, its
//! `Debug` prints nothing of it, and no error or [`SendReport::failure`] ever contains it.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::base::error::{Error, Result};
use crate::base::sha::short_sha;
use crate::base::text::{char_len, defuse_mentions, neutralise_fences, truncate, truncate_start};
use crate::base::time::format_duration;
use crate::base::time::rfc3339_millis;
use crate::platform::http::seconds;
use crate::platform::http::{Backoff, Client, HttpError, Judged, Request, Response, Retry, Tries};
pub use crate::services::wording::{Event, Locale};
use crate::services::wording::{Term, author_text, environment_title};

/// Longest embed title.
const TITLE_MAX: usize = 256;
/// Longest embed description.
const DESCRIPTION_MAX: usize = 4096;
/// Most fields in one embed.
const FIELDS_MAX: usize = 25;
/// Longest field name.
const FIELD_NAME_MAX: usize = 256;
/// Longest field value.
const FIELD_VALUE_MAX: usize = 1024;
/// Longest footer text.
const FOOTER_MAX: usize = 2048;
/// Most characters in all the embeds of one message together.
const EMBED_TOTAL_MAX: usize = 6000;
/// Longest message content.
const CONTENT_MAX: usize = 2000;

/// The longest `retry_after` a 429 may ask for before we give up instead of waiting.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Tries in all for one message (the first and the retries).
const ATTEMPTS: u32 = 4;
/// No retry starts after this much time spent on one message (a notification must not hold a
/// deploy job for long).
const DEADLINE: Duration = Duration::from_secs(90);

const LABEL: &str = "the Discord webhook";

/// Everything a message may say. Absent parts are left out of the embed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// What happened.
    pub event: Event,
    /// Environment name (`preprod`), shown upper case in the title.
    pub environment: Option<String>,
    /// The commit concerned (shown short).
    pub sha: Option<String>,
    /// The commit's author.
    pub author: Option<String>,
    /// The commit message (its first line is shown).
    pub commit_message: Option<String>,
    /// The app's URL.
    pub url: Option<String>,
    /// The workflow run's URL.
    pub run_url: Option<String>,
    /// Free text such as a CI log excerpt, shown as a code block (its end kept when cut).
    pub details: Option<String>,
    /// Replaces the event's title.
    pub title: Option<String>,
    /// Replaces the event's default line under the title.
    pub description: Option<String>,
    /// Wording.
    pub locale: Locale,
    /// A role id (digits) pinged on failure events only.
    pub mention_role: Option<String>,
    /// Link for the SHA (e.g. `https://github.com/o/r/commit/SHA`).
    pub commit_url: Option<String>,
}

impl Message {
    /// A message for `event` with nothing else set.
    pub fn new(event: Event) -> Self {
        Message {
            event,
            ..Message::default()
        }
    }
}

/// Checks a role id for `mention-role`: digits only (a Discord snowflake).
pub fn validate_snowflake(input: &str, value: &str) -> Result<()> {
    if !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::input(
            input,
            format!("`{value}` is not a Discord id (digits only)"),
        ))
    }
}

fn clean(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(defuse_mentions)
}

struct Field {
    name: String,
    value: String,
    inline: bool,
}

/// The whole JSON body of the message, every Discord limit enforced.
pub fn payload(msg: &Message) -> Value {
    payload_at(msg, SystemTime::now())
}

/// [`payload`] with a given timestamp.
fn payload_at(msg: &Message, now: SystemTime) -> Value {
    let environment = clean(msg.environment.as_deref());
    let title = truncate(&title_of(msg, environment.as_deref()), TITLE_MAX);
    let mut fields = fields_of(msg, environment.as_deref());
    let footer = truncate("lastgood", FOOTER_MAX);
    let budget = fit_fields(&title, &footer, &mut fields);

    // Description: the intro line, then the details block; details shrink first.
    let intro = clean(msg.description.as_deref()).or_else(|| {
        msg.event
            .default_description(msg.locale, environment.as_deref())
    });
    let details = msg
        .details
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| neutralise_fences(&defuse_mentions(d.trim_end_matches(['\n', '\r', ' ']))));
    let description = compose_description(intro.as_deref(), details.as_deref(), budget);

    let mut embed = serde_json::Map::new();
    embed.insert("title".into(), json!(title));
    if !description.is_empty() {
        embed.insert("description".into(), json!(description));
    }
    embed.insert("color".into(), json!(msg.event.color()));
    if !fields.is_empty() {
        embed.insert(
            "fields".into(),
            Value::Array(
                fields
                    .into_iter()
                    .map(|f| json!({"name": f.name, "value": f.value, "inline": f.inline}))
                    .collect(),
            ),
        );
    }
    embed.insert("footer".into(), json!({"text": footer}));
    embed.insert("timestamp".into(), json!(rfc3339_millis(now)));
    body_of(msg, embed)
}

/// The embed's title: the message's own, else the event's label with the environment.
fn title_of(msg: &Message, environment: Option<&str>) -> String {
    if let Some(t) = clean(msg.title.as_deref()) {
        return t;
    }
    let l = msg.locale;
    let sep = Term::TitleSeparator.text(l);
    match environment {
        Some(env) => format!(
            "{} {}{sep}{}",
            msg.event.emoji(),
            environment_title(env, l),
            msg.event.label(l)
        ),
        None => format!("{} {}", msg.event.emoji(), msg.event.label(l)),
    }
}

/// The embed's fields, each within Discord's limits, at most [`FIELDS_MAX`].
fn fields_of(msg: &Message, environment: Option<&str>) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut add = |name: &str, value: String, inline: bool| {
        if !value.trim().is_empty() {
            fields.push(Field {
                name: truncate(name, FIELD_NAME_MAX),
                value: truncate(&value, FIELD_VALUE_MAX),
                inline,
            });
        }
    };
    if let Some(sha) = clean(msg.sha.as_deref()) {
        let short = short_sha(&sha).replace('`', "");
        let value = match clean(msg.commit_url.as_deref()).filter(|u| is_link(u)) {
            Some(url) => format!("[`{short}`]({url})"),
            None => format!("`{short}`"),
        };
        add("SHA", value, true);
    }
    if let Some(author) = clean(msg.author.as_deref()) {
        let author = author_text(&author, msg.locale);
        add(Term::Author.text(msg.locale), author, true);
    }
    if let Some(env) = environment {
        add(Term::Environment.text(msg.locale), env.to_owned(), true);
    }
    if let Some(message) = clean(msg.commit_message.as_deref()) {
        let first = message.lines().next().unwrap_or("").trim().to_owned();
        add("Message", first, false);
    }
    if let Some(url) = clean(msg.url.as_deref()) {
        let value = if is_link(&url) {
            url
        } else {
            format!("`{}`", url.replace('`', ""))
        };
        add("URL", value, false);
    }
    if let Some(run) = clean(msg.run_url.as_deref()) {
        let value = if is_link(&run) {
            format!("[{}]({run})", Term::ViewTheRun.text(msg.locale))
        } else {
            run
        };
        add("Run", value, false);
    }
    fields.truncate(FIELDS_MAX);
    fields
}

/// Shrinks pathological field values (longest first) until the title, names, values and
/// footer fit in [`EMBED_TOTAL_MAX`]; returns what is left for the description.
fn fit_fields(title: &str, footer: &str, fields: &mut [Field]) -> usize {
    let fixed = |fields: &[Field]| {
        char_len(title)
            + char_len(footer)
            + fields
                .iter()
                .map(|f| char_len(&f.name) + char_len(&f.value))
                .sum::<usize>()
    };
    while fixed(fields) > EMBED_TOTAL_MAX {
        let excess = fixed(fields) - EMBED_TOTAL_MAX;
        let Some(longest) = fields.iter_mut().max_by_key(|f| char_len(&f.value)) else {
            break;
        };
        let len = char_len(&longest.value);
        let target = len.saturating_sub(excess).max(len / 2).max(1);
        if target >= len {
            break;
        }
        longest.value = truncate(&longest.value, target);
    }
    DESCRIPTION_MAX.min(EMBED_TOTAL_MAX.saturating_sub(fixed(fields)))
}

/// The message body around the embed: `allowed_mentions` always, the role mention on failure
/// events only.
fn body_of(msg: &Message, embed: serde_json::Map<String, Value>) -> Value {
    let mut body = serde_json::Map::new();
    let role = msg
        .mention_role
        .as_deref()
        .map(str::trim)
        .filter(|r| msg.event.is_failure() && validate_snowflake("mention-role", r).is_ok());
    match role {
        Some(role) => {
            body.insert(
                "content".into(),
                json!(truncate(&format!("<@&{role}>"), CONTENT_MAX)),
            );
            body.insert(
                "allowed_mentions".into(),
                json!({"parse": [], "roles": [role]}),
            );
        }
        None => {
            body.insert("allowed_mentions".into(), json!({"parse": []}));
        }
    }
    body.insert("embeds".into(), json!([Value::Object(embed)]));
    Value::Object(body)
}

fn is_link(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains([' ', '(', ')', '<', '>', '\n'])
}

fn compose_description(intro: Option<&str>, details: Option<&str>, budget: usize) -> String {
    const OPEN: &str = "```\n";
    const CLOSE: &str = "\n```";
    const SEP: &str = "\n\n";
    let overhead = char_len(OPEN) + char_len(CLOSE);
    let Some(details) = details else {
        return intro.map(|i| balanced(i, budget)).unwrap_or_default();
    };
    let sep_len = if intro.is_some() { char_len(SEP) } else { 0 };
    let details_need = sep_len + overhead + char_len(details);
    // The intro keeps at least half of the budget; the details get the rest.
    let intro_room = budget.saturating_sub(details_need).max(budget / 2);
    let intro = intro.map(|i| balanced(i, intro_room));
    // Measured after `balanced`: neutralising an open fence makes the intro longer.
    let intro_len = intro.as_deref().map_or(0, char_len);
    let details_room = budget.saturating_sub(intro_len + sep_len + overhead);
    if details_room < 2 {
        return intro.unwrap_or_default();
    }
    let details = truncate_start(details, details_room);
    let mut out = String::new();
    if let Some(intro) = intro {
        out.push_str(&intro);
        out.push_str(SEP);
    }
    out.push_str(OPEN);
    out.push_str(&details);
    out.push_str(CLOSE);
    out
}

/// `text` truncated to `max`; if the cut leaves a ``` fence open, every fence is neutralised
/// so the description after it still renders.
fn balanced(text: &str, max: usize) -> String {
    let cut = truncate(text, max);
    if cut.matches("```").count().is_multiple_of(2) {
        cut
    } else {
        truncate(&neutralise_fences(text), max)
    }
}

/// A Discord webhook. The URL (a secret) stays private: `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Webhook {
    /// `scheme://host/…/webhooks/{id}/{token}`, no query.
    base: String,
    /// The query parameters the user's URL had (`thread_id=…`), `wait` removed.
    query: Vec<(String, String)>,
    token: String,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Webhook(<redacted>)")
    }
}

impl Webhook {
    /// Checks the URL: `http(s)://host/…/webhooks/{id}/{token}` with an optional query such as
    /// `thread_id=…`. The error never repeats the URL.
    pub fn new(url: &str) -> Result<Webhook> {
        let bad = |why: &str| {
            Error::input(
                "webhook-url",
                format!(
                    "{why}; expected https://discord.com/api/webhooks/ID/TOKEN (the value is a secret and is not shown)"
                ),
            )
        };
        let url = url.trim();
        let url = url.split('#').next().unwrap_or(url);
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(bad("not a URL"));
        };
        if scheme != "https" && scheme != "http" {
            return Err(bad("not an http(s) URL"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains spaces or control characters"));
        }
        let (before_query, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let rest_path = &before_query[scheme.len() + 3..];
        let Some((host, path)) = rest_path.split_once('/') else {
            return Err(bad("has no path"));
        };
        if host.is_empty() || host.contains('@') {
            return Err(bad("has no usable host"));
        }
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let Some(pos) = segments.iter().rposition(|s| *s == "webhooks") else {
            return Err(bad("is not a webhook URL (no /webhooks/ in the path)"));
        };
        let tail = &segments[pos + 1..];
        let [id, token] = tail else {
            return Err(bad(
                "is not a webhook URL (ID/TOKEN missing after /webhooks/)",
            ));
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("has a webhook id that is not a number"));
        }
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(bad("has a malformed token"));
        }
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.to_owned())
            })
            .filter(|(k, _)| k != "wait")
            .collect();
        Ok(Webhook {
            base: before_query.trim_end_matches('/').to_owned(),
            query,
            token: (*token).to_owned(),
        })
    }

    /// The token, only so the caller can mask it (it is a secret on its own).
    pub fn token(&self) -> &str {
        &self.token
    }

    fn with_query(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.base);
        let mut pairs: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }

    fn post_url(&self) -> String {
        self.with_query("", &[("wait", "true")])
    }

    fn edit_url(&self, message_id: &str) -> String {
        self.with_query(&format!("/messages/{message_id}"), &[])
    }

    /// Removes the URL and the token from `text` (belt and braces for failure strings).
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.base, "<webhook>")
            .replace(&self.token, "***")
    }
}

/// Replaces `secret` by `***` in every string of `value` (never longer: limits still hold).
fn redact_strings(value: &mut Value, secret: &str) {
    match value {
        Value::String(s) if s.contains(secret) => *s = s.replace(secret, "***"),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(v, secret)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_strings(v, secret)),
        _ => {}
    }
}

/// What happened to one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Discord accepted it (2xx).
    pub sent: bool,
    /// The id of the message posted or edited.
    pub message_id: Option<String>,
    /// Discord's last HTTP status, if it answered at all.
    pub http_status: Option<u16>,
    /// Why it was not sent: one line, never the webhook URL or token. When `sent` is true, what
    /// went wrong afterwards (the role ping that follows an edit could not be posted).
    pub failure: Option<String>,
    /// How many requests were made.
    pub attempts: u32,
}

/// How long to wait between tries after a 5xx or a network error.
const BACKOFF: Backoff = Backoff {
    attempts: ATTEMPTS,
    initial: Duration::from_millis(500),
    max_wait: Duration::from_secs(8),
    deadline: None,
};

/// Posts `msg` (or edits message `edit_message_id`) and reports; never fails, never panics.
///
/// 2xx → sent (the id read from the answer); 429 → waits `retry_after` (body, else the
/// `Retry-After` header) and tries again, giving up if asked to wait over
/// [`MAX_RATE_LIMIT_WAIT`]; 5xx and network errors → retried with growing waits; 404 → the
/// webhook was deleted (or the edited message is unknown), never retried; other 4xx → not
/// retried, Discord's message and code reported. At most [`ATTEMPTS`] requests, and no retry
/// begins past [`DEADLINE`].
///
/// An edit that reports a failure event with a `mention_role` is followed by a short new message
/// pinging the role: Discord does not notify mentions added by an edit.
pub fn send(
    webhook: &Webhook,
    msg: &Message,
    edit_message_id: Option<&str>,
    client: &Client,
) -> SendReport {
    let mut body = payload(msg);
    // A log excerpt or commit message quoting the webhook must not publish it in the channel.
    redact_strings(&mut body, &webhook.token);
    let (method, url) = match edit_message_id {
        Some(id) => ("PATCH", webhook.edit_url(id)),
        None => ("POST", webhook.post_url()),
    };
    let mut report = exchange(webhook, method, url, &body, edit_message_id, client);
    // Discord never notifies a mention added by an edit: when an edit reports a failure to a
    // role, a short new message (the role and the title) pings it.
    if let (true, Some(_), Some(content)) = (
        report.sent,
        edit_message_id,
        body.get("content").and_then(Value::as_str),
    ) {
        let title = body["embeds"][0]["title"].as_str().unwrap_or("");
        let ping = json!({
            "content": truncate(&format!("{content} {title}"), CONTENT_MAX),
            "allowed_mentions": body["allowed_mentions"].clone(),
        });
        let followed = exchange(webhook, "POST", webhook.post_url(), &ping, None, client);
        report.attempts += followed.attempts;
        if let Some(why) = followed.failure {
            report.failure = Some(format!(
                "the message was edited, but the role could not be pinged: {why}"
            ));
        }
    }
    report
}

/// One message exchange (a post or an edit) with its retries; see [`send`].
fn exchange(
    webhook: &Webhook,
    method: &'static str,
    url: String,
    body: &Value,
    edit_message_id: Option<&str>,
    client: &Client,
) -> SendReport {
    let req = Request::new(method, url, LABEL)
        .json(body)
        .timeout(Duration::from_secs(15));
    client.retry(&mut Exchange {
        webhook,
        req,
        edit_message_id,
        report: SendReport::default(),
    })
}

/// Discord's retry policy for one exchange: what is retried (429 after its `retry_after`, 5xx
/// and network failures after a backoff), within [`ATTEMPTS`] and [`DEADLINE`], and what each
/// refusal says.
struct Exchange<'a> {
    webhook: &'a Webhook,
    req: Request,
    edit_message_id: Option<&'a str>,
    report: SendReport,
}

impl Retry for Exchange<'_> {
    type Output = SendReport;

    fn request(&mut self) -> Request {
        self.req.clone()
    }

    fn judge(&mut self, result: Result<Response, HttpError>, tries: Tries) -> Judged<SendReport> {
        let report = &mut self.report;
        report.attempts = tries.number;
        let last = tries.number >= ATTEMPTS || tries.began >= DEADLINE;
        let next = match result {
            Err(e) => on_error(self.webhook, &e, last, report),
            Ok(resp) => on_response(self.webhook, &resp, self.edit_message_id, last, report),
        };
        let Next::Retry(wait) = next else {
            return Judged::Done(std::mem::take(report));
        };
        if tries.elapsed().saturating_add(wait) > DEADLINE {
            report.failure = Some(format!(
                "gave up after {} tries in {}: {}",
                report.attempts,
                format_duration(tries.elapsed()),
                last_answer(report)
            ));
            return Judged::Done(std::mem::take(report));
        }
        Judged::Again(wait)
    }

    fn cancelled(&mut self, signal: &'static str) -> SendReport {
        let report = &mut self.report;
        report.failure = Some(format!(
            "cancelled by {signal} while waiting to try again, after {} tries: {}",
            report.attempts,
            last_answer(report)
        ));
        std::mem::take(report)
    }
}

/// Discord's last answer, for a failure line.
fn last_answer(report: &SendReport) -> String {
    report
        .http_status
        .map_or("no answer".to_owned(), |s| format!("Discord answered {s}"))
}

/// After one try: done (sent or failed for good, in the report), or try again after a wait.
enum Next {
    Done,
    Retry(Duration),
}

/// No answer: retry a transient failure unless it was the last try.
fn on_error(webhook: &Webhook, e: &HttpError, last: bool, report: &mut SendReport) -> Next {
    let text = webhook.scrub(&e.to_string());
    if !e.is_transient() || last {
        report.failure = Some(if report.attempts > 1 {
            format!("{text} (after {} tries)", report.attempts)
        } else {
            text
        });
        return Next::Done;
    }
    Next::Retry(BACKOFF.backoff(report.attempts))
}

/// A field of Discord's JSON answer.
fn answer_field(parsed: Option<&Value>, key: &str) -> Option<Value> {
    parsed.and_then(|v| v.get(key)).cloned()
}

/// An answer: sent, rate-limited (wait as asked), Discord failing (back off), or refused.
fn on_response(
    webhook: &Webhook,
    resp: &Response,
    edit_message_id: Option<&str>,
    last: bool,
    report: &mut SendReport,
) -> Next {
    report.http_status = Some(resp.status);
    // Scrubbed before any of it is cut or quoted: a cut inside the token would leave part of it.
    let parsed: Option<Value> = resp.json().ok().map(|mut v: Value| {
        redact_strings(&mut v, &webhook.token);
        v
    });
    let discord = |key: &str| answer_field(parsed.as_ref(), key);
    match resp.status {
        200..=299 => {
            report.sent = true;
            report.message_id = discord("id")
                .and_then(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .or_else(|| edit_message_id.map(str::to_owned));
            Next::Done
        }
        429 => rate_limited(parsed.as_ref(), resp, last, report),
        404 => {
            let code = discord("code").and_then(|c| c.as_u64());
            report.failure = Some(match (code, edit_message_id) {
                (Some(10008), Some(id)) => format!(
                    "message {id} was not found (404 Unknown Message): it was deleted or belongs to another webhook"
                ),
                _ => "the webhook was deleted (404 Unknown Webhook): create a new one and update the secret".to_owned(),
            });
            Next::Done
        }
        500..=599 => {
            if last {
                report.failure = Some(format!(
                    "Discord answered {} after {} tries: try again later",
                    resp.status, report.attempts
                ));
                return Next::Done;
            }
            Next::Retry(
                resp.retry_after()
                    .filter(|w| *w <= BACKOFF.max_wait)
                    .unwrap_or_else(|| BACKOFF.backoff(report.attempts)),
            )
        }
        status => {
            report.failure = Some(webhook.scrub(&refusal(status, parsed.as_ref())));
            Next::Done
        }
    }
}

/// A 429: wait what Discord asks (`retry_after` in the body, else the header), unless it asks
/// too long or it was the last try.
fn rate_limited(
    parsed: Option<&Value>,
    resp: &Response,
    last: bool,
    report: &mut SendReport,
) -> Next {
    let wait = answer_field(parsed, "retry_after")
        .and_then(|v| v.as_f64())
        .and_then(seconds)
        .or_else(|| resp.retry_after())
        .unwrap_or(Duration::from_secs(1));
    let global = answer_field(parsed, "global").and_then(|g| g.as_bool()) == Some(true);
    let scope = if global { " (global rate limit)" } else { "" };
    if wait > MAX_RATE_LIMIT_WAIT {
        report.failure = Some(format!(
            "Discord rate-limited the webhook{scope} (429) and asked to wait {}, longer than the {} this step waits: try again later",
            format_duration(wait),
            format_duration(MAX_RATE_LIMIT_WAIT)
        ));
        return Next::Done;
    }
    if last {
        report.failure = Some(format!(
            "Discord still rate-limited the webhook{scope} (429) after {} tries: try again later",
            report.attempts
        ));
        return Next::Done;
    }
    // A little margin: Discord's buckets reset on its clock, not ours.
    Next::Retry(wait + Duration::from_millis(50))
}

/// Why Discord refused a message, from its JSON error (message, code, errors): one line of
/// bounded length, whatever the answer holds.
fn refusal(status: u16, parsed: Option<&Value>) -> String {
    let message = answer_field(parsed, "message")
        .and_then(|m| m.as_str().map(|m| truncate(&one_line(m), 200)))
        .unwrap_or_else(|| "no explanation".to_owned());
    let code = answer_field(parsed, "code")
        .map(|c| format!(", code {}", truncate(&c.to_string(), 20)))
        .unwrap_or_default();
    let errors = answer_field(parsed, "errors")
        .map(|e| format!(": {}", truncate(&e.to_string(), 300)))
        .unwrap_or_default();
    let hint = match status {
        401 | 403 => ": check the webhook URL in the secret",
        _ => "",
    };
    format!("Discord refused the message ({status}{code}: {message}){errors}{hint}")
}

/// `text` on one line: every line break (and other control character) becomes a space.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn embed(v: &Value) -> &Value {
        &v["embeds"][0]
    }

    fn total(e: &Value) -> usize {
        let s = |v: &Value| v.as_str().map_or(0, char_len);
        s(&e["title"])
            + s(&e["description"])
            + s(&e["footer"]["text"])
            + s(&e["author"]["name"])
            + e["fields"].as_array().map_or(0, |fs| {
                fs.iter().map(|f| s(&f["name"]) + s(&f["value"])).sum()
            })
    }

    #[test]
    fn french_wording_follows_the_seed() {
        let mut m = Message::new(Event::DeployStarted);
        m.locale = Locale::Fr;
        m.environment = Some("preprod".into());
        m.sha = Some("acfdb42aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into());
        // The workflows pass the GitHub login (`head_commit.author.username || actor`).
        m.author = Some("user".into());
        m.commit_message = Some("Fix bug analysis\n\nlong body".into());
        let p = payload(&m);
        let e = embed(&p);
        assert_eq!(e["title"], "🚀 PREPROD - Déploiement démarré");
        assert_eq!(e["description"], "⏳ CI en cours de vérification...");
        let fields = e["fields"].as_array().unwrap();
        assert_eq!(fields[0]["name"], "SHA");
        assert_eq!(fields[0]["value"], "`acfdb42`");
        assert_eq!(fields[1]["name"], "Auteur");
        assert_eq!(fields[1]["value"], "@user", "the seed's \"Auteur: @user\"");
        assert!(
            fields
                .iter()
                .any(|f| f["name"] == "Message" && f["value"] == "Fix bug analysis")
        );
        assert_eq!(e["footer"]["text"], "lastgood");
        assert_eq!(e["color"], 0x34_98_DB);

        let mut m = Message::new(Event::DeploySucceeded);
        m.locale = Locale::Fr;
        m.environment = Some("production".into());
        let p = payload(&m);
        assert_eq!(embed(&p)["title"], "🎯 PRODUCTION - Déploiement réussi ✅");
        assert_eq!(embed(&p)["description"], "PREPROD ✅ → PROD ✅");
        // cd-prod names the environment `prod`: the seed's title still says PRODUCTION.
        m.environment = Some("prod".into());
        m.sha = Some("acfdb42aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into());
        m.url = Some("https://backtothefuturekitchen.lafrance.io/".into());
        let p = payload(&m);
        let e = embed(&p);
        assert_eq!(e["title"], "🎯 PRODUCTION - Déploiement réussi ✅");
        assert_eq!(e["description"], "PREPROD ✅ → PROD ✅");
        let fields = e["fields"].as_array().unwrap();
        assert_eq!(
            (&fields[0]["name"], &fields[0]["value"]),
            (&"SHA".into(), &"`acfdb42`".into())
        );
        assert!(
            fields.iter().any(|f| f["name"] == "URL"
                && f["value"] == "https://backtothefuturekitchen.lafrance.io/")
        );

        let mut m = Message::new(Event::DeployStarted);
        m.environment = Some("preprod".into());
        assert_eq!(embed(&payload(&m))["title"], "🚀 PREPROD — Deploy started");
    }

    #[test]
    fn links_and_timestamp() {
        let mut m = Message::new(Event::CiSucceeded);
        m.sha = Some("0123456789abcdef0123456789abcdef01234567".into());
        m.commit_url =
            Some("https://github.com/o/r/commit/0123456789abcdef0123456789abcdef01234567".into());
        m.run_url = Some("https://github.com/o/r/actions/runs/1".into());
        m.url = Some("https://app.example".into());
        let p = payload_at(&m, UNIX_EPOCH + Duration::from_millis(1_764_169_200_123));
        let e = embed(&p);
        assert_eq!(e["timestamp"], "2025-11-26T15:00:00.123Z");
        let fields = e["fields"].as_array().unwrap();
        assert_eq!(
            fields[0]["value"],
            "[`0123456`](https://github.com/o/r/commit/0123456789abcdef0123456789abcdef01234567)"
        );
        assert!(
            fields
                .iter()
                .any(|f| f["value"] == "[View the run](https://github.com/o/r/actions/runs/1)")
        );
    }

    #[test]
    fn mentions_only_on_failures_with_a_role() {
        for e in Event::ALL {
            let mut m = Message::new(e);
            m.commit_message = Some("@everyone look <@123> @here".into());
            let p = payload(&m);
            assert_eq!(p["allowed_mentions"], json!({"parse": []}));
            assert!(p.get("content").is_none());
            let text = p.to_string();
            assert!(
                !text.contains("@everyone") && !text.contains("@here"),
                "{text}"
            );
            m.mention_role = Some("987654321".into());
            let p = payload(&m);
            if e.is_failure() {
                assert_eq!(p["content"], "<@&987654321>");
                assert_eq!(
                    p["allowed_mentions"],
                    json!({"parse": [], "roles": ["987654321"]})
                );
            } else {
                assert!(p.get("content").is_none());
                assert_eq!(p["allowed_mentions"], json!({"parse": []}));
            }
        }
        assert!(validate_snowflake("mention-role", "12a").is_err());
        assert!(validate_snowflake("mention-role", "").is_err());
        assert!(validate_snowflake("mention-role", "123").is_ok());
    }

    #[test]
    fn every_limit_holds_for_huge_hostile_input() {
        let big = |unit: &str| unit.repeat(100_000 / unit.len() + 1);
        for unit in ["a", "🚀", "漢", "e\u{0301}", "```", "@everyone "] {
            let mut m = Message::new(Event::CiFailed);
            m.environment = Some(big(unit));
            m.sha = Some("0123456789abcdef0123456789abcdef01234567".into());
            m.author = Some(big(unit));
            m.commit_message = Some(big(unit));
            m.url = Some(format!("https://x/{}", big("a")));
            m.run_url = Some(format!("https://x/{}", big("b")));
            m.details = Some(big(unit));
            m.description = Some(big(unit));
            m.title = None;
            let p = payload(&m);
            let e = embed(&p);
            let s = |v: &Value| v.as_str().map_or(0, char_len);
            assert!(s(&e["title"]) <= TITLE_MAX);
            assert!(s(&e["description"]) <= DESCRIPTION_MAX);
            for f in e["fields"].as_array().unwrap() {
                assert!(s(&f["name"]) <= FIELD_NAME_MAX && s(&f["value"]) <= FIELD_VALUE_MAX);
                assert!(s(&f["value"]) > 0);
            }
            assert!(total(e) <= EMBED_TOTAL_MAX, "{unit}: {}", total(e));
            let d = e["description"].as_str().unwrap_or("");
            assert_eq!(d.matches("```").count() % 2, 0, "{unit}: fences balanced");
            assert!(e["title"].as_str().unwrap().ends_with('…'));
        }
    }

    #[test]
    fn every_limit_holds_across_mixed_lengths() {
        // Medium and huge parts together, fences included (neutralising them lengthens text).
        let lens = [0usize, 3, 257, 1025, 4097];
        for a in lens {
            for b in lens {
                for c in lens {
                    for d in [0usize, 3000] {
                        for unit in ["a", "```"] {
                            let mk = |k: usize| (k > 0).then(|| unit.repeat(k));
                            let mut m = Message::new(Event::CiFailed);
                            m.environment = mk(a % 300);
                            m.author = mk(a);
                            m.title = mk(b);
                            m.commit_message = mk(b);
                            m.description = mk(c);
                            m.details = mk(d);
                            m.url = mk(c).map(|x| format!("https://x/{x}"));
                            m.sha = Some("0123456789abcdef0123456789abcdef01234567".into());
                            let p = payload(&m);
                            let e = embed(&p);
                            let s = |v: &Value| v.as_str().map_or(0, char_len);
                            let case = format!("{a} {b} {c} {d} {unit}");
                            assert!(s(&e["title"]) <= TITLE_MAX, "{case}");
                            assert!(s(&e["description"]) <= DESCRIPTION_MAX, "{case}");
                            for f in e["fields"].as_array().into_iter().flatten() {
                                assert!(s(&f["name"]) <= FIELD_NAME_MAX, "{case}");
                                assert!(s(&f["value"]) <= FIELD_VALUE_MAX, "{case}");
                            }
                            assert!(total(e) <= EMBED_TOTAL_MAX, "{case}: {}", total(e));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_open_fence_in_the_intro_still_leaves_room_for_details() {
        let mut m = Message::new(Event::CiFailed);
        m.description = Some("see ```the log".into());
        m.details = Some("x".repeat(10_000));
        let p = payload(&m);
        let d = embed(&p)["description"].as_str().unwrap_or("").to_owned();
        assert!(char_len(&d) <= DESCRIPTION_MAX, "{}", char_len(&d));
        assert!(
            d.starts_with("see `\u{200B}`\u{200B}`the log\n\n```\n…"),
            "{}",
            &d[..40]
        );
    }

    #[test]
    fn details_shrink_first_and_keep_their_end() {
        let mut m = Message::new(Event::CiFailed);
        m.description = Some("Tests failed".into());
        m.details = Some(format!("{}\nFINAL ERROR", "x".repeat(10_000)));
        let p = payload(&m);
        let d = embed(&p)["description"].as_str().unwrap().to_owned();
        assert!(d.starts_with("Tests failed\n\n```\n…"), "{}", &d[..40]);
        assert!(d.ends_with("FINAL ERROR\n```"));
        assert_eq!(char_len(&d), DESCRIPTION_MAX);
        // Short details are kept whole.
        m.details = Some("boom".into());
        assert_eq!(
            embed(&payload(&m))["description"],
            "Tests failed\n\n```\nboom\n```"
        );
    }

    /// Discord's retry policy, judged answer by answer (no network).
    mod retry_policy {
        use super::super::*;
        use std::time::Instant;

        fn answer(
            status: u16,
            headers: &[(&str, &str)],
            body: &str,
        ) -> Result<Response, HttpError> {
            Ok(Response {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                    .collect(),
                body: body.as_bytes().to_vec(),
            })
        }

        fn tries(number: u32, ago: Duration) -> Tries {
            Tries {
                number,
                start: Instant::now().checked_sub(ago).unwrap(),
                began: ago,
            }
        }

        /// Judges `result` as try `number` of an exchange (an edit of message 9 when `edit`).
        fn judge(result: Result<Response, HttpError>, t: Tries, edit: bool) -> Judged<SendReport> {
            let webhook = Webhook::new("https://discord.com/api/webhooks/1/sekrit").unwrap();
            let mut policy = Exchange {
                webhook: &webhook,
                req: Request::new("POST", webhook.post_url(), LABEL),
                edit_message_id: edit.then_some("9"),
                report: SendReport::default(),
            };
            policy.judge(result, t)
        }

        fn failure(j: Judged<SendReport>) -> String {
            match j {
                Judged::Done(r) => r.failure.unwrap_or_default(),
                Judged::Again(w) => panic!("retried after {w:?}"),
            }
        }

        fn wait(j: Judged<SendReport>) -> Duration {
            match j {
                Judged::Again(w) => w,
                Judged::Done(r) => panic!("done: {r:?}"),
            }
        }

        const NOW: Duration = Duration::ZERO;

        #[test]
        fn a_429_waits_the_bodys_retry_after_then_the_headers() {
            let body =
                r#"{"message":"You are being rate limited.","retry_after":2.5,"global":false}"#;
            let both = answer(429, &[("Retry-After", "7")], body);
            assert_eq!(
                wait(judge(both, tries(1, NOW), false)),
                Duration::from_millis(2550)
            );
            let header_only = answer(429, &[("Retry-After", "3")], "");
            assert_eq!(
                wait(judge(header_only, tries(1, NOW), false)),
                Duration::from_millis(3050)
            );
            let neither = answer(429, &[], "");
            assert_eq!(
                wait(judge(neither, tries(1, NOW), false)),
                Duration::from_millis(1050)
            );
            let long = answer(429, &[], r#"{"retry_after":120,"global":true}"#);
            let text = failure(judge(long, tries(1, NOW), false));
            assert!(
                text.contains("(global rate limit)") && text.contains("asked to wait 2m"),
                "{text}"
            );
            let last = answer(429, &[], r#"{"retry_after":1}"#);
            let text = failure(judge(last, tries(ATTEMPTS, NOW), false));
            assert!(text.contains(&format!("after {ATTEMPTS} tries")), "{text}");
        }

        #[test]
        fn server_errors_back_off_and_refusals_say_what_to_do() {
            let w = wait(judge(answer(503, &[], ""), tries(1, NOW), false));
            assert!(w >= BACKOFF.initial / 2 && w <= BACKOFF.initial, "{w:?}");
            let capped = answer(502, &[("Retry-After", "2")], "");
            assert_eq!(
                wait(judge(capped, tries(1, NOW), false)),
                Duration::from_secs(2)
            );
            let text = failure(judge(answer(500, &[], ""), tries(ATTEMPTS, NOW), false));
            assert_eq!(
                text,
                format!("Discord answered 500 after {ATTEMPTS} tries: try again later")
            );
            let gone = answer(404, &[], r#"{"message":"Unknown Webhook","code":10015}"#);
            assert!(failure(judge(gone, tries(1, NOW), false)).contains("webhook was deleted"));
            let unknown = answer(404, &[], r#"{"message":"Unknown Message","code":10008}"#);
            assert!(
                failure(judge(unknown, tries(1, NOW), true)).starts_with("message 9 was not found")
            );
            let bad = answer(400, &[], r#"{"message":"Invalid Form Body","code":50035}"#);
            let text = failure(judge(bad, tries(1, NOW), false));
            assert!(
                text.starts_with(
                    "Discord refused the message (400, code 50035: Invalid Form Body)"
                ),
                "{text}"
            );
            let sent = judge(answer(200, &[], r#"{"id":"42"}"#), tries(2, NOW), false);
            let Judged::Done(report) = sent else {
                panic!("retried")
            };
            assert_eq!(
                (report.sent, report.message_id.as_deref(), report.attempts),
                (true, Some("42"), 2)
            );
        }

        #[test]
        fn no_wait_ends_past_the_deadline_and_a_cancelled_wait_says_so() {
            let late = tries(2, DEADLINE - Duration::from_secs(1));
            let text = failure(judge(answer(429, &[], r#"{"retry_after":5}"#), late, false));
            assert!(text.starts_with("gave up after 2 tries in 1m"), "{text}");
            assert!(text.ends_with("Discord answered 429"), "{text}");
            let past = tries(2, DEADLINE);
            let text = failure(judge(answer(503, &[], ""), past, false));
            assert!(
                text.contains("after 2 tries: try again later"),
                "the last try: {text}"
            );

            let webhook = Webhook::new("https://discord.com/api/webhooks/1/sekrit").unwrap();
            let mut policy = Exchange {
                webhook: &webhook,
                req: Request::new("POST", webhook.post_url(), LABEL),
                edit_message_id: None,
                report: SendReport::default(),
            };
            assert!(matches!(
                policy.judge(answer(503, &[], ""), tries(1, NOW)),
                Judged::Again(_)
            ));
            let report = policy.cancelled("SIGTERM");
            assert!(!report.sent);
            assert_eq!(
                report.failure.as_deref(),
                Some(
                    "cancelled by SIGTERM while waiting to try again, after 1 tries: Discord answered 503"
                )
            );
        }
    }

    #[test]
    fn a_refusal_is_one_bounded_line_without_any_part_of_the_token() {
        // Regression (fuzzing): Discord's `message` was copied whole (a 10 MiB body made a
        // 10 MiB failure), and `errors` were cut at 300 characters before the token was
        // scrubbed, so a cut inside the token left its first characters in the failure.
        let token = "TOKENabcdefgh12345";
        let hook = Webhook::new(&format!("https://discord.com/api/webhooks/1/{token}")).unwrap();
        let body = json!({
            "message": format!("{}\nsecond line", "m".repeat(5000)),
            "code": 50035,
            "errors": {"content": [format!("{}{token}", "x".repeat(270))]},
        });
        let resp = Response {
            status: 400,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        };
        let mut report = SendReport::default();
        on_response(&hook, &resp, None, true, &mut report);
        let failure = report.failure.unwrap();
        assert!(!failure.contains("TOKENabc"), "{failure}");
        assert!(!failure.contains('\n'), "{failure}");
        assert!(char_len(&failure) <= 1000, "{}", char_len(&failure));
        assert!(failure.contains("code 50035"), "{failure}");
    }

    #[test]
    fn webhook_urls_are_checked_without_echo() {
        let ok = Webhook::new("https://discord.com/api/webhooks/123/abc-DEF_1").unwrap();
        assert_eq!(
            ok.post_url(),
            "https://discord.com/api/webhooks/123/abc-DEF_1?wait=true"
        );
        assert_eq!(
            ok.edit_url("9"),
            "https://discord.com/api/webhooks/123/abc-DEF_1/messages/9"
        );
        assert_eq!(format!("{ok:?}"), "Webhook(<redacted>)");
        let t =
            Webhook::new("https://discord.com/api/v10/webhooks/123/tok?thread_id=77&wait=false")
                .unwrap();
        assert_eq!(
            t.post_url(),
            "https://discord.com/api/v10/webhooks/123/tok?thread_id=77&wait=true"
        );
        assert_eq!(
            t.edit_url("9"),
            "https://discord.com/api/v10/webhooks/123/tok/messages/9?thread_id=77"
        );
        for bad in [
            "ftp://discord.com/api/webhooks/123/sekrit",
            "https://discord.com/api/webhooks/123",
            "https://discord.com/api/webhooks/abc/sekrit",
            "https://discord.com/api/webhooks/123/sek rit",
            "discord.com/api/webhooks/123/sekrit",
            "https://discord.com/api/hooks/123/sekrit",
        ] {
            let err = Webhook::new(bad).unwrap_err().to_string();
            assert!(!err.contains("sek"), "{err}");
            assert!(err.contains("webhook-url"), "{err}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, json_value, tricky_text};
    use proptest::prelude::*;

    /// Text from nothing to far past every limit: a tricky piece repeated.
    fn part() -> impl Strategy<Value = Option<String>> {
        prop::option::of(
            (tricky_text(12), prop_oneof![1usize..4, 1usize..800]).prop_map(|(t, n)| t.repeat(n)),
        )
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            (
                prop::sample::select(Event::ALL.to_vec()),
                any::<bool>(),
                part(),
                part(),
                part(),
            ),
            (part(), part(), part(), part(), part(), part()),
            (
                prop::option::of(prop_oneof!["[0-9]{1,20}", tricky_text(6)]),
                prop::option::of(Just("0123456789abcdef0123456789abcdef01234567".to_owned())),
            ),
        )
            .prop_map(
                |(
                    (event, fr, environment, author, commit_message),
                    (url, run_url, details, title, description, commit_url),
                    (mention_role, sha),
                )| Message {
                    event,
                    locale: if fr { Locale::Fr } else { Locale::En },
                    environment,
                    author,
                    commit_message,
                    url,
                    run_url,
                    details,
                    title,
                    description,
                    commit_url,
                    mention_role,
                    sha,
                },
            )
    }

    /// Every string of a JSON value.
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(m) => m.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }

    fn webhook_and_token() -> impl Strategy<Value = (Webhook, String)> {
        "[A-Za-z0-9_-]{16,24}".prop_map(|token| {
            let url = format!("https://discord.com/api/webhooks/123/{token}");
            (Webhook::new(&url).expect("a webhook URL"), token)
        })
    }

    proptest! {
        #![proptest_config(config(2))]

        /// Whatever the message says, every Discord limit holds, a cut is marked "…", fences
        /// stay balanced, and nobody is pinged but an explicit role on a failure.
        #[test]
        fn every_limit_holds_and_nobody_is_pinged(m in message()) {
            let body = payload(&m);
            let e = &body["embeds"][0];
            let len = |v: &Value| v.as_str().map_or(0, char_len);
            prop_assert!(len(&e["title"]) <= TITLE_MAX);
            prop_assert!(len(&e["description"]) <= DESCRIPTION_MAX);
            prop_assert!(len(&e["footer"]["text"]) <= FOOTER_MAX);
            let fields = e["fields"].as_array().cloned().unwrap_or_default();
            prop_assert!(fields.len() <= FIELDS_MAX);
            let mut total = len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
            for f in &fields {
                prop_assert!(len(&f["name"]) <= FIELD_NAME_MAX && len(&f["value"]) <= FIELD_VALUE_MAX);
                prop_assert!(len(&f["value"]) > 0);
                total += len(&f["name"]) + len(&f["value"]);
            }
            prop_assert!(total <= EMBED_TOTAL_MAX, "{}", total);
            prop_assert!(len(&body["content"]) <= CONTENT_MAX);
            if let Some(title) = m.title.as_deref().map(str::trim).filter(|t| char_len(t) > TITLE_MAX) {
                prop_assert!(e["title"].as_str().unwrap().ends_with(ELLIPSIS_MARK), "{}", char_len(title));
            }
            let d = e["description"].as_str().unwrap_or("");
            prop_assert_eq!(d.matches("```").count() % 2, 0, "fences balanced: {:?}", d);
            let mut all = Vec::new();
            strings(&body["embeds"], &mut all);
            for s in &all {
                prop_assert!(!s.contains("@everyone") && !s.contains("@here"), "{:?}", s);
            }
            prop_assert_eq!(&body["allowed_mentions"]["parse"], &json!([]));
            let role = body["allowed_mentions"]["roles"].as_array().cloned().unwrap_or_default();
            if !role.is_empty() {
                prop_assert!(m.event.is_failure());
                prop_assert_eq!(role.len(), 1);
                prop_assert_eq!(Some(role[0].as_str().unwrap()), m.mention_role.as_deref().map(str::trim));
            }
        }

        /// Any answer (status, JSON or not, `retry_after` of any type, `Retry-After`): a bounded
        /// decision, and a failure that never holds the token.
        #[test]
        fn any_answer_is_a_bounded_decision_without_the_token(
            (webhook, token) in webhook_and_token(),
            status in prop_oneof![Just(429u16), Just(404), Just(400), Just(401), Just(503), Just(200), 100u16..600],
            fields in prop::collection::vec((prop::sample::select(vec!["message", "code", "errors", "retry_after", "global", "id"]), json_value()), 0..5),
            echo in any::<bool>(),
            retry_after in prop::option::of(prop_oneof!["[0-9.e+-]{1,12}", tricky_text(6)]),
            raw in prop::option::of(tricky_text(20)),
            last in any::<bool>(),
            edit in any::<bool>(),
            long in prop::option::of((tricky_text(8), 1usize..400)),
        ) {
            let mut body: serde_json::Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if echo {
                body.insert("message".into(), json!(format!("bad https://discord.com/api/webhooks/123/{token} {token}")));
                body.insert("errors".into(), json!({"content": [token.clone()]}));
            }
            if let Some((text, n)) = long {
                // A long message, and errors whose text reaches the token near their cut.
                body.insert("message".into(), json!(text.repeat(n)));
                body.insert("errors".into(), json!({"content": [text.repeat(n), token.clone()]}));
            }
            let r = Response {
                status,
                headers: retry_after.map(|v| ("retry-after".to_owned(), v)).into_iter().collect(),
                body: raw.map_or_else(|| Value::Object(body).to_string().into_bytes(), String::into_bytes),
            };
            let mut report = SendReport { attempts: 1, ..SendReport::default() };
            let next = on_response(&webhook, &r, edit.then_some("42"), last, &mut report);
            match next {
                Next::Retry(wait) => {
                    prop_assert!(!last);
                    prop_assert!(wait <= MAX_RATE_LIMIT_WAIT + Duration::from_millis(50), "{:?}", wait);
                    prop_assert!(status == 429 || (500..600).contains(&status));
                }
                Next::Done => prop_assert!(report.sent || report.failure.is_some()),
            }
            prop_assert_eq!(report.sent, (200..300).contains(&status));
            if let Some(failure) = &report.failure {
                prop_assert!(!failure.contains(&token[..8]), "{}", failure);
                prop_assert!(char_len(failure) <= 1000, "{} characters", char_len(failure));
            }
        }

        /// Any text as a webhook URL: refused without repeating it, or a webhook.
        #[test]
        fn any_webhook_text_is_refused_without_echo(
            junk in tricky_text(30), token in "[A-Za-z0-9]{12}", at in 0usize..60,
        ) {
            let url = format!("https://discord.com/api/webhooks/9/Tk{token}");
            let at = url.char_indices().map(|(i, _)| i).nth(at).unwrap_or(url.len());
            let mangled = format!("{}{junk}{}", &url[..at], &url[at..]);
            for text in [junk.clone(), mangled] {
                if let Err(e) = Webhook::new(&text) {
                    prop_assert!(!e.to_string().contains(&token), "{}", e);
                }
            }
        }
    }

    /// The mark a cut ends with.
    const ELLIPSIS_MARK: char = '…';
}
