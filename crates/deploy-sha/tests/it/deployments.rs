//! `github-deployment`: the deploy mirrored as a GitHub deployment on the stand-in, its statuses
//! in order, and API failures that are warnings only.

use std::os::unix::fs::PermissionsExt;

use lastgood_testkit::github::{FakeGitHub, Fault, REPOSITORY, TOKEN};
use lastgood_testkit::run::{Bin, Ran};

use crate::Site;

const RUN_URL: &str = "https://github.com/octo-org/octo-repo/actions/runs/777";

/// The site's binary with the mirror on, against `gh`, in a job whose run is [`RUN_URL`].
fn mirrored(site: &Site, gh: &FakeGitHub, environment: &str) -> Bin {
    site.bin()
        .input("github-deployment", "true")
        .input("token", TOKEN)
        .input("repository", REPOSITORY)
        .input("api-url", gh.url())
        .input("environment", environment)
        .input("environment-url", "https://preprod.example.com")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("GITHUB_RUN_ID", "777")
        .summary()
        .secret(TOKEN)
}

fn deploy(site: &Site, gh: &FakeGitHub, environment: &str, sha: &str) -> Ran {
    mirrored(site, gh, environment).args(["--sha", sha]).run()
}

#[test]
fn a_healthy_deploy_is_in_progress_then_success_and_replaces_the_last_one() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let initial = site.head();
    let before = gh.seed_deployment(&initial, "preprod", false, &["in_progress", "success"]);
    let v2 = site.push("v2\n");
    let ran = deploy(&site, &gh, "preprod", &v2);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("outcome"), "deployed");
    let ours = gh.deployments_of(&v2);
    assert_eq!(ours.len(), 1);
    let d = &ours[0];
    assert_eq!(ran.out("deployment-id"), d.id.to_string());
    assert_eq!(d.states(), ["in_progress", "success"]);
    assert_eq!(d.environment, "preprod");
    assert!(!d.production);
    assert_eq!(d.request["ref"], v2.as_str());
    assert_eq!(d.request["auto_merge"], false);
    assert_eq!(d.request["required_contexts"], serde_json::json!([]));
    for s in &d.statuses {
        assert_eq!(s.log_url.as_deref(), Some(RUN_URL));
        assert_eq!(
            s.environment_url.as_deref(),
            Some("https://preprod.example.com")
        );
        assert!(s.description.chars().count() <= 140);
    }
    // GitHub's auto_inactive retires the replaced preprod deployment by itself.
    let old = gh
        .deployments()
        .into_iter()
        .find(|d| d.id == before)
        .unwrap();
    assert_eq!(old.states(), ["in_progress", "success", "inactive"]);
    assert!(old.statuses[2].automatic);
    assert!(!ran.stderr.contains("warning"), "{}", ran.stderr);
    assert!(
        ran.summary
            .contains(&format!("| GitHub deployment | {} |", d.id)),
        "{}",
        ran.summary
    );
}

#[test]
fn in_production_the_replaced_deployment_is_made_inactive_explicitly() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let initial = site.head();
    let before = gh.seed_deployment(&initial, "prod", true, &["success"]);
    let v2 = site.push("v2\n");
    let ran = deploy(&site, &gh, "prod", &v2);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let d = &gh.deployments_of(&v2)[0];
    assert!(d.production, "prod is a production environment");
    assert_eq!(d.request["production_environment"], true);
    assert_eq!(d.states(), ["in_progress", "success"]);
    let old = gh
        .deployments()
        .into_iter()
        .find(|d| d.id == before)
        .unwrap();
    assert_eq!(old.states(), ["success", "inactive"]);
    assert!(!old.statuses[1].automatic, "lastgood did it, not GitHub");
}

