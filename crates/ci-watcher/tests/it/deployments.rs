//! One deploy, one Discord message and the right GitHub deployment statuses to the verdict:
//! deploy-sha mirrors the deploy (`github-deployment`), notify-discord posts its message, and
//! ci-watcher edits that message (`message-id`) and adds CI's verdict to the deployments.

use lastgood_testkit::discord::{DiscordStandIn, WEBHOOK_TOKEN};
use lastgood_testkit::github::{Fault, REPOSITORY, Run, TOKEN};
use lastgood_testkit::run::{Bin, Ran};
use lastgood_testkit::workspace_bin;
use serde_json::Value;

use crate::common::Scenario;

const APP_URL: &str = "https://preprod.example.com";
const ROLE: &str = "987654321098765432";

/// deploy-sha of `sha` with the mirror on, as the workflow's deploy step runs it.
fn deploy(sc: &Scenario, sha: &str) -> Ran {
    deployer(sc, sha).run()
}

/// The deploy step of [`deploy`], to run with more inputs.
fn deployer(sc: &Scenario, sha: &str) -> Bin {
    Bin::new(workspace_bin("deploy-sha"))
        .input("sha", sha)
        .input("app-dir", &sc.fx.app)
        .input("state-dir", sc.state_dir())
        .input("restart-command", "true")
        .input("health-url", sc.health.url())
        .input("health-attempts", "2")
        .input("health-interval", "100ms")
        .input("github-deployment", "true")
        .input("token", TOKEN)
        .input("repository", REPOSITORY)
        .input("api-url", sc.gh.url())
        .input("environment-url", APP_URL)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_RUN_ID", "900")
        .secret(TOKEN)
        .json()
}

/// The story before the verdict: the validated SHA deployed, then the SHA under test deployed
/// and announced on Discord (notify-discord); the announcement's message id.
fn deployed_and_announced(sc: &Scenario, discord: &DiscordStandIn) -> String {
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    assert_eq!(deploy(sc, &sc.validated).code, 0);
    let ran = deploy(sc, &sc.deployed);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(sc.fx.head(), sc.deployed);
    let notified = Bin::new(workspace_bin("notify-discord"))
        .input("webhook-url", discord.webhook_url())
        .input("event", "deploy-succeeded")
        .input("environment", "preprod")
        .input("sha", &sc.deployed)
        .json()
        .run();
    assert_eq!(notified.code, 0, "{}", notified.stderr);
    notified.out("message-id").to_owned()
}

/// The watcher's inputs for the verdict: the mirror, the message and the role.
fn verdict_inputs<'a>(hook: &'a str, message_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("github-deployment", "true"),
        ("environment-url", APP_URL),
        ("webhook-url", hook),
        ("message-id", message_id),
        ("mention-role", ROLE),
    ]
}

fn states(sc: &Scenario, sha: &str) -> Vec<Vec<String>> {
    sc.gh
        .deployments_of(sha)
        .iter()
        .map(|d| d.states())
        .collect()
}

fn title(message: &Value) -> String {
    message["embeds"][0]["title"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_healthy_deploy_then_ci_success_is_one_message_and_success() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    assert_eq!(
        states(&sc, &sc.validated),
        [["in_progress", "success", "inactive"]]
    );
    assert_eq!(states(&sc, &sc.deployed), [["in_progress", "success"]]);
    sc.gh
        .add_run(Run::completes(42, &sc.deployed, "success", 0));
    let ran = sc
        .cmd_with(&sc.deployed, &verdict_inputs(&hook, &id))
        .secret(TOKEN)
        .secret(WEBHOOK_TOKEN)
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    let d = &sc.gh.deployments_of(&sc.deployed)[0];
    assert_eq!(d.states(), ["in_progress", "success", "success"]);
    let verdict = d.statuses.last().unwrap();
    assert_eq!(verdict.description, "CI passed: validated");
    assert_eq!(
        verdict.log_url.as_deref(),
        Some("https://github.com/octo-org/octo-repo/actions/runs/42"),
        "the log is the CI run that decided"
    );
    assert_eq!(verdict.environment_url.as_deref(), Some(APP_URL));
    assert_eq!(
        states(&sc, &sc.validated),
        [["in_progress", "success", "inactive"]]
    );
    let messages = discord.messages();
    assert_eq!(messages.len(), 1, "one message per deploy: {messages:?}");
    assert!(title(&messages[&id]).contains("CI"), "{:?}", messages[&id]);
    let methods: Vec<String> = discord
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["POST", "PATCH"], "no ping on success");
}

