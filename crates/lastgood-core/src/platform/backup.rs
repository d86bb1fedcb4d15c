//! Backups in the state directory's `backups/`: local changes saved before a reset, and the
//! archives of save-rollback-point.
//!
//! Behaviour, for the docs:
//! - Before any `git reset --hard`, uncommitted changes to tracked files (staged or not) are saved
//!   as `backups/local-changes-<time>-<short-sha>.patch` (`git diff HEAD --binary`, apply with
//!   `git apply`) and `backups/local-changes-<time>-<short-sha>.tar.gz` (the changed files as they
//!   were). These are never pruned. Untracked files are not touched by `reset --hard` (and
//!   lastgood never runs `git clean`), so they stay where they are, except those the SHA being
//!   deployed starts tracking: the reset overwrites them, so they are saved in the same archive
//!   first (with no patch when no tracked file changed).
//! - save-rollback-point writes `backups/backup-<time>-<short-sha>.tar.gz` holding the
//!   `backup-paths` (under their path relative to `app-dir`) and, when tracked files have local
//!   changes, `local-changes.patch` and the changed files under `local-changes/`. Symbolic links
//!   are archived as links, never followed. Only `backup-*.tar.gz` archives are pruned, oldest
//!   first, beyond `keep-backups`; the archive just written is never pruned.
//! - `<time>` is UTC, `20261126T150453.123Z`, so names sort in time order.
//! - Archives and patches are written to a temporary file, fsynced and renamed into place,
//!   readable by their owner only (`0600`): they may hold `.env` secrets.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::base::error::{Error, Result};
use crate::base::sha::short_sha;
use crate::platform::git::Git;
use crate::platform::state::now_compact_millis;
use crate::platform::state::write_atomic_private;
use crate::platform::state::{BACKUPS_DIR, StateDir};

/// Where the local changes were saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedChanges {
    /// The `git diff HEAD --binary` patch (the archive itself when no tracked file changed).
    pub patch: PathBuf,
    /// The changed files' contents, and the untracked files the reset would overwrite.
    pub archive: PathBuf,
    /// The changed tracked files (relative to the repository's top level).
    pub files: Vec<String>,
    /// Untracked files that the SHA being checked out tracks (the reset overwrites them).
    pub untracked: Vec<String>,
}

/// Saves the uncommitted changes to tracked files of `git`'s work tree into `backups/`;
/// `None` when there are none. `head` names the archive. With a `target` (the SHA of the coming
/// `git reset --hard`), the untracked files that `target` tracks (which the reset overwrites)
/// are archived too.
pub(crate) fn save_local_changes_before(
    git: &Git,
    state: &StateDir,
    head: &str,
    target: Option<&str>,
) -> Result<Option<SavedChanges>> {
    let files = git.dirty_tracked()?;
    let untracked = match target {
        Some(t) => git.untracked_in_the_way(t)?,
        None => Vec::new(),
    };
    if files.is_empty() && untracked.is_empty() {
        return Ok(None);
    }
    let dir = state.join(BACKUPS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let stamp = unique_stamp(&dir, "local-changes", head);
    let archive = dir.join(format!("{stamp}.tar.gz"));
    let patch = if files.is_empty() {
        archive.clone()
    } else {
        let patch = dir.join(format!("{stamp}.patch"));
        write_atomic_private(&patch, &git.diff_head_binary()?)?;
        patch
    };
    let top = git.toplevel()?;
    write_tar_gz(&archive, |b| {
        for f in files.iter().chain(&untracked) {
            let p = top.join(f);
            if p.symlink_metadata().is_ok() {
                append_path(b, &p, Path::new(f))?;
            }
        }
        Ok(())
    })?;
    Ok(Some(SavedChanges {
        patch,
        archive,
        files,
        untracked,
    }))
}

/// Checks one `backup-paths` entry: relative, without `..`; returns it cleaned.
pub(crate) fn check_backup_path(entry: &str, input: &str) -> Result<PathBuf> {
    let p = Path::new(entry);
    if p.is_absolute() {
        return Err(Error::input(
            input,
            format!("`{entry}` is absolute; give paths relative to `app-dir`"),
        ));
    }
    let mut clean = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::input(
                    input,
                    format!("`{entry}` leaves `app-dir` (`..`); give paths inside it"),
                ));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        clean.push(".");
    }
    Ok(clean)
}

/// What [`archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// The archive.
    pub path: PathBuf,
    /// `backup-paths` entries that did not exist (warned about, not archived).
    pub missing: Vec<PathBuf>,
    /// Tracked files with local changes that were included.
    pub changed_files: Vec<String>,
    /// Older archives removed by pruning.
    pub pruned: Vec<PathBuf>,
}

