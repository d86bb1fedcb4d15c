//! A stand-in for Discord's execute-webhook endpoint, strict like the real one.
//!
//! `POST /api/webhooks/{id}/{token}` (`?wait=true` → 200 and a message object, else 204) and
//! `PATCH /api/webhooks/{id}/{token}/messages/{message_id}` (200, or 404 code 10008). Bodies are
//! validated as Discord does: JSON, content or embeds present (else 400 code 50006), every
//! length limit (counted in Unicode scalar values) including the 6000-character total of the
//! embeds (else 400 code 50035 "Invalid Form Body" with an `errors` tree). An unknown webhook id
//! or token gets 404 code 10015. A queue of forced answers (429, 5xx, 404…) is served first.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::server::{Recorded, Reply, TestServer};

/// The webhook id the stand-in answers to.
pub const WEBHOOK_ID: &str = "1187654321098765432";
/// The webhook token the stand-in answers to (tests check it never leaks).
pub const WEBHOOK_TOKEN: &str = "sTaNdInToKeN-9f3a_b7c1e2d4Q8zXw";
/// The channel messages land in.
pub const CHANNEL_ID: &str = "1100000000000000001";

#[derive(Default)]
struct State {
    forced: VecDeque<Reply>,
    /// Messages by id, in their latest version.
    messages: BTreeMap<String, Value>,
    /// Every accepted body (posts and edits), in order.
    accepted: Vec<Value>,
    next_id: u64,
}

/// A running Discord stand-in; stops when dropped.
pub struct DiscordStandIn {
    server: TestServer,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for DiscordStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordStandIn")
            .field("url", &self.server.url())
            .finish()
    }
}

impl DiscordStandIn {
    /// Starts the stand-in on a free loopback port.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            next_id: 1_300_000_000_000_000_000,
            ..State::default()
        }));
        let handler_state = Arc::clone(&state);
        let server = TestServer::start(move |req| handle(req, &handler_state));
        DiscordStandIn { server, state }
    }

    /// The webhook URL to give the binary (a secret in real life).
    pub fn webhook_url(&self) -> String {
        format!(
            "{}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}",
            self.server.url()
        )
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Queues an answer served (whatever the request) before the normal behaviour resumes.
    pub fn force(&self, reply: Reply) -> &Self {
        self.state.lock().expect("state").forced.push_back(reply);
        self
    }

    /// Every body Discord accepted (posts and edits), parsed.
    pub fn accepted(&self) -> Vec<Value> {
        self.state.lock().expect("state").accepted.clone()
    }

    /// Every message posted, by id, in its latest version (as Discord returns it).
    pub fn messages(&self) -> BTreeMap<String, Value> {
        self.state.lock().expect("state").messages.clone()
    }

    /// Every raw request received, forced answers included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }

    /// Creates a message directly (as if posted earlier) and returns its id, for edit tests.
    pub fn seed_message(&self, content: &str) -> String {
        let mut state = self.state.lock().expect("state");
        let body = json!({"content": content});
        let msg = message_object(&mut state, &body, None);
        msg["id"].as_str().unwrap_or_default().to_owned()
    }
}

/// A 429 like Discord's (the user-scope fixture) asking to wait `retry_after` seconds.
pub fn rate_limited(retry_after: f64) -> Reply {
    Reply::json(
        429,
        &json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false}),
    )
    .header("Retry-After", format!("{}", retry_after.ceil() as u64))
    .header("X-RateLimit-Limit", "5")
    .header("X-RateLimit-Remaining", "0")
    .header("X-RateLimit-Reset-After", format!("{retry_after}"))
    .header("X-RateLimit-Bucket", "abcd1234")
    .header("X-RateLimit-Scope", "user")
}

/// A server error, as Cloudflare in front of Discord sends them.
pub fn server_error(status: u16) -> Reply {
    Reply::json(
        status,
        &json!({"message": "Internal Server Error", "code": 0}),
    )
}

/// The answer for a deleted webhook.
pub fn unknown_webhook() -> Reply {
    Reply::json(404, &json!({"message": "Unknown Webhook", "code": 10015}))
}