#[test]
fn a_ci_failure_rolls_back_edits_the_message_pings_the_role_and_moves_the_deployments() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    sc.gh
        .add_run(Run::completes(43, &sc.deployed, "failure", 0));
    let ran = sc
        .cmd_with(&sc.deployed, &verdict_inputs(&hook, &id))
        .secret(TOKEN)
        .secret(WEBHOOK_TOKEN)
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(sc.fx.head(), sc.validated);
    // The failed SHA: failure, then inactive; the restored one: success again.
    assert_eq!(
        states(&sc, &sc.deployed),
        [["in_progress", "success", "failure", "inactive"]]
    );
    assert_eq!(
        states(&sc, &sc.validated),
        [["in_progress", "success", "inactive", "success"]]
    );
    // One message edited to the verdict, and a short follow-up that pings the role.
    let requests = discord.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "POST"]);
    assert!(requests[1].path().ends_with(&format!("/messages/{id}")));
    let messages = discord.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[&id]["embeds"][0]["color"],
        discord_rolled_back_color()
    );
    let ping = messages.iter().find(|(k, _)| **k != id).unwrap().1;
    assert!(
        ping["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<@&{ROLE}>")),
        "{ping}"
    );
    assert!(
        ping["embeds"].as_array().unwrap().is_empty(),
        "short: {ping}"
    );
    assert_eq!(ping["mention_roles"], serde_json::json!([ROLE]));
}

/// The colour of a `rolled-back` embed, as notify-discord sends it.
fn discord_rolled_back_color() -> Value {
    serde_json::json!(lastgood_core::discord::Event::RolledBack.color())
}

#[test]
fn a_deleted_message_gets_a_new_one() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    sc.gh
        .add_run(Run::completes(44, &sc.deployed, "success", 0));
    let gone = "1299999999999999999";
    let ran = sc
        .cmd_with(&sc.deployed, &verdict_inputs(&hook, gone))
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let methods: Vec<String> = discord
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["PATCH", "POST"]);
    assert_eq!(discord.messages().len(), 1);
    assert!(
        ran.stderr.contains("posting the verdict as a new message"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("warning"), "{}", ran.stderr);
}

/// A deploy announced on Discord whose watcher found GitHub down (502) until its deadline: the
/// watch stays pending, with the message id kept. Returns the scenario, the Discord stand-in,
/// its webhook URL and the message id.
fn pending_while_github_is_down() -> (Scenario, DiscordStandIn, String, String) {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    sc.gh.outage(Fault::Status(502, "Server Error".to_owned()));
    let mut inputs = verdict_inputs(&hook, &id);
    inputs.extend([("timeout", "3s"), ("discovery-timeout", "1s")]);
    let r = sc.cmd_with(&sc.deployed, &inputs).run();
    assert_eq!(r.out("action"), "unreachable", "{}", r.stderr);
    (sc, discord, hook, id)
}

