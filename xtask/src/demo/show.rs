//! What the person running the demo sees: the timeline (one line per step), Discord messages as
//! the channel shows them, Markdown summaries as text, the version history, and a progress line
//! on stderr while something is waited for.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How a step ended, as the timeline marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// It did what the story expects of a good outcome.
    Ok,
    /// A refusal or a rollback: the story expects it, and it protects the service.
    Guard,
    /// Something failed.
    Bad,
    /// Neither: information.
    Info,
}

impl Mark {
    fn glyph(self) -> &'static str {
        match self {
            Mark::Ok => "✔",
            Mark::Guard => "↩",
            Mark::Bad => "✘",
            Mark::Info => "·",
        }
    }
}

/// The timeline on stdout.
pub struct Timeline {
    start: Instant,
    color: bool,
}

impl Timeline {
    /// A timeline whose clock starts now; colours only on a terminal.
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Time since the story started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// When the clock started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// A section title.
    pub fn heading(&self, title: &str) {
        println!();
        println!("{}", self.bold(&format!("── {title} ")));
    }

    /// One step: when it started, where, what, how it ended and how long it took.
    pub fn step(
        &self,
        at: Duration,
        env: &str,
        what: &str,
        mark: Mark,
        outcome: &str,
        took: Duration,
    ) {
        let mark = self.paint(mark, mark.glyph());
        println!(
            "  {}  {env:<8} {what:<34} {mark} {outcome}  {}",
            clock(at),
            self.dim(&format!("({})", seconds(took)))
        );
    }

    /// An event without a duration (a push, an operator's action).
    pub fn event(&self, env: &str, what: &str, outcome: &str) {
        println!(
            "  {}  {env:<8} {what:<34} {} {outcome}",
            clock(self.elapsed()),
            self.paint(Mark::Info, Mark::Info.glyph())
        );
    }

    /// Indented detail lines under a step.
    pub fn detail(&self, text: &str) {
        for line in text.lines() {
            println!("{:17}{}", "", line);
        }
    }