fn handle(req: &Recorded, state: &Mutex<State>) -> Reply {
    let mut state = state.lock().expect("state");
    if let Some(reply) = state.forced.pop_front() {
        return reply;
    }
    let path: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    // /api[/vN]/webhooks/{id}/{token}[/messages/{mid}]
    let rest = match path.as_slice() {
        ["api", "webhooks", rest @ ..] => rest,
        ["api", v, "webhooks", rest @ ..] if v.starts_with('v') => rest,
        _ => return error(404, 0, "404: Not Found"),
    };
    let (id, token, edit) = match rest {
        [id, token] => (*id, *token, None),
        [id, token, "messages", mid] => (*id, *token, Some(*mid)),
        _ => return error(404, 0, "404: Not Found"),
    };
    if id != WEBHOOK_ID || token != WEBHOOK_TOKEN {
        return unknown_webhook();
    }
    let method = req.method.as_str();
    match (method, edit) {
        ("POST", None) | ("PATCH", Some(_)) => {}
        _ => return error(405, 0, "405: Method Not Allowed"),
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return error(400, 50006, "Cannot send an empty message");
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(m)) => Value::Object(m),
        _ => return error(400, 50109, "The request body contains invalid JSON."),
    };
    if let Some(mid) = edit {
        if !state.messages.contains_key(mid) {
            return error(404, 10008, "Unknown Message");
        }
        if let Err(reply) = validate(&body, true) {
            return reply;
        }
        let mut msg = state.messages.get(mid).cloned().unwrap_or_default();
        for key in ["content", "embeds", "allowed_mentions"] {
            if let Some(v) = body.get(key) {
                msg[key] = v.clone();
            }
        }
        msg["edited_timestamp"] = json!("2026-01-01T00:00:00.000000+00:00");
        state.messages.insert(mid.to_owned(), msg.clone());
        state.accepted.push(body);
        return Reply::json(200, &msg);
    }
    if let Err(reply) = validate(&body, false) {
        return reply;
    }
    let msg = message_object(&mut state, &body, req.query("thread_id"));
    state.accepted.push(body);
    if req.query("wait") == Some("true") {
        Reply::json(200, &msg)
    } else {
        Reply::status(204)
    }
}

fn message_object(state: &mut State, body: &Value, thread: Option<&str>) -> Value {
    state.next_id += 1;
    let id = state.next_id.to_string();
    let roles = body["allowed_mentions"]["roles"].clone();
    let msg = json!({
        "id": id,
        "type": 0,
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "channel_id": thread.unwrap_or(CHANNEL_ID),
        "author": {"bot": true, "id": WEBHOOK_ID, "username": "lastgood", "avatar": null, "discriminator": "0000"},
        "attachments": [],
        "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "mentions": [],
        "mention_roles": if roles.is_array() { roles } else { json!([]) },
        "pinned": false,
        "mention_everyone": false,
        "tts": false,
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "flags": 0,
        "components": [],
        "webhook_id": WEBHOOK_ID,
    });
    state.messages.insert(id, msg.clone());
    msg
}

fn error(status: u16, code: u64, message: &str) -> Reply {
    Reply::json(status, &json!({"message": message, "code": code}))
}

/// Characters as Discord counts them: Unicode scalar values.
pub fn discord_len(s: &str) -> usize {
    s.chars().count()
}

