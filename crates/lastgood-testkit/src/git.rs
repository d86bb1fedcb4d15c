//! Real git repositories in a temporary directory: a bare `origin` and a clone of it as the
//! deployed app checkout, so deploy and rollback tests run against git itself.
//!
//! ```no_run
//! let fx = lastgood_testkit::git::GitFixture::new();
//! let good = fx.commit(&[("version.txt", "v1\n")], "v1");
//! fx.push();
//! // fx.app is checked out at `good`; fx.origin has it on `main`.
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// A bare `origin` repository and a clone of it (`app`), both on branch `main`.
///
/// Commits are made in a separate working clone (`work`) and pushed to `origin`; `app` only sees
/// them through `git fetch`, as a deployed checkout would. The first commit (`initial`) is
/// already pushed and checked out in `app`.
#[derive(Debug)]
pub struct GitFixture {
    /// The temporary directory holding everything (removed on drop).
    pub tmp: tempfile::TempDir,
    /// The bare repository standing in for GitHub.
    pub origin: PathBuf,
    /// The deployed checkout (a clone of `origin`).
    pub app: PathBuf,
    /// The developer's clone where commits are made.
    pub work: PathBuf,
    /// The SHA of the first commit, checked out in `app`.
    pub initial: String,
}

impl Default for GitFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl GitFixture {
    /// Creates `origin` with one commit (`version.txt` = `initial`) and clones it as `app`.
    pub fn new() -> GitFixture {
        Self::with_files(&[("version.txt", "initial\n")])
    }

    /// Like [`GitFixture::new`], with the first commit holding `files`.
    pub fn with_files(files: &[(&str, &str)]) -> GitFixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let origin = tmp.path().join("origin.git");
        let work = tmp.path().join("work");
        let app = tmp.path().join("app");
        git_in(
            tmp.path(),
            &["init", "-q", "--bare", "-b", "main", path_str(&origin)],
        );
        git_in(tmp.path(), &["init", "-q", "-b", "main", path_str(&work)]);
        git_in(&work, &["remote", "add", "origin", path_str(&origin)]);
        let mut fx = GitFixture {
            tmp,
            origin,
            app,
            work,
            initial: String::new(),
        };
        fx.initial = fx.commit(files, "initial");
        fx.push();
        git_in(
            fx.tmp.path(),
            &["clone", "-q", path_str(&fx.origin), path_str(&fx.app)],
        );
        fx
    }

    /// Writes `files` (path relative to the repository, content) in the working clone, commits
    /// them with `message` and returns the new SHA. Not pushed: call [`GitFixture::push`].
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            let full = self.work.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).expect("create dirs");
            }
            std::fs::write(full, content).expect("write file");
        }
        git_in(&self.work, &["add", "-A"]);
        git_in(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.work_head()
    }

    /// Pushes the working clone's current branch to `origin` (`main` unless switched).
    pub fn push(&self) {
        git_in(&self.work, &["push", "-q", "origin", "HEAD"]);
    }

    /// Commits on a new branch `name` of the working clone (pushed to `origin/<name>`, not to
    /// `main`), then switches back to `main`; returns the SHA. For "not on main" tests.
    pub fn commit_on_branch(&self, name: &str, files: &[(&str, &str)], message: &str) -> String {
        git_in(&self.work, &["checkout", "-q", "-b", name]);
        let sha = self.commit(files, message);
        git_in(&self.work, &["push", "-q", "origin", name]);
        git_in(&self.work, &["checkout", "-q", "main"]);
        sha
    }

    /// The SHA checked out in `app`.
    pub fn head(&self) -> String {
        self.git_app(&["rev-parse", "HEAD"])
    }

    /// The SHA of the working clone's HEAD (the last commit made).
    pub fn work_head(&self) -> String {
        git_in(&self.work, &["rev-parse", "HEAD"])
    }

    /// Runs git in `app` and returns its trimmed stdout (panics on failure).
    pub fn git_app(&self, args: &[&str]) -> String {
        git_in(&self.app, args)
    }

    /// Reads a file of the `app` checkout.
    pub fn read_app(&self, path: &str) -> String {
        std::fs::read_to_string(self.app.join(path)).expect("read app file")
    }

    /// Writes a file in the `app` checkout (a local edit).
    pub fn write_app(&self, path: &str, content: &str) {
        std::fs::write(self.app.join(path), content).expect("write app file");
    }
}

