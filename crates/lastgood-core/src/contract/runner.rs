//! The GitHub Actions runner protocol: outputs, job summary, workflow commands, masking.
//!
//! This is the only module that writes to stdout. Outside a runner (`GITHUB_ACTIONS` unset),
//! workflow commands become plain `warning:`/`error:` lines on stderr, so a person at a terminal
//! reads the same story without `::` noise.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use crate::base::error::{Error, Result};
use crate::base::sha::{commit_url, is_full_sha, short_sha};
use crate::contract::context::Context;

/// The runner's side of a job step, and the outputs collected for `--json`.
#[derive(Debug, Default)]
pub struct Runner {
    context: Context,
    json: bool,
    outputs: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl Runner {
    /// Reads the runner's variables (`GITHUB_ACTIONS`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, …).
    pub fn from_env(json: bool) -> Self {
        Runner {
            context: Context::from_env(),
            json,
            outputs: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The job's `GITHUB_*` context, read once.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Whether workflow commands are understood (running inside GitHub Actions).
    pub fn in_runner(&self) -> bool {
        self.context.in_actions
    }

    /// Registers a secret: `::add-mask::` in a runner, and redaction from everything this prints.
    ///
    /// Call before the secret is used for anything.
    pub fn mask(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        // Each line of a multi-line secret is masked (and redacted) on its own too: a log or an
        // error may show one line of it.
        let lines: Vec<&str> = secret
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if self.context.in_actions {
            for line in &lines {
                self.command("add-mask", &[], line);
            }
        }
        self.secrets.push(secret.to_owned());
        if lines.len() > 1 {
            for line in lines {
                if !self.secrets.iter().any(|s| s == line) {
                    self.secrets.push(line.to_owned());
                }
            }
        }
        // Longest first, so a secret containing another is redacted whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Replaces every registered secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// A line of the human-readable log (stderr).
    #[expect(
        clippy::print_stderr,
        reason = "outside a runner (or for usage errors) the log is stderr: stdout carries only the outputs"
    )]
    pub fn info(&self, message: &str) {
        eprintln!("{}", self.redact(message));
    }

    /// A warning: `::warning::` in a runner, `warning: …` on stderr elsewhere.
    #[expect(
        clippy::print_stderr,
        reason = "outside a runner (or for usage errors) the log is stderr: stdout carries only the outputs"
    )]
    pub fn warning(&self, message: &str) {
        let message = self.redact(message);
        if self.context.in_actions {
            self.command("warning", &[], &message);
        } else {
            eprintln!("warning: {message}");
        }
    }

    /// An error annotation: `::error::` in a runner, `error: …` on stderr elsewhere.
    pub fn error(&self, message: &str) {
        self.error_titled(None, message);
    }

