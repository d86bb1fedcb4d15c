//! previous-sha.txt, last-validated-sha.txt, the journal and the outputs.

use lastgood_testkit::run::Ran;

use crate::Site;

#[test]
fn first_run_records_head_as_previous_and_first_good_sha() {
    let site = Site::new();
    let head = site.fx.head();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["previous-sha"], head.as_str());
    assert_eq!(json["rollback-sha"], head.as_str());
    assert_eq!(json["backup"], "");
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), head);
    assert_eq!(site.state_file("last-validated-sha.txt").unwrap(), head);
    assert!(stderr.contains("first good SHA"), "{stderr}");
    let journal = site.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["event"], "backup");
    assert_eq!(journal[0]["sha"], head.as_str());
    assert_eq!(journal[0]["environment"], "prod");
    assert!(!site.state.join("lock.holder.json").exists());
}

#[test]
fn an_existing_last_validated_sha_is_kept() {
    let site = Site::new();
    let head = site.fx.head();
    let validated = site.fx.commit(&[("version.txt", "v2\n")], "v2");
    std::fs::create_dir_all(&site.state).unwrap();
    std::fs::write(
        site.state.join("last-validated-sha.txt"),
        format!("{validated}\n"),
    )
    .unwrap();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["previous-sha"], head.as_str());
    assert_eq!(json["rollback-sha"], validated.as_str());
    assert_eq!(
        site.state_file("last-validated-sha.txt").unwrap(),
        validated
    );
    assert!(!stderr.contains("first good SHA"), "{stderr}");
}

#[test]
fn app_dir_that_is_not_a_checkout() {
    let site = Site::new();
    let plain = site.fx.tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let Ran { code, stderr, .. } = site.run(&["--app-dir", plain.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`app-dir`"), "{stderr}");
    assert!(!site.state.exists());
}

#[test]
fn unwritable_state_dir_is_exit_3() {
    let site = Site::new();
    let file = site.fx.tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let Ran { code, stderr, .. } = site.run(&["--state-dir", file.join("prod").to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
}