/// A stand-in for the deployed app, for deploy and rollback tests without docker: an HTTP server
/// that reads the checkout at request time, and a restart script that logs what it restarts.
///
/// - The server answers `500 broken` when `version.txt` of the checkout contains `broken`,
///   else `200 version=<content> sha=<HEAD>` (so `health-expect-version: sha` works).
/// - The restart command is `sh <script>`: it appends `start <LASTGOOD_SHA>` to
///   [`AppStandIn::restarts`]'s log, waits while the [`AppStandIn::hold`] file exists, fails
///   (exit 1) when the checkout has a `fail-restart` file, then appends `done <LASTGOOD_SHA>`.
#[derive(Debug)]
pub struct AppStandIn {
    /// The health server (its [`crate::server::TestServer::url`] is the `health-url`).
    pub server: crate::server::TestServer,
    /// The restart script.
    pub script: PathBuf,
    /// The restart log (absent until the first restart).
    pub log: PathBuf,
    /// While this file exists, the restart script waits.
    pub hold: PathBuf,
}

impl AppStandIn {
    /// Starts the server for the checkout `app` and writes the script in `dir`.
    pub fn new(app: &Path, dir: &Path) -> AppStandIn {
        let script = dir.join("restart.sh");
        let log = dir.join("restarts.log");
        let hold = dir.join("hold");
        std::fs::write(
            &script,
            format!(
                "echo \"start $LASTGOOD_SHA\" >> '{log}'\n\
                 while [ -f '{hold}' ]; do sleep 0.05; done\n\
                 if [ -f fail-restart ]; then echo 'cannot start: fail-restart is present' >&2; exit 1; fi\n\
                 echo \"done $LASTGOOD_SHA\" >> '{log}'\n",
                log = log.display(),
                hold = hold.display()
            ),
        )
        .expect("write the restart script");
        let checkout = app.to_path_buf();
        let server = crate::server::TestServer::start(move |_| {
            let version = std::fs::read_to_string(checkout.join("version.txt")).unwrap_or_default();
            if version.contains("broken") {
                return crate::server::Reply::text(500, "broken");
            }
            let head = git_in(&checkout, &["rev-parse", "HEAD"]);
            crate::server::Reply::text(200, format!("version={} sha={head}", version.trim()))
        });
        AppStandIn {
            server,
            script,
            log,
            hold,
        }
    }

    /// The `restart-command` input.
    pub fn restart_command(&self) -> String {
        format!("sh '{}'", self.script.display())
    }

    /// The lines of the restart log (`start <sha>`, `done <sha>`).
    pub fn restarts(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs git in `dir` with a fixed identity and a clean environment; panics unless it succeeds;
/// returns trimmed stdout.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_builds_origin_and_app() {
        let fx = GitFixture::new();
        assert_eq!(fx.head(), fx.initial);
        assert_eq!(fx.read_app("version.txt"), "initial\n");
        let v2 = fx.commit(&[("version.txt", "v2\n"), ("dir/x.txt", "x")], "v2");
        fx.push();
        assert_eq!(fx.head(), fx.initial, "app only moves when fetched");
        fx.git_app(&["fetch", "-q", "origin"]);
        assert_eq!(fx.git_app(&["rev-parse", "origin/main"]), v2);
        let side = fx.commit_on_branch("side", &[("version.txt", "side\n")], "side");
        assert_eq!(fx.work_head(), v2);
        assert_ne!(side, v2);
    }

    #[test]
    fn stand_in_reads_the_checkout() {
        let fx = GitFixture::new();
        let app = AppStandIn::new(&fx.app, fx.tmp.path());
        assert!(app.restart_command().starts_with("sh '"));
        assert!(app.restarts().is_empty());
        assert!(app.server.url().starts_with("http://127.0.0.1:"));
    }
}
