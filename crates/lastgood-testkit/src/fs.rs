//! A small real file system (tmpfs) that a test fills up, so that every write of a binary into
//! it fails with ENOSPC as on a full disk. Mounting needs root (CI runs as root); without the
//! permission [`SmallFs::mount`] says so and returns `None`, and the test returns.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary directory (or a directory the test gives), unmounted on drop.
#[derive(Debug)]
pub struct SmallFs {
    _dir: Option<tempfile::TempDir>,
    mount: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `size_kib` KiB; `None` (after saying why on stderr) when this machine
    /// does not let the test mount one.
    pub fn mount(size_kib: u64) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("fs");
        std::fs::create_dir(&mount).expect("mount point");
        let mut fs = Self::mount_at(&mount, size_kib)?;
        fs._dir = Some(dir);
        Some(fs)
    }

    /// Mounts a tmpfs of `size_kib` KiB over the existing directory `mount` (what it held is
    /// hidden until the drop); `None` as for [`SmallFs::mount`].
    pub fn mount_at(mount: &Path, size_kib: u64) -> Option<SmallFs> {
        let mount = mount.to_path_buf();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_kib}k,mode=0755"))
            .arg("tmpfs")
            .arg(&mount)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallFs { _dir: None, mount }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a small tmpfs here ({}); CI runs as root and can",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run `mount` ({e}); CI runs as root and can");
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// The filler file [`SmallFs::fill`] writes.
    pub fn filler(&self) -> PathBuf {
        self.mount.join(".filler")
    }

    /// Fills the file system: writes the filler file until ENOSPC.
    pub fn fill(&self) {
        fill(&self.filler());
    }

    /// Frees what [`SmallFs::fill`] took.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }

    /// A shell command line that fills this file system (for a restart script).
    pub fn fill_command(&self) -> String {
        format!(
            "dd if=/dev/zero of='{}' bs=4k 2>/dev/null || true",
            self.filler().display()
        )
    }
}

/// Writes `path` until the file system holding it is full.
pub fn fill(path: &Path) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the filler");
    let block = [0u8; 4096];
    while f.write_all(&block).is_ok() {}
    // A last, smaller write takes what is left of a partial block.
    while f.write_all(&[0u8; 1]).is_ok() {}
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