    /// A Discord message as the channel shows it: a bar in the embed's colour, the title, the
    /// description, inline fields side by side, the others one a line, the footer.
    pub fn discord(&self, message: &Value, edited: bool) {
        let Some(embed) = message["embeds"].as_array().and_then(|e| e.first()) else {
            if let Some(content) = message["content"].as_str() {
                self.detail(&format!("💬 {content}"));
            }
            return;
        };
        let color = embed["color"].as_u64().unwrap_or(0) as u32;
        let bar = if self.color {
            format!(
                "\x1b[38;2;{};{};{}m┃\x1b[0m",
                color >> 16,
                (color >> 8) & 0xff,
                color & 0xff
            )
        } else {
            "┃".to_owned()
        };
        let mut lines = Vec::new();
        let title = inline_markdown(embed["title"].as_str().unwrap_or(""));
        let footer = embed["footer"]["text"].as_str().unwrap_or("");
        lines.push(format!(
            "{}  {}",
            self.bold(&title),
            self.dim(&format!(
                "[{}]{}{}",
                color_name(color),
                if edited { " (edited)" } else { "" },
                if footer.is_empty() {
                    String::new()
                } else {
                    format!(" · {footer}")
                }
            )),
        ));
        if let Some(description) = embed["description"].as_str() {
            lines.extend(block_markdown(description));
        }
        // Inline fields side by side on one line, the others on the next: the channel's layout,
        // folded to fit a terminal.
        let mut inline = Vec::new();
        let mut block = Vec::new();
        for field in embed["fields"].as_array().into_iter().flatten() {
            let name = inline_markdown(field["name"].as_str().unwrap_or(""));
            let value = inline_markdown(field["value"].as_str().unwrap_or(""));
            let text = format!("{}: {value}", self.bold(&name));
            if field["inline"].as_bool().unwrap_or(false) {
                inline.push(text);
            } else {
                block.push(text);
            }
        }
        for group in [inline, block] {
            if !group.is_empty() {
                lines.push(group.join("   "));
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { "💬 " } else { "   " };
            println!("{:14}{lead}{bar} {line}", "");
        }
    }

    /// A step summary (Markdown) as text: headings without `#`, tables aligned, links as their
    /// text.
    pub fn markdown(&self, md: &str) {
        let mut table: Vec<Vec<String>> = Vec::new();
        let mut out = Vec::new();
        let flush = |table: &mut Vec<Vec<String>>, out: &mut Vec<String>| {
            if table.is_empty() {
                return;
            }
            let cols = table.iter().map(Vec::len).max().unwrap_or(0);
            let widths: Vec<usize> = (0..cols)
                .map(|c| {
                    table
                        .iter()
                        .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in table.drain(..) {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                out.push(cells.join("   ").trim_end().to_owned());
            }
        };
        for line in md.lines() {
            let t = line.trim();
            if t.starts_with('|') {
                let cells: Vec<String> = t
                    .trim_matches('|')
                    .split('|')
                    .map(|c| inline_markdown(c.trim()))
                    .collect();
                if cells
                    .iter()
                    .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
                {
                    continue;
                }
                table.push(cells);
                continue;
            }
            flush(&mut table, &mut out);
            if t.is_empty() {
                continue;
            }
            let t = t.trim_start_matches('#').trim();
            out.push(inline_markdown(t));
        }
        flush(&mut table, &mut out);
        for line in out {
            println!("{:17}{}", "", line);
        }
    }

    /// A plain line.
    pub fn say(&self, text: &str) {
        println!("{text}");
    }

    fn paint(&self, mark: Mark, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match mark {
            Mark::Ok => "32",
            Mark::Guard => "33",
            Mark::Bad => "31",
            Mark::Info => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// Bold on a terminal.
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Dim on a terminal.
    pub fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// `mm:ss.t`.
pub fn clock(d: Duration) -> String {
    let ms = d.as_millis();
    format!(
        "{:02}:{:02}.{}",
        ms / 60_000,
        (ms / 1000) % 60,
        (ms / 100) % 10
    )
}

/// `0.4s`, `12s`, `1m05s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// The name a person would give an embed colour (Discord's palette as lastgood uses it).
fn color_name(color: u32) -> &'static str {
    match color {
        0x2E_CC_71 => "green",
        0xE7_4C_3C => "red",
        0xE6_7E_22 => "orange",
        0x34_98_DB => "blue",
        0x95_A5_A6 => "grey",
        _ => "colour",
    }
}

/// Discord's inline Markdown as a reader sees it: `[text](url)` → text, no backticks or `**`.
pub fn inline_markdown(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find("](").and_then(|close| {
            after[close + 2..]
                .find(')')
                .map(|end| (close, close + 2 + end))
        }) {
            Some((close, end)) => {
                out.push_str(&rest[..open]);
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "").replace('`', "")
}

/// A description: code blocks indented, other lines as inline Markdown.
fn block_markdown(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            code = !code;
            continue;
        }
        if code {
            lines.push(format!("  │ {line}"));
        } else if !line.trim().is_empty() {
            lines.push(inline_markdown(line));
        }
    }
    lines
}

/// A one-line progress indicator on stderr while something is waited for; only on a terminal
/// (and not with `--verbose`, whose live logs would tear it).
pub struct Progress {
    label: String,
    start: Instant,
    live: bool,
    frame: usize,
    last: Instant,
}

impl Progress {
    /// Starts showing `label` (nothing is drawn unless stderr is a terminal and `enabled`).
    pub fn new(label: impl Into<String>, enabled: bool) -> Self {
        Progress {
            label: label.into(),
            start: Instant::now(),
            live: enabled && std::io::stderr().is_terminal(),
            frame: 0,
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Changes the label.
    pub fn set(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    /// Redraws, at most every 100 ms.
    pub fn tick(&mut self) {
        if !self.live || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
        self.frame = (self.frame + 1) % FRAMES.len();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r  {} {}  {}\x1b[K",
            FRAMES[self.frame],
            self.label,
            seconds(self.start.elapsed())
        );
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_links_and_code_read_as_text() {
        assert_eq!(
            inline_markdown("[`abc1234`](https://x/commit/abc) by **Alice** [x"),
            "abc1234 by Alice [x"
        );
        assert_eq!(
            block_markdown("intro\n```\nFAILED test\n```"),
            vec!["intro".to_owned(), "  │ FAILED test".to_owned()]
        );
    }

    #[test]
    fn clocks_and_durations_read_well() {
        assert_eq!(clock(Duration::from_millis(65_432)), "01:05.4");
        assert_eq!(seconds(Duration::from_millis(1234)), "1.2s");
        assert_eq!(seconds(Duration::from_secs(75)), "1m15s");
    }
}
