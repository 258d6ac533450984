//! posix-test against fresh directories on the host file systems.

mod common;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_posix-test");

#[test]
fn passes_on_every_host_file_system() {
    let n_checks = run(BIN, &[&"--list"]).out.lines().count();
    assert!(n_checks >= 60, "only {n_checks} checks");
    for root in host_roots() {
        let d = tempfile::tempdir_in(&root).unwrap();
        let r = run(BIN, &[&d.path()]);
        let what = format!("posix-test on {} ({})", root.display(), fs_type(&root));
        assert_clean(&r, &what);
        // One line per check, plus the final cleanup check.
        let skips = r.lines("SKIP: ").len();
        assert_eq!(r.passes() + skips, n_checks + 1, "{what}:\n{}", r.out);
        assert!(
            r.out.contains("PASS: cleanup-everything-removed"),
            "{what}:\n{}",
            r.out
        );
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "{what}: DIR not emptied"
        );
        eprintln!("{what}: {} passed, {skips} skipped", r.passes());
    }
}

#[test]
fn refuses_a_non_empty_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x"), b"x").unwrap();
    let r = run(BIN, &[&d.path()]);
    assert_fails(&r, "posix-test on a non-empty directory");
    assert!(r.out.contains("is not empty"), "{}", r.out);
}

#[test]
fn only_selects_checks_and_keep_keeps_their_directories() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        BIN,
        &[
            &"--only",
            &"rename-exchange",
            &"--only",
            &"symlink-lengths",
            &"--keep",
            &d.path(),
        ],
    );
    assert_clean(&r, "posix-test --only");
    assert_eq!(r.passes(), 2, "{}", r.out);
    assert!(d
        .path()
        .join("rename-exchange-file-dir/P1/f/inner")
        .exists());
    assert!(d
        .path()
        .join("symlink-lengths/l4095")
        .symlink_metadata()
        .is_ok());
}

#[test]
fn a_missing_directory_fails() {
    let d = tempfile::tempdir().unwrap();
    let r = run(BIN, &[&d.path().join("missing")]);
    assert_fails(&r, "posix-test on a missing directory");
}