#[test]
fn resume_edits_the_message_kept_with_the_watch() {
    let (sc, discord, hook, id) = pending_while_github_is_down();
    let record = std::fs::read_to_string(&sc.watch_files()[0]).unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(
        record["inputs"]["message-id"],
        id.as_str(),
        "kept with the watch"
    );
    assert!(!record.to_string().contains(WEBHOOK_TOKEN));
    assert!(!record.to_string().contains(TOKEN));
    sc.gh.end_outage();
    sc.gh
        .add_run(Run::completes(45, &sc.deployed, "failure", 0));
    // As the boot-time unit resumes: only the secrets are given again.
    let ran = crate::common::watcher()
        .input("token", TOKEN)
        .input("webhook-url", &hook)
        .json_last_line()
        .args(["--resume", "true", "--state-dir"])
        .arg(sc.state_dir())
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    let methods: Vec<String> = discord
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["POST", "PATCH", "POST"], "edited, then the ping");
    assert_eq!(discord.messages().len(), 2);
    assert_eq!(
        states(&sc, &sc.deployed),
        [["in_progress", "success", "failure", "inactive"]]
    );
    assert_eq!(
        states(&sc, &sc.validated),
        [["in_progress", "success", "inactive", "success"]]
    );
}

#[test]
fn a_verdict_given_by_conclusion_moves_the_deployment_too() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    let mut inputs = verdict_inputs(&hook, &id);
    inputs.extend([
        ("conclusion", "success"),
        (
            "run-url",
            "https://github.com/octo-org/octo-repo/actions/runs/46",
        ),
        ("workflow", ""),
    ]);
    let ran = sc.cmd_with(&sc.deployed, &inputs).run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    let d = &sc.gh.deployments_of(&sc.deployed)[0];
    assert_eq!(d.states(), ["in_progress", "success", "success"]);
    assert_eq!(
        d.statuses[2].log_url.as_deref(),
        Some("https://github.com/octo-org/octo-repo/actions/runs/46")
    );
    assert_eq!(discord.messages().len(), 1);
}

#[test]
fn github_failing_on_the_verdict_is_a_warning_only() {
    for fault in [
        Fault::Status(500, "Server Error".to_owned()),
        Fault::Status(403, "Resource not accessible by integration".to_owned()),
    ] {
        let sc = Scenario::new();
        sc.gh
            .seed_deployment(&sc.deployed, "preprod", false, &["in_progress", "success"]);
        sc.gh
            .add_run(Run::completes(47, &sc.deployed, "failure", 0));
        sc.gh.deployments_outage(Some(fault));
        let ran = sc
            .cmd_with(&sc.deployed, &[("github-deployment", "true")])
            .secret(TOKEN)
            .run();
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        assert_eq!(
            ran.out("action"),
            "rolled-back",
            "the verdict is acted on all the same"
        );
        assert_eq!(sc.fx.head(), sc.validated);
        assert!(
            ran.stderr
                .contains("warning: GitHub deployment not updated"),
            "{}",
            ran.stderr
        );
        assert_eq!(states(&sc, &sc.deployed), [["in_progress", "success"]]);
    }
}

#[test]
fn the_ci_verdict_job_edits_the_message_the_pending_watch_kept() {
    let (sc, discord, hook, _) = pending_while_github_is_down();
    sc.gh.end_outage();
    // ci-verdict.yml: the verdict from the `workflow_run` event, no message id at hand.
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("conclusion", "failure"),
                ("workflow", ""),
                ("webhook-url", &hook),
                ("github-deployment", "true"),
            ],
        )
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    let methods: Vec<String> = discord
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        methods,
        ["POST", "PATCH", "POST"],
        "the kept message, and the kept role pinged"
    );
    assert_eq!(
        states(&sc, &sc.deployed),
        [["in_progress", "success", "failure", "inactive"]]
    );
    // The environment's URL the pending watch kept, on every status of the verdict.
    let failed = &sc.gh.deployments_of(&sc.deployed)[0].statuses;
    let restored = &sc.gh.deployments_of(&sc.validated)[0].statuses;
    for s in [&failed[2], &failed[3], restored.last().unwrap()] {
        assert_eq!(s.environment_url.as_deref(), Some(APP_URL), "{s:?}");
    }
}

