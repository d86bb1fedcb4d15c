//! `compare-state-dir`: both environments side by side in the job summary.

use std::path::{Path, PathBuf};

use lastgood_testkit::run::Ran;
use serde_json::Value;

use crate::Site;

/// `state/preprod`: the other environment's state directory, with `last-validated-sha.txt` =
/// `validated` (when given) and `journal` as its journal.
pub(crate) fn preprod(site: &Site, validated: Option<&str>, journal: &[Value]) -> PathBuf {
    let dir = site.fx.tmp.path().join("state/preprod");
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(sha) = validated {
        std::fs::write(dir.join("last-validated-sha.txt"), format!("{sha}\n")).unwrap();
    }
    if !journal.is_empty() {
        let lines: String = journal.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(dir.join("journal.jsonl"), lines).unwrap();
    }
    dir
}

/// Runs with `compare-state-dir` = `other` (commit links to `o/r` when `links`); asserts it
/// succeeds and returns the job summary.
fn compare(site: &Site, other: &Path, links: bool) -> String {
    let bin = if links {
        site.bin().summary_with_links()
    } else {
        site.bin().summary()
    };
    let ran = bin
        .args(["--compare-state-dir", other.to_str().unwrap()])
        .expects(0)
        .run();
    assert!(
        !ran.summary.is_empty(),
        "no summary written: {}",
        ran.stderr
    );
    ran.summary
}

#[test]
fn summary_shows_both_environments_and_the_commits_between() {
    let site = Site::new();
    let prod_head = site.fx.head();
    let v2 = site
        .fx
        .commit(&[("version.txt", "v2\n")], "feat: the second version");
    let v3 = site
        .fx
        .commit(&[("version.txt", "v3\n")], "fix: the third version");
    site.fx.push();
    site.fx.git_app(&["fetch", "-q", "origin"]);

    let preprod = preprod(
        &site,
        Some(&v2),
        &[
            serde_json::json!({"time": "2026-01-01T00:00:00Z", "environment": "preprod", "event": "deploy", "sha": v2, "previous_sha": prod_head, "outcome": "deployed"}),
            serde_json::json!({"time": "2026-01-01T00:01:00Z", "environment": "preprod", "event": "deploy", "sha": v3, "previous_sha": v2, "outcome": "deployed"}),
            serde_json::json!({"time": "2026-01-01T00:02:00Z", "event": "probe", "outcome": "healthy"}),
        ],
    );
    let md = compare(&site, &preprod, true);
    assert!(md.contains("| prod | preprod |"), "{md}");
    assert!(
        md.contains(&format!("/o/r/commit/{v3}")),
        "preprod's deployed SHA: {md}"
    );
    assert!(
        md.contains(&format!("/o/r/commit/{v2}")),
        "preprod's validated SHA: {md}"
    );
    assert!(md.contains(&format!("/o/r/commit/{prod_head}")), "{md}");
    assert!(md.contains("feat: the second version"), "{md}");
    assert!(
        !md.contains("fix: the third version"),
        "only commits up to the validated SHA: {md}"
    );
}

#[test]
fn a_missing_compare_dir_is_an_input_error() {
    let site = Site::new();
    let Ran { code, stderr, .. } = site.run(&["--compare-state-dir", "/nonexistent/preprod"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`compare-state-dir`"), "{stderr}");
}

#[test]
fn a_rolled_back_deploy_leaves_the_previous_sha_in_service() {
    let site = Site::new();
    let head = site.fx.head();
    let bad = site.fx.commit(&[("version.txt", "broken\n")], "broken");
    let preprod = preprod(
        &site,
        None,
        &[
            serde_json::json!({"event": "deploy", "sha": bad, "previous_sha": head, "outcome": "rolled-back"}),
        ],
    );
    let md = compare(&site, &preprod, false);
    let deployed_row = md.lines().find(|l| l.starts_with("| deployed")).unwrap();
    assert_eq!(
        deployed_row,
        format!("| deployed | `{}` | `{}` |", &head[..7], &head[..7]),
        "{md}"
    );
}

#[test]
fn the_other_environments_sha_is_fetched_to_list_the_commits() {
    // As in cd-prod: preprod validated a commit this checkout has not fetched yet (the deploy
    // that fetches comes after this step).
    let site = Site::new();
    let prod_head = site.fx.head();
    let v2 = site
        .fx
        .commit(&[("version.txt", "v2\n")], "feat: validated on preprod");
    site.fx.push();
    let preprod = preprod(&site, Some(&v2), &[]);
    let md = compare(&site, &preprod, false);
    assert!(md.contains("feat: validated on preprod"), "{md}");
    assert!(!md.contains("not in this checkout"), "{md}");
    assert_eq!(site.fx.head(), prod_head, "the checkout did not move");
    assert_eq!(site.fx.read_app("version.txt"), "initial\n");
}

#[test]
fn an_unknown_sha_is_shown_without_the_list_after_trying_to_fetch() {
    let site = Site::new();
    let never_pushed = "0123456789abcdef0123456789abcdef01234567";
    let preprod = preprod(&site, Some(never_pushed), &[]);
    let md = compare(&site, &preprod, false);
    assert!(md.contains("0123456 is not in this checkout yet"), "{md}");
}

#[test]
fn a_compare_fetch_that_hangs_is_killed_with_a_warning() {
    let site = Site::new();
    // An origin that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/repo.git",
        listener.local_addr().unwrap().port()
    );
    site.fx.git_app(&["remote", "set-url", "origin", &url]);
    let never_pushed = "0123456789abcdef0123456789abcdef01234567";
    let preprod = preprod(&site, Some(never_pushed), &[]);
    let Ran {
        code,
        outputs: json,
        stderr,
        summary: md,
        ..
    } = site
        .bin()
        .summary()
        .args(["--compare-state-dir", preprod.to_str().unwrap()])
        .args(["--fetch-timeout", "1s"])
        .run();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("did not finish within 1s"), "{stderr}");
    assert_eq!(json["previous-sha"], site.fx.head().as_str());
    assert!(md.contains("0123456 is not in this checkout yet"), "{md}");
    drop(listener);
}