#[test]
fn a_failed_health_gate_is_a_failure_and_the_restored_sha_is_success_again() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    assert_eq!(deploy(&site, &gh, "preprod", &v2).code, 0);
    let bad = site.push("broken\n");
    let ran = deploy(&site, &gh, "preprod", &bad);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("outcome"), "rolled-back");
    let failed = &gh.deployments_of(&bad)[0];
    assert_eq!(ran.out("deployment-id"), failed.id.to_string());
    assert_eq!(failed.states(), ["in_progress", "failure"]);
    let restored = gh.deployments_of(&v2);
    assert_eq!(
        restored.len(),
        1,
        "the restored SHA's own deployment is reused"
    );
    assert_eq!(restored[0].states(), ["in_progress", "success", "success"]);
    assert!(
        restored[0].statuses[2]
            .description
            .contains("Back in service"),
        "{:?}",
        restored[0].statuses
    );
}

#[test]
fn a_restored_sha_without_a_deployment_gets_one() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    assert_eq!(
        site.run(&["--sha", &v2]).code,
        0,
        "deployed without the mirror"
    );
    let bad = site.push("broken\n");
    let ran = deploy(&site, &gh, "preprod", &bad);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(
        gh.deployments_of(&bad)[0].states(),
        ["in_progress", "failure"]
    );
    assert_eq!(gh.deployments_of(&v2)[0].states(), ["success"]);
}

#[test]
fn a_refused_deploy_creates_no_deployment() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let ran = deploy(&site, &gh, "preprod", unknown);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(gh.api_requests().is_empty(), "GitHub never hears of it");
}

#[test]
fn a_deploy_stopped_after_its_sha_was_verified_marks_its_deployment_error() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    // The checkout has a fresh git index.lock: git is busy there, the deploy stops (exit 3)
    // after the SHA was verified.
    std::fs::write(site.fx.app.join(".git/index.lock"), "").unwrap();
    let ran = deploy(&site, &gh, "preprod", &v2);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let d = &gh.deployments_of(&v2)[0];
    assert_eq!(d.states(), ["in_progress", "error"]);
    assert!(
        d.statuses[1].description.starts_with("Stopped: "),
        "{:?}",
        d.statuses
    );
}

#[test]
fn github_failing_is_a_warning_and_never_changes_the_deploy() {
    for (fault, said) in [
        (Fault::Status(500, "Server Error".into()), "500"),
        (
            Fault::Status(403, "Resource not accessible by integration".into()),
            "deployments: write",
        ),
        (Fault::RateLimitReset(3600), "rate limited"),
        (
            Fault::Status(
                409,
                "Conflict: Commit status checks failed for main.".into(),
            ),
            "409",
        ),
        (Fault::Status(422, "Validation Failed".into()), "422"),
    ] {
        let site = Site::new();
        let gh = FakeGitHub::start();
        gh.outage(fault);
        let v2 = site.push("v2\n");
        let ran = deploy(&site, &gh, "preprod", &v2);
        assert_eq!(ran.code, 0, "{said}: {}", ran.stderr);
        assert_eq!(ran.out("outcome"), "deployed");
        assert_eq!(ran.out("healthy"), "true");
        assert_eq!(ran.out("deployment-id"), "");
        assert_eq!(site.head(), v2);
        assert!(
            ran.stderr.contains("warning") && ran.stderr.contains(said),
            "{said}: {}",
            ran.stderr
        );
        assert!(gh.deployments().is_empty());
    }
}

#[test]
fn a_bad_token_is_a_warning_and_never_printed() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    gh.token("another-token");
    let v2 = site.push("v2\n");
    let ran = deploy(&site, &gh, "preprod", &v2);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("401"), "{}", ran.stderr);
    assert!(gh.deployments().is_empty());
}

