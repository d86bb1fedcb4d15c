//! Inputs are checked before anything changes; GitHub refusals are exit 3 and keep the watch.

use lastgood_testkit::github::TOKEN;

use crate::common::Scenario;

#[test]
fn bad_inputs_exit_2_naming_the_input_and_change_nothing() {
    let sc = Scenario::new();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("sha", "abc1234")], "`sha`"),
        (&[("workflow", "")], "`workflow`"),
        // Regression (fuzzing the URL's segments): `..` made `…/workflows/../runs`, the runs of
        // every workflow of the repository.
        (&[("workflow", "..")], "`workflow`"),
        (&[("workflow", ".")], "`workflow`"),
        (&[("repository", "just-a-name")], "`repository`"),
        (&[("interval", "soon")], "`interval`"),
        (&[("on-missing", "pray")], "`on-missing`"),
        (&[("on-timeout", "validate")], "`on-timeout`"),
        (&[("conclusion", "great")], "`conclusion`"),
        (
            &[("webhook-url", "https://example.com/not-a-hook")],
            "`webhook-url`",
        ),
        (&[("api-url", "ftp://x")], "`api-url`"),
        (&[("restart-timeout", "0s")], "`restart-timeout`"),
        (
            &[("restart-command", ""), ("compose-file", "-")],
            "`compose-file`",
        ),
    ];
    for (args, name) in cases {
        let ran = sc.cmd_with(&sc.deployed, args).run();
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(name), "{args:?}: {}", ran.stderr);
    }
    let ran = sc.cmd(&sc.deployed).env_remove("INPUT_TOKEN").run();
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("`token`"), "{}", ran.stderr);
    assert!(sc.watch_files().is_empty());
    assert!(sc.gh.answers().is_empty());
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn a_refused_token_is_exit_3_and_the_watch_stays_for_resume() {
    let sc = Scenario::new();
    let ran = sc
        .cmd(&sc.deployed)
        .env("INPUT_TOKEN", "ghs_wrongToken")
        .run();
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("401"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("ghs_wrongToken"));
    let files = sc.watch_files();
    assert_eq!(files.len(), 1);
    let record = std::fs::read_to_string(&files[0]).unwrap();
    assert!(record.contains("\"status\": \"error"), "{record}");
    assert!(!record.contains("ghs_wrongToken") && !record.contains(TOKEN));
}

#[test]
fn the_token_defaults_to_github_token() {
    let sc = Scenario::new();
    sc.gh.add_run(lastgood_testkit::github::Run::completes(
        1,
        &sc.deployed,
        "success",
        0,
    ));
    let ran = sc
        .cmd(&sc.deployed)
        .env_remove("INPUT_TOKEN")
        .env("GITHUB_TOKEN", TOKEN)
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
}

#[test]
fn detach_checks_github_first_so_a_bad_token_fails_the_job() {
    let sc = Scenario::new();
    let ran = sc
        .cmd_with(&sc.deployed, &[("detach", "true")])
        .env("INPUT_TOKEN", "ghs_wrongToken")
        .run();
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("`token`"), "{}", ran.stderr);
    assert!(
        sc.watch_files().is_empty(),
        "nothing detached, nothing recorded"
    );
    assert_eq!(ran.out("pid"), "");
}

#[test]
fn an_unknown_workflow_is_named() {
    let sc = Scenario::new();
    let ran = sc
        .cmd_with(&sc.deployed, &[("workflow", "tests.yml")])
        .run();
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no workflow `tests.yml`"),
        "{}",
        ran.stderr
    );
}