/// Validates a webhook body as Discord does; the error is the 400 Discord would send.
pub fn validate(body: &Value, edit: bool) -> Result<(), Reply> {
    let mut errors = Map::new();
    let mut push = |path: &[&str], code: &str, message: String| {
        let mut node = &mut errors;
        for part in path {
            node = node
                .entry((*part).to_owned())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("object");
        }
        let list = node.entry("_errors").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(json!({"code": code, "message": message}));
        }
    };
    let max_len = |push: &mut dyn FnMut(&[&str], &str, String),
                   path: &[&str],
                   v: &Value,
                   max: usize,
                   required: bool| {
        match v {
            Value::Null if required => {
                push(path, "BASE_TYPE_REQUIRED", "This field is required".into());
            }
            Value::Null => {}
            Value::String(s) => {
                if discord_len(s) > max {
                    push(
                        path,
                        "BASE_TYPE_MAX_LENGTH",
                        format!("Must be {max} or fewer in length."),
                    );
                } else if required && s.trim().is_empty() {
                    push(path, "BASE_TYPE_REQUIRED", "This field is required".into());
                }
            }
            _ => push(
                path,
                "STRING_TYPE_CONVERT",
                "Could not interpret as string.".into(),
            ),
        }
    };

    let content = body.get("content").cloned().unwrap_or(Value::Null);
    max_len(&mut push, &["content"], &content, 2000, false);
    let embeds = body.get("embeds").cloned().unwrap_or(Value::Null);
    let mut total = 0usize;
    let mut embed_count = 0usize;
    match &embeds {
        Value::Null => {}
        Value::Array(list) => {
            embed_count = list.len();
            if list.len() > 10 {
                push(
                    &["embeds"],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 10 or fewer in length.".into(),
                );
            }
            for (i, e) in list.iter().enumerate() {
                let i = i.to_string();
                let i = i.as_str();
                if !e.is_object() {
                    push(
                        &["embeds", i],
                        "MODEL_TYPE_CONVERT",
                        "Only dictionaries may be used in a ModelType".into(),
                    );
                    continue;
                }
                let s = |v: &Value| v.as_str().map_or(0, discord_len);
                max_len(&mut push, &["embeds", i, "title"], &e["title"], 256, false);
                max_len(
                    &mut push,
                    &["embeds", i, "description"],
                    &e["description"],
                    4096,
                    false,
                );
                max_len(
                    &mut push,
                    &["embeds", i, "footer", "text"],
                    &e["footer"]["text"],
                    2048,
                    e.get("footer").is_some(),
                );
                max_len(
                    &mut push,
                    &["embeds", i, "author", "name"],
                    &e["author"]["name"],
                    256,
                    e.get("author").is_some(),
                );
                total += s(&e["title"])
                    + s(&e["description"])
                    + s(&e["footer"]["text"])
                    + s(&e["author"]["name"]);
                match &e["color"] {
                    Value::Null => {}
                    Value::Number(n) if n.as_u64().is_some_and(|c| c <= 0xFF_FF_FF) => {}
                    _ => push(
                        &["embeds", i, "color"],
                        "NUMBER_TYPE_MAX",
                        "int value should be <= 16777215 and >= 0.".into(),
                    ),
                }
                if let Some(ts) = e.get("timestamp")
                    && !ts.as_str().is_some_and(looks_iso8601)
                {
                    push(
                        &["embeds", i, "timestamp"],
                        "DATE_TIME_TYPE_PARSE",
                        "Could not parse timestamp. Should be ISO8601.".into(),
                    );
                }
                match &e["fields"] {
                    Value::Null => {}
                    Value::Array(fields) => {
                        if fields.len() > 25 {
                            push(
                                &["embeds", i, "fields"],
                                "BASE_TYPE_MAX_LENGTH",
                                "Must be 25 or fewer in length.".into(),
                            );
                        }
                        for (j, f) in fields.iter().enumerate() {
                            let j = j.to_string();
                            max_len(
                                &mut push,
                                &["embeds", i, "fields", &j, "name"],
                                &f["name"],
                                256,
                                true,
                            );
                            max_len(
                                &mut push,
                                &["embeds", i, "fields", &j, "value"],
                                &f["value"],
                                1024,
                                true,
                            );
                            if !matches!(f["inline"], Value::Null | Value::Bool(_)) {
                                push(
                                    &["embeds", i, "fields", &j, "inline"],
                                    "BOOLEAN_TYPE_CONVERT",
                                    "Must be either true or false.".into(),
                                );
                            }
                            total += s(&f["name"]) + s(&f["value"]);
                        }
                    }
                    _ => push(
                        &["embeds", i, "fields"],
                        "LIST_TYPE_CONVERT",
                        "Only iterables may be used in a ListType".into(),
                    ),
                }
            }
        }
        _ => push(
            &["embeds"],
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType".into(),
        ),
    }
    if total > 6000 {
        push(
            &["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000".into(),
        );
    }
    match body.get("allowed_mentions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(am)) => {
            let parse = am
                .get("parse")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for p in &parse {
                if !matches!(p.as_str(), Some("roles" | "users" | "everyone")) {
                    push(
                        &["allowed_mentions", "parse"],
                        "ENUM_TYPE_COERCE",
                        format!("Value \"{p}\" is not a valid enum value."),
                    );
                }
            }
            for kind in ["roles", "users"] {
                match am.get(kind) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(ids)) => {
                        if parse.iter().any(|p| p == kind) {
                            push(
                                &["allowed_mentions"],
                                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                                format!(
                                    "parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive."
                                ),
                            );
                        }
                        if ids.len() > 100 {
                            push(
                                &["allowed_mentions", kind],
                                "BASE_TYPE_MAX_LENGTH",
                                "Must be 100 or fewer in length.".into(),
                            );
                        }
                        for id in ids {
                            if !id.as_str().is_some_and(|s| {
                                !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
                            }) {
                                push(
                                    &["allowed_mentions", kind],
                                    "NUMBER_TYPE_COERCE",
                                    format!("Value \"{id}\" is not snowflake."),
                                );
                            }
                        }
                    }
                    _ => push(
                        &["allowed_mentions", kind],
                        "LIST_TYPE_CONVERT",
                        "Only iterables may be used in a ListType".into(),
                    ),
                }
            }
        }
        _ => push(
            &["allowed_mentions"],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType".into(),
        ),
    }
    if !errors.is_empty() {
        return Err(Reply::json(
            400,
            &json!({"code": 50035, "message": "Invalid Form Body", "errors": Value::Object(errors)}),
        ));
    }
    let has_content = content.as_str().is_some_and(|c| !c.trim().is_empty());
    if !edit && !has_content && embed_count == 0 {
        return Err(error(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

/// `2026-01-01T00:00:00Z`-like: date, `T`, time, optional fraction and zone.
fn looks_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: Result<(), Reply>) -> u16 {
        r.err().map_or(0, |r| r.status)
    }

    fn body_of(r: Result<(), Reply>) -> Value {
        serde_json::from_slice(&r.expect_err("an error").body).expect("json")
    }

    #[test]
    fn limits_are_enforced_like_discord() {
        let ok = json!({"embeds": [{"title": "🚀".repeat(256), "footer": {"text": "x"}}], "allowed_mentions": {"parse": []}});
        assert_eq!(status(validate(&ok, false)), 0);
        let long = json!({"embeds": [{"title": "🚀".repeat(257)}]});
        let b = body_of(validate(&long, false));
        assert_eq!(b["code"], 50035);
        assert_eq!(
            b["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"],
            "BASE_TYPE_MAX_LENGTH"
        );
        let total = json!({"embeds": [{"description": "a".repeat(4096), "fields": [{"name": "n", "value": "v".repeat(1024)}, {"name": "n", "value": "v".repeat(1024)}]}]});
        assert_eq!(
            body_of(validate(&total, false))["errors"]["embeds"]["_errors"][0]["code"],
            "MAX_EMBED_SIZE_EXCEEDED"
        );
        assert_eq!(body_of(validate(&json!({}), false))["code"], 50006);
        assert_eq!(
            status(validate(&json!({"content": "x".repeat(2001)}), false)),
            400
        );
        let empty_field = json!({"embeds": [{"fields": [{"name": "n", "value": ""}]}]});
        assert_eq!(status(validate(&empty_field, false)), 400);
        let exclusive =
            json!({"content": "x", "allowed_mentions": {"parse": ["roles"], "roles": ["1"]}});
        assert_eq!(status(validate(&exclusive, false)), 400);
        let eleven = json!({"embeds": vec![json!({"title": "t"}); 11]});
        assert_eq!(status(validate(&eleven, false)), 400);
    }
}
