//! `compare-state-dir`: both environments side by side in the job summary.

use crate::Site;

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

    let preprod = site.fx.tmp.path().join("state/preprod");
    std::fs::create_dir_all(&preprod).unwrap();
    std::fs::write(preprod.join("last-validated-sha.txt"), format!("{v2}\n")).unwrap();
    let journal = [
        serde_json::json!({"time": "2026-01-01T00:00:00Z", "environment": "preprod", "event": "deploy", "sha": v2, "previous_sha": prod_head, "outcome": "deployed"}),
        serde_json::json!({"time": "2026-01-01T00:01:00Z", "environment": "preprod", "event": "deploy", "sha": v3, "previous_sha": v2, "outcome": "deployed"}),
        serde_json::json!({"time": "2026-01-01T00:02:00Z", "event": "probe", "outcome": "healthy"}),
    ]
    .iter()
    .map(|v| format!("{v}\n"))
    .collect::<String>();
    std::fs::write(preprod.join("journal.jsonl"), journal).unwrap();

    let summary = site.fx.tmp.path().join("summary.md");
    let out = site
        .cmd()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "o/r")
        .args(["--compare-state-dir", preprod.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, _, stderr) = crate::parse(out);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(&summary).unwrap();
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
    let (code, _, stderr) = site.run(&["--compare-state-dir", "/nonexistent/preprod"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`compare-state-dir`"), "{stderr}");
}

#[test]
fn a_rolled_back_deploy_leaves_the_previous_sha_in_service() {
    let site = Site::new();
    let head = site.fx.head();
    let bad = site.fx.commit(&[("version.txt", "broken\n")], "broken");
    let preprod = site.fx.tmp.path().join("state/preprod");
    std::fs::create_dir_all(&preprod).unwrap();
    let journal = [
        serde_json::json!({"event": "deploy", "sha": bad, "previous_sha": head, "outcome": "rolled-back"}),
    ]
    .iter()
    .map(|v| format!("{v}\n"))
    .collect::<String>();
    std::fs::write(preprod.join("journal.jsonl"), journal).unwrap();
    let summary = site.fx.tmp.path().join("summary.md");
    let out = site
        .cmd()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--compare-state-dir", preprod.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, _, stderr) = crate::parse(out);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(&summary).unwrap();
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
    let preprod = site.fx.tmp.path().join("state/preprod");
    std::fs::create_dir_all(&preprod).unwrap();
    std::fs::write(preprod.join("last-validated-sha.txt"), format!("{v2}\n")).unwrap();
    let summary = site.fx.tmp.path().join("summary.md");
    let out = site
        .cmd()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--compare-state-dir", preprod.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, _, stderr) = crate::parse(out);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("feat: validated on preprod"), "{md}");
    assert!(!md.contains("not in this checkout"), "{md}");
    assert_eq!(site.fx.head(), prod_head, "the checkout did not move");
    assert_eq!(site.fx.read_app("version.txt"), "initial\n");
}

#[test]
fn an_unknown_sha_is_shown_without_the_list_after_trying_to_fetch() {
    let site = Site::new();
    let preprod = site.fx.tmp.path().join("state/preprod");
    std::fs::create_dir_all(&preprod).unwrap();
    let never_pushed = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(
        preprod.join("last-validated-sha.txt"),
        format!("{never_pushed}\n"),
    )
    .unwrap();
    let summary = site.fx.tmp.path().join("summary.md");
    let out = site
        .cmd()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--compare-state-dir", preprod.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, _, stderr) = crate::parse(out);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("0123456 is not in this checkout yet"), "{md}");
}