    /// An error annotation with a title.
    #[expect(
        clippy::print_stderr,
        reason = "outside a runner (or for usage errors) the log is stderr: stdout carries only the outputs"
    )]
    pub fn error_titled(&self, title: Option<&str>, message: &str) {
        let message = self.redact(message);
        if self.context.in_actions {
            let props: Vec<(&str, &str)> = title.map(|t| ("title", t)).into_iter().collect();
            self.command("error", &props, &message);
        } else {
            match title {
                Some(t) => eprintln!("error: {t}: {message}"),
                None => eprintln!("error: {message}"),
            }
        }
    }

    /// Opens a folded group of log lines (`::group::`); close it with [`Runner::end_group`].
    #[expect(
        clippy::print_stderr,
        reason = "outside a runner (or for usage errors) the log is stderr: stdout carries only the outputs"
    )]
    pub fn group(&self, title: &str) {
        if self.context.in_actions {
            self.command("group", &[], &self.redact(title));
        } else {
            eprintln!("── {} ──", self.redact(title));
        }
    }

    /// Closes the group opened by [`Runner::group`].
    pub fn end_group(&self) {
        if self.context.in_actions {
            self.command("endgroup", &[], "");
        }
    }

    #[expect(
        clippy::print_stdout,
        reason = "workflow commands are read from stdout by the runner"
    )]
    fn command(&self, name: &str, props: &[(&str, &str)], message: &str) {
        println!("{}", format_command(name, props, message));
    }

    /// Sets an output: appended to `GITHUB_OUTPUT` and kept for `--json`.
    ///
    /// A value containing a registered secret is refused (the runner would refuse it too).
    pub fn output(&mut self, name: &str, value: &str) -> Result<()> {
        if self.secrets.iter().any(|s| value.contains(s.as_str())) {
            return Err(Error::Environment(format!(
                "output `{name}` would contain a secret; it was not written"
            )));
        }
        if let Some(path) = &self.context.output_file {
            let entry = format_output(name, value, &random_delimiter()?)?;
            append(path, &entry)?;
        }
        self.outputs.retain(|(n, _)| n != name);
        self.outputs.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// The outputs set so far, in order.
    pub fn outputs(&self) -> &[(String, String)] {
        &self.outputs
    }

    /// Appends Markdown to the job summary, when the runner provides one.
    pub fn summary(&self, markdown: &str) -> Result<()> {
        if let Some(path) = &self.context.summary_file {
            let mut text = self.redact(markdown);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            append(path, &text)?;
        }
        Ok(())
    }

    /// A Markdown link to a commit when the repository is known, else the short SHA in code.
    pub fn commit_link(&self, sha: &str) -> String {
        let short = short_sha(sha);
        match self.commit_url(sha) {
            Some(url) => format!("[`{short}`]({url})"),
            None => format!("`{short}`"),
        }
    }

    /// The commit's page when the repository is known and `sha` is a full SHA.
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        match (&self.context.server_url, &self.context.repository) {
            (Some(server), Some(repo)) if is_full_sha(sha) => Some(commit_url(server, repo, sha)),
            _ => None,
        }
    }

    /// The URL of the current workflow run, when the runner's variables name it.
    pub fn run_url(&self) -> Option<String> {
        self.context.run_url()
    }

    /// Prints the `--json` object on stdout, if asked for. Call once, at the end.
    #[expect(
        clippy::print_stdout,
        reason = "--json is the binary's stdout contract"
    )]
    pub fn finish(&self) {
        if self.json {
            let map: serde_json::Map<String, serde_json::Value> = self
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            println!("{}", serde_json::Value::Object(map));
        }
    }
}

/// Replaces every secret in `text` by `***`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

/// Escapes a workflow command's message: `%`, `\r`, `\n`.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: the message escapes plus `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::name prop=value,prop=value::message`, escaped as the runner expects.
fn format_command(name: &str, props: &[(&str, &str)], message: &str) -> String {
    let mut line = format!("::{name}");
    for (i, (k, v)) in props.iter().enumerate() {
        line.push(if i == 0 { ' ' } else { ',' });
        line.push_str(k);
        line.push('=');
        line.push_str(&escape_property(v));
    }
    line.push_str("::");
    line.push_str(&escape_data(message));
    line
}

