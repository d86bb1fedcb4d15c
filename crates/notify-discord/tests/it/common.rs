//! Running the binary in a clean environment, and checking that the webhook never leaks.

use lastgood_testkit::discord::{DiscordStandIn, WEBHOOK_TOKEN};
use lastgood_testkit::run::Bin;
use serde_json::Value;

/// The binary with a scrubbed environment, `GITHUB_OUTPUT`/`GITHUB_STEP_SUMMARY` of its own,
/// and the webhook of `discord` in `INPUT_WEBHOOK_URL`.
pub fn cmd(discord: &DiscordStandIn) -> Bin {
    cmd_with_url(&discord.webhook_url())
}

/// Same, with any webhook URL; the run fails the test if the URL, its path or token appears
/// anywhere the binary writes (stdout except `::add-mask::` lines, stderr, outputs, summary).
pub fn cmd_with_url(url: &str) -> Bin {
    let mut bin = Bin::new(assert_cmd::cargo::cargo_bin!("notify-discord"))
        .github_output()
        .summary()
        .input("webhook-url", url)
        .secret(url)
        .secret(WEBHOOK_TOKEN);
    // The token of any webhook-looking URL, and the path that holds it.
    if let Some(path) = url.split("/api/").nth(1) {
        bin = bin.secret(path.split('?').next().unwrap_or(path));
        if let Some(token) = path.split('?').next().and_then(|p| p.rsplit('/').next())
            && token.len() > 3
        {
            bin = bin.secret(token);
        }
    }
    bin
}

/// The only embed of a body.
pub fn embed(body: &Value) -> &Value {
    &body["embeds"][0]
}

/// Characters as Discord counts them.
pub fn len(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

pub const SHA: &str = "acfdb42e5b0c7d9f1a2b3c4d5e6f708192a3b4c5";
