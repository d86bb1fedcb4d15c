//! Archives of backup-paths and local changes, and their pruning.

use lastgood_testkit::run::Ran;

use crate::{Site, tar_list};

#[test]
fn backup_paths_and_local_changes_are_archived() {
    let site = Site::new();
    site.fx.write_app(".env", "SECRET=1\n");
    std::fs::create_dir_all(site.fx.app.join("data")).unwrap();
    site.fx.write_app("data/db.sqlite", "rows");
    site.fx.write_app("version.txt", "edited on the server\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--backup-paths", ".env\n./data\nmissing.txt\n"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("missing.txt does not exist"), "{stderr}");
    let archive = json["backup"].as_str().unwrap().to_owned();
    assert_eq!(site.archives(), vec![std::path::PathBuf::from(&archive)]);
    let name = std::path::Path::new(&archive)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("backup-") && name.ends_with(&format!("-{}.tar.gz", &site.fx.head()[..7])),
        "{name}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "backups may hold secrets");
    let members = tar_list(std::path::Path::new(&archive));
    for m in [
        ".env",
        "data",
        "data/db.sqlite",
        "local-changes.patch",
        "local-changes/version.txt",
    ] {
        assert!(members.iter().any(|x| x == m), "{m} not in {members:?}");
    }
    // Nothing in the checkout changed.
    assert_eq!(site.fx.read_app("version.txt"), "edited on the server\n");
    assert_eq!(site.journal()[0]["detail"], archive.as_str());
}

#[test]
fn archives_are_pruned_beyond_keep_backups() {
    let site = Site::new();
    site.fx.write_app(".env", "A=1\n");
    let mut written = Vec::new();
    for _ in 0..4 {
        let Ran {
            code,
            outputs: json,
            stderr,
            ..
        } = site.run(&["--backup-paths", ".env", "--keep-backups", "2"]);
        assert_eq!(code, 0, "{stderr}");
        written.push(std::path::PathBuf::from(json["backup"].as_str().unwrap()));
    }
    assert_eq!(
        site.archives(),
        written[2..].to_vec(),
        "the two newest remain"
    );
}

#[test]
fn paths_outside_app_dir_are_refused_before_anything() {
    let site = Site::new();
    for bad in ["/etc/passwd", "../outside", "data/../../x"] {
        let Ran { code, stderr, .. } = site.run(&["--backup-paths", bad]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("`backup-paths`"), "{stderr}");
    }
    let Ran { code, stderr, .. } = site.run(&["--keep-backups", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`keep-backups`"), "{stderr}");
    assert!(!site.state.exists(), "nothing was written");
}