/// Writes `backups/backup-<time>-<short>.tar.gz` with `paths` (relative to `app_dir`, checked
/// by [`check_backup_path`]) and the local changes to tracked files, then prunes beyond `keep`.
/// `None` when there was nothing to archive.
pub(crate) fn archive(
    state: &StateDir,
    git: &Git,
    paths: &[PathBuf],
    head: &str,
    keep: usize,
) -> Result<Option<Archive>> {
    let app_dir = git.dir();
    let (present, missing): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|p| app_dir.join(p).symlink_metadata().is_ok());
    let changed_files = git.dirty_tracked()?;
    if present.is_empty() && changed_files.is_empty() {
        return Ok(None);
    }
    let dir = state.join(BACKUPS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let path = dir.join(format!("{}.tar.gz", unique_stamp(&dir, "backup", head)));
    let patch = if changed_files.is_empty() {
        Vec::new()
    } else {
        git.diff_head_binary()?
    };
    let top = git.toplevel()?;
    write_tar_gz(&path, |b| {
        for p in &present {
            append_path(b, &app_dir.join(p), p)?;
        }
        if !changed_files.is_empty() {
            let mut header = tar::Header::new_gnu();
            header.set_size(patch.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            header.set_cksum();
            b.append_data(&mut header, "local-changes.patch", patch.as_slice())?;
            for f in &changed_files {
                let src = top.join(f);
                if src.symlink_metadata().is_ok() {
                    append_path(b, &src, &Path::new("local-changes").join(f))?;
                }
            }
        }
        Ok(())
    })?;
    let pruned = prune(&dir, keep.max(1), &path)?;
    Ok(Some(Archive {
        path,
        missing: missing.into_iter().cloned().collect(),
        changed_files,
        pruned,
    }))
}

/// Removes the oldest `backup-*.tar.gz` beyond `keep`, never `just_written`; returns them.
fn prune(dir: &Path, keep: usize, just_written: &Path) -> Result<Vec<PathBuf>> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("backup-") && n.ends_with(".tar.gz"))
        })
        .collect();
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    let mut pruned = Vec::new();
    for old in archives
        .into_iter()
        .filter(|p| p != just_written)
        .take(excess)
    {
        std::fs::remove_file(&old).map_err(|e| Error::io("remove old backup", &old, e))?;
        pruned.push(old);
    }
    Ok(pruned)
}

/// `<prefix>-<time>-<short>` not yet used in `dir` (time with milliseconds; waits a little on
/// a collision so names keep sorting in time order).
fn unique_stamp(dir: &Path, prefix: &str, head: &str) -> String {
    loop {
        let stamp = format!("{prefix}-{}-{}", now_compact_millis(), short_sha(head));
        let taken = std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with(&stamp))
        });
        if !taken {
            return stamp;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

type TarBuilder = tar::Builder<GzEncoder<File>>;

/// Writes a `.tar.gz` atomically: temporary file, fill, finish, fsync, rename.
fn write_tar_gz(
    path: &Path,
    fill: impl FnOnce(&mut TarBuilder) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::default()));
        builder.follow_symlinks(false);
        fill(&mut builder)?;
        let mut file = builder.into_inner()?.finish()?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("write the archive", path, e)
    })
}

fn append_path(b: &mut TarBuilder, src: &Path, name: &Path) -> std::io::Result<()> {
    let meta = src.symlink_metadata()?;
    if meta.is_dir() {
        b.append_dir_all(name, src)
    } else {
        b.append_path_with_name(src, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_paths_stay_inside_app_dir() {
        assert_eq!(
            check_backup_path("./data/db", "backup-paths").unwrap(),
            PathBuf::from("data/db")
        );
        assert_eq!(
            check_backup_path(".env", "backup-paths").unwrap(),
            PathBuf::from(".env")
        );
        for bad in ["/etc/passwd", "../secrets", "data/../../x"] {
            let err = check_backup_path(bad, "backup-paths").unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("`backup-paths`"), "{err}");
        }
    }

    #[test]
    fn prune_keeps_the_newest_and_the_one_just_written() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "backup-20260101T000000.000Z-aaaaaaa.tar.gz",
            "backup-20260102T000000.000Z-bbbbbbb.tar.gz",
            "backup-20260103T000000.000Z-ccccccc.tar.gz",
            "local-changes-20260101T000000.000Z-aaaaaaa.tar.gz",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        let pruned = prune(dir.path(), 2, &dir.path().join(names[2])).unwrap();
        assert_eq!(pruned, vec![dir.path().join(names[0])]);
        // Even when the one just written sorts first, it stays.
        let pruned = prune(dir.path(), 1, &dir.path().join(names[1])).unwrap();
        assert_eq!(pruned, vec![dir.path().join(names[2])]);
        assert!(dir.path().join(names[1]).exists());
        assert!(
            dir.path().join(names[3]).exists(),
            "local changes are never pruned"
        );
    }
}
