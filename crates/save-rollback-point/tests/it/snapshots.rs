//! Snapshots of what is the contract: `--help`, the job summary comparing two environments and
//! the journal's line (see `lastgood_testkit::snap` for the redactions and how to accept a
//! change).

use lastgood_testkit::run::Bin;
use lastgood_testkit::snap::Redactions;

use crate::Site;
use crate::compare::preprod;

#[test]
fn help() {
    let ran = Bin::new(assert_cmd::cargo::cargo_bin!("save-rollback-point"))
        .env("COLUMNS", "100")
        .arg("--help")
        .expects(0)
        .run();
    Redactions::new().bind(|| insta::assert_snapshot!("help", ran.stdout));
}

#[test]
fn summary_with_compare_and_journal_line() {
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
    let other = preprod(
        &site,
        Some(&v2),
        &[
            serde_json::json!({"time": "2026-01-01T00:00:00Z", "environment": "preprod", "event": "deploy", "sha": v2, "previous_sha": prod_head, "outcome": "deployed"}),
            serde_json::json!({"time": "2026-01-01T00:01:00Z", "environment": "preprod", "event": "deploy", "sha": v3, "previous_sha": v2, "outcome": "deployed"}),
        ],
    );
    site.fx.write_app(".env", "A=1\n");
    let ran = site
        .bin()
        .summary_with_links()
        .args(["--compare-state-dir", other.to_str().unwrap()])
        .args(["--backup-paths", ".env"])
        .expects(0)
        .run();
    let journal = std::fs::read_to_string(site.state.join("journal.jsonl")).unwrap();
    Redactions::new()
        .sha(&prod_head, "prod")
        .sha(&v2, "v2")
        .sha(&v3, "v3")
        .path(site.fx.tmp.path(), "[tmp]")
        .bind(|| {
            insta::assert_snapshot!("summary-compare", ran.summary);
            insta::assert_snapshot!("journal", journal);
        });
}