#[test]
fn the_mirror_is_off_by_default_and_its_inputs_are_checked() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    let ran = site
        .bin()
        .input("api-url", gh.url())
        .input("token", TOKEN)
        .input("repository", REPOSITORY)
        .args(["--sha", &v2])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        gh.api_requests().is_empty(),
        "no request without github-deployment"
    );
    assert_eq!(ran.output("deployment-id"), None);
    let head = site.head();
    for (name, value) in [
        ("api-url", "ftp://example.com"),
        ("environment-url", "not a url"),
        ("repository", "no-slash"),
    ] {
        let ran = mirrored(&site, &gh, "preprod")
            .input(name, value)
            .args(["--sha", &v2])
            .run();
        assert_eq!(ran.code, 2, "{name}: {}", ran.stderr);
        assert!(ran.stderr.contains(name), "{}", ran.stderr);
    }
    assert_eq!(site.head(), head, "nothing changed");
    assert!(gh.api_requests().is_empty());
}

#[test]
fn github_unreachable_is_a_warning_and_never_changes_the_deploy() {
    let site = Site::new();
    let v2 = site.push("v2\n");
    let closed = format!("http://127.0.0.1:{}", lastgood_testkit::server::free_port());
    let ran = site
        .bin()
        .input("github-deployment", "true")
        .input("token", TOKEN)
        .input("repository", REPOSITORY)
        .input("api-url", &closed)
        .secret(TOKEN)
        .args(["--sha", &v2])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("outcome"), "deployed");
    assert_eq!(ran.out("deployment-id"), "");
    assert!(
        ran.stderr
            .contains("warning: GitHub deployment not updated"),
        "{}",
        ran.stderr
    );
}

#[test]
fn without_a_token_the_mirror_is_skipped_with_a_warning() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    let ran = site
        .bin()
        .input("github-deployment", "true")
        .input("repository", REPOSITORY)
        .input("api-url", gh.url())
        .args(["--sha", &v2])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("no token"), "{}", ran.stderr);
    assert!(gh.api_requests().is_empty());
    assert_eq!(
        ran.output("deployment-id"),
        Some(""),
        "github-deployment is on: the id is written, empty"
    );
}

#[test]
fn the_restart_never_sees_the_token() {
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    let ran = mirrored(&site, &gh, "preprod")
        .input("restart-command", "env")
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--sha", &v2])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let log = crate::read(&site.state.join("logs/restart.log"));
    assert!(log.contains("LASTGOOD_SHA="), "{log}");
    assert!(!log.contains(TOKEN), "the token reached the restart: {log}");
    assert_eq!(
        gh.deployments_of(&v2)[0].states(),
        ["in_progress", "success"]
    );
}

#[test]
fn the_docker_compose_probe_never_sees_the_token() {
    // The action always sets GITHUB_TOKEN; `docker compose version` (run when no compose
    // plugin file is found) must not inherit it. PATH holds only a fake docker and git, so the
    // probe runs (no docker-compose found); each docker call dumps its environment.
    let site = Site::new();
    let gh = FakeGitHub::start();
    let v2 = site.push("v2\n");
    let bin = site.fx.tmp.path().join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let dumps = site.fx.tmp.path().join("docker-env");
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        format!(
            "#!/bin/sh\n{{ echo \"== $*\"; /usr/bin/env; }} >> '{}'\nexit 0\n",
            dumps.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let git = which("git");
    std::os::unix::fs::symlink(git, bin.join("git")).unwrap();
    std::fs::write(site.fx.app.join("docker-compose.yml"), "services: {}\n").unwrap();
    let ran = mirrored(&site, &gh, "preprod")
        .input("restart-command", "")
        .env("GITHUB_TOKEN", TOKEN)
        .env("PATH", &bin)
        .env("DOCKER_CONFIG", site.fx.tmp.path().join("no-docker-config"))
        .args(["--sha", &v2])
        .run();
    let log = crate::read(&dumps);
    assert!(log.contains("== compose version"), "{}\n{log}", ran.stderr);
    assert!(!log.contains(TOKEN), "the token reached docker: {log}");
}

/// Where `program` is in the test's own PATH.
fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.is_file())
        })
        .unwrap()
}