/// One `GITHUB_OUTPUT` entry: `name<<DELIM\nvalue\nDELIM\n`; refused if the name or the value
/// holds DELIM (as `@actions/core` does) or the name is not [`is_output_name`].
fn format_output(name: &str, value: &str, delimiter: &str) -> Result<String> {
    if !is_output_name(name) {
        // Names come from the specs, never from outside: a bad one is a bug of lastgood.
        return Err(Error::Environment(format!(
            "{name:?} is not a valid output name (letters, digits, `-` and `_` only); it was not written: this is a bug of lastgood, please report it"
        )));
    }
    if name.contains(delimiter) || value.contains(delimiter) {
        return Err(Error::Environment(format!(
            "output `{name}` contains the delimiter `{delimiter}`; it was not written"
        )));
    }
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Whether `name` can be written as `name<<DELIM` and read back as exactly `name`: ASCII
/// letters, digits, `-` and `_`. (`=` would make the runner read `name=value`, `<` moves where
/// it finds `<<`, a line break ends the line.)
fn is_output_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `ghadelimiter_` followed by a random UUID (v4), as `@actions/core` does.
fn random_delimiter() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Environment(format!("no randomness from the OS: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "ghadelimiter_{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn append(path: &PathBuf, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io("append to", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::spec::ALL;

    #[test]
    fn delimiter_is_random_and_shaped_like_the_toolkit() {
        let a = random_delimiter().unwrap();
        let b = random_delimiter().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ghadelimiter_"));
        assert_eq!(a.len(), "ghadelimiter_".len() + 36);
    }

    #[test]
    fn output_is_a_heredoc_and_refuses_its_delimiter() {
        let d = "ghadelimiter_x";
        assert_eq!(
            format_output("a", "1\n2", d).unwrap(),
            "a<<ghadelimiter_x\n1\n2\nghadelimiter_x\n"
        );
        assert!(format_output("a", "evil\nghadelimiter_x\nb=forged", d).is_err());
        assert!(format_output("ghadelimiter_x", "v", d).is_err());
        assert!(format_output("a=b", "v", d).is_err());
    }

    #[test]
    fn a_name_that_would_change_the_file_format_is_refused() {
        // Regression (fuzzing): `a<` was written as `a<<<DELIM`, which the runner reads as a
        // heredoc of `a` closed by a line `<DELIM` that never comes, so the step's outputs were
        // all lost; `a<<b` likewise. Only letters, digits, `-` and `_` make a name.
        let d = "ghadelimiter_x";
        for name in [
            "a<", "a<<b", "<", "<<", "a b", " a", "a\tb", "a\u{0}", "é", "",
        ] {
            let err = format_output(name, "v", d).expect_err(name);
            assert!(err.to_string().contains("not a valid output name"), "{err}");
        }
        assert!(format_output("failure-reason_2", "v", d).is_ok());
        for spec in ALL {
            for output in spec.outputs {
                assert!(
                    format_output(output.name, "v", d).is_ok(),
                    "{}",
                    output.name
                );
            }
        }
    }

    #[test]
    fn commands_are_escaped() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        assert_eq!(
            format_command(
                "error",
                &[("title", "deploy: failed, badly")],
                "line1\nline2"
            ),
            "::error title=deploy%3A failed%2C badly::line1%0Aline2"
        );
        assert_eq!(format_command("endgroup", &[], ""), "::endgroup::");
    }

    #[test]
    fn secrets_are_redacted_and_refused_as_outputs() {
        let mut r = Runner::default();
        r.mask("https://discord.com/api/webhooks/1/tok");
        r.mask("");
        assert_eq!(
            r.redact("POST https://discord.com/api/webhooks/1/tok failed"),
            "POST *** failed"
        );
        assert!(
            r.output("x", "see https://discord.com/api/webhooks/1/tok")
                .is_err()
        );
        assert!(r.output("x", "fine").is_ok());
        assert_eq!(r.outputs(), &[("x".to_owned(), "fine".to_owned())]);
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_redacted() {
        let mut r = Runner::default();
        r.mask("-----BEGIN KEY-----\r\n  line-one-secret \nline-two-secret\n");
        let text = r.redact("got line-two-secret and line-one-secret");
        assert_eq!(text, "got *** and ***");
        assert!(r.output("x", "line-one-secret").is_err());
        // A secret containing another is redacted whole, whatever the masking order.
        let mut r = Runner::default();
        r.mask("tok");
        r.mask("https://h/webhooks/1/tok");
        assert_eq!(r.redact("at https://h/webhooks/1/tok"), "at ***");
    }

    #[test]
    fn output_file_gets_every_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut r = Runner {
            context: Context {
                output_file: Some(path.clone()),
                ..Context::default()
            },
            ..Runner::default()
        };
        r.output("healthy", "true").unwrap();
        r.output("reason", "two\nlines").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("healthy<<ghadelimiter_"));
        assert!(text.contains("\ntwo\nlines\nghadelimiter_"));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, scratch_dir, tricky_text};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The next line of `text` from `at`, as the runner reads it on Linux: it ends at `\n` only.
    fn read_line<'a>(text: &'a str, at: &mut usize) -> Option<&'a str> {
        let start = *at;
        if start >= text.len() {
            return None;
        }
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        *at = (end + 1).min(text.len());
        Some(&text[start..end])
    }

    /// `GITHUB_OUTPUT` read the way the runner reads it (actions/runner, `FileCommandManager`):
    /// blank lines skipped; `name=value` when a `=` comes before any `<<`; else a heredoc
    /// `name<<DELIM` whose value is every line up to one that is exactly DELIM. `Err` where the
    /// runner fails the step.
    fn runner_reads(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
        let mut outputs = BTreeMap::new();
        let mut at = 0;
        while let Some(line) = read_line(text, &mut at) {
            if line.is_empty() {
                continue;
            }
            let (eq, heredoc) = (line.find('='), line.find("<<"));
            match (eq, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    outputs.insert(line[..e].to_owned(), line[e + 1..].to_owned());
                }
                (_, Some(h)) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    if name.is_empty() || delimiter.is_empty() {
                        return Err(format!("invalid format {line:?}"));
                    }
                    let (start, mut end) = (at, at);
                    loop {
                        match read_line(text, &mut at) {
                            None => return Err(format!("no line {delimiter:?} closes {name}")),
                            Some(l) if l == delimiter => break,
                            Some(_) => end = at - 1,
                        }
                    }
                    outputs.insert(name.to_owned(), text[start..end.max(start)].to_owned());
                }
                _ => return Err(format!("invalid format {line:?}")),
            }
        }
        Ok(outputs)
    }

    fn runner_with_file() -> (tempfile::TempDir, PathBuf, Runner) {
        let dir = scratch_dir();
        let path = dir.path().join("output");
        let runner = Runner {
            context: Context {
                output_file: Some(path.clone()),
                ..Context::default()
            },
            ..Runner::default()
        };
        (dir, path, runner)
    }

    #[test]
    fn the_model_of_the_runner_reads_what_it_documents() {
        let text = "a=1\n\nb<<EOF\nx\n\ny=2\nEOF\nc<<E\n\nE\nd=e<<f\n";
        let o = runner_reads(text).unwrap();
        assert_eq!(o["a"], "1");
        assert_eq!(o["b"], "x\n\ny=2");
        assert_eq!(o["c"], "");
        assert_eq!(o["d"], "e<<f");
        assert!(runner_reads("a<<<D\nv\nD\n").is_err(), "`a<` never closes");
        assert!(runner_reads("oops\n").is_err());
    }

    proptest! {
        #![proptest_config(config(4))]

        /// Whatever the values (line breaks, `=`, `<<`, `\r`, delimiter look-alikes), the
        /// runner reads back exactly the outputs written, the last value of each name.
        #[test]
        fn the_runner_reads_back_exactly_the_outputs_written(
            outputs in prop::collection::vec(
                ("[A-Za-z0-9_-]{1,8}", prop_oneof![
                    tricky_text(40),
                    Just("ghadelimiter_".to_owned()),
                    "[a-z]{0,3}(<<|=|\r|\n|ghadelimiter_)[a-z=<\n]{0,6}",
                ]),
                0..6,
            )
        ) {
            let (_dir, path, mut runner) = runner_with_file();
            let mut expected = BTreeMap::new();
            for (name, value) in &outputs {
                runner.output(name, value).unwrap();
                expected.insert(name.clone(), value.clone());
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            prop_assert_eq!(runner_reads(&text), Ok(expected.clone()), "{}", text);
            let kept: BTreeMap<String, String> = runner.outputs().iter().cloned().collect();
            prop_assert_eq!(kept, expected);
        }

        /// Any name: refused with nothing written, or read back as exactly itself beside the
        /// outputs around it.
        #[test]
        fn no_name_can_forge_another_output(name in tricky_text(12), value in tricky_text(12)) {
            let (_dir, path, mut runner) = runner_with_file();
            runner.output("before", "1").unwrap();
            let accepted = runner.output(&name, &value).is_ok();
            runner.output("after", "2").unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let read = runner_reads(&text);
            let mut expected = BTreeMap::from([
                ("before".to_owned(), "1".to_owned()),
                ("after".to_owned(), "2".to_owned()),
            ]);
            prop_assert_eq!(accepted, is_output_name(&name));
            if accepted {
                expected.insert(name.clone(), value.clone());
                // The name may be `after` itself: written later, the later value wins.
                if name == "after" {
                    expected.insert(name.clone(), "2".to_owned());
                }
            }
            prop_assert_eq!(read, Ok(expected), "{}", text);
        }

        /// A workflow command carries its message and properties on one line, and unescaping
        /// gives them back.
        #[test]
        fn workflow_commands_stay_on_one_line(message in tricky_text(30), title in tricky_text(12)) {
            let line = format_command("error", &[("title", &title)], &message);
            prop_assert!(!line.contains(['\n', '\r']), "{:?}", line);
            let unescape = |s: &str| s.replace("%0A", "\n").replace("%0D", "\r")
                .replace("%3A", ":").replace("%2C", ",").replace("%25", "%");
            let (head, msg) = line.split_once("::").map(|(_, rest)| rest).unwrap()
                .split_once("::").unwrap();
            prop_assert_eq!(unescape(msg), message.clone());
            let prop = head.strip_prefix("error title=").unwrap();
            prop_assert!(!prop.contains([':', ',']), "{:?}", prop);
            prop_assert_eq!(unescape(prop), title.clone());
        }
    }
}
