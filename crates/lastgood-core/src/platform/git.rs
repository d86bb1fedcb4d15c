//! git, run by argument vectors (never a shell), in a clean and predictable environment.
//!
//! Every command runs with `LC_ALL=C` (messages we can recognise), `GIT_TERMINAL_PROMPT=0` (a
//! fetch never waits for a password nobody will type) and without the inherited `GIT_DIR`,
//! `GIT_WORK_TREE` or `GIT_INDEX_FILE` (a hook's environment must not redirect us to another
//! repository).
//!
//! Every command that talks to a remote (fetch of the branch, fetch by SHA, save-rollback-point's
//! compare fetch) is bounded by `fetch-timeout` (default 2m): past it, git and what it started
//! (ssh, git-remote-https) are killed with their process group ([`crate::platform::process`]) and the
//! step fails with exit 3, the checkout and the state untouched. ssh's own options are left to
//! the user's configuration.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::base::time::format_duration;
use crate::platform::process::Ended;
use crate::platform::process::spawn_group;
use crate::platform::process::wait_group;
use crate::platform::process::without_secrets;

/// Variables removed from git's environment.
const SCRUBBED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
];

/// A git work tree.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    dir: PathBuf,
}

impl Git {
    /// Checks that `dir` is a git work tree and that git runs.
    ///
    /// Not a directory or not a work tree → [`Error::Input`] naming `input_name` (exit 2); git
    /// missing → [`Error::Command`] (exit 3); "dubious ownership" → [`Error::Command`] with the
    /// `git config --global --add safe.directory` fix (exit 3).
    pub(crate) fn open(dir: &Path, input_name: &str) -> Result<Git> {
        if !dir.is_dir() {
            return Err(Error::input(
                input_name,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let git = Git {
            dir: dir.to_path_buf(),
        };
        let out = git.output(&["rev-parse", "--is-inside-work-tree"])?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true" {
            return Ok(git);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("dubious ownership") {
            return Err(Error::Command(format!(
                "git refuses to work in {} (dubious ownership: the checkout belongs to another user); \
                 run `git config --global --add safe.directory {}` as the runner's user, or fix the owner",
                dir.display(),
                dir.display()
            )));
        }
        Err(Error::input(
            input_name,
            format!(
                "{} is not a git checkout (clone the repository there first): {}",
                dir.display(),
                last_line(&stderr)
            ),
        ))
    }

    /// The work tree's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `git` command for this work tree, with the clean environment.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.dir)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0");
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        without_secrets(&mut cmd);
        cmd
    }

    /// Runs git with `args`, capturing its output; only a failure to start is an error.
    pub(crate) fn output(&self, args: &[&str]) -> Result<Output> {
        self.command().args(args).output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Command(
                    "git is not installed or not on PATH; install git on the runner".to_owned(),
                )
            } else {
                Error::Command(format!("cannot run git: {e}"))
            }
        })
    }

    /// Runs git and returns its stdout; a non-zero exit is [`Error::Command`] with stderr's tail.
    pub(crate) fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.output(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(self.failure(args, &out))
        }
    }

    fn failure(&self, args: &[&str], out: &Output) -> Error {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Error::Command(format!(
            "`git {}` failed in {} ({}): {}",
            args.join(" "),
            self.dir.display(),
            out.status,
            tail(&stderr, 5)
        ))
    }

    /// The full SHA of HEAD.
    pub(crate) fn head(&self) -> Result<String> {
        Ok(self
            .run(&["rev-parse", "--verify", "HEAD^{commit}"])?
            .trim()
            .to_owned())
    }

    /// Fetches `branch` of `remote` into `refs/remotes/<remote>/<branch>`, within `timeout`.
    pub(crate) fn fetch(&self, remote: &str, branch: &str, timeout: Duration) -> Result<()> {
        let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
        let args = ["fetch", "--quiet", "--no-tags", "--", remote, &refspec];
        self.run_remote(&args, remote, timeout)
    }

    /// Fetches one commit by SHA (servers that allow it, like GitHub), within `timeout`; errors
    /// are ignored by callers that only try.
    pub(crate) fn fetch_sha(&self, remote: &str, sha: &str, timeout: Duration) -> Result<()> {
        self.run_remote(
            &["fetch", "--quiet", "--no-tags", "--", remote, sha],
            remote,
            timeout,
        )
    }

    /// A plain `git fetch` (the current branch's remote, as configured), within `timeout`.
    pub(crate) fn fetch_default(&self, timeout: Duration) -> Result<()> {
        self.run_remote(
            &["fetch", "--quiet", "--no-tags"],
            "the current branch's remote",
            timeout,
        )
    }

    /// Runs a git command that talks to `remote`, in its own process group, killed with what it
    /// started (ssh, git-remote-https) when it runs longer than `timeout`: a stalled network or
    /// a prompt nobody answers must not hold the environment lock forever.
    fn run_remote(&self, args: &[&str], remote: &str, timeout: Duration) -> Result<()> {
        let start_error = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Command(
                    "git is not installed or not on PATH; install git on the runner".to_owned(),
                )
            } else {
                Error::Command(format!("cannot run git: {e}"))
            }
        };
        // stderr into a file, not a pipe: an ssh left in the background holding it (a
        // ControlPersist master) must not keep us waiting once git has exited.
        let mut stderr = tempfile_in_tmp().map_err(start_error)?;
        let mut command = self.command();
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.try_clone().map_err(start_error)?);
        let mut child = spawn_group(&mut command).map_err(start_error)?;
        let (status, ended) =
            wait_group(&mut child, Some(timeout), |_| Ok(())).map_err(start_error)?;
        if ended == Ended::Cancelled {
            return Err(Error::Cancelled(format!(
                "`git {}` from {remote} was stopped: the job was cancelled",
                args.join(" ")
            )));
        }
        if ended == Ended::TimedOut {
            return Err(Error::Command(format!(
                "`git {}` from {remote} did not finish within {} and was killed; check that the runner reaches {remote} without a prompt (network, proxy, ssh key and known_hosts), or raise `fetch-timeout`",
                args.join(" "),
                format_duration(timeout)
            )));
        }
        let mut text = Vec::new();
        stderr.seek(SeekFrom::Start(0)).map_err(start_error)?;
        stderr.read_to_end(&mut text).map_err(start_error)?;
        if status.success() {
            return Ok(());
        }
        let out = Output {
            status,
            stdout: Vec::new(),
            stderr: text,
        };
        Err(self.failure(args, &out))
    }

    /// Whether `sha` names a commit present in the repository.
    pub(crate) fn commit_exists(&self, sha: &str) -> Result<bool> {
        let spec = format!("{sha}^{{commit}}");
        Ok(self
            .output(&["cat-file", "-e", "--end-of-options", &spec])?
            .status
            .success())
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `descendant`.
    pub(crate) fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let out = self.output(&args)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failure(&args, &out)),
        }
    }

    /// Whether `sha` is reachable from `refs/remotes/<remote>/<branch>` (fetch first).
    pub(crate) fn is_reachable(&self, sha: &str, remote: &str, branch: &str) -> Result<bool> {
        let tip = format!("refs/remotes/{remote}/{branch}");
        if !self.commit_exists(&tip)? {
            return Err(Error::Command(format!(
                "{remote}/{branch} does not exist in {} after fetching; check the `remote` and `branch` inputs",
                self.dir.display()
            )));
        }
        self.is_ancestor(sha, &tip)
    }

    /// Tracked files whose content differs from HEAD (staged or not), relative to the top level.
    pub(crate) fn dirty_tracked(&self) -> Result<Vec<String>> {
        // Refresh stat information so files only touched (same content) do not count.
        let _ = self.output(&["update-index", "-q", "--refresh"]);
        let out = self.run(&["diff", "HEAD", "--name-only", "-z", "--no-renames"])?;
        Ok(out
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Untracked (or ignored) files that `git reset --hard <target>` deletes or overwrites,
    /// whatever their shape, relative to the top level: a file where `target` adds a file; every
    /// file under a directory where `target` adds a file (nested at any depth); a file where
    /// `target` needs a directory (an ancestor of a file it adds). Files HEAD tracks are not
    /// listed (git has them).
    pub(crate) fn untracked_in_the_way(&self, target: &str) -> Result<Vec<String>> {
        let out = self.run(&[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--diff-filter=A",
            "HEAD",
            target,
            "--",
        ])?;
        let added: Vec<&str> = out.split('\0').filter(|s| !s.is_empty()).collect();
        if added.is_empty() {
            return Ok(Vec::new());
        }
        let top = self.toplevel()?;
        let tracked = self.run(&["ls-files", "-z", "--cached", "--full-name", "--", ":/"])?;
        let tracked: std::collections::HashSet<&str> =
            tracked.split('\0').filter(|s| !s.is_empty()).collect();
        let mut found = std::collections::BTreeSet::new();
        for f in added {
            match std::fs::symlink_metadata(top.join(f)) {
                Ok(m) if m.is_dir() => untracked_under(&top, Path::new(f), &tracked, &mut found),
                Ok(_) if !tracked.contains(f) => {
                    found.insert(f.to_owned());
                }
                _ => {}
            }
            // An untracked file where `target` needs a directory.
            let mut ancestor = Path::new(f).parent();
            while let Some(a) = ancestor.filter(|a| !a.as_os_str().is_empty()) {
                let text = a.to_string_lossy();
                if !tracked.contains(text.as_ref())
                    && std::fs::symlink_metadata(top.join(a)).is_ok_and(|m| !m.is_dir())
                {
                    found.insert(text.into_owned());
                }
                ancestor = a.parent();
            }
        }
        Ok(found.into_iter().collect())
    }

    /// The binary patch of every change to tracked files against HEAD (`git diff HEAD --binary`).
    pub(crate) fn diff_head_binary(&self) -> Result<Vec<u8>> {
        let args = ["diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"];
        let out = self.output(&args)?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(&args, &out))
        }
    }

    /// Deals with an `index.lock` left by a git command that was killed (e.g. a cancelled job):
    /// one older than `stale_after` is removed (returns its path, for a warning); a fresh one
    /// means another git command is running → [`Error::Command`] (exit 3). Call only while
    /// holding the environment lock, so no lastgood process is using git there.
    pub(crate) fn clear_stale_index_lock(&self, stale_after: Duration) -> Result<Option<PathBuf>> {
        let rel = self.run(&["rev-parse", "--git-path", "index.lock"])?;
        let path = self.dir.join(rel.trim_end_matches('\n'));
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        if age < stale_after {
            return Err(Error::Command(format!(
                "{} exists: another git command is running in {}; retry when it is done, or remove the file if none is",
                path.display(),
                self.dir.display()
            )));
        }
        std::fs::remove_file(&path).map_err(|e| Error::io("remove the stale", &path, e))?;
        Ok(Some(path))
    }

    /// The work tree's top-level directory.
    pub(crate) fn toplevel(&self) -> Result<PathBuf> {
        Ok(PathBuf::from(
            self.run(&["rev-parse", "--show-toplevel"])?
                .trim_end_matches('\n'),
        ))
    }

    /// `git reset --hard <sha>`: tracked files as in `sha`; untracked files are left alone.
    pub(crate) fn reset_hard(&self, sha: &str) -> Result<()> {
        self.run(&["reset", "--hard", "--quiet", sha, "--"])
            .map(drop)
    }

    /// Commits in `from..to` (newest first, at most `max`) as (SHA, subject).
    pub(crate) fn log_between(
        &self,
        from: &str,
        to: &str,
        max: usize,
    ) -> Result<Vec<(String, String)>> {
        let range = format!("{from}..{to}");
        let count = format!("--max-count={max}");
        let out = self.run(&["log", "--format=%H%x09%s", &count, &range, "--"])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(s, m)| (s.to_owned(), m.to_owned()))
            .collect())
    }

    /// The subject line of a commit.
    pub(crate) fn subject(&self, sha: &str) -> Result<String> {
        Ok(self
            .run(&["log", "-1", "--format=%s", sha, "--"])?
            .trim()
            .to_owned())
    }
}