#[test]
fn a_late_failure_of_a_sha_already_rolled_back_touches_no_deployment() {
    // B (`deployed`) fails its health gate and is rolled back to A (`validated`); C is
    // deployed; then B's CI failure arrives. Nothing is rolled back now, so nothing is posted:
    // not a `success` "Back in service" on C's deployment, not a second failure on B's.
    let sc = Scenario::new();
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    assert_eq!(deploy(&sc, &sc.validated).code, 0);
    let ran = deployer(&sc, &sc.deployed)
        .input("health-expect-body", "good")
        .run();
    assert_eq!(ran.code, 1, "B's gate fails: {}", ran.stderr);
    assert_eq!(sc.fx.head(), sc.validated);
    let c = sc.fx.commit(&[("version.txt", "good again\n")], "C: fixed");
    sc.fx.push();
    let ran = deploy(&sc, &c);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let before: Vec<_> = [&sc.validated, &sc.deployed, &c]
        .iter()
        .map(|sha| states(&sc, sha))
        .collect();
    assert_eq!(before[2], [["in_progress", "success"]]);
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("conclusion", "failure"),
                ("workflow", ""),
                ("github-deployment", "true"),
            ],
        )
        .run();
    assert_eq!(ran.out("action"), "rolled-back", "{}", ran.stderr);
    assert_eq!(sc.fx.head(), c, "C stays in service");
    let after: Vec<_> = [&sc.validated, &sc.deployed, &c]
        .iter()
        .map(|sha| states(&sc, sha))
        .collect();
    assert_eq!(after, before, "no deployment touched: {}", ran.stderr);
}

/// What Discord and GitHub received, as text for a snapshot: each Discord request (method, path,
/// body) and each deployment with its statuses.
fn received(sc: &Scenario, discord: &DiscordStandIn) -> String {
    let mut text = String::from("# Discord\n");
    for r in discord.requests() {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        text.push_str(&format!(
            "\n{} {}\n{}\n",
            r.method,
            r.target,
            serde_json::to_string_pretty(&body).unwrap()
        ));
    }
    text.push_str("\n# GitHub deployments\n");
    for d in sc.gh.deployments() {
        text.push_str(&format!(
            "\n{} {} (production: {}) {}\n",
            d.id,
            d.environment,
            d.production,
            serde_json::to_string(&d.request).unwrap()
        ));
        for s in &d.statuses {
            text.push_str(&format!(
                "  {}{}: {:?} log {:?} environment {:?}\n",
                s.state,
                if s.automatic { " (auto_inactive)" } else { "" },
                s.description,
                s.log_url,
                s.environment_url
            ));
        }
    }
    text
}

#[test]
fn snapshot_of_a_deploy_its_ci_failure_and_the_rollback() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    sc.gh
        .add_run(Run::completes(48, &sc.deployed, "failure", 0));
    let ran = sc.cmd_with(&sc.deployed, &verdict_inputs(&hook, &id)).run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let text = received(&sc, &discord);
    lastgood_testkit::snap::Redactions::new()
        .sha(&sc.validated, "validated")
        .sha(&sc.deployed, "deployed")
        .literal(WEBHOOK_TOKEN, "[webhook-token]")
        .bind(|| insta::assert_snapshot!("deploy-ci-failure-rollback", text));
}

#[test]
fn a_detached_watcher_edits_the_message_and_moves_the_deployment() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    let id = deployed_and_announced(&sc, &discord);
    sc.gh
        .add_run(Run::completes(49, &sc.deployed, "success", 2));
    let mut inputs = verdict_inputs(&hook, &id);
    inputs.push(("detach", "true"));
    let ran = sc.cmd_with(&sc.deployed, &inputs).run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    lastgood_testkit::wait_until(
        "the detached watcher's verdict",
        std::time::Duration::from_secs(120),
        || sc.watch_files().is_empty() && sc.last_validated() == sc.deployed,
    );
    lastgood_testkit::wait_until(
        "the deployment's verdict",
        std::time::Duration::from_secs(60),
        || states(&sc, &sc.deployed) == [["in_progress", "success", "success"]],
    );
    let methods: Vec<String> = discord
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["POST", "PATCH"]);
    assert_eq!(discord.messages().len(), 1);
}
