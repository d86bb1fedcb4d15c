//! Snapshots of what is the contract: `--help`, the job summaries of a deploy and of a rollback,
//! and the journal's lines (see `lastgood_testkit::snap` for the redactions and how to accept a
//! change).

use lastgood_testkit::run::Bin;
use lastgood_testkit::snap::Redactions;

use crate::Site;

#[test]
fn help() {
    let ran = Bin::new(assert_cmd::cargo::cargo_bin!("deploy-sha"))
        .env("COLUMNS", "100")
        .arg("--help")
        .expects(0)
        .run();
    Redactions::new().bind(|| insta::assert_snapshot!("help", ran.stdout));
}

/// The redactions of a site: its temporary directory and the SHAs it made.
fn redactions(site: &Site, shas: &[(&str, &str)]) -> Redactions {
    shas.iter()
        .fold(Redactions::new(), |r, (sha, name)| r.sha(sha, name))
        .path(site.fx.tmp.path(), "[tmp]")
}

#[test]
fn summaries_and_journal_of_a_deploy_then_a_rollback() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let deployed = site
        .bin()
        .summary_with_links()
        .args(["--sha", &v2])
        .expects(0)
        .run();
    let bad = site.push("broken\n");
    let rolled_back = site
        .bin()
        .summary_with_links()
        .args(["--sha", &bad])
        .expects(1)
        .run();
    let journal = std::fs::read_to_string(site.state.join("journal.jsonl")).unwrap();
    redactions(&site, &[(&initial, "initial"), (&v2, "v2"), (&bad, "bad")]).bind(|| {
        insta::assert_snapshot!("summary-deployed", deployed.summary);
        insta::assert_snapshot!("summary-rolled-back", rolled_back.summary);
        insta::assert_snapshot!("journal", journal);
    });
}