/// An anonymous temporary file (removed once closed), for a command's output.
fn tempfile_in_tmp() -> std::io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "lastgood-git-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The last `n` non-empty lines of `text`, joined by `; `… kept on separate lines.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every file (or link) under `dir` (relative to `top`) that is not in `tracked`, into `found`.
fn untracked_under(
    top: &Path,
    dir: &Path,
    tracked: &std::collections::HashSet<&str>,
    found: &mut std::collections::BTreeSet<String>,
) {
    let Ok(entries) = std::fs::read_dir(top.join(dir)) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let rel = dir.join(entry.file_name());
        match entry.file_type() {
            Ok(t) if t.is_dir() => untracked_under(top, &rel, tracked, found),
            Ok(_) => {
                let text = rel.to_string_lossy().into_owned();
                if !tracked.contains(text.as_str()) {
                    found.insert(text);
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use lastgood_testkit::git::GitFixture;

    use super::*;

    #[test]
    fn reachability_dirty_files_and_reset() {
        let fx = GitFixture::new();
        let app = fx.app.clone();
        let a = fx.commit(&[("f.txt", "a")], "a");
        let b = fx.commit(&[("f.txt", "b")], "b");
        fx.push();
        let side = fx.commit_on_branch("side", &[("f.txt", "side")], "side");
        fx.git_app(&["pull", "-q", "--ff-only"]);

        let g = Git::open(&app, "app-dir").unwrap();
        g.fetch("origin", "main", Duration::from_secs(120)).unwrap();
        assert_eq!(g.head().unwrap(), b);
        assert!(g.commit_exists(&a).unwrap());
        assert!(!g.commit_exists(&"f".repeat(40)).unwrap());
        assert!(g.is_reachable(&a, "origin", "main").unwrap());
        assert!(!g.is_reachable(&side, "origin", "main").unwrap());
        assert!(g.is_reachable(&a, "origin", "nope").is_err());
        assert_eq!(
            g.log_between(&a, &b, 10).unwrap(),
            vec![(b.clone(), "b".to_owned())]
        );

        assert!(g.dirty_tracked().unwrap().is_empty());
        std::fs::write(app.join("f.txt"), "local edit").unwrap();
        std::fs::write(app.join("untracked.txt"), "mine").unwrap();
        assert_eq!(g.dirty_tracked().unwrap(), vec!["f.txt".to_owned()]);
        assert!(String::from_utf8_lossy(&g.diff_head_binary().unwrap()).contains("+local edit"));
        g.reset_hard(&a).unwrap();
        assert_eq!(g.head().unwrap(), a);
        assert_eq!(std::fs::read_to_string(app.join("f.txt")).unwrap(), "a");
        assert!(app.join("untracked.txt").exists(), "untracked files stay");

        // A lock left by a killed git command.
        assert_eq!(
            g.clear_stale_index_lock(Duration::from_secs(60)).unwrap(),
            None
        );
        std::fs::write(app.join(".git/index.lock"), "").unwrap();
        let err = g
            .clear_stale_index_lock(Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("index.lock"), "{err}");
        assert!(g.clear_stale_index_lock(Duration::ZERO).unwrap().is_some());
        assert!(!app.join(".git/index.lock").exists());
        g.reset_hard(&b).unwrap();
    }

    #[test]
    fn not_a_checkout_is_an_input_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Git::open(tmp.path(), "app-dir").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("`app-dir`"), "{err}");
        let err = Git::open(&tmp.path().join("missing"), "app-dir").unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
